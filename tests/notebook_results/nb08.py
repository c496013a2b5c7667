"""08_skip_connection_ablation: three models scored on the same data, boundary IoU and colorization recorded."""

from __future__ import annotations

from helpers.config import get_profile

MODELS = ["U-Net", "U-Net without skips", "FCN-32s (ResNet-18, random init)"]


def check(results: dict) -> None:
    assert results["models"][:3] == MODELS
    for key in ("miou", "pixel_accuracy", "boundary_miou"):
        assert set(MODELS) <= set(results[key]), f"{key}: {results[key]}"
        for name in MODELS:
            assert 0.0 <= results[key][name] <= 1.0, f"{key}[{name}] = {results[key][name]}"
    for name in MODELS:
        per_class = results["per_class_iou"][name]
        assert len(per_class) == 9 and "humans" in per_class
    # The skip-less twin has the same blocks with fewer input channels; FCN-32s carries ResNet-18.
    parameters = results["parameters"]
    assert parameters["U-Net without skips"] < parameters["U-Net"] < parameters["FCN-32s (ResNet-18, random init)"]
    assert all(results["train_seconds"][name] > 0 for name in MODELS)
    assert results["epochs"] >= 1 and results["train_frames"] >= 1 and results["boundary_width"] >= 1
    # the ablation trains twice the epochs of 06's grid runs; the colorizers keep the grid's budget
    assert results["epochs"] == 2 * get_profile("smoke").compare_epochs
    # whether each model's predictions fit their own frame better than frames of other sequences
    assert set(results["frame_fit"]) == set(results["models"])
    for name, fit in results["frame_fit"].items():
        assert 0.0 <= fit["other"] <= 1.0 and 0.0 <= fit["own"] <= 1.0, (name, fit)
        assert abs(fit["own"] - results["pixel_accuracy"][name]) < 0.02, (name, fit)  # own frame: its pixel accuracy

    # Colorization: a colour error for each colorizer and for leaving the image grey.
    for key in ("color_delta_e_skips", "color_delta_e_no_skips", "color_delta_e_grey"):
        assert 0.0 < results[key] < 100.0, f"{key} = {results[key]}"
    assert results["color_steps"] >= 1

    # Offline the pretrained encoder is skipped, and says so; with cached weights it is scored.
    assert isinstance(results["pretrained_available"], bool)
    if results["pretrained_available"]:
        assert 0.0 <= results["pretrained_miou"] <= 1.0 and len(results["models"]) == 4
    else:
        assert results["pretrained_miou"] is None and len(results["models"]) == 3
    # output stride is not receptive field: FCN-32s sees 435 px around each score, 32 px apart
    assert results["architecture_receptive_field"] == {"U-Net": 200, "U-Net without skips": 200, "FCN-32s": 435}
    # one seed per model: each mIoU gap comes with a bootstrap interval over the validation sequences
    intervals = results["miou_intervals"]
    assert set(intervals) == {"U-Net − U-Net without skips", "U-Net − FCN-32s (ResNet-18, random init)"}
    for name, gap in intervals.items():
        first, second = name.split(" − ")
        assert abs(gap["difference"] - (results["miou"][first] - results["miou"][second])) < 1e-3, name
        assert gap["low"] <= gap["high"] and gap["groups"] >= 1, (name, gap)
    # every model starts from the same batch order: each run builds its own loader from the same seed
    first = results["first_batch_frames"]
    assert len(first) == 3 and first[0] and all(batch == first[0] for batch in first), first
    # the floor: the most frequent training class on every pixel of the same validation frames
    floor = results["majority_floor"]
    assert floor["class"] == "everything else" and 0.0 < floor["pixel_accuracy"] < 1.0, floor
    assert 0.0 < floor["miou"] < floor["pixel_accuracy"], floor
    # the colorizer holds a constant rate: a quarter of 05's rate, as 06 does for constant rates
    assert abs(results["color_lr"] - results["lr"] / 4) < 1e-12, (results["color_lr"], results["lr"])
