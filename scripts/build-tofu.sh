#!/usr/bin/env bash
# Builds OpenTofu (`tofu`, MPL-2.0) from the Go module proxy into a cache keyed by version and
# prints the directory that holds it. A no-op when the cache already has the binary.
# Nothing built here is committed. Used by scripts/check-infra.sh for `tofu fmt`.
set -euo pipefail

TOFU_VERSION=${TOFU_VERSION:-v1.12.6}
OUT=${MODELOPS_TOFU_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelops/bin/tofu-$TOFU_VERSION}

if [ -x "$OUT/tofu" ]; then echo "$OUT"; exit 0; fi

log() { echo "[build-tofu $(date +%H:%M:%S)] $*" >&2; }
mkdir -p "$OUT"
# One build at a time; a run that waited finds the binary ready.
exec 9>"$OUT/.lock"
flock 9
if [ -x "$OUT/tofu" ]; then echo "$OUT"; exit 0; fi
BUILD=$(mktemp -d); trap 'rm -rf "$BUILD"' EXIT
export GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
START=$SECONDS

log "opentofu $TOFU_VERSION: resolving modules"
cd "$BUILD"
go mod init local.test/tofubin >/dev/null 2>&1
# OpenTofu's go.mod replaces hashicorp/hcl/v2 with its fork. Go ignores a dependency's replaces
# (and `go install pkg@version` refuses a module that has any), so the tag's own replaces are
# copied into this throwaway module before resolving.
GOMOD=$(go mod download -json "github.com/opentofu/opentofu@$TOFU_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
GOVER=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$GOMOD")
go mod edit -go="$GOVER"
# Handles `replace A [vA] => B vB`, alone or inside a `replace ( ... )` block.
REPLACES=$(awk '/^replace \(/{b=1;next} b&&/^\)/{b=0;next}
  /^replace /||b { sub(/^replace /,""); n=split($0,f," "); for(i=1;i<=n;i++) if(f[i]=="=>") break;
    if (i+2<=n) print f[1] "=" f[i+1] "@" f[i+2]; else print "LOCAL:" f[1] }' "$GOMOD")
case "$REPLACES" in *LOCAL:*) log "a local (path) replace in $GOMOD cannot be reproduced: $REPLACES"; exit 1;; esac
for r in $REPLACES; do
  log "replace $r"
  go mod edit -replace="$r"
done
go get -tool "github.com/opentofu/opentofu/cmd/tofu@$TOFU_VERSION" >&2
log "compiling tofu"
# version.dev=no: report the release version (as OpenTofu's release builds do), not "-dev".
go build -trimpath -buildvcs=false -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" \
  -o "$OUT/tofu.tmp" github.com/opentofu/opentofu/cmd/tofu
mv "$OUT/tofu.tmp" "$OUT/tofu"
log "tofu ready in $OUT after $((SECONDS-START)) s: $(TF_CLI_CONFIG_FILE=/dev/null "$OUT/tofu" version | head -1)"
echo "$OUT"
