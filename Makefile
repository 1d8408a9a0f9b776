# Two entry points (see README): `make book` (main job) and `make test`.
# Both create or reuse the virtual environment in $(VENV) by themselves.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.lstmattn-installed
PROFILE ?= quick
# Chapter 7 trains on real CT slices in REAL_DATA (sarscov2-ct/, medseg-semiseg/train/):
# by default $LSTMATTN_SAMPLE_DATA, else ../shared/data when it exists. Empty: chapter 7
# renders as a page saying what data it needs (`make book REAL_DATA=` forces that).
REAL_DATA ?= $(or $(LSTMATTN_SAMPLE_DATA),$(wildcard ../shared/data))
# Extra arguments of `lstmattn book build`, e.g. BOOK_ARGS="--epochs 2" (shorter runs).
BOOK_ARGS ?=

.PHONY: book reproduce test quick env clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,book]"
	touch $(STAMP)

env: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The main job: read the stored runs (store/), retrain the live sample and whatever the
# store lacks into _build/runs, run every chapter with papermill, then build the offline
# site into _build/_build/html (see lstmattn/book/build.py). On a GPU every run is retrained.
book: $(STAMP)
	$(BIN)/lstmattn book build --profile $(PROFILE) $(if $(REAL_DATA),--real-data $(REAL_DATA)) $(BOOK_ARGS)

# Every run retrained here into runs/ (resumable; never into the store), the book built
# from them into _build/reproduce, then each run compared with its stored twin.
reproduce: $(STAMP)
	$(BIN)/lstmattn book build --profile $(PROFILE) --store retrain --output-dir runs --out _build/reproduce $(if $(REAL_DATA),--real-data $(REAL_DATA)) $(BOOK_ARGS)
	$(BIN)/lstmattn store compare runs

clean:
	rm -rf _build runs
