#!/usr/bin/env bash
# actionlint (github.com/rhysd/actionlint): checks the GitHub Actions workflows, the release
# workflow and the model-repository template, in make test. Prints the binary's path.
set -euo pipefail
exec bash "$(dirname "$0")/get-go-tool.sh" actionlint github.com/rhysd/actionlint/cmd/actionlint "${ACTIONLINT_VERSION:-v1.7.12}"
