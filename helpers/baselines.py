"""Baselines a trained network must beat: the best rule that sees one pixel's colour and nothing else.

Notebook 03 builds the colour lookup on its training frames and races it against a small U-Net;
`describe_colour_rivals` says where the U-Net stands. Notebook 07 scores the same kind of lookup, built from its
own training frames, on the test frames beside the U-Net trained for the full budget.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from helpers.metrics import LEVEL_MARGIN

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


def _gaps(unet_scores: dict, rival_scores: dict) -> dict[str, float]:
    """U-Net − rival, in pixel accuracy and in mIoU."""
    return {score: unet_scores[key] - rival_scores[key] for score, key in
            (("pixel accuracy", "pixel_accuracy"), ("mIoU", "miou"))}


def _words(gaps: dict[str, float], margin: float) -> dict[str, str]:
    """'ahead', 'behind' or 'level' (a gap under `margin`) per score."""
    return {score: "level" if abs(gap) < margin else "ahead" if gap > 0 else "behind" for score, gap in gaps.items()}


def _standing(gaps: dict[str, float], margin: float) -> str:
    """'ahead of', 'behind', 'level with', or the mix score by score, from U-Net − rival gaps."""
    words = _words(gaps, margin)
    if len(set(words.values())) == 1:
        return {"ahead": "ahead of", "behind": "behind", "level": "level with"}[next(iter(words.values()))]
    return " and ".join(f"{word} in {score}" for score, word in words.items()) + " against"


def _classes_won(first: dict, second: dict, class_names: Sequence[str], margin: float) -> str:
    won = [name for name, a, b in zip(class_names, first["iou"], second["iou"]) if a - b >= margin]
    return ", ".join(won) or "no class"


def describe_colour_rivals(scores: dict[str, dict], unet_name: str, class_names: Sequence[str],
                           colour: str = "colour per pixel", lookup: str = "best colour lookup",
                           margin: float = LEVEL_MARGIN) -> str:
    """Where a U-Net stands against the colour classifier and the colour lookup, overall and class by class.

    `scores` maps each contender's name to its `evaluate` scores (pixel_accuracy, miou, iou per class). A
    class counts as found at an IoU of 0.01 or more; a gap under `margin` (in a score or a class's IoU)
    counts as level. The last sentence says whether the U-Net leads, trails or is level with the lookup in mIoU.
    """
    unet_scores, lookup_scores = scores[unet_name], scores[lookup]
    lines = []
    for rival, rival_scores in (("the trained colour classifier", scores[colour]), ("the best colour lookup", lookup_scores)):
        gaps = _gaps(unet_scores, rival_scores)
        lines.append(f"- the U-Net is {_standing(gaps, margin)} {rival}: "
                     + ", ".join(f"{score} {gap:+.3f}" for score, gap in gaps.items()))
    for name, contender in scores.items():
        ious = [(c, iou) for c, iou in zip(class_names, contender["iou"]) if iou == iou]  # NaN: not in val
        shown = [(c, f"{iou:.2f}") for c, iou in ious]  # to 2 decimals, as the per-class figure labels its bars
        found = ", ".join(f"{c} {text}" for c, text in shown if text != "0.00") or "no class"
        missed = ", ".join(c for c, text in shown if text == "0.00") or "none"
        lines.append(f"- {name}: IoU {found}; 0.00 (to 2 decimals): {missed}")
    lines.append(f"per class (by {margin} or more), the U-Net's IoU is higher for "
                 f"{_classes_won(unet_scores, lookup_scores, class_names, margin)}; the lookup's for "
                 f"{_classes_won(lookup_scores, unet_scores, class_names, margin)}")
    gap = unet_scores["miou"] - lookup_scores["miou"]
    if abs(gap) < margin:
        lines.append(f"In mIoU the U-Net is level with the best colour lookup: a difference of {abs(gap):.3f} is "
                     f"within the {margin} margin under which we read two single-seed scores as level (notebook 06 "
                     "measures how far the seed alone moves a score).")
    elif gap > 0:
        lines.append(f"In mIoU the short U-Net run is already ahead of the best colour lookup on these frames, by "
                     f"{gap:.3f}.")
    else:
        lines.append(f"In mIoU the U-Net is behind the best colour lookup by {-gap:.3f} after so few steps: the "
                     "lookup table knows every colour's most frequent class from the start, while the U-Net has not "
                     "yet caught up on the classes where the lookup leads.")
    return "\n".join(lines)


def describe_context_outcome(scores: dict[str, dict], unet_name: str, steps: int, lookup: str = "best colour lookup",
                             margin: float = LEVEL_MARGIN) -> str:
    """One sentence: did spatial context pay off against the colour lookup in this run, in pixel accuracy and mIoU?

    A gap under `margin` counts as level. Used for notebook 03's summary, after `describe_colour_rivals`.
    """
    gaps = _gaps(scores[unet_name], scores[lookup])
    words = _words(gaps, margin)
    said = " and ".join(f"{words[score]} in {score} ({gap:+.3f})" for score, gap in gaps.items())
    sentence = f"In this run, after {steps} optimizer steps, the U-Net is {said} compared with the best colour lookup: "
    if words["mIoU"] == "ahead":
        return sentence + "context already pays off in mIoU at this short budget."
    if words["pixel accuracy"] == "ahead":
        return sentence + ("at this budget the benefit of context shows in pixel accuracy but not yet in mIoU; "
                           "notebook 07 compares the two after the full training budget.")
    return sentence + ("at this budget the U-Net has not yet turned context into a lead; notebook 07 compares the "
                       "two after the full training budget.")
