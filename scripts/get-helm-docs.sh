#!/usr/bin/env bash
# helm-docs (github.com/norwoodj/helm-docs): generates the chart's README.md from its values'
# `# --` comments (`make chart-docs`; a test checks it is current). Prints the binary's path
# (last line).
exec bash "$(dirname "$0")/get-go-tool.sh" helm-docs github.com/norwoodj/helm-docs/cmd/helm-docs "${HELM_DOCS_VERSION:-v1.14.2}"
