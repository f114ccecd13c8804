# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   := demo_data

.PHONY: demo test venv clean clean-demo bench

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

# The demo company's exports are generated once and imported once (re-run: make clean-demo);
# the main job (summary, realignment with its trade-off curve, fresh design) runs every time.
# the demo is regenerated when its generator changes (its planted effects write truth.yaml)
$(DEMO)/manifest.yaml: src/territorium/data/demo.py src/territorium/data/demo_effects.py | $(STAMP)
	rm -rf $(DEMO) territorium.db territorium.db-wal territorium.db-shm
	$(BIN)/territorium demo --out $(DEMO)

$(DEMO)/.imported: $(DEMO)/manifest.yaml | $(STAMP)
	$(BIN)/territorium import all $(DEMO) --replace
	touch $@

demo: $(STAMP) $(DEMO)/.imported
	$(BIN)/territorium units build --level zip --states $$(cat $(DEMO)/states.txt)
	$(BIN)/territorium summary
	$(BIN)/territorium design --units zip --realign --balance workload:5% --balance account_count:10% \
	  --tradeoff 0,5%,10%,15%,25% --tradeoff-time-limit 15 --time-limit 60 --seed 1 --out out/realigned.csv
	$(BIN)/territorium design --units zip --centers reps --capacity-targets --balance workload:5% \
	  --balance potential:10% --balance account_count:10% --time-limit 60 --seed 1 \
	  --out out/designed.csv --geojson out/designed.geojson
	$(BIN)/territorium impact-report --truth $(DEMO)/truth.yaml --out out/impact.md

clean-demo:
	rm -rf $(DEMO) territorium.db out

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/units_build.py
	$(BIN)/python bench/import_orders.py

clean:
	rm -rf $(VENV) $(DEMO) territorium.db .cache
