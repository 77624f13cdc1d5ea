#!/usr/bin/env bash
# Infrastructure checks: formatting with OpenTofu and policy checks with checkov.
#
#   scripts/check-infra.sh tools        install the tools into caches (idempotent), print paths
#   scripts/check-infra.sh fmt          tofu fmt -check -recursive terraform/
#   scripts/check-infra.sh terraform    fmt, then checkov on terraform/ (defaults, then all on)
#   scripts/check-infra.sh k8s DIR      checkov on rendered Kubernetes manifests in DIR
#   scripts/check-infra.sh docker       checkov on Dockerfile.operator and Dockerfile.runtime
#
# Tools, each cached by version and reused across runs (nothing here is committed):
#   tofu     built from the Go module proxy by scripts/build-tofu.sh
#            -> ~/.cache/modelops/bin/tofu-<version>/tofu
#   checkov  from PyPI into a venv of its own (its pins conflict with the project's venv)
#            -> ~/.cache/modelops/venv/checkov-<version>/
# With MODELOPS_INFRA_NO_INSTALL=1 a missing tool is an error instead of being installed (the
# tests set it, so a cold cache fails fast with a clear message instead of compiling in pytest).
#
# `tofu init`/`tofu validate` are not run: they need the AWS provider from the Terraform/OpenTofu
# registry, which this environment cannot reach (and the provider is not on the Go proxy).
# Checks are never skipped from here: every skip is a `#checkov:skip=ID:reason` comment in the
# resource it concerns (Kubernetes: a `checkov.io/skipN: ID=reason` annotation).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/modelops
TOFU_VERSION=${TOFU_VERSION:-v1.12.6}
CHECKOV_VERSION=${CHECKOV_VERSION:-3.3.30}
CHECKOV_VENV=${MODELOPS_CHECKOV_VENV:-$CACHE/venv/checkov-$CHECKOV_VERSION}
PYTHON=${PYTHON:-python3}
export TOFU_VERSION
# A CLI config named by the environment but absent only makes tofu warn; fmt needs none.
if [ -n "${TF_CLI_CONFIG_FILE:-}" ] && [ ! -e "$TF_CLI_CONFIG_FILE" ]; then unset TF_CLI_CONFIG_FILE; fi
export TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1

log() { echo "[check-infra $(date +%H:%M:%S)] $*" >&2; }
die() { echo "check-infra: $*" >&2; exit 2; }
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

no_install() {
  [ "${MODELOPS_INFRA_NO_INSTALL:-0}" = 1 ] || return 1
  die "$1 is not installed; run: bash scripts/check-infra.sh tools  (or: make infra-tools)"
}

tofu_bin() {
  local dir=${MODELOPS_TOFU_DIR:-$CACHE/bin/tofu-$TOFU_VERSION}
  if [ ! -x "$dir/tofu" ]; then
    no_install "tofu $TOFU_VERSION ($dir/tofu)" || true
    command -v go >/dev/null || die "tofu is built from Go modules and needs the go command"
    dir=$(bash "$ROOT/scripts/build-tofu.sh")
  fi
  echo "$dir/tofu"
}

checkov_bin() {
  if [ ! -e "$CHECKOV_VENV/.installed" ]; then
    no_install "checkov $CHECKOV_VERSION ($CHECKOV_VENV)" || true
    mkdir -p "$(dirname "$CHECKOV_VENV")"
    # One installer at a time; a run that waited finds the venv ready.
    exec 9>"$CHECKOV_VENV.lock"
    flock 9
    if [ ! -e "$CHECKOV_VENV/.installed" ]; then
      log "installing checkov==$CHECKOV_VERSION into $CHECKOV_VENV"
      rm -rf "$CHECKOV_VENV"
      "$PYTHON" -m venv "$CHECKOV_VENV" >&2
      "$CHECKOV_VENV/bin/pip" install -q --disable-pip-version-check "checkov==$CHECKOV_VERSION" >&2
      touch "$CHECKOV_VENV/.installed"
    fi
    exec 9>&-
  fi
  echo "$CHECKOV_VENV/bin/checkov"
}

# --skip-download: no calls to the vendor's platform (unreachable here; it only adds links).
# No --skip-check, --soft-fail or baseline: a failed check fails the run.
run_checkov() {
  local checkov
  checkov=$(checkov_bin)
  log "checkov $CHECKOV_VERSION $*"
  "$checkov" --skip-download --compact --quiet "$@"
}

run_fmt() {
  local tofu
  tofu=$(tofu_bin)
  log "$("$tofu" version | head -1): fmt -check -recursive terraform/"
  if ! "$tofu" fmt -check -recursive -diff "$ROOT/terraform"; then
    echo "check-infra: terraform/ is not formatted; run: $tofu fmt -recursive terraform/" >&2
    exit 1
  fi
}

case "${1:-}" in
  tools)
    tofu=$(tofu_bin)
    checkov=$(checkov_bin)
    echo "tofu=$tofu"
    echo "checkov=$checkov"
    ;;
  fmt)
    run_fmt
    ;;
  terraform)
    run_fmt
    # Twice: with the defaults, and with every optional part switched on, since checkov does
    # not look at resources whose count is 0 (the GPU node group is off by default).
    run_checkov --framework terraform --directory "$ROOT/terraform"
    ALL_ON=$(mktemp --suffix=.tfvars); trap 'rm -f "$ALL_ON"' EXIT
    cat >"$ALL_ON" <<'TFVARS'
enable_gpu_node_group                = true
single_nat_gateway                   = true
cluster_endpoint_public_access_cidrs = ["203.0.113.0/24"]
cluster_admin_principal_arns         = ["arn:aws:iam::123456789012:role/platform-admin"]
TFVARS
    log "again with every optional resource enabled:"
    run_checkov --framework terraform --directory "$ROOT/terraform" --var-file "$ALL_ON"
    ;;
  k8s)
    [ $# -eq 2 ] || usage
    [ -d "$2" ] || die "no such directory: $2"
    find "$2" -name '*.y*ml' | grep -q . || die "no YAML manifests in $2"
    run_checkov --framework kubernetes --directory "$2"
    ;;
  docker)
    run_checkov --framework dockerfile --file "$ROOT/Dockerfile.operator" --file "$ROOT/Dockerfile.runtime"
    ;;
  *)
    usage
    ;;
esac
