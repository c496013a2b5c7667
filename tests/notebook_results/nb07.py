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

    # Weight averaging over the last epochs, and the final model chosen on pseudo-test.
    averaged = results["averaged"]
    assert averaged["from_epoch"] == results["setup"]["average_from"] >= 2  # the resumed part is averaged
    assert averaged["to_epoch"] == results["epochs_run"]
    assert averaged["epochs_averaged"] == averaged["to_epoch"] - averaged["from_epoch"] + 1
    assert _score(averaged["miou"]) and _score(results["best_epoch_val_miou"])
    by_pseudo_test = "best single epoch" if results["best_epoch_val_miou"] >= averaged["miou"] else "weights averaged"
    assert results["final_model"].startswith(by_pseudo_test)
    assert math.isclose(results["val_miou"], max(results["best_epoch_val_miou"], averaged["miou"]), abs_tol=1e-9)

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
