# Rulecite: every target sets up what it needs, so each works on a fresh clone.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.rulecite-installed

.PHONY: demo test docs bench fuzz chromium clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,docs,scale,fast,lsp]'
	touch $(STAMP)

## demo: evaluate the bundled example patient-months with the CMS pack
demo: $(STAMP)
	$(BIN)/rulecite eval cms-care-management examples/patient-months.jsonl --output table

## chromium: install Debian's headless Chromium for the browser tests when it is missing
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { echo "installing chromium (Debian package) for the browser tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	    (sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive sudo apt-get install -y -qq chromium >/dev/null); }

## test: the whole suite (language, interpreter, CLI, packs, docs build, browser, Dask)
test: $(STAMP) chromium
	@$(BIN)/python -m pytest -q -p no:cacheprovider; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; exit $$rc

## docs: build the documentation site into site/
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

## bench: regenerate benchmarks/RESULTS.md
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

## fuzz: run the atheris harnesses for a bounded time
fuzz: $(STAMP)
	$(BIN)/python -m pip install --quiet atheris
	$(BIN)/python tests/fuzz/run_fuzz.py --seconds $${FUZZ_SECONDS:-60}

clean:
	rm -rf $(VENV) site build *.egg-info docs/reference/generated
