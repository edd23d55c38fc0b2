# Local development: `make run` (the whole stack on 127.0.0.1), `make test`
# (the whole suite), `make bench`. Needs only python3.11, node/npm and java 17.
PYTHON ?= python3.11
VENV := .venv
VPY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

# make run PORT=8000 DB_PATH=.devstack/data SCHEDULE_RATE_S=5
PORT ?= 8000
DB_PATH ?=
SCHEDULE_RATE_S ?=
# make test PYTEST_ARGS="tests/unit -x"
PYTEST_ARGS ?=
BENCH_ARGS ?=
# make synth STAGE=prod (the stage whose CloudFormation is written to cdk.out/)
STAGE ?= prod
CDK := infra/node_modules/.bin/cdk
CDK_INSTALLED := infra/node_modules/.installed

export PIP_DISABLE_PIP_VERSION_CHECK := 1
# The CDK tools: no telemetry, no notices, no instance metadata look-ups (a
# synth needs no AWS account).
export CDK_DISABLE_CLI_TELEMETRY := true
export AWS_EC2_METADATA_DISABLED := true

.PHONY: run test lint bench install synth clean-devstack clean-build audit chromium check-port

$(VPY):
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): requirements.txt requirements-dev.txt | $(VPY)
	@echo "Installing the dependencies into $(VENV) (a few minutes on a fresh clone; once)"
	$(VPY) -m pip install --no-input --progress-bar on -r requirements-dev.txt
	touch $(INSTALLED)

# The cdk command line, at the version of infra/package-lock.json.
$(CDK_INSTALLED): infra/package.json infra/package-lock.json
	npm ci --prefix infra --no-audit --no-fund --loglevel=error
	touch $(CDK_INSTALLED)

install: $(INSTALLED) $(CDK_INSTALLED)

# The port first: a busy port is said in a second, before any setup.
check-port:
	@$(PYTHON) devstack/portcheck.py $(PORT)

run: check-port $(INSTALLED)
	$(VPY) -m devstack run --port $(PORT) $(if $(DB_PATH),--db-path $(DB_PATH)) $(if $(SCHEDULE_RATE_S),--schedule-rate-s $(SCHEDULE_RATE_S))

# CloudFormation of one stage into cdk.out/<stage>.template.json, without an
# AWS account, then cfn-lint on every template there (non-zero on an error).
synth: $(INSTALLED) $(CDK_INSTALLED)
	rm -rf cdk.out chalice.out
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-ap-southeast-1} $(CDK) synth --quiet --context stage=$(STAGE)
	$(VENV)/bin/cfn-lint --non-zero-exit-code error cdk.out/*.template.json


# The gates first (ruff: ruff.toml; mypy --strict on chalicelib: mypy.ini),
# then every test tier; any finding or failure exits non-zero.
lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: $(INSTALLED) lint chromium synth
	$(VPY) -m pytest $(PYTEST_ARGS)

# Headless Chromium renders the simulation's HTML report in the tests
# (tests/integration/test_simulate.py): the Debian package, installed when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "chromium missing: apt-get install chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# pip-audit --strict on both requirements files; exit 3 (SKIPPED, never a
# pass) when no advisory service answers (devstack/depaudit.py).
audit: $(INSTALLED)
	$(VPY) -m devstack.depaudit

# The cold start benchmark imports the package that synth builds.
bench: $(INSTALLED) synth
	$(VPY) -m bench $(BENCH_ARGS)

# Forget the downloaded DynamoDB Local, local keys, secrets and logs.
clean-devstack:
	rm -rf .devstack

# Forget what synth built (the Lambda source folder and its vendored requirements).
clean-build:
	rm -rf build cdk.out chalice.out
