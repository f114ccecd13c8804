# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   := demo_data

.PHONY: demo test venv clean bench

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/territorium demo --out $(DEMO)
	$(BIN)/territorium import all $(DEMO) --replace
	$(BIN)/territorium units build --level zip --states $$(cat $(DEMO)/states.txt)
	$(BIN)/territorium summary

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/units_build.py
	$(BIN)/python bench/import_orders.py

clean:
	rm -rf $(VENV) $(DEMO) territorium.db .cache
