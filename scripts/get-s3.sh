#!/usr/bin/env bash
# Fetches S3Proxy (github.com/gaul/s3proxy), the local S3-compatible object store that MLflow's
# artifacts, s3:// model URIs and the drift job's data and reports use, from Maven Central into
# a cache keyed by version, and checks it against the SHA-256 pinned here. It serves the S3 API
# (SigV2/SigV4 and presigned URLs, multipart uploads) over jclouds' filesystem store, on the
# machine's Java 17; a Java runtime is installed from Debian when `java` is missing.
# A no-op when the cache already holds it. Prints the jar's path (last line).
set -euo pipefail

S3PROXY_VERSION=${S3PROXY_VERSION:-4.1.0}
# Of s3proxy-4.1.0-jar-with-dependencies.jar; bump with the version (Central publishes a .sha1
# beside it, which this is checked to agree with when pinned).
S3PROXY_SHA256=${S3PROXY_SHA256:-a4d025969aaf796616ed4b1e2491d87d455ce84bb28cb9db086b2e6aaa68b48d}
MAVEN=${MAVEN_CENTRAL:-https://repo1.maven.org/maven2}
OUT=${MODELOPS_S3_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelops/bin/s3proxy-$S3PROXY_VERSION}
JAR=$OUT/s3proxy.jar

log() { echo "[get-s3 $(date +%H:%M:%S)] $*" >&2; }

if ! command -v java >/dev/null; then
  log "installing a Java runtime from Debian (openjdk-17-jre-headless)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >&2
fi

if [ ! -f "$JAR" ]; then
  mkdir -p "$OUT"
  url="$MAVEN/org/gaul/s3proxy/$S3PROXY_VERSION/s3proxy-$S3PROXY_VERSION-jar-with-dependencies.jar"
  log "s3proxy $S3PROXY_VERSION from $url"
  curl -fsSL --retry 3 -o "$JAR.tmp" "$url"
  got=$(sha256sum "$JAR.tmp" | cut -d' ' -f1)
  if [ "$got" != "$S3PROXY_SHA256" ]; then
    rm -f "$JAR.tmp"
    log "checksum mismatch for $url: got $got, want $S3PROXY_SHA256"
    exit 1
  fi
  mv "$JAR.tmp" "$JAR"
fi
echo "$JAR"
