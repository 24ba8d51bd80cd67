# coxa: two commands set everything up on a fresh machine (Python 3.11):
#   make demo   simulated rig doing squats, live readout, per-rep summary
#   make test   lint, type check and the whole test suite
# Each creates or updates the project .venv with pinned versions first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP_VERSION := 26.3

.PHONY: demo test lint typecheck pytest accuracy clean firmware-check bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pip==$(PIP_VERSION)

# Runtime only (what `make demo` needs).
$(VENV)/.runtime-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

# Runtime plus the test, lint and firmware tool groups.
$(VENV)/.dev-installed: pyproject.toml tools/build-constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e . \
		--group test --group lint --group firmware --group bench \
		--no-binary qmt --build-constraint tools/build-constraints.txt
	touch $(VENV)/.runtime-installed $@

demo: $(VENV)/.runtime-installed
	$(BIN)/coxa demo

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check host tests tools firmware
	$(BIN)/ruff format --check host tests tools firmware

# Firmware for the target: every module compiles with mpy-cross for xtensawin, and pyright against
# the ESP32-S3 MicroPython stubs (installed into build/stubs, never into the venv) reports 0 errors.
firmware-check: $(VENV)/.dev-installed
	$(BIN)/python tools/firmware_check.py

typecheck: $(VENV)/.dev-installed
	$(BIN)/pyright

# The whole suite, with the 5-minute-session accuracy properties of the fusion core (one drawn
# session per test here; `make accuracy` draws four per test).
pytest: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -n 2 -q

accuracy: $(VENV)/.dev-installed
	COXA_ACCURACY_EXAMPLES=4 $(BIN)/python -m pytest -n 2 -q tests/fusion/test_accuracy.py

test: lint typecheck firmware-check pytest

# Fusion benchmark (issue #4): offline throughput vs qmt + SciPy, OpenSense IK, live latency and
# memory, on one simulated 1-hour 5-board session (cached in build/bench), as one markdown table.
# Takes a while (the first run simulates the session); `tools/bench.py --quick` for a smoke run.
bench: $(VENV)/.dev-installed
	$(BIN)/python tools/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
