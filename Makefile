# coxa: two commands set everything up on a fresh machine (Python 3.11):
#   make demo   simulated rig doing squats, live readout, per-rep summary
#   make test   lint, type check and the whole test suite
# Each creates or updates the project .venv with pinned versions first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP_VERSION := 26.3

.PHONY: demo test lint typecheck pytest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pip==$(PIP_VERSION)

# Runtime only (what `make demo` needs).
$(VENV)/.runtime-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

# Runtime plus the test, lint and firmware tool groups.
$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e . \
		--group test --group lint --group firmware --group bench
	touch $(VENV)/.runtime-installed $@

demo: $(VENV)/.runtime-installed
	$(BIN)/coxa demo

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check host tests tools
	$(BIN)/ruff format --check host tests tools

typecheck: $(VENV)/.dev-installed
	$(BIN)/pyright

pytest: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -n 2 -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
