"""The notebook runner, recorded results and the run report."""

from __future__ import annotations

import json
import math

import nbformat
import numpy as np
import pytest
import torch

from helpers import workbook


def write_notebook(path, *sources):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    notebook.cells[0].metadata["tags"] = ["parameters"]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


def test_record_writes_json_that_later_notebooks_read(tmp_path):
    workbook.start("05_lr_range_test", profile="smoke", run_dir=tmp_path, device="cpu", seed=3)
    assert workbook.record("suggested_lr", np.float32(0.25)) == np.float32(0.25)
    workbook.record("iou", torch.tensor([0.5, float("nan")]))
    workbook.record("shape", (2, 3))
    saved = json.loads((tmp_path / "05_lr_range_test.json").read_text())
    assert saved == {"suggested_lr": 0.25, "iou": [0.5, None], "shape": [2, 3]}
    assert workbook.earlier_result("05_lr_range_test", "suggested_lr", 0.1) == 0.25
    assert workbook.earlier_result("06_scheduler_comparison", "winner", "adam") == "adam"


def test_start_seeds_and_resolves_the_profile(tmp_path):
    session = workbook.start("04_overfit_one_image", profile="smoke", run_dir=tmp_path, seed=5, base=4)
    first = torch.rand(3)
    assert session.profile.base == 4 and session.profile.image_size == (64, 48)
    workbook.start("04_overfit_one_image", profile="smoke", run_dir=tmp_path, seed=5)
    assert torch.equal(first, torch.rand(3))
    assert session.work_dir == tmp_path.resolve() / "04_overfit_one_image" and session.work_dir.is_dir()


def test_parse_value_and_notebook_names():
    assert workbook.parse_value("3") == 3 and workbook.parse_value("0.1") == 0.1
    assert workbook.parse_value("None") is None and workbook.parse_value("adam") == "adam"
    assert workbook.resolve_notebooks(["07", "04_overfit"]) == ["04_overfit_one_image", "07_final_training"]
    assert workbook.resolve_notebooks([]) == list(workbook.NOTEBOOKS)
    with pytest.raises(SystemExit, match="unknown notebook '42'"):
        workbook.resolve_notebooks(["42"])


def test_to_jsonable_turns_non_finite_into_none():
    assert workbook.to_jsonable({"a": math.inf, 1: np.int64(2)}) == {"a": None, "1": 2}


def test_runner_reports_a_failing_notebook_and_runs_the_others(tmp_path, monkeypatch):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    record = ("import sys; sys.path.insert(0, {root!r})\n"
              "from helpers.workbook import start, record\n"
              "start({name!r}, profile=PROFILE, run_dir=RUN_DIR, device='cpu')\n")
    root = str(workbook.config.REPO_ROOT)
    write_notebook(folder / "a_fails.ipynb", "PROFILE = 'quick'\nRUN_DIR = None",
                   record.format(root=root, name="a_fails"), "record('before', 1)\nraise ValueError('broken on purpose')")
    write_notebook(folder / "b_works.ipynb", "PROFILE = 'quick'\nRUN_DIR = None",
                   record.format(root=root, name="b_works"), "record('accuracy', 0.875)")
    monkeypatch.setattr(workbook, "NOTEBOOK_DIR", folder)
    monkeypatch.setattr(workbook, "NOTEBOOKS", ("a_fails", "b_works"))
    out = tmp_path / "run"
    assert workbook.main(["run", "--profile", "smoke", "--out", str(out), "-p", "SEED", "1"]) == 1
    report = (out / "report.md").read_text()
    assert "1 ok, 1 failed" in report
    assert "| a_fails | failed |" in report and "ValueError: broken on purpose" in report and "cell 4" in report  # the injected parameters cell counts
    assert "| b_works | ok |" in report and "accuracy=0.875" in report
    assert (out / "executed" / "b_works.ipynb").exists()
    assert "<table" in (out / "report.html").read_text()
    assert json.loads((out / "a_fails.json").read_text()) == {"before": 1}
