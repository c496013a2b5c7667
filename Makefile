# The workbook's commands. Each one creates .venv first when it is missing or out of date.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= quick
STREETS := data/synthetic-streets
FOREST := data/synthetic-forest

.PHONY: help venv run test lab data bench lint clean

help:
	@echo "make run [PROFILE=smoke|quick|full]  execute every notebook into runs/<profile>/ with a report"
	@echo "make test                             the whole test suite (unit, data scripts, notebooks)"
	@echo "make lab                              JupyterLab in notebooks/"
	@echo "make data                             generate the default synthetic data sets into data/"
	@echo "make bench                            print the benchmark tables"
	@echo "make clean                            remove .venv, runs/ and caches (data/ stays)"

$(BIN)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" >/dev/null
	touch $@

venv: $(BIN)/.installed

data: $(BIN)/.installed
	@test -f $(STREETS)/meta.csv || $(BIN)/python data_scripts/make_synthetic_streets.py --out $(STREETS)
	@test -f "$(FOREST)/Forest Segmented/meta_data.csv" || $(BIN)/python data_scripts/make_synthetic_forest.py --out $(FOREST)
	@echo "data sets ready: $(STREETS) $(FOREST)"

run: $(BIN)/.installed data
	$(BIN)/python -m helpers.workbook run --profile $(PROFILE)

# Unit tests, data-script tests, every notebook under papermill (smoke) and nbval on the
# tagged cells; two processes, one file per process at a time.
test: $(BIN)/.installed
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile --nbval-lax --nbval-current-env tests notebooks

lab: $(BIN)/.installed data
	$(BIN)/jupyter lab --notebook-dir=notebooks

bench: $(BIN)/.installed data
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: $(BIN)/.installed
	$(BIN)/ruff check helpers data_scripts tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache *.egg-info
