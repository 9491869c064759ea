# ventwatch: `make run` starts the stack, `make test` runs the tests.
# Both set everything up themselves: virtualenv, packages, the default model.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
MODEL_DIR ?= models/ventilation
export DO_NOT_TRACK := 1
export OMP_NUM_THREADS := 1

.PHONY: help install model run serve test bench screenshots lint clean

help:
	@echo "make run    - train the default model if needed and start the stack"
	@echo "make test   - install test dependencies and run every test"
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

run: model
	$(BIN)/ventwatch serve

test: install
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
