"""Baselines a trained network must beat: the best rule that sees one pixel's colour and nothing else.

Notebook 03 builds the colour lookup on its training frames and races it against a small U-Net;
notebook 07 scores the same lookup on the test frames beside the U-Net trained for the full budget.
"""

from __future__ import annotations

import torch

LEVELS = 32  # quantisation levels per colour channel: 32³ = 32,768 colour bins
BINS = LEVELS**3


def colour_bins(images: torch.Tensor) -> torch.Tensor:
    """N×3×H×W images in [0, 1] → N×H×W index of each pixel's colour, quantised to 32 levels per channel."""
    levels = (images.clamp(0, 1) * 255).round().long() >> 3  # 256 values → 32 levels
    return levels[:, 0] * LEVELS**2 + levels[:, 1] * LEVELS + levels[:, 2]


def fit_colour_lookup(images: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The class each quantised colour most often has in the training frames: a table of 32³ class ids.

    `images`: N×3×H×W in [0, 1]; `targets`: N×H×W class ids, where ids ≥ `num_classes` (the ignore
    label) teach nothing. A colour never seen in training gets the most frequent class overall. On
    the training frames no rule that sees only the quantised colour gets more pixels right.
    """
    if images.shape[0] != targets.shape[0] or images.shape[-2:] != targets.shape[-2:]:
        raise ValueError(f"images {tuple(images.shape)} and targets {tuple(targets.shape)} do not match in N, H, W")
    labelled = targets < num_classes  # pixels of the ignore label teach nothing
    if not labelled.any():
        raise ValueError("fit_colour_lookup: no labelled pixel in the targets (every id is >= num_classes)")
    pairs = colour_bins(images) * num_classes + targets
    counts = torch.bincount(pairs[labelled], minlength=BINS * num_classes).view(BINS, num_classes)
    table = counts.argmax(dim=1)
    table[counts.sum(dim=1) == 0] = int(targets[labelled].bincount(minlength=num_classes).argmax())
    return table


def predict_colour_lookup(table: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """N×3×H×W images in [0, 1] → N×H×W class ids, each pixel the class `table` gives its colour."""
    return table.to(images.device)[colour_bins(images)]
