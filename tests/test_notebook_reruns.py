"""Running a notebook again: the same settings find the finished run, changed settings get their own.

Notebook 07 under papermill in the smoke profile, several times into one run folder, as a learner
who presses Run All again, changes a parameter, or runs 06 in between.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import workbook
from helpers.final_run import main
from helpers.recipe import Recipe

pytestmark = pytest.mark.notebook

NOTEBOOK = "07_final_training"


def run_07(run_dir: Path, **parameters) -> dict:
    status = workbook.run_notebook(NOTEBOOK, run_dir, {"PROFILE": "smoke", "RUN_DIR": str(run_dir), **parameters})
    assert status["status"] == "ok", f"{NOTEBOOK} failed in cell {status['cell']}: {status['error']}"
    return json.loads((run_dir / f"{NOTEBOOK}.json").read_text())


def test_final_training_runs_again_with_the_same_changed_and_newly_chosen_settings(tmp_path):
    first = run_07(tmp_path)
    assert first["recipe_source"].startswith("this notebook's default") and first["epochs_found"] == 0

    again = run_07(tmp_path)  # Run All again, nothing changed: the finished run is found, nothing trained
    assert again["checkpoint_dir"] == first["checkpoint_dir"]
    assert again["epochs_found"] == again["epochs_run"] == first["epochs_run"]
    assert again["first_part_epochs"] is None and again["test_miou"] == first["test_miou"]

    # the training command with notebook 07's recipe and folder finds the same finished run: nothing trained, the
    # same final model and test score
    last = Path(first["checkpoint_dir"]) / "last.pt"
    written = last.stat().st_mtime_ns
    assert main(["--recipe", str(tmp_path / f"{NOTEBOOK}.json"), "--profile", "smoke", "--out",
                 str(tmp_path / NOTEBOOK)]) == 0
    report = json.loads((Path(first["checkpoint_dir"]) / "report" / "test_report.json").read_text())
    assert last.stat().st_mtime_ns == written and report["epochs_run"] == first["epochs_run"]
    assert report["final_model"] == first["final_model"]
    assert report["miou"] == pytest.approx(first["test_miou"], abs=1e-9)

    no_weights = run_07(tmp_path, RECIPE_CHANGES={"class_weights": None})  # a changed knob: a folder of its own
    assert no_weights["checkpoint_dir"] != first["checkpoint_dir"] and no_weights["epochs_found"] == 0
    assert Recipe.from_dict(no_weights["recipe"]).class_weights is None
    assert no_weights["recipe_changes"] == {"class_weights": None}

    # notebook 06 records another recipe in the same run folder: 07 trains that one, in another folder
    chosen = Recipe.from_dict(first["recipe"]).replace(optimizer="sgd", lr=0.05, schedule="cosine", schedule_args={})
    results_06 = tmp_path / "06_scheduler_comparison.json"
    results_06.write_text(json.dumps({"recipe": chosen.to_dict()}))
    newly_chosen = run_07(tmp_path)
    assert Recipe.from_dict(newly_chosen["recipe"]) == chosen and newly_chosen["recipe_source"].startswith("notebook 06")
    assert newly_chosen["trained"]["optimizer"] == "SGD" and newly_chosen["trained"]["schedule"] == "cosine"
    assert newly_chosen["checkpoint_dir"] not in (first["checkpoint_dir"], no_weights["checkpoint_dir"])

    # a folder named by hand that holds other settings: one line naming the fields and the parameters to change
    status = workbook.run_notebook(NOTEBOOK, tmp_path, {"PROFILE": "smoke", "RUN_DIR": str(tmp_path),
                                                        "CHECKPOINT_DIR": first["checkpoint_dir"]})
    assert status["status"] == "failed"
    assert "recipe.lr:" in status["error"] and "FRESH_START" in status["error"] and "CHECKPOINT_DIR" in status["error"]
