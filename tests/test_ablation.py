"""The floor, the layout measure and the sentences of notebook 08, and the batch-order check its runs print."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import TensorDataset

from helpers.ablation import (
    describe_against_baseline,
    describe_edge_gap,
    describe_layouts,
    layout_agreement,
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


def test_describe_against_baseline_names_the_models_below_the_floor():
    baseline = {"class": "everything else", "pixel_accuracy": 0.59, "miou": 0.066}
    below = describe_against_baseline({"U-Net": 0.60, "no skips": 0.48}, {"U-Net": 0.3, "no skips": 0.18},
                                      baseline, epochs=6)
    assert "no skips: pixel accuracy 0.480, BELOW" in below and "after 6 epoch(s), no skips got fewer" in below
    above = describe_against_baseline({"U-Net": 0.60}, {"U-Net": 0.3}, baseline, epochs=6)
    assert "every model beats the floor" in above and "BELOW" not in above
    both = describe_against_baseline({"a": 0.1, "b": 0.2}, {"a": 0.0, "b": 0.1}, baseline, epochs=2)
    assert "a, b got fewer pixels right than the floor: barely trained, so read their mIoU" in both


def test_layout_agreement_and_its_description():
    fixed = torch.zeros(3, 2, 2, dtype=torch.long)
    varied = torch.stack([torch.full((2, 2), value) for value in (0, 1, 2)])
    assert layout_agreement(fixed) == 1.0 and abs(layout_agreement(varied) - 1 / 3) < 1e-6
    text = describe_layouts({"fixed": 1.0, "follows": 0.4, "speckle": 0.1}, target_agreement=1 / 3, epochs=6)
    assert "fixed: 1.00, paints nearly the same layout" in text and "follows: 0.40, varies" in text
    assert "speckle: 0.10, changes from frame to frame more than the targets do" in text
    assert "after 6 epoch(s)" in text


def test_describe_edge_gap_reads_which_gap_is_larger_only_when_the_gap_is_shown():
    unsure = {"low": -0.05, "high": 0.08}
    assert "not read" in describe_edge_gap(0.006, 0.027, unsure)
    shown = {"low": 0.08, "high": 0.15}
    assert "larger on the whole image" in describe_edge_gap(0.121, 0.103, shown)
    assert "larger near the edges" in describe_edge_gap(0.05, 0.10, shown)
