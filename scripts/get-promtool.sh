#!/usr/bin/env bash
# promtool (github.com/prometheus/prometheus): checks the chart's PrometheusRule and runs the
# alerts' unit tests (tests/integration/test_alerts.py). Prints the binary's path (last line).
exec bash "$(dirname "$0")/get-go-tool.sh" promtool github.com/prometheus/prometheus/cmd/promtool "${PROMTOOL_VERSION:-v0.316.0}"
