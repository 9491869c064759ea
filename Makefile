# ventwatch: `make run` starts the stack, `make test` runs the tests.
# Both set everything up themselves: virtualenv, packages, the default model.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
MODEL_DIR ?= models/ventilation
export DO_NOT_TRACK := 1
export OMP_NUM_THREADS := 1

# apt-get needs root: sudo unless we are root already.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help install model run observability-deps test-deps dashboards serve test bench screenshots lint clean

help:
	@echo "make run    - train the default model if needed and start the stack (Ctrl-C stops it)"
	@echo "make observability-deps - install Prometheus, Alertmanager and node-exporter (Debian)"
	@echo "make dashboards - regenerate grafana/dashboards/*.json from app/observability/dashboards.py"
	@echo "make test   - install test dependencies (Debian packages too, as root or with sudo) and run every test"
	@echo "make bench  - run the benchmarks and rewrite BENCHMARKS.md"
	@echo "make screenshots - render the UIs of a demo stack to screenshots/*.png"
	@echo "make lint   - ruff and mypy"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

model: install
	$(BIN)/ventwatch train --if-missing --out $(MODEL_DIR)

# API, snapshot service, Evidently UI, alert receiver and control panel, plus Prometheus,
# Alertmanager and node-exporter when installed (make observability-deps); every URL printed.
run: model
	VENTWATCH_MODEL_DIR=$(MODEL_DIR) $(BIN)/ventwatch up

OBSERVABILITY_DEBS := prometheus prometheus-alertmanager prometheus-node-exporter
# What the tests start for real besides Python packages: the observability binaries, a
# browser, a load generator (benchmarks) and the compose validator.
TEST_DEBS := $(OBSERVABILITY_DEBS) chromium wrk docker-compose

# Installs the Debian packages of $(DEBS) that are missing, when it may (root or sudo without
# a password); otherwise says which, and the tests that need them skip (fail under CI=true).
# Debian starts the packaged Prometheus services on install; `make run` runs its own, so
# those are stopped.
define apt_install
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done | xargs); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] && ! sudo -n true 2>/dev/null; then \
		echo "missing Debian packages: $$missing; install them with: sudo apt-get install $$missing"; \
		exit 0; fi; \
	$(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends $$missing && \
	if [ -d /run/systemd/system ]; then \
		$(SUDO) systemctl disable --now $(OBSERVABILITY_DEBS) 2>/dev/null || true; fi
endef

observability-deps:
	$(call apt_install,$(OBSERVABILITY_DEBS))

test-deps:
	$(call apt_install,$(TEST_DEBS))

dashboards: install
	$(BIN)/python -m app.observability.dashboards

test: install test-deps
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m benchmarks.run

screenshots: install
	$(BIN)/python -m tools.screenshots --out screenshots

lint: install
	$(BIN)/ruff check app tests benchmarks tools control_panel
	$(BIN)/mypy app

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
