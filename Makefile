# The workbook's commands. Each one creates .venv first when it is missing or out of date.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= quick
STREETS := data/synthetic-streets
FOREST := data/synthetic-forest

COLAB_PYTHON ?= python3.13
MIN_PYTHON ?= python3.10
CHROMIUM ?= /usr/bin/chromium
# The lowest versions requirements.txt allows (make test-min).
MIN_PINS := torch==2.4.0 torchvision==0.19.0 numpy==1.24.4 opencv-python-headless==4.8.0.76 Pillow==10.0.0 \
	matplotlib==3.8.0 pandas==2.0.0 tqdm==4.65.0 ipywidgets==7.7.0 papermill==2.5.0
# Colab's tests: the notebooks and the helpers that differ between versions (widgets, plots, set-up).
ENV_TESTS := tests/test_notebooks.py tests/test_viz.py tests/test_environment.py tests/test_classes.py tests/test_encoding.py

.PHONY: help venv run test test-ui test-colab test-min lab data bench lint clean

help:
	@echo "make run [PROFILE=smoke|quick|full]  execute every notebook into runs/<profile>/ with a report"
	@echo "make test                             the whole test suite (unit, data scripts, notebooks)"
	@echo "make test-ui                          JupyterLab in Chromium: notebooks 00, 01, 09 run, widgets moved"
	@echo "make test-colab                       the notebooks in a copy of Colab's runtime (tests/envs/colab.txt)"
	@echo "make test-min                         the notebooks with the lowest versions requirements.txt allows"
	@echo "make lab                              JupyterLab in notebooks/"
	@echo "make data                             generate the default synthetic data sets into data/"
	@echo "make bench                            print the benchmark tables"
	@echo "make clean                            remove .venv, runs/ and caches (data/ stays)"

$(BIN)/.installed: requirements.txt requirements-test.txt requirements-dev.txt pyproject.toml
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

# JupyterLab in Debian's Chromium (apt-get install chromium), driven by Playwright; screenshots in runs/ui/.
test-ui: $(BIN)/.installed
	@test -x $(CHROMIUM) || { echo "no Chromium at $(CHROMIUM): apt-get install -y chromium"; exit 1; }
	CHROMIUM=$(CHROMIUM) OMP_NUM_THREADS=1 $(BIN)/python -m pytest -m ui tests/ui -p no:cacheprovider

# Colab as it ships: its packages at its versions, then the bootstrap's install step checked
# (it must change none of them), then the test tools and the notebooks in the smoke profile.
.venv-colab/.installed: tests/envs/colab.txt requirements.txt requirements-test.txt
	test -x .venv-colab/bin/python || $(COLAB_PYTHON) -m venv .venv-colab
	.venv-colab/bin/python -m pip install -q -c tests/envs/colab.txt pip packaging
	.venv-colab/bin/python -m pip install -q -c tests/envs/colab.txt $$(.venv-colab/bin/python tests/envs/colab_shipped.py)
	.venv-colab/bin/python tests/envs/check_bootstrap.py tests/envs/colab.txt
	.venv-colab/bin/python -m pip install -q -c tests/envs/colab.txt -r requirements-test.txt
	.venv-colab/bin/python -m pip install -q --no-deps -e .
	touch $@

test-colab: .venv-colab/.installed
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv-colab/bin/python -m pytest -n 2 --dist loadfile $(ENV_TESTS)

.venv-min/.installed: requirements.txt requirements-test.txt
	test -x .venv-min/bin/python || $(MIN_PYTHON) -m venv .venv-min
	.venv-min/bin/python -m pip install -q $(MIN_PINS)
	.venv-min/bin/python -m pip install -q $(MIN_PINS) -r requirements-test.txt
	.venv-min/bin/python -m pip install -q --no-deps -e .
	touch $@

test-min: .venv-min/.installed
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv-min/bin/python -m pytest -n 2 --dist loadfile $(ENV_TESTS)

lab: $(BIN)/.installed data
	$(BIN)/jupyter lab --notebook-dir=notebooks

bench: $(BIN)/.installed data
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: $(BIN)/.installed
	$(BIN)/ruff check helpers data_scripts tests benchmarks

clean:
	rm -rf $(VENV) .venv-colab .venv-min runs .pytest_cache .ruff_cache *.egg-info
