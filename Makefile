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

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint bench install clean-devstack audit chromium check-port

$(VPY):
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): requirements.txt requirements-dev.txt | $(VPY)
	@echo "Installing the dependencies into $(VENV) (a few minutes on a fresh clone; once)"
	$(VPY) -m pip install --no-input --progress-bar on -r requirements-dev.txt
	touch $(INSTALLED)

install: $(INSTALLED)

# The port first: a busy port is said in a second, before any setup.
check-port:
	@$(PYTHON) devstack/portcheck.py $(PORT)

run: check-port $(INSTALLED)
	$(VPY) -m devstack run --port $(PORT) $(if $(DB_PATH),--db-path $(DB_PATH)) $(if $(SCHEDULE_RATE_S),--schedule-rate-s $(SCHEDULE_RATE_S))

# The gates first (ruff: ruff.toml; mypy --strict on chalicelib: mypy.ini),
# then every test tier; any finding or failure exits non-zero.
lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: $(INSTALLED) lint chromium
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

bench: $(INSTALLED)
	$(VPY) -m bench $(BENCH_ARGS)

# Forget the downloaded DynamoDB Local, local keys, secrets and logs.
clean-devstack:
	rm -rf .devstack
