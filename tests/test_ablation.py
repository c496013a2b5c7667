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
    describe_edge_loss,
    describe_frame_fit,
    describe_gap_reading,
    describe_run_summary,
    describe_small_classes,
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
    assert run.endswith("(the pictures of section 4 show where: the per-class IoU cannot, as it merges pixels painted "
                        "too often with pixels missed)")
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


FOLLOWING = {"U-Net": 0.41, "FCN": 0.38, "twin": 0.40, "a": 0.4, "b": 0.4, "edgy": 0.4, "regions": 0.4}


def test_describe_edge_gap_reads_where_the_gap_is_larger_in_proportion_and_only_when_it_is_shown():
    unsure = describe_edge_gap({"U-Net": 0.340, "FCN": 0.331}, {"U-Net": 0.266, "FCN": 0.244}, {"low": -0.04, "high": 0.07},
                               FOLLOWING)
    assert unsure == ("boundary mIoU 0.266 against 0.244 (+0.022): the whole-image gap is not shown to be a difference, "
                      "so where it is larger is not read")
    shown = {"low": 0.064, "high": 0.171}
    # the quick run: a smaller absolute gap near the edges (+0.098 against +0.113), but the twin keeps 63 % of the
    # U-Net's boundary score and 67 % of its mIoU: about the same share, not "larger on the whole image"
    same = describe_edge_gap({"U-Net": 0.340, "twin": 0.227}, {"U-Net": 0.266, "twin": 0.168}, shown, FOLLOWING)
    assert same.startswith("boundary mIoU 0.266 against 0.168 (+0.098); twin keeps 63% of the score of U-Net near "
                           "the edges, 67% on the whole image: in proportion about the same")
    edges = describe_edge_gap({"U-Net": 0.34, "twin": 0.30}, {"U-Net": 0.30, "twin": 0.15}, shown, FOLLOWING)
    assert "twin keeps 50% of the score of U-Net near the edges, 88% on the whole image" in edges and "further behind near the edges" in edges
    regions = describe_edge_gap({"U-Net": 0.34, "twin": 0.17}, {"U-Net": 0.20, "twin": 0.18}, shown, FOLLOWING)
    assert "further behind on the whole image: it fails on whole regions" in regions
    behind = describe_edge_gap({"U-Net": 0.17, "twin": 0.34}, {"U-Net": 0.10, "twin": 0.30}, {"low": -0.2, "high": -0.1}, FOLLOWING)
    assert "U-Net keeps 33% of the score of twin near the edges, 50% on the whole image" in behind
    assert "no share" in describe_edge_gap({"a": 0.3, "b": 0.1}, {"a": 0.0, "b": 0.0}, shown, FOLLOWING)


def test_describe_edge_gap_gives_no_edge_verdict_for_a_model_that_paints_a_layout():
    # the quick run: the twin's frame gain is 14 % of a perfect model's, below FOLLOWS[1]
    layout = {"U-Net": 0.41, "twin": 0.14}
    text = describe_edge_gap({"U-Net": 0.340, "twin": 0.227}, {"U-Net": 0.266, "twin": 0.168},
                             {"low": 0.064, "high": 0.171}, layout)
    assert text == ("boundary mIoU 0.266 against 0.168 (+0.098); twin keeps 63% of the score of U-Net near the edges, "
                    "67% on the whole image: twin mostly paints a layout (frame gain 14% of a perfect model's), so "
                    "where it is behind says nothing about edges yet (section 4)")
    # the model ahead paints a layout: the one behind is named
    ahead = describe_edge_gap({"U-Net": 0.34, "twin": 0.17}, {"U-Net": 0.20, "twin": 0.18}, {"low": 0.1, "high": 0.2},
                              {"U-Net": 0.2, "twin": 0.4})
    assert ahead.endswith("U-Net mostly paints a layout (frame gain 20% of a perfect model's), so where twin is behind "
                          "says nothing about edges yet (section 4)")
    both = describe_edge_gap({"U-Net": 0.34, "twin": 0.17}, {"U-Net": 0.20, "twin": 0.18}, {"low": 0.1, "high": 0.2},
                             {"U-Net": 0.2, "twin": float("nan")})
    assert "twin and U-Net mostly paint a layout (frame gains of a perfect model's: nan% for twin, 20% for U-Net)" in both
    assert "further behind" not in both + ahead + text and "same share" not in both + ahead + text
    # at the threshold a model counts as following its frame: the verdict is given
    assert "about the same" in describe_edge_gap({"U-Net": 0.340, "twin": 0.227}, {"U-Net": 0.266, "twin": 0.168},
                                                 {"low": 0.064, "high": 0.171}, {"U-Net": 0.41, "twin": 0.25})


SHOWN, UNSURE = {"low": 0.01, "high": 0.2}, {"low": -0.004, "high": 0.104}
BEYOND = {"twin": "", "FCN": "no decoder, a ResNet-18 encoder"}  # the twin differs from the U-Net in the skips alone


def _edge_loss(miou, edge, shares=FOLLOWING, twin=SHOWN, fcn=SHOWN, **kwargs):
    intervals = {"U-Net − twin": twin, "U-Net − FCN": fcn}
    return describe_edge_loss(miou, edge, shares, intervals, beyond_skips=BEYOND, **kwargs).split("\n")


def test_describe_edge_loss_compares_the_loss_as_a_share_of_each_model_score():
    # absolute losses 0.074, 0.059, 0.087 would make the twin look steadiest; as shares 22 %, 26 %, 26 %
    lines = _edge_loss({"U-Net": 0.340, "twin": 0.227, "FCN": 0.331}, {"U-Net": 0.266, "twin": 0.168, "FCN": 0.244})
    assert lines[0] == ("mIoU lost near the edges, as a share of the model's own mIoU: U-Net 22% (0.340 → 0.266), "
                        "twin 26% (0.227 → 0.168), FCN 26% (0.331 → 0.244)")
    assert lines[1:] == ["  U-Net − twin: about the same share (within 5 points): neither holds up better at the edges",
                         "  U-Net − FCN: about the same share (within 5 points): neither holds up better at the edges"]


def test_describe_edge_loss_credits_the_skips_only_for_a_model_that_differs_in_the_skips_alone():
    miou, edge = {"U-Net": 0.4, "twin": 0.3, "FCN": 0.4}, {"U-Net": 0.36, "twin": 0.15, "FCN": 0.2}
    lines = _edge_loss(miou, edge)
    assert lines[1] == "  U-Net − twin: U-Net loses the smaller share (10% against 50%), as skips carrying sharp detail would make it"
    assert lines[2] == ("  U-Net − FCN: U-Net loses the smaller share (10% against 50%); but FCN differs from U-Net in "
                        "more than skips (no decoder, a ResNet-18 encoder), so this is not the skips' doing alone")
    # a model not known to differ in the skips alone is never credited to them
    unknown = describe_edge_loss({"U-Net": 0.4, "other": 0.4}, {"U-Net": 0.36, "other": 0.2}, {"U-Net": 0.4, "other": 0.4},
                                 {"U-Net − other": SHOWN}, beyond_skips={})
    assert unknown.endswith("; but other differs from U-Net in more than skips, so this is not the skips' doing alone")
    # the full names of the notebook: FCN-32s differs in more than skips, the twin does not
    names = describe_edge_loss({"U-Net": 0.4, "FCN-32s (ResNet-18, random init)": 0.4},
                               {"U-Net": 0.36, "FCN-32s (ResNet-18, random init)": 0.2},
                               {"U-Net": 0.4, "FCN-32s (ResNet-18, random init)": 0.4},
                               {"U-Net − FCN-32s (ResNet-18, random init)": SHOWN})
    assert "in more than skips (no decoder, a ResNet-18 encoder)" in names and "as skips" not in names
    twin = _edge_loss({"U-Net": 0.4, "twin": 0.3}, {"U-Net": 0.2, "twin": 0.27})
    assert twin[1] == "  U-Net − twin: twin loses the smaller share (10% against 50%), not U-Net in this run"
    zero = _edge_loss({"U-Net": 0.4, "twin": 0.0}, {"U-Net": 0.3, "twin": 0.0})
    assert zero[1] == "  U-Net − twin: a score of 0 leaves no share to compare"


def test_describe_edge_loss_reads_no_pair_whose_whole_image_gap_is_not_shown():
    # the quick run: U-Net 22 %, FCN-32s 31 %, but their whole-image gap's interval is [-0.004, +0.104]
    miou, edge = {"U-Net": 0.367, "twin": 0.203, "FCN": 0.317}, {"U-Net": 0.287, "twin": 0.157, "FCN": 0.220}
    lines = _edge_loss(miou, edge, {"U-Net": 0.45, "twin": 0.08, "FCN": 0.38}, fcn=UNSURE)
    assert lines[1:] == [
        "  twin mostly paints a layout (frame gain 8% of a perfect model's), so its share says nothing about edges yet "
        "(section 4)",
        "  U-Net − FCN: the whole-image gap is not shown (section 3), so which holds up better at the edges is not read"]
    assert not any("smaller share" in line for line in lines)
    behind = _edge_loss(miou, edge, fcn={"low": -0.2, "high": -0.01})  # a gap shown the other way is read
    assert behind[2].startswith("  U-Net − FCN: U-Net loses the smaller share (22% against 31%); but FCN differs")


def test_describe_edge_loss_leaves_a_layout_painter_out_of_the_verdict():
    miou, edge = {"U-Net": 0.340, "twin": 0.227, "FCN": 0.331}, {"U-Net": 0.266, "twin": 0.168, "FCN": 0.244}
    lines = _edge_loss(miou, edge, {"U-Net": 0.41, "twin": 0.14, "FCN": 0.38})
    assert lines[0].endswith("twin 26% (0.227 → 0.168), FCN 26% (0.331 → 0.244)")  # its numbers are still printed
    assert lines[1] == ("  twin mostly paints a layout (frame gain 14% of a perfect model's), so its share says nothing "
                        "about edges yet (section 4)")
    assert lines[2] == "  U-Net − FCN: about the same share (within 5 points): neither holds up better at the edges"
    assert len(lines) == 3
    # the twin would have been the steadiest; left out, only the U-Net and FCN are compared
    steady = _edge_loss({"U-Net": 0.4, "twin": 0.3, "FCN": 0.4}, {"U-Net": 0.36, "twin": 0.29, "FCN": 0.2},
                        {"U-Net": 0.41, "twin": 0.1, "FCN": 0.38})
    assert steady[2].startswith("  U-Net − FCN: U-Net loses the smaller share") and len(steady) == 3
    alone = _edge_loss(miou, edge, {"U-Net": 0.41, "twin": 0.14, "FCN": 0.1})
    assert alone[1].startswith("  twin and FCN mostly paint a layout (frame gains of a perfect model's: 14% for twin, 10% for FCN)")
    assert alone[1].endswith("so their shares say nothing about edges yet (section 4)") and len(alone) == 2
    reference = _edge_loss(miou, edge, {"U-Net": 0.1, "twin": 0.4, "FCN": 0.4})  # nothing is compared with a painter
    assert reference[1].startswith("  U-Net mostly paints a layout") and len(reference) == 2
    three = "\n".join(_edge_loss(miou, edge, {"U-Net": 0.1, "twin": 0.14, "FCN": 0.1}))
    assert "  U-Net, twin and FCN mostly paint a layout" in three and "same share" not in three


def test_describe_small_classes_says_who_is_ahead_of_the_unet_and_whether_it_can_be_read():
    iou = {"U-Net": {"humans": 0.270, "motorcycle": 0.049, "bus": float("nan")},
           "twin": {"humans": 0.100, "motorcycle": 0.020, "bus": 0.3},
           "FCN": {"humans": 0.196, "motorcycle": 0.112, "bus": 0.2}}
    lines = describe_small_classes(iou, ["humans", "motorcycle", "bus"], FOLLOWING)  # one line per class: one bullet each
    assert lines[0] == ("humans, a small class: U-Net 0.270, twin 0.100 (-0.170), FCN 0.196 (-0.074) — no model ahead "
                        "of U-Net, as expected (one seed, no interval per class: not shown to be a difference)")
    assert lines[1] == ("motorcycle, a small class: U-Net 0.049, twin 0.020 (-0.029), FCN 0.112 (+0.063) — ahead of "
                        "U-Net: FCN, against the expectation (one seed, IoU below 0.2: not read as a difference)")
    assert len(lines) == 2  # bus: absent for the U-Net
    level = describe_small_classes({"U-Net": {"m": 0.006}, "twin": {"m": 0.0058}}, ["m"], FOLLOWING)
    assert "twin 0.006 (+0.000) — no model ahead of U-Net" in level[0]
    assert describe_small_classes(iou, ["bus"], FOLLOWING) == ["no small class is present in this class map"]
    assert all("\n" not in line for line in lines)


def test_describe_small_classes_leaves_a_layout_painter_out_of_the_reading():
    # the quick run: the twin (frame gain 8 %) scores 0.018 on humans; its layout does not confirm the skips
    iou = {"U-Net": {"humans": 0.2772}, "twin": {"humans": 0.0176}, "FCN": {"humans": 0.2324}}
    line, = describe_small_classes(iou, ["humans"], {"U-Net": 0.45, "twin": 0.08, "FCN": 0.38})
    assert line == ("humans, a small class: U-Net 0.277, twin 0.018 (-0.260), FCN 0.232 (-0.045) — no model that "
                    "follows its frame is ahead of U-Net, as expected (one seed, no interval per class: not shown to "
                    "be a difference); twin mostly paints a layout (frame gain 8% of a perfect model's), so its score "
                    "here says nothing about the skips yet (section 4)")
    # a painter ahead of the U-Net is not read as against the expectation either
    ahead, = describe_small_classes({"U-Net": {"m": 0.3}, "twin": {"m": 0.5}}, ["m"], {"U-Net": 0.45, "twin": 0.08})
    assert ahead == ("m, a small class: U-Net 0.300, twin 0.500 (+0.200) — twin mostly paints a layout (frame gain 8% "
                     "of a perfect model's), so its score here says nothing about the skips yet (section 4)")
    # the U-Net itself paints a layout: nothing is read
    own, = describe_small_classes(iou, ["humans"], {"U-Net": 0.1, "twin": 0.08, "FCN": 0.38})
    assert own.endswith("— U-Net and twin mostly paint a layout (frame gains of a perfect model's: 10% for U-Net, 8% "
                        "for twin), so their scores here say nothing about the skips yet (section 4)")
    assert "expect" not in own


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
    low = describe_class_leads("U-Net", "FCN", {"U-Net": {"road": 0.8, "trucks": 0.05, "tram": 0.15},
                                                 "FCN": {"road": 0.7, "trucks": 0.156, "tram": 0.06}})
    assert low == ("FCN against U-Net, IoU per class (one seed): ahead on no class; behind on road (-0.100); both "
                   "below IoU 0.2, not read as a difference: trucks (+0.106), tram (-0.090)")


def test_describe_band_widths_reads_the_trend_in_proportion_and_only_for_a_shown_gap():
    widths = [1, 3, 12]
    scores = {"U-Net": [0.208, 0.266, 0.334], "FCN": [0.206, 0.244, 0.303], "twin": [0.138, 0.17, 0.221],
              "edgy": [0.104, 0.2, 0.30], "regions": [0.19, 0.2, 0.167]}
    shown, unsure = {"low": 0.06, "high": 0.17}, {"low": -0.044, "high": 0.071}
    intervals = {"U-Net − FCN": unsure, "U-Net − twin": shown, "U-Net − edgy": shown, "U-Net − regions": shown}
    text = describe_band_widths(scores, widths, "U-Net", intervals, FOLLOWING)
    assert "boundary mIoU at 1 px: U-Net 0.208, FCN 0.206, twin 0.138, edgy 0.104, regions 0.190" in text
    # the quick run: FCN-32s's whole-image gap is not shown, so its trend is not read
    assert ("U-Net − FCN: +0.002 at 1 px, +0.031 at 12 px — the whole-image gap itself is not shown, so its trend is "
            "not read") in text
    # the twin's absolute gap grows away from the edges, but it keeps 66 % of the U-Net's score at both widths
    assert "U-Net − twin: +0.070 at 1 px, +0.113 at 12 px — twin keeps 66% of the score of U-Net in the 1-px band, 66%" in text
    assert "U-Net − twin" in text and "larger away" not in text
    assert "edgy keeps 50% of the score of U-Net in the 1-px band, 90% in the 12-px band: in proportion further behind in the 1-px" in text
    assert "regions keeps 91% of the score of U-Net in the 1-px band, 50% in the 12-px band: in proportion further behind in the 12" in text
    behind = describe_band_widths({"U-Net": [0.1, 0.2], "b": [0.3, 0.4]}, [1, 12], "U-Net",
                                  {"U-Net − b": {"low": -0.3, "high": -0.1}}, {"U-Net": 0.4, "b": 0.3})
    assert "U-Net keeps 33% of the score of b in the 1-px band, 50% in the 12-px band: in proportion further behind in the 1-px" in behind


def test_describe_band_widths_gives_no_trend_verdict_for_a_model_that_paints_a_layout():
    scores = {"U-Net": [0.208, 0.334], "twin": [0.138, 0.221]}
    text = describe_band_widths(scores, [1, 12], "U-Net", {"U-Net − twin": {"low": 0.064, "high": 0.171}},
                                {"U-Net": 0.41, "twin": 0.14})
    assert text.split("\n")[2] == (
        "U-Net − twin: +0.070 at 1 px, +0.113 at 12 px — twin keeps 66% of the score of U-Net in the 1-px band, 66% "
        "in the 12-px band: twin mostly paints a layout (frame gain 14% of a perfect model's), so where it is behind "
        "says nothing about edges yet (section 4)")


def _summary(**changes):
    values = {"miou": {"U-Net": 0.340, "twin": 0.227, "FCN": 0.331},
              "boundary_miou": {"U-Net": 0.266, "twin": 0.168, "FCN": 0.244},
              "intervals": {"U-Net − twin": {"low": 0.064, "high": 0.171}, "U-Net − FCN": {"low": -0.044, "high": 0.071}},
              "frame_shares": {"U-Net": 0.41, "twin": 0.14, "FCN": 0.38},
              "lightness": {"with skips": 2.78, "without skips": 11.16, "grey input": 1.15},
              "delta_e": {"with skips": 19.0, "without skips": 24.0, "grey input": 17.2}}
    values.update(changes)
    return describe_run_summary(**values, twin="twin", fcn="FCN").split("\n")


def test_describe_run_summary_gives_this_run_in_four_bullets():
    # the quick run's values: the twin paints a layout, the FCN gap is not shown, skips cut |ΔL| 4×, grey wins
    lines = _summary()
    assert lines == [
        "- twin is behind U-Net by 0.113 mIoU, a difference these frames show (95 % interval [+0.064, +0.171]), but "
        "it mostly paints a layout (frame gain 14% of a perfect model's), so where it is behind says nothing about "
        "edges yet (section 4)",
        "- U-Net − FCN: mIoU +0.009, not shown to be a difference",
        "- the colorizer's lightness error |ΔL|: 11.16 without skips, 2.78 with them — the skips cut it 4.0×",
        "- neither colorizer beats leaving the frame grey in mean ΔE (19.0 with skips, 24.0 without, grey 17.2)"]
    following = {"U-Net": 0.41, "twin": 0.30, "FCN": 0.38}
    assert "behind by about the same share near the edges and on the whole image (it keeps 63% of the score near the " \
           "edges, 67% on the whole image)" in _summary(frame_shares=following)[0]
    edges = _summary(frame_shares=following, boundary_miou={"U-Net": 0.30, "twin": 0.15, "FCN": 0.2})[0]
    assert "twin is behind U-Net by 0.113 mIoU, a difference these frames show (95 % interval [+0.064, +0.171]), " \
           "further behind near the edges" in edges
    reversed_ = _summary(frame_shares=following, intervals={"U-Net − twin": {"low": -0.2, "high": -0.1},
                                                             "U-Net − FCN": {"low": -0.044, "high": 0.071}})[0]
    assert reversed_.startswith("- U-Net is behind twin by 0.113 mIoU, a difference these frames show (95 % interval "
                                "[-0.200, -0.100])")  # the size of the gap, whichever model leads
    painted = _summary(frame_shares={"U-Net": 0.2, "twin": 0.14, "FCN": 0.38})[0]
    assert painted.endswith("but twin and U-Net mostly paint a layout (frame gains of a perfect model's: 14% for twin, "
                            "20% for U-Net), so where twin is behind says nothing about edges yet (section 4)")
    regions = _summary(frame_shares=following, boundary_miou={"U-Net": 0.20, "twin": 0.18, "FCN": 0.2})[0]
    assert "further behind on the whole image" in regions
    unsure = {"U-Net − twin": {"low": -0.01, "high": 0.1}, "U-Net − FCN": {"low": 0.01, "high": 0.05}}
    lines = _summary(intervals=unsure)
    assert lines[0] == "- U-Net against twin: mIoU +0.113, not shown to be a difference by these frames"
    assert lines[1] == "- U-Net − FCN: mIoU +0.009, a difference these frames show"
    worse = _summary(lightness={"with skips": 3.0, "without skips": 2.0, "grey input": 1.15},
                     delta_e={"with skips": 15.0, "without skips": 16.0, "grey input": 17.2})
    assert worse[2].endswith("the skips did not cut it in this run")
    assert worse[3].startswith("- both colorizers beat leaving the frame grey")
    one = _summary(delta_e={"with skips": 15.0, "without skips": 24.0, "grey input": 17.2})
    assert one[3].startswith("- only the colorizer with skips beats leaving the frame grey")
