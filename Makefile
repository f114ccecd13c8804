# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   := demo_data
# Exact versions with hashes of everything `make demo` and `make test` install (made by uv from
# pyproject.toml's ranges; `make lock` refreshes it). pyproject.toml keeps the honest lower
# bounds for library users; the lock is what was tested.
LOCK   := requirements.lock
UV     := uv==0.13.9

.PHONY: demo test venv clean clean-demo bench lock web

venv: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# Re-resolve the lock from pyproject.toml (newest versions within its ranges, every platform,
# Python 3.11 and later), then reinstall from it.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "$(UV)"
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --universal \
	  --python-version 3.11 --quiet -o $(LOCK)
	rm -f $(STAMP)
	$(MAKE) venv

# The demo company's exports are generated once and imported once (re-run: make clean-demo);
# the main job runs every time: summary, realignment with its trade-off curve, a fresh design
# around the reps' homes, staffing, routing, quotas, exports, sizing, potential, forecast and
# the impact of the demo's planted campaign. The exports are regenerated (and re-imported)
# when the generator changes (its planted effects write truth.yaml).
$(DEMO)/manifest.yaml: src/territorium/data/demo.py src/territorium/data/demo_effects.py | $(STAMP)
	rm -rf $(DEMO) territorium.db territorium.db-wal territorium.db-shm
	$(BIN)/territorium demo --out $(DEMO)

$(DEMO)/.imported: $(DEMO)/manifest.yaml | $(STAMP)
	$(BIN)/territorium import all $(DEMO) --replace
	touch $@

# The web app (web/: maplibre-gl + esbuild from npm) built into the package's static folder,
# rebuilt only when its sources change.
WEB_STAMP := src/territorium/web/static/.stamp
web: $(WEB_STAMP)

$(WEB_STAMP): web/package.json web/package-lock.json web/build.mjs $(wildcard web/src/*)
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build
	touch $@

demo: $(STAMP) $(WEB_STAMP) $(DEMO)/.imported
	$(BIN)/territorium units build --level zip --states $$(cat $(DEMO)/states.txt)
	$(BIN)/territorium summary
	$(BIN)/territorium design --units zip --realign --balance workload:5% --balance account_count:10% \
	  --tradeoff 0,5%,10%,15%,25% --tradeoff-time-limit 15 --time-limit 60 --seed 1 --out out/realigned.csv
	$(BIN)/territorium design --units zip --centers reps --capacity-targets --balance workload:5% \
	  --balance potential:10% --balance account_count:10% --time-limit 120 --seed 1 \
	  --out out/designed.csv --geojson out/designed.geojson
	$(BIN)/territorium assign territories --alignment out/designed.csv --capacity share --out out/assignment.csv
	$(BIN)/territorium assign accounts --capacity share --out out/account_assignment.csv
	$(BIN)/territorium route --alignment out/designed.csv --assignment out/assignment.csv --out out/routed.csv
	$(BIN)/territorium quota --alignment out/designed.csv --cap +30% --floor=-10% --backtest --out out/quotas.csv
	$(BIN)/territorium export --format all --alignment out/designed.csv --assignment out/assignment.csv --out out/export
	$(BIN)/territorium size --units zip --min 36 --max 52 --step 4 --time-limit 6 --seed 1 --out out/sizing.png
	$(BIN)/territorium potential --out out/potential.csv --top 10
	$(BIN)/territorium forecast --level territory --out out/forecast.csv --plot out/forecast.png
	$(BIN)/territorium impact-report --truth $(DEMO)/truth.yaml --out out/impact.md
	$(BIN)/territorium kpi --alignment out/designed.csv --assignment out/assignment.csv --quotas out/quotas.csv \
	  --period month --out out/kpis
	$(BIN)/territorium alerts --alignment out/designed.csv --assignment out/assignment.csv --quotas out/quotas.csv \
	  --propose out/rebalance.csv --out out/alerts.csv
	$(BIN)/territorium report --alignment out/designed.csv --assignment out/assignment.csv --quotas out/quotas.csv \
	  --since $(DEMO)/legacy_alignment.csv --rules src/territorium/profiles/alerts.example.yaml \
	  --html out/report.html --pdf out/report.pdf
	$(BIN)/territorium plan show demo >/dev/null 2>&1 || $(BIN)/territorium plan import demo \
	  --alignment out/designed.csv --staffing out/assignment.csv --quotas out/quotas.csv --seed 1
	@echo ""
	@echo "The demo's results are in out/ (report: out/report.html, out/report.pdf); the designed"
	@echo "plan is stored as plan 'demo' (territorium plan show demo)."
	@echo "Serve the demo workspace (REST API, OpenAPI at /docs): $(BIN)/territorium serve"
	@echo "  (the first start prints a one-time admin password; docs/server.md)"

clean-demo:
	rm -rf $(DEMO) territorium.db out

test: $(STAMP) $(WEB_STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/units_build.py
	$(BIN)/python bench/import_orders.py
	$(BIN)/python bench/routing_throughput.py
	$(BIN)/python bench/assign_gap.py
	$(BIN)/python bench/causal_runtime.py

clean:
	rm -rf $(VENV) $(DEMO) territorium.db .cache
