# Two set-up commands (see README): `make demo` runs the main job, `make test` the tests.
# Both create the virtual environment and fetch the embedded media themselves.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
MEDIA  ?= .media
STAMP  := $(VENV)/.installed

.PHONY: venv media demo demo-quick test lint bench clean

venv: $(STAMP)

$(STAMP): requirements.lock requirements-nodeps.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

media: $(STAMP)
	$(BIN)/python scripts/fetch_media.py --dest $(MEDIA)

demo: media
	VEIL_MEDIA=$(MEDIA) $(BIN)/veil demo

demo-quick: media
	VEIL_MEDIA=$(MEDIA) $(BIN)/veil demo --quick

test: media
	$(BIN)/ruff check src tests benchmarks scripts
	VEIL_MEDIA=$(MEDIA) $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts

bench: media
	VEIL_MEDIA=$(MEDIA) $(BIN)/python benchmarks/blackbox_latency.py

clean:
	rm -rf $(VENV) runs .pytest_cache
