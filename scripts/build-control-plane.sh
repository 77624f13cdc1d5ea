#!/usr/bin/env bash
# Builds the test control plane from the Go module proxy into a cache keyed by version.
# A no-op when the cache already holds every binary. Nothing built here is committed.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
HELM_VERSION=${HELM_VERSION:-v3.22.0}
KEY="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_helm-${HELM_VERSION}"
OUT=${MODELOPS_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelops/bin/$KEY}

BINS="kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok helm kwok-stages.yaml"
missing() { for b in $BINS; do [ -e "$OUT/$b" ] || return 0; done; return 1; }
if ! missing; then echo "$OUT"; exit 0; fi

log() { echo "[build-control-plane $(date +%H:%M:%S)] $*" >&2; }
mkdir -p "$OUT"
BUILD=$(mktemp -d); trap 'rm -rf "$BUILD"' EXIT
# Static binaries as the official release builds them; no workspace or toolchain switching.
export GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
STAGING_V="v0.${K8S_VERSION#1.}"
START=$SECONDS

if [ ! -x "$OUT/kube-apiserver" ] || [ ! -x "$OUT/kubectl" ] || [ ! -x "$OUT/kube-scheduler" ] || [ ! -x "$OUT/kube-controller-manager" ]; then
  log "kubernetes v$K8S_VERSION: resolving modules"
  mkdir "$BUILD/kube" && cd "$BUILD/kube"
  go mod init local.test/kubebin >/dev/null 2>&1
  go mod edit -go=1.26.0
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and resolves them with
  # local replaces that Go ignores in a dependency, so every one is replaced here by its
  # published version. The list is read from the tag's own go.mod.
  GOMOD=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  MODS=$(sed -n 's#^[[:space:]]*k8s\.io/\([^ ]*\) => \./staging/src/.*#\1#p' "$GOMOD" | sort -u)
  [ -n "$MODS" ] || { log "no staging replaces found in $GOMOD"; exit 1; }
  log "replacing $(echo "$MODS" | wc -l) staging modules with $STAGING_V"
  for m in $MODS; do go mod edit -replace="k8s.io/$m=k8s.io/$m@$STAGING_V"; done
  go get -tool \
    "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@v$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-scheduler@v$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kubectl@v$K8S_VERSION" >&2
  MINOR=$(echo "$K8S_VERSION" | cut -d. -f2); NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  # Without these the binaries report v0.0.0-master, which helm and kubectl's skew check misread.
  LD="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    LD="$LD -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$MINOR"
    LD="$LD -X $p.gitCommit=0000000000000000000000000000000000000000 -X $p.gitTreeState=clean -X $p.buildDate=$NOW"
  done
  log "compiling kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (the long step)"
  go build -p 2 -trimpath -buildvcs=false -ldflags "$LD" -o "$OUT/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
  log "kubernetes done after $((SECONDS-START)) s"
fi

if [ ! -x "$OUT/etcd" ]; then
  log "etcd $ETCD_VERSION"
  mkdir "$BUILD/etcd" && cd "$BUILD/etcd"
  go mod init local.test/etcdbin >/dev/null 2>&1
  go mod edit -go=1.26.0
  # etcd's own go.mod carries relative replaces, so `go install pkg@version` refuses it.
  go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
  go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$OUT/etcd" go.etcd.io/etcd/server/v3
  log "etcd done after $((SECONDS-START)) s"
fi

if [ ! -x "$OUT/kwok" ] || [ ! -e "$OUT/kwok-stages.yaml" ]; then
  log "kwok $KWOK_VERSION"
  cd "$BUILD"
  GOFLAGS= GOBIN="$OUT" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  KWOK_DIR=$(GOFLAGS= go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  # The standalone kwok needs its Stage documents in --config, or it exits "no stages found".
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    cat "$KWOK_DIR/kustomize/stage/$f"; echo '---'
  done > "$OUT/kwok-stages.yaml.tmp"
  mv "$OUT/kwok-stages.yaml.tmp" "$OUT/kwok-stages.yaml"
  log "kwok done after $((SECONDS-START)) s"
fi

if [ ! -x "$OUT/helm" ]; then
  log "helm $HELM_VERSION"
  cd "$BUILD"
  GOFLAGS= GOBIN="$OUT" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  log "helm done after $((SECONDS-START)) s"
fi

log "control plane binaries ready in $OUT ($(du -sh "$OUT" | cut -f1)) after $((SECONDS-START)) s"
echo "$OUT"
