# Every set-up step lives here: a fresh machine needs only `make demo` or `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSDEPS_STAMP := .cluster/.system-deps

.PHONY: help bench openapi openapi-check setup system-deps binaries infra-tools check-infra crds crds-check cluster-up cluster-down services-up services-down \
        down demo-down status test test-unit test-integration lint demo clean

help:
	@echo "make demo          bring everything up and run the end-to-end demo"
	@echo "make test          install everything and run unit and integration tests"
	@echo "make cluster-up    start the local control plane (.cluster/kubeconfig)"
	@echo "make cluster-down  stop it (and nothing else)"
	@echo "make down          stop the control plane, MLflow, Redis and the demo operator"

setup: $(STAMP) system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip setuptools wheel
	$(BIN)/pip install -e '.[runtime,test]'
	touch $@

# Debian packages the tests and benchmarks run: redis-server (Redis), wrk (load), openssl (keys).
system-deps: $(SYSDEPS_STAMP)
$(SYSDEPS_STAMP):
	@missing=""; \
	for p in redis-server:redis-server wrk:wrk openssl:openssl; do \
	  command -v $${p##*:} >/dev/null || missing="$$missing $${p%%:*}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	mkdir -p $(dir $@) && touch $@

binaries:
	bash scripts/build-control-plane.sh >/dev/null

# OpenTofu (built from the Go module proxy) and checkov (a venv of its own), cached by version.
infra-tools:
	bash scripts/check-infra.sh tools >/dev/null

check-infra: infra-tools
	bash scripts/check-infra.sh terraform
	bash scripts/check-infra.sh docker

cluster-up: system-deps
	$(PYTHON) -m devenv cluster-up

cluster-down:
	$(PYTHON) -m devenv cluster-down

services-up: setup
	$(BIN)/python -m devenv services-up

services-down:
	$(PYTHON) -m devenv services-down

down demo-down:
	$(PYTHON) -m devenv down

status:
	$(PYTHON) -m devenv status

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup system-deps
	$(BIN)/python bench/serving.py

openapi: setup
	$(BIN)/python -m modelops.serving_runtime.openapi

openapi-check: setup
	$(BIN)/python -m modelops.serving_runtime.openapi --check

crds: setup
	$(BIN)/python -m modelops.operator.api.crdgen --out crds --chart-out charts/modelops/templates/crds

crds-check: setup
	$(BIN)/python -m modelops.operator.api.crdgen --out crds --chart-out charts/modelops/templates/crds --check

test: setup binaries infra-tools crds-check openapi-check lint
	$(BIN)/pytest

test-unit: setup infra-tools
	$(BIN)/pytest tests/unit

test-integration: setup binaries
	$(BIN)/pytest tests/integration

demo: setup binaries
	$(BIN)/python scripts/demo.py

clean: down
	rm -rf .cluster $(VENV)
