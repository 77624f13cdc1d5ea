#!/usr/bin/env bash
# Builds vegeta (github.com/tsenart/vegeta), the constant-rate HTTP load generator of the serving
# soak, from the Go module proxy into a cache keyed by version. A closed-loop tool (wrk) sends as
# fast as answers come back and so hides a slow server; vegeta keeps the rate and counts what
# did not keep up. A no-op when the cache holds it. Prints the binary's path (last line).
set -euo pipefail

VEGETA_VERSION=${VEGETA_VERSION:-v12.13.0}
OUT=${MODELOPS_VEGETA_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelops/bin/vegeta-$VEGETA_VERSION}

if [ ! -x "$OUT/vegeta" ]; then
  echo "[get-vegeta $(date +%H:%M:%S)] vegeta $VEGETA_VERSION" >&2
  mkdir -p "$OUT"
  GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS= GOBIN="$OUT" \
    go install -trimpath -ldflags "-s -w" "github.com/tsenart/vegeta/v12@$VEGETA_VERSION"
fi
echo "$OUT/vegeta"
