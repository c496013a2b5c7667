"""The floor, the frame-fit measure and the sentences of notebook 08, and the batch-order check its runs print."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from helpers.ablation import (
    band_shares,
    describe_against_baseline,
    describe_band_shares,
    describe_band_widths,
    describe_class_leads,
    describe_edge_gap,
    describe_frame_fit,
    describe_gap_reading,
    frame_fit,
    frame_share,
    majority_baseline,
)
from helpers.classes import get_class_map
from helpers.datasets import make_loader
from helpers.train import first_batch_indices


def _index_loader(seed: int = 3):
    return make_loader(TensorDataset(torch.arange(20)), batch_size=4, shuffle=True, seed=seed, num_workers=0,
                       device="cpu")


def test_first_batch_indices_is_the_batch_training_sees_and_moves_nothing():
    loader = _index_loader()
    peeked = first_batch_indices(loader)
    assert first_batch_indices(loader) == peeked  # the generators were put back
    assert next(iter(loader))[0].tolist() == peeked  # what iterating the loader yields first
    assert first_batch_indices(_index_loader()) == peeked  # a fresh loader with the same seed: same order
    assert first_batch_indices(loader) != peeked  # one pass later the order has moved on


def test_majority_baseline_scores_the_most_frequent_training_class_everywhere():
    class_map = get_class_map("gta9")
    targets = torch.zeros(2, 4, 5, dtype=torch.long)
    targets[:, :1] = 2  # a quarter of the pixels are road, the rest "everything else" (id 0)
    counts = np.zeros(class_map.num_classes, dtype=np.int64)
    counts[0] = 10
    baseline = majority_baseline(counts, targets, class_map)
    assert baseline["class"] == class_map.class_names[0]
    assert abs(baseline["pixel_accuracy"] - 0.75) < 1e-9
    assert abs(baseline["miou"] - 0.375) < 1e-9  # IoU 0.75 on class 0, 0 on road, the others absent


def test_describe_against_baseline_reads_mIoU_first_then_the_class_weights_trade():
    baseline = {"class": "everything else", "pixel_accuracy": 0.517, "miou": 0.057}
    run = describe_against_baseline({"U-Net": 0.604, "no skips": 0.271}, {"U-Net": 0.303, "no skips": 0.101},
                                    baseline, epochs=6)
    assert "- no skips: mIoU 0.101, above the floor's; pixel accuracy 0.271, below the floor's (-0.246)" in run
    assert "no skips beat the floor's mIoU but not its pixel accuracy: the class weights" in run
    assert "not yet learned" not in run and "every model beats" not in run
    fine = describe_against_baseline({"U-Net": 0.60}, {"U-Net": 0.3}, baseline, epochs=6)
    assert "every model beats the floor in both" in fine and "below" not in fine
    early = describe_against_baseline({"a": 0.1, "b": 0.2}, {"a": 0.01, "b": 0.05}, baseline, epochs=2)
    assert "a, b did not beat the floor's mIoU: not yet learned to tell the classes apart, so read their" in early
    assert "NOT above the floor's" in early and "class weights" not in early


def test_frame_fit_tells_a_fixed_layout_from_a_model_that_reads_the_frame():
    targets = torch.stack([torch.full((2, 3), value) for value in (0, 1, 2, 3)])
    targets[:, 0, 0] = 5  # one pixel that every frame shares
    template = torch.zeros_like(targets)
    template[:, 0, 0] = 5  # frame 0's labels, painted on every frame
    assert frame_fit(targets, targets) == pytest.approx({"own": 1.0, "other": 1 / 6})
    assert frame_fit(template, targets) == pytest.approx({"own": 0.375, "other": 0.375})  # no gain: a layout
    assert frame_fit(targets, targets, np.array(["a", "a", "b", "b"])) == pytest.approx({"own": 1.0, "other": 1 / 6})
    ignored = targets.clone()
    ignored[1:, 1, :] = 255  # the second row of frames 1–3 is not labelled
    assert frame_fit(targets, ignored, ignore_index=255)["own"] == 1.0
    assert frame_fit(template, ignored, ignore_index=255)["own"] == pytest.approx((1 + 3 * 1 / 3) / 4)
    assert frame_fit(targets, targets, np.zeros(4)) == pytest.approx({"own": 1.0, "other": 1 / 6})  # one sequence
    with pytest.raises(ValueError, match="N×H×W"):
        frame_fit(targets[:1], targets[:1])


def test_describe_frame_fit_reads_the_share_of_a_perfect_models_gain():
    fits = {"U-Net": {"own": 0.60, "other": 0.35}, "no skips": {"own": 0.27, "other": 0.26},
            "FCN": {"own": 0.66, "other": 0.55}, "good": {"own": 0.90, "other": 0.40}}
    text = describe_frame_fit(fits, target_other=0.40, epochs=6)
    assert "(a perfect model: 1.00 and 0.40, a gain of 0.60)" in text
    assert "- U-Net: 0.60 against 0.35, a gain of +0.25 (42% of a perfect model's): follows the frame in part" in text
    assert "- no skips: 0.27 against 0.26, a gain of +0.01 (2% of a perfect model's): hardly follows the frame" in text
    assert "- FCN: 0.66 against 0.55, a gain of +0.11 (18% of a perfect model's): mostly a fixed layout" in text
    assert "- good: 0.90 against 0.40, a gain of +0.50 (83% of a perfect model's): follows the frame\n" in text
    assert "a gain of +0.00 (0% of a perfect model's)" in describe_frame_fit({"m": {"own": 0.5, "other": 0.501}}, 0.4, 6)


def test_describe_edge_gap_reads_which_gap_is_larger_only_when_the_gap_is_shown():
    unsure = {"low": -0.05, "high": 0.08}
    assert "not read" in describe_edge_gap(0.006, 0.027, unsure)
    shown = {"low": 0.08, "high": 0.15}
    assert "larger on the whole image" in describe_edge_gap(0.121, 0.103, shown)
    assert "larger near the edges" in describe_edge_gap(0.05, 0.10, shown)


def test_describe_frame_fit_calls_a_small_share_mostly_a_fixed_layout():
    # the quick run's numbers: the twin's gain is 14 % of a perfect model's, the U-Net's 41 %
    fits = {"U-Net": {"own": 0.65, "other": 0.48}, "U-Net without skips": {"own": 0.534, "other": 0.474}}
    text = describe_frame_fit(fits, target_other=0.59, epochs=12)
    assert "(15% of a perfect model's): mostly a fixed layout" in text
    assert "(41% of a perfect model's): follows the frame in part" in text
    assert frame_share(fits["U-Net"], 0.59) == pytest.approx(0.17 / 0.41)


def test_describe_gap_reading_says_what_a_gap_against_a_layout_painter_measures():
    shares = {"U-Net": 0.41, "twin": 0.14, "FCN": 0.38, "early": 0.05}
    late = describe_gap_reading("U-Net", "twin", shares, epochs=12)
    assert late.startswith("twin still mostly paints a fixed layout (frame gain 41% of a perfect model's for U-Net, "
                           "14% for twin; section 4): after 12 epoch(s) the gap measures")
    assert "how much later it starts reading its input, not what the skips carry" in late
    assert "both follow their frames, at least in part" in describe_gap_reading("U-Net", "FCN", shares, 12)
    assert "compares two early states" in describe_gap_reading("twin", "early", shares, 12)
    assert "its lead is that of a good average layout" in describe_gap_reading("twin", "U-Net", shares, 12)
    assert "both still mostly" in describe_gap_reading("U-Net", "twin", {"U-Net": float("nan"), "twin": 0.1}, 12)


def test_band_shares_count_the_target_and_the_model_edges():
    targets = torch.zeros(1, 8, 8, dtype=torch.long)
    targets[0, :, 4:] = 1  # one vertical edge
    smooth, speckled = targets.clone(), targets.clone()
    speckled[0, 1, 1] = 2  # an invented edge far from the true one
    shares = band_shares({"smooth": smooth, "speckled": speckled}, targets, width=1)
    assert shares["the target's edges alone"] == pytest.approx(16 / 64)  # columns 3 and 4
    assert shares["smooth"] == pytest.approx(16 / 64)
    assert shares["speckled"] == pytest.approx((16 + 9) / 64)  # the 3×3 around the speck, columns 0–2


def test_describe_band_shares_says_when_the_models_are_scored_on_different_pixels():
    different = describe_band_shares({"U-Net": 0.92, "twin": 0.40, "the target's edges alone": 0.35})
    assert "covers 92% of the pixels for U-Net, 40% of the pixels for twin (the target's edges alone: 35%)" in different
    assert "the models are scored on different pixels" in different
    same = describe_band_shares({"U-Net": 0.41, "twin": 0.40, "the target's edges alone": 0.35})
    assert "about the same pixels for every model" in same and "different pixels" not in same


def test_describe_class_leads_lists_where_a_model_is_ahead_behind_and_level():
    iou = {"U-Net": {"road": 0.835, "busses": 0.281, "cars": 0.224, "tram": float("nan")},
           "FCN": {"road": 0.647, "busses": 0.380, "cars": 0.220, "tram": 0.1}}
    text = describe_class_leads("U-Net", "FCN", iou)
    assert text == ("FCN against U-Net, IoU per class (one seed): ahead on busses (+0.099); behind on road (-0.188); "
                    "level (within 0.01) on cars")
    worse = describe_class_leads("U-Net", "FCN", {"U-Net": {"road": 0.8}, "FCN": {"road": 0.5}})
    assert "ahead on no class; behind on road (-0.300)" in worse and "level" not in worse
    better = describe_class_leads("U-Net", "FCN", {"U-Net": {"road": 0.5}, "FCN": {"road": 0.8}})
    assert "ahead on road (+0.300); behind on no class" in better


def test_describe_band_widths_reads_where_the_lead_is_larger():
    widths = [1, 3, 12]
    scores = {"U-Net": [0.207, 0.266, 0.333], "FCN": [0.205, 0.244, 0.303], "twin": [0.10, 0.17, 0.22],
              "same": [0.197, 0.25, 0.326]}
    text = describe_band_widths(scores, widths, reference="U-Net")
    assert "boundary mIoU at 1 px: U-Net 0.207, FCN 0.205, twin 0.100, same 0.197" in text
    assert "U-Net − FCN: +0.002 at 1 px, +0.030 at 12 px — larger away from the edges" in text
    assert "U-Net − twin: +0.107 at 1 px, +0.113 at 12 px — about the same" in text
    assert "U-Net − same: +0.010 at 1 px, +0.007 at 12 px — about the same" in text
    edges = describe_band_widths({"U-Net": [0.3, 0.4], "b": [0.1, 0.35]}, [1, 12], reference="U-Net")
    assert "+0.200 at 1 px, +0.050 at 12 px — larger at the edges" in edges
