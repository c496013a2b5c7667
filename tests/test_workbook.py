"""The notebook runner, recorded results and the run report."""

from __future__ import annotations

import json
import math
import os
import re

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
    assert workbook.record("suggested_lr", np.float32(0.25)) is None  # nothing to echo as Out[]
    workbook.record("iou", torch.tensor([0.5, float("nan")]))
    workbook.record("shape", (2, 3))
    saved = json.loads((tmp_path / "05_lr_range_test.json").read_text())
    assert saved.pop("_stamp") == {"notebook": "05_lr_range_test", "profile": "smoke", "seed": 3, "datasets": {}}
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


def test_a_notebook_number_picks_that_notebook_alone():
    assert "04b_training_that_works" in workbook.NOTEBOOKS
    assert workbook.resolve_notebooks(["04"]) == ["04_overfit_one_image"]
    assert workbook.resolve_notebooks(["04b"]) == ["04b_training_that_works"]
    assert workbook.resolve_notebooks(["04b", "04"]) == ["04_overfit_one_image", "04b_training_that_works"]
    with pytest.raises(SystemExit, match="unknown notebook '0'"):
        workbook.resolve_notebooks(["0"])  # a prefix of many notebooks


def test_to_jsonable_turns_non_finite_into_none():
    assert workbook.to_jsonable({"a": math.inf, 1: np.int64(2)}) == {"a": None, "1": 2}


def test_runner_reports_a_failing_notebook_and_runs_the_others(tmp_path, monkeypatch):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    record = ("import sys; sys.path.insert(0, {root!r})\n"
              "from helpers.workbook import start, record\n"
              "start({name!r}, profile=PROFILE, run_dir=RUN_DIR, device='cpu')\n")
    root = str(workbook.config.REPO_ROOT)
    write_notebook(folder / "a_fails.ipynb", "PROFILE = 'quick'\nRUN_DIR = None\nSEED = 0",
                   record.format(root=root, name="a_fails"), "record('before', 1)\nraise ValueError('broken\\non purpose')")
    write_notebook(folder / "b_works.ipynb", "PROFILE = 'quick'\nRUN_DIR = None\nSEED = 0",
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
    assert workbook.load_results("a_fails", out) == {"before": 1}


# ---- faults: the run folder across runs ------------------------------------------------------------

@pytest.mark.parametrize("extra, message", [
    (["-p", "PROFILE", "full"], "-p PROFILE 'full' conflicts with --profile smoke"),
    (["-p", "RUN_DIR", "/tmp/elsewhere"], "-p RUN_DIR '/tmp/elsewhere': choose the run folder with --out"),
    (["-p", "SEED", "abc"], "-p SEED 'abc': SEED takes a whole number (SEED = 0 in 07_final_training)"),
    (["-p", "EPOCH", "3"], "-p EPOCH: none of 07_final_training has a parameter EPOCH"),
])
def test_bad_run_parameters_stop_before_any_notebook_runs(tmp_path, monkeypatch, extra, message):
    monkeypatch.setattr(workbook, "run_notebook", lambda *args: pytest.fail("no notebook may run"))
    with pytest.raises(SystemExit, match=re.escape(message)):
        workbook.main(["run", "--profile", "smoke", "--out", str(tmp_path), *extra, "07"])
    assert not (tmp_path / "report.md").exists()
    good = {"PROFILE": "smoke", "SEED": 1, "RECIPE_CHANGES": {"epochs": 3}, "DEVICE": "cpu"}
    assert workbook.check_parameters(good, "smoke", ["07_final_training"]) == {
        "SEED": 1, "RECIPE_CHANGES": {"epochs": 3}, "DEVICE": "cpu"}


def test_ctrl_c_writes_the_report_marking_what_was_interrupted(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "report.md").write_text("# the report of an earlier run\n")
    started = []

    def stopped_in_the_second(name, out_dir, parameters):
        started.append(name)
        if len(started) == 2:
            raise KeyboardInterrupt
        return {"notebook": name, "status": "ok", "error": "", "cell": None, "seconds": 1.0}

    monkeypatch.setattr(workbook, "run_notebook", stopped_in_the_second)
    assert workbook.main(["run", "--profile", "smoke", "--out", str(out), "00", "01", "02"]) == 130
    report = (out / "report.md").read_text()
    assert "1 ok, 0 failed, 1 interrupted, 1 not run" in report
    assert "| 00_getting_started | ok |" in report and "| 01_data_cleaning | interrupted |" in report
    assert "| 02_one_hot_encoding | not run | 0.0 | the run stopped before this notebook |" in report
    assert "interrupted" in capsys.readouterr().err


def test_report_rows_stay_single_lines_and_the_report_is_replaced_atomically(tmp_path, monkeypatch):
    statuses = [{"notebook": "a", "status": "failed", "error": "ValueError: first line\n  second | line",
                 "cell": 3, "seconds": 1.0},
                {"notebook": "b", "status": "ok", "error": "", "cell": None, "seconds": 2.0}]
    workbook.write_report(tmp_path, "smoke", statuses)
    lines = (tmp_path / "report.md").read_text().splitlines()
    assert lines[-2:] == ["| a | failed | 1.0 | cell 3: ValueError: first line second / line |", "| b | ok | 2.0 |  |"]
    before = (tmp_path / "report.md").read_text()

    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        workbook.write_report(tmp_path, "quick", statuses[1:])
    monkeypatch.undo()
    assert (tmp_path / "report.md").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.md"]


@pytest.fixture
def tiny_data(tmp_path, monkeypatch):
    """A data root with a tiny street and forest data set, used through WORKBOOK_DATA."""
    from helpers.synthetic import generate_forest, generate_streets

    root = tmp_path / "data"
    generate_streets(root / "synthetic-streets", sequences=2, frames_per_sequence=2, size=(48, 32), progress=False)
    generate_forest(root / "synthetic-forest", count=2, size=32, progress=False)
    monkeypatch.setenv("WORKBOOK_DATA", str(root))
    return root


def test_results_of_another_profile_or_data_set_are_not_used(tiny_data, tmp_path, capsys):
    from helpers.datasets import build_manifest
    from helpers.synthetic import generate_streets

    run = tmp_path / "run"
    workbook.start("05_lr_range_test", profile="smoke", run_dir=run, device="cpu")
    build_manifest("synthetic-streets")
    workbook.record("suggested_lr", 0.5)
    stamp = json.loads((run / "05_lr_range_test.json").read_text())["_stamp"]
    assert stamp["profile"] == "smoke" and set(stamp["datasets"]) == {"synthetic-streets"}

    workbook.start("06_scheduler_comparison", profile="smoke", run_dir=run, device="cpu")
    assert workbook.earlier_result("05_lr_range_test", "suggested_lr", 0.1) == 0.5
    workbook.start("06_scheduler_comparison", profile="quick", run_dir=run, device="cpu")
    assert workbook.earlier_result("05_lr_range_test", "suggested_lr", 0.1) == 0.1
    assert "for profile 'smoke', but this notebook runs 'quick'" in capsys.readouterr().out
    workbook.start("06_scheduler_comparison", profile="smoke", run_dir=run, device="cpu")
    build_manifest("synthetic-forest")
    assert workbook.earlier_result("05_lr_range_test", "suggested_lr", 0.1) == 0.1
    assert "set DATASET = 'synthetic-streets'" in capsys.readouterr().out

    generate_streets(tiny_data / "synthetic-streets", sequences=2, frames_per_sequence=2, size=(48, 32), seed=7,
                     progress=False)
    workbook.start("06_scheduler_comparison", profile="smoke", run_dir=run, device="cpu")
    assert workbook.earlier_result("05_lr_range_test", "suggested_lr", 0.1) == 0.1
    assert "as it was before it changed" in capsys.readouterr().out

    workbook.start("05_lr_range_test", profile="quick", run_dir=run, device="cpu")  # rerun: new results replace
    workbook.record("max_lr", 1.0)
    assert workbook.load_results("05_lr_range_test", run) == {"max_lr": 1.0}
    assert "replacing them" in capsys.readouterr().out


def test_the_smoke_data_key_follows_every_module_of_the_generator(tmp_path, monkeypatch):
    import shutil

    from helpers import config

    shutil.copytree(config.REPO_ROOT / "helpers" / "synthetic", tmp_path / "helpers" / "synthetic")
    monkeypatch.setattr(config, "REPO_ROOT", tmp_path)
    before = workbook.smoke_data_key()
    assert workbook.smoke_data_key() == before
    weather = tmp_path / "helpers" / "synthetic" / "weather.py"
    weather.write_text(weather.read_text() + "\n# a change to the rain\n")
    assert workbook.smoke_data_key() != before


def test_the_session_says_once_which_split_it_uses(tmp_path, capsys):
    session = workbook.start("05_lr_range_test", profile="smoke", run_dir=tmp_path, device="cpu")
    capsys.readouterr()
    assert session.manifest is None and session.manifest is None
    assert capsys.readouterr().out.count("no clean manifest from 01_data_cleaning") == 1
    (tmp_path / "manifest.csv").write_text("frame,image,label,sequence,split\n")
    session = workbook.start("06_scheduler_comparison", profile="smoke", run_dir=tmp_path, device="cpu")
    capsys.readouterr()
    assert session.manifest == tmp_path / "manifest.csv" and session.manifest == tmp_path / "manifest.csv"
    said = capsys.readouterr().out
    assert said.count("using the clean split of 01_data_cleaning") == 1 and str(tmp_path / "manifest.csv") in said


def test_earlier_result_notes_a_long_value_by_its_kind_and_size(tmp_path, capsys):
    workbook.start("05_lr_range_test", profile="smoke", run_dir=tmp_path, device="cpu", seed=0)
    accuracy = {"lr": [0.01 * step for step in range(1, 11)], "pixel_accuracy": [0.5] * 10}
    workbook.record("linear_val_accuracy", accuracy)
    workbook.record("suggested_lr", 0.25)
    capsys.readouterr()
    assert workbook.earlier_result("05_lr_range_test", "linear_val_accuracy", None) == accuracy  # the value is whole
    assert workbook.earlier_result("05_lr_range_test", "suggested_lr", 0.1) == 0.25
    long_note, short_note = capsys.readouterr().out.splitlines()
    assert "(a dict of 2 entries" in long_note and len(long_note) < 180
    assert short_note == "using suggested_lr = 0.25 recorded by 05_lr_range_test"
