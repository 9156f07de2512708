# Every target builds .venv from pyproject.toml when it is missing or stale,
# so a fresh clone needs nothing but Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench profile clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The run directory is the job's own (runs/catalog), the one the README goes on with.
demo: $(STAMP)
	$(BIN)/batchedit run jobs/catalog/job.yaml --simulate
	@echo
	@echo "batchedit is installed in .venv, which is not on your PATH: call it as"
	@echo "  .venv/bin/batchedit status runs/catalog"
	@echo "or first run:  source .venv/bin/activate   (then: batchedit report runs/catalog)"

# One pytest worker per core: the suite is CPU-bound and its tests are independent.
test: $(STAMP) lint
	$(BIN)/python -m pytest -q -n auto

lint: $(STAMP)
	$(BIN)/ruff check batchedit tests bench
	$(BIN)/ruff format --check batchedit tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# The benchmark table (B1-B9, docs/benchmarks.md) against a simulator process.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[fast]'  # B1 is printed on uvloop too
	$(BIN)/python bench/bench.py

# Where a run spends its CPU: a B1-shaped run under cProfile, top frames by self time.
profile: $(STAMP)
	$(BIN)/python bench/cpu_profile.py --out profile.out

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
