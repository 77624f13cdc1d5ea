#!/usr/bin/env bash
# Install modelops on the cluster the current kubeconfig (KUBECONFIG) names: the images built
# by `make images` onto the cluster, then the chart, then `helm test`. `make install` runs it.
#
#   REGISTRY=ghcr.io/acme/modelops make install   # push the images there (after buildah login)
#   LOAD=kind make install                         # kind load image-archive (KIND_CLUSTER=kind)
#   LOAD=minikube make install                     # minikube image load
#   LOAD=none make install                          # the nodes already have the images
#
# MLFLOW_URI: the MLflow registry the operator resolves models in, as pods reach it (required).
# NAMESPACE (modelops-system), RELEASE (modelops), HELM_ARGS (more helm flags, e.g.
# "--set scope=namespace"). Prints the release's NOTES and what to apply next.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NAMESPACE=${NAMESPACE:-modelops-system}
RELEASE=${RELEASE:-modelops}
LOAD=${LOAD:-}
REGISTRY=${REGISTRY:-}
log() { echo "[install $(date +%H:%M:%S)] $*" >&2; }
die() { echo "install: $*" >&2; exit 2; }

[ -n "${MLFLOW_URI:-}" ] || die "set MLFLOW_URI to the MLflow registry as pods reach it, e.g. http://mlflow.mlflow.svc.cluster.local:5000"
if [ -n "$REGISTRY" ] && [ -n "$LOAD" ]; then die "set REGISTRY or LOAD, not both"; fi
if [ -z "$REGISTRY" ] && [ -z "$LOAD" ]; then
  die "say how the images reach the cluster: REGISTRY=<registry/path> (pushed there), or LOAD=kind, LOAD=minikube or LOAD=none"
fi
HELM=$(command -v helm || true)
if [ -z "$HELM" ]; then HELM="$(bash "$ROOT/scripts/build-control-plane.sh" | tail -1)/helm"; fi
KUBECTL=$(command -v kubectl || true)
CONTEXT=$(${KUBECTL:-"$(dirname "$HELM")/kubectl"} config current-context 2>/dev/null) ||
  die "no current kubeconfig context: set KUBECONFIG or run kubectl config use-context"
log "cluster: context $CONTEXT"

# shellcheck disable=SC1090
source <(bash "$ROOT/scripts/build-images.sh" paths)
for archive in "$OPERATOR_ARCHIVE" "$RUNTIME_ARCHIVE"; do
  [ -s "$archive" ] || die "no image archive $archive: run make images first"
done
operator_image=$OPERATOR_IMAGE runtime_image=$RUNTIME_IMAGE
case "${LOAD:-registry}" in
  registry)
    operator_image="$REGISTRY/operator:${OPERATOR_IMAGE##*:}"
    runtime_image="$REGISTRY/runtime:${RUNTIME_IMAGE##*:}"
    log "pushing $operator_image and $runtime_image"
    buildah push "docker-archive:$OPERATOR_ARCHIVE" "docker://$operator_image"
    buildah push "docker-archive:$RUNTIME_ARCHIVE" "docker://$runtime_image"
    ;;
  kind)
    for archive in "$OPERATOR_ARCHIVE" "$RUNTIME_ARCHIVE"; do
      kind load image-archive "$archive" --name "${KIND_CLUSTER:-kind}"
    done
    ;;
  minikube)
    for archive in "$OPERATOR_ARCHIVE" "$RUNTIME_ARCHIVE"; do minikube image load "$archive"; done
    ;;
  none) log "LOAD=none: the nodes already have $operator_image and $runtime_image" ;;
  *) die "LOAD must be kind, minikube or none, not $LOAD" ;;
esac

log "installing release $RELEASE in $NAMESPACE"
# shellcheck disable=SC2086
"$HELM" upgrade --install "$RELEASE" "$ROOT/charts/modelops" -n "$NAMESPACE" --create-namespace \
  --set image.repository="${operator_image%:*}" --set image.tag="${operator_image##*:}" \
  --set image.pullPolicy=IfNotPresent \
  --set operator.runtimeImage="$runtime_image" \
  --set operator.mlflowTrackingUri="$MLFLOW_URI" \
  ${HELM_ARGS:-} --wait --timeout 5m
log "helm test: the operator answers"
"$HELM" test "$RELEASE" -n "$NAMESPACE" --timeout 2m
log "installed. Next: kubectl apply -f examples/ (a ModelDeployment needs a registered model)"
