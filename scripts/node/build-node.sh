#!/usr/bin/env bash
# Builds everything a real kubelet node needs, from the Go module proxy, into a cache dir
# keyed by versions: containerd 2.x (+ shim, ctr), CNI plugins, crictl, kubelet, kube-proxy,
# CoreDNS, metrics-server, plus the two local images (pause, busybox) as OCI archives.
# A no-op for every part already in the cache. Prints the cache dir on stdout (last line).
#
# Needs: go (same toolchain as build-control-plane.sh), gcc + static glibc (pause), python3.
# Per-step wall times are appended to $OUT/build-times.txt.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
CNI_VERSION=${CNI_VERSION:-v1.10.0}
CRICTL_VERSION=${CRICTL_VERSION:-v1.37.0}
COREDNS_VERSION=${COREDNS_VERSION:-v1.15.0}
METRICS_VERSION=${METRICS_VERSION:-v0.8.0}
KEY="k8s-${K8S_VERSION}_containerd-${CONTAINERD_VERSION}_cni-${CNI_VERSION}_crictl-${CRICTL_VERSION}_coredns-${COREDNS_VERSION}_ms-${METRICS_VERSION}"
OUT=${MODELOPS_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelops/node/$KEY}
HERE=$(cd "$(dirname "$0")" && pwd)

log() { echo "[build-node $(date +%H:%M:%S)] $*" >&2; }
mkdir -p "$OUT/bin" "$OUT/cni" "$OUT/images"
BUILD=$(mktemp -d); trap 'rm -rf "$BUILD"' EXIT
export GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
START=$SECONDS
step_t0=0
step() { step_t0=$SECONDS; log "$1"; }
done_step() { local d=$((SECONDS-step_t0)); log "$1 done in ${d}s"; echo "$(date -u +%FT%TZ) $1 ${d}s" >> "$OUT/build-times.txt"; }

# --- kubelet + kube-proxy: exactly the approach (and build cache) of build-control-plane.sh
if [ ! -x "$OUT/bin/kubelet" ] || [ ! -x "$OUT/bin/kube-proxy" ]; then
  step "kubernetes v$K8S_VERSION kubelet + kube-proxy"
  mkdir "$BUILD/kube" && cd "$BUILD/kube"
  go mod init local.test/kubebin >/dev/null 2>&1
  go mod edit -go=1.26.0
  STAGING_V="v0.${K8S_VERSION#1.}"
  GOMOD=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  MODS=$(sed -n 's#^[[:space:]]*k8s\.io/\([^ ]*\) => \./staging/src/.*#\1#p' "$GOMOD" | sort -u)
  [ -n "$MODS" ] || { log "no staging replaces found in $GOMOD"; exit 1; }
  for m in $MODS; do go mod edit -replace="k8s.io/$m=k8s.io/$m@$STAGING_V"; done
  go get -tool "k8s.io/kubernetes/cmd/kubelet@v$K8S_VERSION" "k8s.io/kubernetes/cmd/kube-proxy@v$K8S_VERSION" >"$BUILD/get.log" 2>&1 \
    || { cat "$BUILD/get.log" >&2; exit 1; }
  MINOR=$(echo "$K8S_VERSION" | cut -d. -f2); NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  LD="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    LD="$LD -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$MINOR"
    LD="$LD -X $p.gitCommit=0000000000000000000000000000000000000000 -X $p.gitTreeState=clean -X $p.buildDate=$NOW"
  done
  go build -p 2 -trimpath -buildvcs=false -ldflags "$LD" -o "$OUT/bin/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
  done_step "kubelet+kube-proxy"
fi

# --- containerd 2.x, its runc shim and ctr (static; no btrfs/devmapper/zfs snapshotters)
if [ ! -x "$OUT/bin/containerd" ] || [ ! -x "$OUT/bin/containerd-shim-runc-v2" ] || [ ! -x "$OUT/bin/ctr" ]; then
  step "containerd $CONTAINERD_VERSION"
  mkdir "$BUILD/ctrd" && cd "$BUILD/ctrd"
  go mod init local.test/ctrdbin >/dev/null 2>&1
  go mod edit -go=1.26.6
  P=github.com/containerd/containerd/v2
  go get -tool "$P/cmd/containerd@$CONTAINERD_VERSION" "$P/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" "$P/cmd/ctr@$CONTAINERD_VERSION" >"$BUILD/get.log" 2>&1 \
    || { cat "$BUILD/get.log" >&2; exit 1; }
  LD="-s -w -X $P/version.Version=$CONTAINERD_VERSION -X $P/version.Revision=modelops -X $P/version.Package=github.com/containerd/containerd"
  go build -p 2 -trimpath -buildvcs=false -tags "urfave_cli_no_docs no_btrfs no_devmapper no_zfs osusergo netgo static_build" \
    -ldflags "$LD" -o "$OUT/bin/" "$P/cmd/containerd" "$P/cmd/ctr"
  # The shim as containerd's Makefile builds it: no gRPC, CGO off.
  go build -trimpath -buildvcs=false -tags "urfave_cli_no_docs no_grpc osusergo netgo static_build" \
    -ldflags "$LD" -o "$OUT/bin/containerd-shim-runc-v2" "$P/cmd/containerd-shim-runc-v2"
  done_step "containerd"
fi

# --- CNI plugins (the four this node uses)
CNI_PLUGINS="main/bridge main/loopback ipam/host-local meta/portmap"
need_cni=0; for p in $CNI_PLUGINS; do [ -x "$OUT/cni/$(basename $p)" ] || need_cni=1; done
if [ $need_cni = 1 ]; then
  step "CNI plugins $CNI_VERSION"
  mkdir "$BUILD/cni" && cd "$BUILD/cni"
  pk=""; for p in $CNI_PLUGINS; do pk="$pk github.com/containernetworking/plugins/plugins/$p@$CNI_VERSION"; done
  GOFLAGS= GOBIN="$OUT/cni" go install -trimpath -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_VERSION" $pk
  done_step "cni"
fi

if [ ! -x "$OUT/bin/crictl" ]; then
  step "crictl $CRICTL_VERSION"
  cd "$BUILD"
  GOFLAGS= GOBIN="$OUT/bin" go install -trimpath -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" \
    "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
  done_step "crictl"
fi

if [ "${SKIP_ADDONS:-0}" != 1 ] && [ ! -x "$OUT/bin/coredns" ]; then
  step "coredns $COREDNS_VERSION"
  cd "$BUILD"
  GOFLAGS= GOBIN="$OUT/bin" go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
  done_step "coredns"
fi

if [ "${SKIP_ADDONS:-0}" != 1 ] && [ ! -x "$OUT/bin/metrics-server" ]; then
  step "metrics-server $METRICS_VERSION"
  cd "$BUILD"
  GOFLAGS= GOBIN="$OUT/bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_VERSION"
  done_step "metrics-server"
fi

# --- images: no registry is reachable, so pause and busybox are made here as OCI archives
if [ ! -e "$OUT/images/pause.tar" ]; then
  step "pause image"
  PAUSE_C=$(GOFLAGS= go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')/build/pause/linux/pause.c
  mkdir -p "$BUILD/pause/root"
  gcc -Os -static -Wall -DVERSION=v3.10-modelops -o "$BUILD/pause/root/pause" "$PAUSE_C"
  strip "$BUILD/pause/root/pause"
  python3 "$HERE/image/mkimage.py" --root "$BUILD/pause/root" --name localhost/modelops/pause:3.10 \
    --entrypoint /pause --out "$OUT/images/pause.tar" >&2
  done_step "pause-image"
fi
if [ ! -e "$OUT/images/busybox.tar" ]; then
  step "busybox image (Debian busybox-static)"
  # Debian's busybox-static: one static binary, so the image needs nothing else.
  BB=$(command -v busybox || true)
  [ -n "$BB" ] || { log "busybox missing: apt-get install busybox-static"; exit 1; }
  mkdir -p "$BUILD/bb/root/bin" "$BUILD/bb/root/etc" "$BUILD/bb/root/tmp" "$BUILD/bb/root/www"
  cp "$BB" "$BUILD/bb/root/bin/busybox"
  for a in $("$BB" --list); do [ "$a" = busybox ] || ln -sf busybox "$BUILD/bb/root/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$BUILD/bb/root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$BUILD/bb/root/etc/group"
  echo "hello from modelops busybox" > "$BUILD/bb/root/www/index.html"
  python3 "$HERE/image/mkimage.py" --root "$BUILD/bb/root" --name localhost/modelops/busybox:1 \
    --cmd /bin/sh --out "$OUT/images/busybox.tar" >&2
  done_step "busybox-image"
fi

log "node binaries ready in $OUT ($(du -sh "$OUT" | cut -f1)) after $((SECONDS-START)) s"
echo "$OUT"
