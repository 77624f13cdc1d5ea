#!/usr/bin/env bash
# kstatus-check (tests/tools/kstatus): kstatus's own verdict (sigs.k8s.io/cli-utils, what Flux's
# health checks use) on objects, for tests/integration/test_health_checks.py. Built once per
# content of its sources. Prints the binary's path (last line).
set -euo pipefail

SRC="$(cd "$(dirname "$0")/../tests/tools/kstatus" && pwd)"
HASH=$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" | sha256sum | cut -c1-16)
OUT=${XDG_CACHE_HOME:-$HOME/.cache}/modelops/bin/kstatus-check-$HASH

if [ ! -x "$OUT/kstatus-check" ]; then
  echo "[get-kstatus $(date +%H:%M:%S)] kstatus-check $HASH" >&2
  mkdir -p "$OUT"
  (cd "$SRC" && GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod \
    go build -trimpath -ldflags "-s -w" -o "$OUT/kstatus-check" .)
fi
echo "$OUT/kstatus-check"
