# Two entry points (see README): `make book` (main job) and `make test`.
# Both create or reuse the virtual environment in $(VENV) by themselves.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.lstmattn-installed
PROFILE ?= quick

.PHONY: book test quick env clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,book]"
	touch $(STAMP)

env: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The main job: until the book lands, run the quick profile end to end.
book: $(STAMP)
	$(BIN)/lstmattn run-all --profile $(PROFILE)

clean:
	rm -rf _build runs
