"""07_final_training: training resumes without redoing epochs, the model reloads, the test report is complete."""

from __future__ import annotations

import math
from pathlib import Path

CLASS_NAMES = ("everything else", "curb", "road", "cars", "trucks", "motorcycle", "humans", "busses", "tram/train")


def _score(value) -> bool:
    return value is not None and 0.0 <= value <= 1.0


def check(results: dict) -> None:
    for key in ("test_miou", "test_pixel_accuracy", "val_miou", "train_miou", "majority_baseline_miou"):
        assert _score(results[key]), f"{key} = {results.get(key)}"
    assert results["test_pixel_accuracy"] > 0.0
    iou = results["per_class_iou"]
    assert set(iou) == set(CLASS_NAMES)
    present = [value for value in iou.values() if value is not None]
    assert present and all(0.0 <= value <= 1.0 for value in present)
    assert math.isclose(sum(present) / len(present), results["test_miou"], abs_tol=1e-9)  # mIoU = NaN-aware mean

    # The resume: first part, then the full count on the same folder, each epoch exactly once.
    epochs = results["history_epochs"]
    assert epochs == list(range(1, len(epochs) + 1)) and results["epochs_run"] == len(epochs)
    assert results["first_part_epochs"] == results["resumed_from_epoch"] >= 1
    assert results["epochs_run"] > results["resumed_from_epoch"] or results["stopped_early"]
    assert results["resume_kept_first_part"] is True
    assert 1 <= results["best_epoch"] <= results["epochs_run"]

    # Weight averaging and the snapshot ensemble over the last epochs; the ensemble is the final model.
    averaged = results["averaged"]
    assert averaged["from_epoch"] == results["setup"]["average_from"] >= 2  # the resumed part is averaged
    assert averaged["to_epoch"] == results["epochs_run"]
    assert averaged["epochs_averaged"] == averaged["to_epoch"] - averaged["from_epoch"] + 1
    assert _score(averaged["miou"]) and _score(results["best_epoch_val_miou"])
    members = results["ensemble_epochs"]
    assert members == list(range(results["setup"]["ensemble_from"], results["epochs_run"] + 1)) and members
    val_scores, test_scores = results["candidates_val_miou"], results["candidates_test_miou"]
    assert set(val_scores) == set(test_scores) and len(val_scores) == 3

    def named(start: str) -> str:
        return next(name for name in val_scores if name.startswith(start))

    best_name, averaged_name, ensemble_name = named("best single epoch"), named("weights"), named("predictions")
    assert f"epochs {members[0]}–{members[-1]}" in ensemble_name and results["final_model"] == ensemble_name
    # pseudo-test scores recomputed from the saved files agree with what fit measured during training
    assert math.isclose(val_scores[best_name], results["best_epoch_val_miou"], abs_tol=1e-6)
    assert math.isclose(val_scores[averaged_name], averaged["miou"], abs_tol=1e-6)
    assert math.isclose(results["val_miou"], val_scores[ensemble_name], abs_tol=1e-9)
    assert math.isclose(results["test_miou"], test_scores[ensemble_name], abs_tol=1e-9)
    assert all(_score(value) for value in (*val_scores.values(), *test_scores.values()))

    # Checkpoints written, model saved where notebook 09 looks, reloaded with identical predictions.
    assert results["checkpoint_exists"] is True
    assert Path(results["model_path"]).parts[-2:] == ("07_final_training", "final.pt")
    assert Path(results["model_path"]).is_file()
    assert results["reload_matches"] is True
    assert 0.0 <= results["new_frame_accuracy"] <= 1.0

    setup = results["setup"]
    assert setup["optimizer"] in ("sgd", "adam", "adamw")
    assert setup["scheduler"] in ("none", "step", "plateau", "cyclic", "cosine", "onecycle")
    assert setup["lr"] > 0 and results["train_frames"] > 0
    assert results["miou_by_scene"] and all(_score(v) for v in results["miou_by_scene"].values() if v is not None)
    assert results["train_seconds"] > 0 and results["seconds"] >= results["train_seconds"]
