#!/usr/bin/env bash
# Build the operator and runtime images with buildah (daemonless, no Docker engine, no registry)
# and export them as archives a containerd node imports.
#
#   scripts/build-images.sh [build]        the base, both images and their archives (idempotent)
#   scripts/build-images.sh verify         run the images with podman: read-only root, UID 10001
#   scripts/build-images.sh paths          the image references and archive paths (sh variables)
#   scripts/build-images.sh inputs NAME    the files NAME's (operator|runtime) input hash covers
#
# The Dockerfiles are built unchanged but for BASE_IMAGE: no container registry is reachable
# here, so the base is made from Debian packages instead of being pulled (python:3.11-slim
# stays the Dockerfiles' default for a build with a registry):
#   debootstrap --variant=minbase bookworm + python3.11, python3-venv, python-is-python3 and
#   ca-certificates from Debian; pip itself from PyPI into /usr/local, as in the official image
#   (Debian's pip is debundled: its vendored libraries are wheels found from sys.prefix, which a
#   `pip --python VENV` run, as in the Dockerfiles, does not share); then
#   `buildah from scratch` + the tree + `buildah commit` -> localhost/modelops-base-python:3.11-bookworm.
#
# Warm runs take seconds: each image has a stamp holding the hash of its inputs (its
# Dockerfile, .dockerignore, pyproject.toml, README.md, requirements.lock, operator/ and
# serving_runtime/, the base image's ID, the build arguments); an unchanged hash with the image
# and its archive present skips the build. The base is keyed by its recipe the same way.
#
# Outputs (CACHE = ${XDG_CACHE_HOME:-~/.cache}/modelops/images):
#   modelops/<name>:<version> and ghcr.io/modelops/<name>:<version> in buildah's local storage
#   CACHE/<name>-<hash>.tar   docker-archive holding ghcr.io/modelops/<name>:<version>, the
#                             names the chart and the operator's runtime_image default to.
#                             Import on a containerd node with
#                               ctr -n k8s.io images import CACHE/<name>-<hash>.tar
#   CACHE/<name>.tar          a link to the current archive; CACHE/images.env, `paths`' output
#
# Environment: MODELOPS_BUILDAH_ISOLATION (chroot | oci; oci runs RUN steps with runc),
# DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR, MODELOPS_IMAGES_CA_BUNDLE (a CA bundle bind-mounted
# over the image's during RUN steps so pip trusts what the host trusts, e.g. a TLS-inspecting
# egress proxy; nothing of it lands in a layer; "none" to turn it off).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/modelops/images
PYTHON=${PYTHON:-python3}
ISOLATION=${MODELOPS_BUILDAH_ISOLATION:-chroot}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
CA_BUNDLE=${MODELOPS_IMAGES_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
# Containers here must keep RLIMIT_NOFILE within the hard limit (runc refuses more).
ULIMITS=(--ulimit nofile=20000:20000 --ulimit nproc=1024:1024)

SUITE=bookworm
BASE_REF=localhost/modelops-base-python:3.11-$SUITE
BASE_PACKAGES=python3,python3-venv,python-is-python3,ca-certificates
BASE_PIP=26.3
# Bump when the base recipe below changes in a way the variables above do not show.
BASE_RECIPE_REV=1
REGISTRY=ghcr.io/modelops
NAMES=(runtime operator)

log() { echo "[build-images $(date +%H:%M:%S)] $*" >&2; }
die() { echo "build-images: $*" >&2; exit 2; }
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

VERSION=$("$PYTHON" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$ROOT/pyproject.toml")

# Debian packages, installed when their command is missing ("package:command").
ensure_packages() {
  local missing="" p
  for p in "$@"; do command -v "${p##*:}" >/dev/null || missing="$missing ${p%%:*}"; done
  [ -z "$missing" ] && return 0
  log "installing Debian packages:$missing"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >&2
}

sha() { sha256sum | cut -c1-16; }

image_id() { buildah images --noheading --no-trunc --format '{{.ID}}' "$1" 2>/dev/null | head -1; }

# --- the base ------------------------------------------------------------------------------

# The debootstrap tree: unmounted and removed when done, and also when a step fails.
BASE_WORK=""
cleanup_base() {
  [ -n "$BASE_WORK" ] || return 0
  umount -l "$BASE_WORK/rootfs/proc" 2>/dev/null || true
  rm -rf "$BASE_WORK"
  BASE_WORK=""
}
trap cleanup_base EXIT

base_recipe_hash() {
  printf '%s\n' "$BASE_RECIPE_REV" "$SUITE" "$BASE_PACKAGES" "$BASE_PIP" "$MIRROR" \
    "$SECURITY_MIRROR" | sha
}

base_label() {
  buildah inspect --type image --format '{{index .OCIv1.Config.Labels "io.modelops.base.recipe"}}' \
    "$BASE_REF" 2>/dev/null || true
}

build_base() {
  local recipe work rootfs ctr mnt pyver
  recipe=$(base_recipe_hash)
  if [ "$(base_label)" = "$recipe" ]; then
    log "base $BASE_REF is up to date (recipe $recipe)"
    return 0
  fi
  log "making the base $BASE_REF from Debian $SUITE (debootstrap --variant=minbase)"
  work=$(mktemp -d "$CACHE/build/base.XXXXXX")
  BASE_WORK=$work
  rootfs=$work/rootfs
  debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$rootfs" "$MIRROR" >&2
  cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  mountpoint -q "$rootfs/proc" || mount -t proc proc "$rootfs/proc"
  in_root() { chroot "$rootfs" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
  # Point and security updates, then pip: Debian's python3-pip only bootstraps the upstream
  # pip into /usr/local (where the official image has it) and is purged again. The official
  # image has no EXTERNALLY-MANAGED marker either.
  in_root apt-get update -qq >&2
  in_root apt-get -y -qq -o Dpkg::Options::=--force-confold dist-upgrade >&2
  in_root apt-get install -y -qq --no-install-recommends python3-pip >&2
  rm -f "$rootfs"/usr/lib/python3.*/EXTERNALLY-MANAGED
  local cert=()
  if [ "$CA_BUNDLE" != none ] && [ -f "$CA_BUNDLE" ]; then
    cp "$CA_BUNDLE" "$rootfs/tmp/host-ca.crt"
    cert=(--cert /tmp/host-ca.crt)
  fi
  in_root python3 -m pip install -q --no-cache-dir --disable-pip-version-check \
    --root-user-action=ignore --ignore-installed "${cert[@]}" "pip==$BASE_PIP" >&2
  in_root apt-get purge -y -qq --auto-remove python3-pip >&2
  in_root apt-get clean
  in_root pip --version >&2
  pyver=$(in_root python3 -c 'import platform; print(platform.python_version())')
  umount "$rootfs/proc"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log \
    "$rootfs"/var/log/apt/* "$rootfs"/tmp/* "$rootfs"/root/.cache
  : >"$rootfs/etc/resolv.conf"; : >"$rootfs/etc/hostname"; : >"$rootfs/etc/machine-id"

  ctr=$(buildah from --pull=never scratch)
  mnt=$(buildah mount "$ctr")
  # /dev, /proc and /sys come from the runtime; debootstrap's device nodes stay out.
  tar -C "$rootfs" --numeric-owner --xattrs --xattrs-include='*' \
      --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf - . \
    | tar -C "$mnt" --numeric-owner --xattrs --xattrs-include='*' -xpf -
  buildah umount "$ctr" >/dev/null
  buildah config \
    --env LANG=C.UTF-8 \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env PYTHON_VERSION="$pyver" \
    --cmd '["python3"]' \
    --label io.modelops.base.recipe="$recipe" \
    --label org.opencontainers.image.title=modelops-base-python \
    --label org.opencontainers.image.description="Python $pyver from Debian $SUITE packages (debootstrap minbase) and pip $BASE_PIP: a stand-in for python:3.11-slim-$SUITE where no registry is reachable" \
    --label org.opencontainers.image.version="$pyver" \
    "$ctr"
  buildah commit --quiet --format docker --rm "$ctr" "$BASE_REF" >/dev/null
  cleanup_base
  log "base $BASE_REF: Python $pyver, pip $BASE_PIP, recipe $recipe"
}

# --- the images ----------------------------------------------------------------------------

# The build context's files the image is built from, as .dockerignore lets them through.
input_files() {
  local name=$1
  (
    cd "$ROOT"
    printf '%s\n' "Dockerfile.$name" .dockerignore pyproject.toml README.md requirements.lock
    find operator serving_runtime -type f ! -path '*/__pycache__/*' ! -name '*.py[cod]' \
      ! -path '*.egg-info*' ! -path '*/.pytest_cache/*' ! -path '*/.ruff_cache/*' | LC_ALL=C sort
  )
}

# VCS_REF is the last commit that changed the image's inputs (not HEAD, which would rebuild
# the images on every commit), with -dirty when they have uncommitted changes.
build_args() {
  local name=$1 vcs files
  mapfile -t files < <(input_files "$name")
  vcs=$(git -C "$ROOT" log -1 --format=%H -- "${files[@]}" 2>/dev/null || true)
  if [ -z "$vcs" ]; then
    vcs=unknown
  elif [ -n "$(git -C "$ROOT" status --porcelain -- "${files[@]}")" ]; then
    vcs=$vcs-dirty
  fi
  printf '%s\n' --build-arg "BASE_IMAGE=$BASE_REF" --build-arg "VERSION=$VERSION" \
    --build-arg "VCS_REF=$vcs"
}

inputs_hash() {
  local name=$1
  {
    (cd "$ROOT" && input_files "$name" | tr '\n' '\0' | xargs -0 sha256sum)
    echo "base $(image_id "$BASE_REF")"
    build_args "$name"
    echo "$REGISTRY"
  } | sha
}

stamp_file() { echo "$CACHE/.stamps/$1"; }
archive_of() { echo "$CACHE/$1-$2.tar"; }

build_image() {
  local name=$1 hash archive tmp ref
  hash=$(inputs_hash "$name")
  archive=$(archive_of "$name" "$hash")
  ref=$REGISTRY/$name:$VERSION
  if [ "$(cat "$(stamp_file "$name")" 2>/dev/null)" = "$hash" ] && [ -s "$archive" ] \
     && [ -n "$(image_id "$ref")" ]; then
    log "$name is up to date ($hash)"
    return 0
  fi
  log "building $ref (inputs $hash)"
  local args=() extra=()
  mapfile -t args < <(build_args "$name")
  if [ "$CA_BUNDLE" != none ] && [ -f "$CA_BUNDLE" ]; then
    extra+=(--volume "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro")
  fi
  [ "$ISOLATION" = oci ] && extra+=(--runtime runc)
  local start=$SECONDS
  buildah build --layers --force-rm --pull=never --format docker --isolation "$ISOLATION" \
    --network host "${ULIMITS[@]}" "${extra[@]}" "${args[@]}" \
    --build-arg "BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    -f "$ROOT/Dockerfile.$name" -t "modelops/$name:$VERSION" -t "$ref" "$ROOT" >&2
  log "$name built in $((SECONDS - start))s; exporting $archive"
  tmp=$archive.part
  rm -f "$tmp"
  buildah push --quiet "$ref" "docker-archive:$tmp:$ref" >/dev/null
  mv "$tmp" "$archive"
  # Only the current archive of each image is kept.
  find "$CACHE" -maxdepth 1 -name "$name-*.tar" ! -name "$(basename "$archive")" -delete
  ln -sfn "$(basename "$archive")" "$CACHE/$name.tar"
  echo "$hash" >"$(stamp_file "$name")"
}

paths() {
  local name hash
  echo "BASE_IMAGE=$BASE_REF"
  for name in "${NAMES[@]}"; do
    hash=$(cat "$(stamp_file "$name")" 2>/dev/null || echo missing)
    echo "${name^^}_IMAGE=$REGISTRY/$name:$VERSION"
    echo "${name^^}_ARCHIVE=$(archive_of "$name" "$hash")"
  done
}

build() {
  ensure_packages debootstrap:debootstrap buildah:buildah runc:runc fuse-overlayfs:fuse-overlayfs
  mkdir -p "$CACHE/build" "$CACHE/.stamps"
  exec 9>"$CACHE/.lock"
  flock 9
  build_base
  local name
  for name in "${NAMES[@]}"; do build_image "$name"; done
  paths >"$CACHE/images.env"
  cat "$CACHE/images.env"
  buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' | grep -E "modelops" >&2 || true
}

# --- verification ----------------------------------------------------------------------------

verify() {
  ensure_packages podman:podman
  local podman=(podman --runtime runc --cgroup-manager cgroupfs --events-backend file)
  # No HEALTHCHECK timer: podman runs it from systemd, which does not run here (Kubernetes
  # ignores HEALTHCHECK anyway).
  local run=(run --rm --network none --read-only --tmpfs /tmp --no-healthcheck "${ULIMITS[@]}")
  local rt=$REGISTRY/runtime:$VERSION op=$REGISTRY/operator:$VERSION
  [ -n "$(image_id "$rt")" ] && [ -n "$(image_id "$op")" ] || die "build the images first (make images)"
  set -x
  # The images' own user, then UID 10001 as the pods run them.
  "${podman[@]}" "${run[@]}" --entrypoint id "$rt"
  "${podman[@]}" "${run[@]}" --entrypoint id "$op"
  "${podman[@]}" "${run[@]}" --user 10001 "$rt" --help
  "${podman[@]}" "${run[@]}" --user 10001 --entrypoint python "$rt" -c \
    'import modelops.serving_runtime, evidently, feast, mlflow, sklearn; print("imports ok")'
  # The versions requirements.lock pins (a distribution the lock does not name is reported:
  # Debian's Python 3.11.2 matches markers like python_full_version < "3.11.3").
  local img
  for img in "$rt" "$op"; do
    "${podman[@]}" "${run[@]}" -v "$ROOT/requirements.lock:/tmp/requirements.lock:ro" \
      --entrypoint python "$img" -c '
import importlib.metadata as md
from packaging.utils import canonicalize_name as canon
lock = dict(line.strip().split("==") for line in open("/tmp/requirements.lock") if "==" in line)
lock = {canon(k): v for k, v in lock.items()}
dists = {canon(d.name): d.version for d in md.distributions()}
dists.pop("modelops")
off = {k: (v, lock[k]) for k, v in dists.items() if k in lock and lock[k] != v}
assert not off, f"not the locked versions (installed, locked): {off}"
print(len(dists), "distributions at the locked versions; not in the lock:",
      {k: v for k, v in dists.items() if k not in lock})'
  done
  # A real model: train, save with MLflow to /tmp, serve it, wait for /ready, predict a row.
  "${podman[@]}" "${run[@]}" --user 10001 --entrypoint python "$rt" -c '
import json, os, subprocess, sys, time, urllib.request
import mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True, as_frame=True)
model = LogisticRegression(max_iter=500).fit(X, y)
mlflow.sklearn.save_model(model, "/tmp/model", signature=infer_signature(X, model.predict(X)))
server = subprocess.Popen(["modelops-runtime", "serve"], env={**os.environ, "MODEL_URI": "/tmp/model"})
base = "http://127.0.0.1:8080"
try:
    for _ in range(120):
        try:
            with urllib.request.urlopen(base + "/ready", timeout=2) as r:
                print("ready", r.status, r.read().decode()); break
        except OSError:
            time.sleep(1)
    else:
        sys.exit("the runtime never became ready")
    body = json.dumps({"features": [[5.1, 3.5, 1.4, 0.2]]}).encode()
    req = urllib.request.Request(base + "/predict", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        print("predict", r.status, r.read().decode())
finally:
    server.terminate(); server.wait(30)
'
  "${podman[@]}" "${run[@]}" --user 10001 "$op" --help
  "${podman[@]}" "${run[@]}" --user 10001 --entrypoint python "$op" -c '
import importlib.util as u, modelops.operator
extra = [m for m in ("feast", "evidently", "sklearn", "pandas") if u.find_spec(m)]
assert not extra, extra
print("operator image: no runtime extras")'
  # The root filesystem is read-only.
  if "${podman[@]}" "${run[@]}" --entrypoint touch "$rt" /opt/venv/x; then
    die "the root filesystem is writable"
  fi
  set +x
  log "verified $rt and $op"
}

case "${1:-build}" in
  build) build ;;
  verify) verify ;;
  paths) paths ;;
  inputs) [ $# -eq 2 ] || usage; input_files "$2" ;;
  *) usage ;;
esac
