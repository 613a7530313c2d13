# Two set-up commands (see README): `make demo` runs the main job, `make test` the tests.
# Both create the virtual environment and fetch the embedded media themselves.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
MEDIA  ?= .media
STAMP  := $(VENV)/.installed

.PHONY: venv media browser demo demo-quick test lint bench clean

venv: $(STAMP)

$(STAMP): requirements.lock requirements-nodeps.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

media: $(STAMP)
	$(BIN)/python scripts/fetch_media.py --dest $(MEDIA)

# The review UI's browser tests (pytest -m browser) drive Debian's chromium with Playwright
# (Playwright cannot download its own browsers here); installed once, when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  apt-cache show chromium >/dev/null 2>&1 || $$SUDO apt-get update -q; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends chromium; }

demo: media
	VEIL_MEDIA=$(MEDIA) $(BIN)/veil demo

demo-quick: media
	VEIL_MEDIA=$(MEDIA) $(BIN)/veil demo --quick

test: media browser
	$(BIN)/ruff check src tests benchmarks scripts
	VEIL_MEDIA=$(MEDIA) $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts

bench: media
	VEIL_MEDIA=$(MEDIA) $(BIN)/python benchmarks/blackbox_latency.py

clean:
	rm -rf $(VENV) runs .pytest_cache
