#!/usr/bin/env bash
# Builds SeaweedFS's single `weed` binary (master, volume, filer and the S3 gateway) from the
# Go module proxy into a cache keyed by version: the local S3-compatible object store that
# MLflow's artifacts, s3:// model URIs and the drift job's data and reports use.
# A no-op when the cache already holds it. Nothing built here is committed.
set -euo pipefail

# SeaweedFS tags its releases "4.53", not "v4.53", so the proxy serves commits only, as
# pseudo-versions. This one is release 4.53 (weed/util/version/constants.go).
SEAWEEDFS_VERSION=${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}
KEY="seaweedfs-${SEAWEEDFS_VERSION}"
OUT=${MODELOPS_S3_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelops/bin/$KEY}

if [ -x "$OUT/weed" ]; then echo "$OUT"; exit 0; fi

log() { echo "[build-s3 $(date +%H:%M:%S)] $*" >&2; }
mkdir -p "$OUT"
BUILD=$(mktemp -d); trap 'rm -rf "$BUILD"' EXIT
# A static binary as the official release builds it; no workspace or toolchain switching.
export GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
START=$SECONDS
MODULE=github.com/seaweedfs/seaweedfs

log "seaweedfs $SEAWEEDFS_VERSION: resolving modules"
cd "$BUILD"
go mod init local.test/weedbin >/dev/null 2>&1
# The module's go.mod replaces a dependency that was deleted from GitHub by a fork; Go
# ignores a dependency's replaces (and `go install pkg@version` refuses them), so the same
# replaces are made here, read from the version's own go.mod.
GOMOD=$(go mod download -json "$MODULE@$SEAWEEDFS_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
REPLACES=$(sed -n 's#^replace[[:space:]]\{1,\}\([^ ]*\) => \([^ .][^ ]*\) \(v[^ ]*\)$#\1=\2@\3#p' "$GOMOD")
for r in $REPLACES; do go mod edit -replace="$r"; done
go get -tool "$MODULE/weed@$SEAWEEDFS_VERSION" >&2
log "compiling weed (the long step)"
COMMIT=${SEAWEEDFS_VERSION##*-}
go build -p 2 -trimpath -buildvcs=false \
  -ldflags "-s -w -X $MODULE/weed/util/version.COMMIT=${COMMIT:0:8}" \
  -o "$OUT/weed.tmp" "$MODULE/weed"
mv "$OUT/weed.tmp" "$OUT/weed"
log "weed ready in $OUT ($(du -sh "$OUT/weed" | cut -f1)) after $((SECONDS-START)) s"
echo "$OUT"
