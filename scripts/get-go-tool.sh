#!/usr/bin/env bash
# Builds a Go command from the Go module proxy into a cache keyed by its version, once:
#   get-go-tool.sh NAME MODULE/PATH/TO/CMD VERSION
# A no-op when the cache holds it. Prints the binary's path (last line).
set -euo pipefail

NAME=$1 PACKAGE=$2 VERSION=$3
OUT=${XDG_CACHE_HOME:-$HOME/.cache}/modelops/bin/$NAME-$VERSION

if [ ! -x "$OUT/$NAME" ]; then
  echo "[get-go-tool $(date +%H:%M:%S)] $NAME $VERSION" >&2
  mkdir -p "$OUT"
  GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS= GOBIN="$OUT" \
    go install -trimpath -ldflags "-s -w" "$PACKAGE@$VERSION"
fi
echo "$OUT/$NAME"
