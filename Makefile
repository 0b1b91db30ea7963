# Quick start:  make synth   (set up everything, synthesize the stack into cdk.out/)
#               make test    (set up everything, run every test)
# Everything installs into this folder: .venv/ (Python) and node_modules/ (the pinned CDK CLI).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TOOLS  := .venv-tools
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

CDK_ARGS ?=
SMOKE_OUTPUTS ?= cdk-outputs.json
SMOKE_ARGS ?=

.PHONY: help setup tools audit synth bootstrap deploy destroy smoke frontend-config test test-fast local bench clean postgres browser pgbouncer jdk

## help: list the targets with their one-line description.
help:
	@awk '/^## [a-z-]+: / { name = $$2; sub(/:$$/, "", name); text = $$0; sub(/^## [a-z-]+: /, "", text); \
	  printf "  make %-16s %s\n", name, text }' $(firstword $(MAKEFILE_LIST))

## setup: the Python virtualenv (.venv/) and the pinned CDK CLI (node_modules/); quiet unless it fails.
setup: $(VENV)/.stamp-python node_modules/.stamp-node

# pip's and setuptools' chatter (build-backend notices of the editable install) goes to a log that
# is printed only if the step fails.
PIP_QUIET := --quiet --disable-pip-version-check
$(VENV)/.stamp-python: requirements.txt lambda_src/requirements.txt pyproject.toml
	@echo "setup: Python packages into $(VENV)/"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install $(PIP_QUIET) --upgrade pip==26.3
	@$(BIN)/pip install $(PIP_QUIET) -r requirements.txt
	@$(BIN)/pip install $(PIP_QUIET) --no-deps -e . >$(VENV)/install-project.log 2>&1 \
	  || { cat $(VENV)/install-project.log; exit 1; }
	@touch $@

## tools: checkov, bandit and pip-audit (in .venv-tools/) and Debian's openssl, for the security tests.
## The tools get their own virtualenv: their pins clash with the project's. The audit test makes a
## throwaway certificate authority with openssl.
tools: $(TOOLS)/.stamp-tools
	@command -v openssl >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null; }

$(TOOLS)/.stamp-tools: requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --upgrade pip==26.3
	$(TOOLS)/bin/pip install --quiet -r requirements-tools.txt
	touch $@

## node_modules: the CDK CLI, the Node test clients and Pyodide, the CPython 3.14 that compiles the asset's bytecode.
node_modules/.stamp-node: package.json package-lock.json
	@echo "setup: the pinned CDK CLI into node_modules/"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## synth: the main job. Synthesizes the stack into cdk.out/ (no AWS account, no Docker needed).
## Settings: make synth CDK_ARGS="-c stageName=dev -c connectTokens=disabled"
synth: setup
	npx --no-install cdk synth --quiet $(CDK_ARGS)

## bootstrap: CDK's bootstrap stack (CDKToolkit), once per account and region; needs AWS credentials.
bootstrap: setup
	@$(BIN)/python scripts/check-aws-credentials
	npx --no-install cdk bootstrap $(CDK_ARGS)

## deploy: deploy the stack and write its outputs to cdk-outputs.json (needs AWS credentials).
## See README "Deploy". Checks the credentials (one line, no synth, when absent), then `wsctl preflight`
## with the same settings (PREFLIGHT=0 skips it), then deploys.
PREFLIGHT ?= 1
deploy: setup
	@$(BIN)/python scripts/check-aws-credentials
	@if [ "$(PREFLIGHT)" != "0" ]; then $(BIN)/wsctl preflight $(CDK_ARGS); fi
	npx --no-install cdk deploy --outputs-file cdk-outputs.json $(CDK_ARGS)

## destroy: delete the stack, then list what stays by design, with the command that removes each.
## What stays: the API Gateway logs role, retained log groups and keys, the database's final snapshot.
STACK ?= WebSocketNotifications
destroy: setup
	@$(BIN)/python scripts/check-aws-credentials
	$(BIN)/python scripts/retained-resources --stack $(STACK) --out .retained-resources.txt
	npx --no-install cdk destroy $(CDK_ARGS)
	@cat .retained-resources.txt && rm -f .retained-resources.txt

## smoke: prove the deployed stack end to end from cdk-outputs.json (see README "Smoke test").
## Options: make smoke SMOKE_ARGS="--stack NAME --json"
smoke: setup
	$(BIN)/wsctl smoke --outputs $(SMOKE_OUTPUTS) $(SMOKE_ARGS)

## frontend-config: the frontend's settings (wss URL, API id, stage) from cdk-outputs.json.
## Local gateway: wsctl local --outputs-file local.json, then make frontend-config OUTPUTS=local.json
OUTPUTS ?= cdk-outputs.json
frontend-config: setup
	$(BIN)/python -m cdk_app.frontend_config $(OUTPUTS) -o frontend-config.json

## test: every test, against the real PostgreSQL, real sockets, real synth and headless Chromium.
test: setup tools postgres browser pgbouncer jdk
	$(BIN)/pytest --durations=20

## test-fast: the same suite without the slow bundling and browser tests (for the edit loop).
test-fast: setup tools postgres pgbouncer jdk
	$(BIN)/pytest -m "not bundling and not e2e"

## audit: pip-audit of every pinned dependency against PyPI's vulnerability data.
## Covers requirements.txt and lambda_src/requirements.txt. --strict: a package it could not look up fails the audit.
audit: setup tools
	scripts/audit-dependencies

## postgres: make sure the local PostgreSQL answers (tests use DATABASE_URL or 127.0.0.1:5432).
postgres:
	@scripts/ensure-postgres

## browser: Debian's chromium for the end-to-end test of the verification page.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

## jdk: a JDK (javac + java) for the Java token minter's vector test (clients/java).
jdk:
	@command -v javac >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless >/dev/null; }

## pgbouncer: Debian's pgbouncer, the transaction pooler that stands in for RDS Proxy in tests.
## The pooling tests and the storm benchmark put it in front of their throwaway PostgreSQL cluster.
pgbouncer:
	@command -v pgbouncer >/dev/null 2>&1 || test -x /usr/sbin/pgbouncer || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null; }

## local: run the local gateway (SQLite store) on ws://127.0.0.1:8080/prod (wsctl local).
local: setup
	$(BIN)/wsctl local

## bench: every figure of bench/ against its same-run baseline (about 20 min).
## Writes bench/results.json and bench/RESULTS.md. A quick pass: make bench BENCH_ARGS="--size tiny --out /tmp/bench"
BENCH_ARGS ?=
bench: setup postgres pgbouncer browser
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench $(BENCH_ARGS)

## clean: remove .venv/, .venv-tools/, node_modules/, cdk.out/ and .pytest_cache/.
clean:
	rm -rf $(VENV) $(TOOLS) node_modules cdk.out .pytest_cache
