"""Every notebook executed by papermill in the smoke profile, in workbook order, on tiny data.

Each notebook's recorded results are checked by tests/notebook_results/nbNN.py (NN = the notebook number,
what comes before the first "_" of its name: nb04.py, nb04b.py …), and the claim tags of its prose
(helpers.claims) are evaluated on them.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path

import pytest

from helpers import claims, workbook

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("smoke-run")


def what_a_student_should_not_see(executed: dict) -> list[str]:
    """Stray Out[] values (a plain-text result, e.g. of record(...)) and warnings that echo a source line."""
    found = []
    for number, cell in enumerate(executed["cells"]):
        for output in cell.get("outputs", []):
            if output["output_type"] == "execute_result" and set(output["data"]) == {"text/plain"}:
                found.append(f"cell {number}: Out[] {''.join(output['data']['text/plain'])[:60]!r}")
            text = "".join(output.get("text", "")) if output["output_type"] == "stream" else ""
            if re.search(r"\.py:\d+: \w*Warning:", text):
                found.append(f"cell {number}: warning with its source line {text[:80]!r}")
    return found


@pytest.mark.parametrize("name", workbook.NOTEBOOKS)
def test_notebook_runs_and_records_its_results(name, run_dir, capfd):
    status = workbook.run_notebook(name, run_dir, {"PROFILE": "smoke", "RUN_DIR": str(run_dir)})
    assert status["status"] == "ok", f"{name} failed in cell {status['cell']}: {status['error']}"
    results = json.loads((run_dir / f"{name}.json").read_text())
    check = importlib.import_module(f"tests.notebook_results.nb{name.split('_')[0]}").check
    if "run_dir" in inspect.signature(check).parameters:  # checks that compare with earlier notebooks' results
        check(results, run_dir=run_dir)
    else:
        check(results)
    assert claims.check_claims(name, run_dir) == []
    executed = json.loads((run_dir / "executed" / f"{name}.ipynb").read_text())
    assert what_a_student_should_not_see(executed) == []
    assert "Kernel is running over TCP" not in capfd.readouterr().err
