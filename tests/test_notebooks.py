"""Every notebook executed by papermill in the smoke profile, in workbook order, on tiny data.

Each notebook's recorded results are checked by tests/notebook_results/nbNN.py (NN = the notebook number).
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import nbformat
import pytest

from helpers import workbook

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("smoke-run")


@pytest.mark.parametrize("name", workbook.NOTEBOOKS)
def test_notebook_runs_and_records_its_results(name, run_dir):
    status = workbook.run_notebook(name, run_dir, {"PROFILE": "smoke", "RUN_DIR": str(run_dir)})
    assert status["status"] == "ok", f"{name} failed in cell {status['cell']}: {status['error']}"
    results = json.loads((run_dir / f"{name}.json").read_text())
    executed = nbformat.read(run_dir / "executed" / f"{name}.ipynb", as_version=4)
    stray = [(cell.get("id"), output["data"]["text/plain"][:60]) for cell in executed.cells if cell.cell_type == "code"
             for output in cell.get("outputs", []) if output["output_type"] == "execute_result"
             and "text/html" not in output["data"]]  # a table shown on purpose has an HTML form; a bare value does not
    assert not stray, f"cells ending in a bare value (an Out[] nobody asked for): {stray}"

    check = importlib.import_module(f"tests.notebook_results.nb{name[:2]}").check
    if "run_dir" in inspect.signature(check).parameters:  # checks that compare with earlier notebooks' results
        check(results, run_dir=run_dir)
    else:
        check(results)
