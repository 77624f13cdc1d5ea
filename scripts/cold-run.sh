#!/usr/bin/env bash
# Measures a cold run of a make target (default: test) as a fresh machine would see it, without
# touching this machine's warm caches: a clone of HEAD in a scratch folder, with empty caches
# for everything the build keeps (XDG_CACHE_HOME: ~/.cache/modelops, pip and Go's build cache;
# GOPATH: Go modules; CONTAINERS_STORAGE_CONF: buildah's image store). Debian packages already
# installed stay installed. Only one real node runs per machine: stop yours first (make down).
#
#   scripts/cold-run.sh [TARGET] [SCRATCH]     prints the elapsed seconds; SCRATCH is removed
set -euo pipefail

TARGET=${1:-test}
SCRATCH=${2:-$(mktemp -d /var/tmp/modelops-cold.XXXXXX)}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if ip link show cni0 >/dev/null 2>&1; then
  echo "cold-run: a real node is running (cni0 exists): run 'make down' first" >&2
  exit 2
fi
mkdir -p "$SCRATCH"/{cache,gopath,containers,run-containers}
cat >"$SCRATCH/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$SCRATCH/containers"
runroot = "$SCRATCH/run-containers"
CONF
cleanup() {
  CONTAINERS_STORAGE_CONF="$SCRATCH/storage.conf" buildah rm --all >/dev/null 2>&1 || true
  CONTAINERS_STORAGE_CONF="$SCRATCH/storage.conf" buildah rmi --all -f >/dev/null 2>&1 || true
  chmod -R u+w "$SCRATCH/gopath" 2>/dev/null || true  # Go's module cache is read-only
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
git clone -q "$ROOT" "$SCRATCH/repo"
export XDG_CACHE_HOME=$SCRATCH/cache GOPATH=$SCRATCH/gopath GOMODCACHE=$SCRATCH/gopath/pkg/mod
export CONTAINERS_STORAGE_CONF=$SCRATCH/storage.conf
start=$SECONDS
rc=0
make -C "$SCRATCH/repo" "$TARGET" || rc=$?
echo "cold-run: make $TARGET exited $rc after $((SECONDS - start)) s" >&2
exit $rc
