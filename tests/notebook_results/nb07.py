"""07_final_training: it trains exactly the recipe 06 recorded, resumes without redoing epochs, reloads
the model, and the test report is complete."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from helpers.final_run import describe_candidate_ranking, epoch_span
from helpers.recipe import Recipe

CLASS_NAMES = ("everything else", "curb", "road", "cars", "trucks", "motorcycle", "humans", "busses", "tram/train")
OPTIMIZER_CLASSES = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}


def _score(value) -> bool:
    return value is not None and 0.0 <= value <= 1.0


def check(results: dict, run_dir=None) -> None:
    # The recipe: the one 06 recorded in the same run folder, trained exactly (optimizer, schedule, lr).
    recipe = Recipe.from_dict(results["recipe"])
    trained = results["trained"]
    assert trained["optimizer"] == OPTIMIZER_CLASSES[recipe.optimizer]
    assert trained["schedule"] == recipe.schedule and trained["lr"] == recipe.lr
    assert trained["epochs_planned"] == recipe.epochs
    if run_dir is not None and (Path(run_dir) / "06_scheduler_comparison.json").exists():
        chosen = json.loads((Path(run_dir) / "06_scheduler_comparison.json").read_text())["recipe"]
        assert results["recipe_source"].startswith("notebook 06") and results["recipe_changes"] == {}
        assert recipe == Recipe.from_dict(chosen), recipe.differences(Recipe.from_dict(chosen))

    for key in ("test_miou", "test_pixel_accuracy", "val_miou", "train_miou", "majority_baseline_miou"):
        assert _score(results[key]), f"{key} = {results.get(key)}"
    assert results["test_pixel_accuracy"] > 0.0
    iou = results["per_class_iou"]
    assert set(iou) == set(CLASS_NAMES)
    present = [value for value in iou.values() if value is not None]
    assert present and all(0.0 <= value <= 1.0 for value in present)
    assert math.isclose(sum(present) / len(present), results["test_miou"], abs_tol=1e-9)  # mIoU = NaN-aware mean

    # A first run: first part, then the full count on the same folder, each epoch exactly once.
    epochs = results["history_epochs"]
    assert epochs == list(range(1, len(epochs) + 1)) and results["epochs_run"] == len(epochs) == recipe.epochs
    assert results["epochs_found"] == 0
    assert results["first_part_epochs"] == results["resumed_from_epoch"] >= 1
    assert results["epochs_run"] > results["resumed_from_epoch"]
    assert results["resume_kept_first_part"] is True
    assert 1 <= results["best_epoch"] <= results["epochs_run"]
    assert Path(results["checkpoint_dir"]).name.startswith(f"run-{recipe.optimizer}-{recipe.schedule}-")

    # Weight averaging and the checkpoint ensemble over the last epochs; the ensemble is the final model.
    size = results["ensemble_size"]
    averaged = results["averaged"]
    assert averaged["from_epoch"] == results["epochs_run"] - size + 1 and averaged["to_epoch"] == results["epochs_run"]
    assert averaged["epochs_averaged"] == size
    assert _score(averaged["miou"]) and _score(results["best_epoch_val_miou"])
    members = results["ensemble_epochs"]
    assert members == list(range(results["epochs_run"] - size + 1, results["epochs_run"] + 1))
    val_scores, test_scores = results["candidates_val_miou"], results["candidates_test_miou"]
    assert set(val_scores) == set(test_scores) and len(val_scores) == 3

    def named(start: str) -> str:
        return next(name for name in val_scores if name.startswith(start))

    best_name, averaged_name, ensemble_name = named("best single epoch"), named("weights"), named("predictions")
    assert epoch_span(members[0], members[-1]) in ensemble_name and results["final_model"] == ensemble_name
    # pseudo-test scores recomputed from the saved files agree with what fit measured during training (to the last
    # digits in float32; a run in half precision measured in it, evaluate in float32)
    if not torch.cuda.is_available():
        assert trained["precision"] == "torch.float32"  # AMP = "auto" keeps a CPU run in float32
    tolerance = 1e-6 if trained["precision"] == "torch.float32" else 0.01
    assert math.isclose(val_scores[best_name], results["best_epoch_val_miou"], abs_tol=tolerance)
    assert math.isclose(val_scores[averaged_name], averaged["miou"], abs_tol=tolerance)
    assert math.isclose(results["val_miou"], val_scores[ensemble_name], abs_tol=1e-9)
    assert math.isclose(results["test_miou"], test_scores[ensemble_name], abs_tol=1e-9)
    assert all(_score(value) for value in (*val_scores.values(), *test_scores.values()))
    # the line after the candidates table says how pseudo-test and test ranked them, from these scores, and that the
    # best epoch is the one candidate picked as a maximum of the epochs' pseudo-test scores
    assert results["candidates_ranking"] == describe_candidate_ranking(val_scores, test_scores, picked=best_name,
                                                                       picked_from=results["epochs_run"])

    # Checkpoints written, model saved where notebook 09 looks, reloaded with identical predictions.
    assert results["checkpoint_exists"] is True
    assert Path(results["model_path"]).parts[-2:] == ("07_final_training", "final.pt")
    assert Path(results["model_path"]).is_file()
    assert results["reload_matches"] is True
    # the run's seed travels with the model: 09 rebuilds the untrained first layer from it
    saved = torch.load(results["model_path"], map_location="cpu", weights_only=False)
    assert saved["extra"]["seed"] == results["_stamp"]["seed"]
    # and the members' epochs, the last ones of the run in order (09 names the last member's epoch)
    assert saved["extra"]["epochs"] == members
    assert 0.0 <= results["new_frame_accuracy"] <= 1.0
    assert results["meets_floor"] == (results["test_miou"] >= results["floor_miou"] == 0.60)
    assert results["train_frames"] > 0
    assert results["miou_by_scene"] and all(_score(v) for v in results["miou_by_scene"].values() if v is not None)
    assert results["train_seconds"] > 0 and results["seconds"] >= results["train_seconds"]

    # Evaluation looked at closely: the whole test split, pooled from one confusion matrix per frame
    assert results["whole_test_frames"] >= 1
    assert _score(results["whole_test_miou"]) and _score(results["whole_test_pixel_accuracy"])
    assert _score(results["miou_image_mean"]) and 0.0 <= results["wrong_pixel_loss_share"] <= 1.0
    assert all(isinstance(epoch, int) and epoch >= 2 for epoch in results["loss_and_miou_rose_epochs"])
    assert all(_score(value) for value in results["miou_by_weather"].values())
    left_out, as_zero = results["miou_absent_left_out"], results["miou_absent_as_zero"]
    assert set(left_out) == set(as_zero) and "whole test split" in left_out
    assert math.isclose(left_out["whole test split"], results["whole_test_miou"], abs_tol=1e-9)
    for subset, value in left_out.items():  # counting absent classes as 0 can only lower the mean
        assert as_zero[subset] <= value + 1e-9, subset
    assert set(results["miou_by_scene_whole_split"]) <= {"city", "suburb", "countryside", "highway", "unknown"}
    # notebook 03's colour lookup, scored on the report's test frames beside the final model
    assert _score(results["colour_lookup_test_miou"]) and _score(results["colour_lookup_test_pixel_accuracy"])
    assert math.isclose(results["unet_miou_beside_lookup"], results["test_miou"], abs_tol=1e-6)
    if results["_stamp"]["profile"] != "smoke" and results["classes"] == "gta9":  # a full budget beats colour alone
        assert results["test_miou"] > results["colour_lookup_test_miou"]
    # the shipped reference model applies to the quick profile's streets only: elsewhere the notebook says why not
    if results["_stamp"]["profile"] != "quick" or results["classes"] != "gta9":
        assert results["reference_miou"] is None
    elif results["reference_miou"] is not None:
        assert set(results["reference_miou"]) == {"this run's final model", "reference model"}
