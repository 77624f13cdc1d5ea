#!/usr/bin/env bash
# vegeta (github.com/tsenart/vegeta), the constant-rate HTTP load generator of the serving
# soak. A closed-loop tool (wrk) sends as fast as answers come back and so hides a slow server;
# vegeta keeps the rate and counts what did not keep up. Prints the binary's path (last line).
set -euo pipefail
exec bash "$(dirname "$0")/get-go-tool.sh" vegeta github.com/tsenart/vegeta/v12 "${VEGETA_VERSION:-v12.13.0}"
