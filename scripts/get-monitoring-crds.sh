#!/usr/bin/env bash
# The Prometheus Operator's CRDs (ServiceMonitor, PodMonitor, PrometheusRule, ...) from its Go
# module, for the chart's server-side dry runs (tests/integration/test_chart.py). Downloaded
# once into the Go module cache. Prints their folder (last line).
set -euo pipefail

VERSION=${PROMETHEUS_OPERATOR_VERSION:-v0.90.1}
DIR=$(cd "${TMPDIR:-/tmp}" && GOWORK=off GOFLAGS=-mod=mod go mod download -json \
  "github.com/prometheus-operator/prometheus-operator@$VERSION" |
  python3 -c 'import json, sys; doc = json.load(sys.stdin); print(doc.get("Dir") or sys.exit(doc.get("Error")))')
echo "$DIR/example/prometheus-operator-crd"
