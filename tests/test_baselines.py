import math

import pytest
import torch

from helpers.baselines import (
    BINS,
    colour_bins,
    describe_colour_rivals,
    describe_context_outcome,
    fit_colour_lookup,
    predict_colour_lookup,
)


def frames(*colours):
    """One 1×len(colours) frame per call: each pixel the given RGB (0-255)."""
    return torch.tensor(colours, dtype=torch.float32).T.reshape(1, 3, 1, len(colours)) / 255


def test_colour_bins_quantise_to_32_levels_per_channel():
    bins = colour_bins(frames((0, 0, 0), (7, 7, 7), (8, 0, 0), (0, 8, 0), (0, 0, 8), (255, 255, 255)))
    assert bins.tolist() == [[[0, 0, 1024, 32, 1, BINS - 1]]]


def test_lookup_gives_each_colour_its_most_frequent_class():
    # grey (128) is road (2) twice and curb (1) once; green is class 0; the 255 pixel is ignored
    images = frames((128, 128, 128), (128, 128, 128), (128, 128, 128), (0, 200, 0), (0, 200, 0))
    targets = torch.tensor([[[2, 2, 1, 0, 255]]])
    table = fit_colour_lookup(images, targets, num_classes=3)
    assert table.shape == (BINS,)
    grey, green = colour_bins(frames((128, 128, 128), (0, 200, 0)))[0, 0].tolist()
    assert table[grey] == 2 and table[green] == 0
    # an unseen colour gets the most frequent class of the labelled pixels: road, 2 of 4
    assert predict_colour_lookup(table, frames((255, 0, 0), (130, 129, 128), (0, 201, 0))).tolist() == [[[2, 2, 0]]]


def test_lookup_refuses_mismatched_or_unlabelled_targets():
    images = frames((0, 0, 0), (9, 9, 9))
    with pytest.raises(ValueError, match="do not match"):
        fit_colour_lookup(images, torch.zeros(1, 1, 3, dtype=torch.long), num_classes=2)
    with pytest.raises(ValueError, match="no labelled pixel"):
        fit_colour_lookup(images, torch.full((1, 1, 2), 255), num_classes=2)


def rivals(unet_accuracy: float, unet_miou: float, unet_ious: list[float]) -> dict[str, dict]:
    return {"colour per pixel": {"pixel_accuracy": 0.6, "miou": 0.3, "iou": [0.8, 0.0, math.nan]},
            "best colour lookup": {"pixel_accuracy": 0.8, "miou": 0.4, "iou": [0.9, 0.005, math.nan]},
            "U-Net": {"pixel_accuracy": unet_accuracy, "miou": unet_miou, "iou": unet_ious}}


def test_describe_colour_rivals_says_where_the_unet_stands_overall_and_per_class():
    names = ["road", "car", "sky"]
    assert describe_colour_rivals(rivals(0.7, 0.5, [0.85, 0.3, math.nan]), "U-Net", names).split("\n") == [
        "- the U-Net is ahead of the trained colour classifier: pixel accuracy +0.100, mIoU +0.200",
        "- the U-Net is behind in pixel accuracy and ahead in mIoU against the best colour lookup: "
        "pixel accuracy -0.100, mIoU +0.100",
        "- colour per pixel: IoU road 0.80; 0.00 (to 2 decimals): car",
        "- best colour lookup: IoU road 0.90, car 0.01; 0.00 (to 2 decimals): none",
        "- U-Net: IoU road 0.85, car 0.30; 0.00 (to 2 decimals): none",
        "per class (by 0.01 or more), the U-Net's IoU is higher for car; the lookup's for road",
        "In mIoU the short U-Net run is already ahead of the best colour lookup on these frames, by 0.100."]
    lines = describe_colour_rivals(rivals(0.5, 0.2, [0.0, 0.0, math.nan]), "U-Net", names).split("\n")
    assert lines[0] == "- the U-Net is behind the trained colour classifier: pixel accuracy -0.100, mIoU -0.100"
    assert lines[4] == "- U-Net: IoU no class; 0.00 (to 2 decimals): road, car"
    assert lines[5] == "per class (by 0.01 or more), the U-Net's IoU is higher for no class; the lookup's for road"
    assert lines[6].startswith("In mIoU the U-Net is behind the best colour lookup by 0.200 after so few steps")


def test_describe_colour_rivals_reads_a_gap_under_the_margin_as_level():
    names = ["road", "car", "sky"]
    lines = describe_colour_rivals(rivals(0.917, 0.394, [0.9, 0.005, math.nan]), "U-Net", names).split("\n")
    assert lines[1] == ("- the U-Net is ahead in pixel accuracy and level in mIoU against the best colour lookup: "
                        "pixel accuracy +0.117, mIoU -0.006")
    assert lines[-1] == ("In mIoU the U-Net is level with the best colour lookup: a difference of 0.006 is within the "
                         "0.01 margin under which we read two single-seed scores as level (notebook 06 measures how "
                         "far the seed alone moves a score).")
    lines = describe_colour_rivals(rivals(0.805, 0.405, [0.9, 0.005, math.nan]), "U-Net", names).split("\n")
    assert lines[1].startswith("- the U-Net is level with the best colour lookup: pixel accuracy +0.005, mIoU +0.005")
    assert "a difference of 0.005 is within the 0.01 margin" in lines[-1]
    assert lines[5] == "per class (by 0.01 or more), the U-Net's IoU is higher for no class; the lookup's for no class"


def test_describe_context_outcome_says_where_context_paid_off():
    level_miou = rivals(0.917, 0.394, [0.9, 0.005, math.nan])  # U-Net pixel accuracy +0.117, mIoU -0.006
    assert describe_context_outcome(level_miou, "U-Net", 48) == (
        "In this run, after 48 optimizer steps, the U-Net is ahead in pixel accuracy (+0.117) and level in mIoU "
        "(-0.006) compared with the best colour lookup: at this budget the benefit of context shows in pixel "
        "accuracy but not yet in mIoU; notebook 07 compares the two after the full training budget.")
    ahead = describe_context_outcome(rivals(0.7, 0.5, [0.85, 0.3, math.nan]), "U-Net", 10)
    assert "behind in pixel accuracy (-0.100) and ahead in mIoU (+0.100)" in ahead
    assert ahead.endswith("context already pays off in mIoU at this short budget.")
    behind = describe_context_outcome(rivals(0.5, 0.2, [0.0, 0.0, math.nan]), "U-Net", 10)
    assert "behind in pixel accuracy (-0.300) and behind in mIoU (-0.200)" in behind
    assert behind.endswith("the U-Net has not yet turned context into a lead; notebook 07 compares the two after "
                           "the full training budget.")
