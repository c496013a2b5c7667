"""Segmentation losses: cross-entropy, MSE on softmax vs one-hot, BCE-with-logits, soft Dice, and their registry.

Every loss is called as `loss(logits, target)` with logits N×C×H×W (raw scores, before any
softmax) and target N×H×W int64 class indices. Pixels equal to `ignore_index` count nowhere.
All of them stay finite on very confident logits (±1e4) and on batches where a class, or every
labelled pixel, is absent: a batch without any labelled pixel gives a loss of 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from helpers.classes import ClassMap, classes_of
from helpers.registry import resolve_name


def _valid_mask(target: torch.Tensor, ignore_index: int | None) -> torch.Tensor:
    """Bool N×H×W: True where the pixel has a label that counts."""
    if ignore_index is None:
        return torch.ones_like(target, dtype=torch.bool)
    return target != ignore_index


def _one_hot(target: torch.Tensor, num_classes: int, valid: torch.Tensor) -> torch.Tensor:
    """N×H×W indices → N×C×H×W float one-hot; invalid pixels all zero."""
    safe = torch.where(valid, target, torch.zeros_like(target))
    if bool(((safe < 0) | (safe >= num_classes)).any()):
        raise ValueError(f"target holds class ids outside [0, {num_classes}) that are not the ignore index; "
                         "check the class map of the data set and the model's num_classes")
    encoded = F.one_hot(safe, num_classes).permute(0, 3, 1, 2).float()
    return encoded * valid.unsqueeze(1)


def _check_classes(logits: torch.Tensor, num_classes: int | None) -> int:
    """Number of classes of N×C×H×W logits, checked against num_classes when given."""
    if logits.ndim != 4:
        raise ValueError(f"expected logits N×C×H×W, got shape {tuple(logits.shape)}")
    if num_classes is not None and logits.shape[1] != num_classes:
        raise ValueError(f"logits have {logits.shape[1]} channels but the loss was made for {num_classes} classes")
    return logits.shape[1]


def _weighted_pixel_mean(per_pixel: torch.Tensor, target: torch.Tensor, valid: torch.Tensor,
                         weight: torch.Tensor | None) -> torch.Tensor:
    """Mean of per-pixel losses over valid pixels, each weighted by its class weight (as CE does)."""
    if weight is None:
        pixel_weight = valid.float()
    else:
        safe = torch.where(valid, target, torch.zeros_like(target))
        pixel_weight = weight.to(per_pixel.device)[safe] * valid
    total_weight = pixel_weight.sum()
    return (per_pixel * pixel_weight).sum() / total_weight.clamp_min(torch.finfo(per_pixel.dtype).tiny)


class CrossEntropyLoss(nn.CrossEntropyLoss):
    """F.cross_entropy with class weights and ignore index; 0 (not NaN) when every pixel is ignored."""

    def __init__(self, num_classes: int | None = None, class_weights: torch.Tensor | None = None,
                 ignore_index: int | None = None):
        super().__init__(weight=class_weights, ignore_index=-100 if ignore_index is None else ignore_index)
        self.num_classes = num_classes

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_classes(logits, self.num_classes)
        if not bool((target != self.ignore_index).any()):
            return logits.sum() * 0.0
        return super().forward(logits, target)


class SoftmaxMSELoss(nn.Module):
    """Mean squared error between softmax(logits) and the one-hot target (the original report's choice).

    Per pixel, the squared error is averaged over the C classes; pixels are then averaged
    (weighted by their class weight when given), leaving out ignored pixels.
    """

    def __init__(self, num_classes: int | None = None, class_weights: torch.Tensor | None = None,
                 ignore_index: int | None = None):
        super().__init__()
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.register_buffer("weight", class_weights)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        num_classes = _check_classes(logits, self.num_classes)
        valid = _valid_mask(target, self.ignore_index)
        probabilities = logits.float().softmax(dim=1)
        per_pixel = (probabilities - _one_hot(target, num_classes, valid)).pow(2).mean(dim=1)
        return _weighted_pixel_mean(per_pixel, target, valid, self.weight)


class BinaryLoss(nn.Module):
    """BCE-with-logits for binary masks (target 0/1, N×H×W).

    Logits may be N×1×H×W or N×H×W (one logit for class 1), or N×2×H×W, read as
    logit = logits[:, 1] - logits[:, 0] (the same probability as a 2-class softmax).
    class_weights (2 values) weight pixels by their class; ignored pixels count nowhere.
    """

    def __init__(self, class_weights: torch.Tensor | None = None, ignore_index: int | None = None):
        super().__init__()
        self.ignore_index = ignore_index
        self.register_buffer("weight", class_weights)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.ndim == 4 and logits.shape[1] == 2:
            logits = logits[:, 1] - logits[:, 0]
        elif logits.ndim == 4 and logits.shape[1] == 1:
            logits = logits[:, 0]
        elif logits.ndim != 3:
            raise ValueError(f"bce expects logits N×1×H×W, N×2×H×W or N×H×W, got shape {tuple(logits.shape)}")
        if logits.shape != target.shape:
            raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in size")
        valid = _valid_mask(target, self.ignore_index)
        if bool((((target != 0) & (target != 1)) & valid).any()):
            raise ValueError("bce expects a binary target (0 or 1, or the ignore index); "
                             "threshold the masks first (e.g. mask >= 128)")
        binary_target = torch.where(valid, target, torch.zeros_like(target)).float()
        per_pixel = F.binary_cross_entropy_with_logits(logits.float(), binary_target, reduction="none")
        return _weighted_pixel_mean(per_pixel, target, valid, self.weight)


class SoftDiceLoss(nn.Module):
    """1 − mean over classes of the soft Dice (2·Σp·y + smooth) / (Σp + Σy + smooth).

    Sums run over the whole batch; p = softmax(logits), y = one-hot target; ignored pixels are
    left out. The smooth term makes a class absent from both target and prediction score 1
    (no NaN). class_weights, when given, weight the classes in the mean.
    """

    def __init__(self, num_classes: int | None = None, class_weights: torch.Tensor | None = None,
                 ignore_index: int | None = None, smooth: float = 1.0):
        super().__init__()
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.smooth = smooth
        self.register_buffer("weight", class_weights)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        num_classes = _check_classes(logits, self.num_classes)
        valid = _valid_mask(target, self.ignore_index)
        probabilities = logits.float().softmax(dim=1) * valid.unsqueeze(1)
        truth = _one_hot(target, num_classes, valid)
        dims = (0, 2, 3)
        intersection = (probabilities * truth).sum(dims)
        sizes = probabilities.sum(dims) + truth.sum(dims)
        dice = (2 * intersection + self.smooth) / (sizes + self.smooth)
        if self.weight is None:
            return 1 - dice.mean()
        weight = self.weight.to(dice.device).float()
        return 1 - (dice * weight).sum() / weight.sum()


class SumOfLosses(nn.Module):
    """The sum of several losses, each called with (logits, target): e.g. cross-entropy plus soft Dice."""

    def __init__(self, *losses: nn.Module):
        super().__init__()
        if not losses:
            raise ValueError("SumOfLosses needs at least one loss")
        self.losses = nn.ModuleList(losses)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(part(logits, target) for part in self.losses)


class LabelledPixels(nn.Module):
    """A per-row loss `(logits M×C, target M) → scalar` applied to the labelled pixels of N×C×H×W logits.

    Lets a hand-written loss on rows of logits (notebook 04b's cross-entropy on softmax) train a
    segmentation network; `ignore_index` is also what `helpers.train.fit` reads to accept ignored targets.
    """

    def __init__(self, row_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], ignore_index: int | None = None):
        super().__init__()
        self.row_loss, self.ignore_index = row_loss, ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        kept = _valid_mask(target, self.ignore_index)  # one row of logits per labelled pixel
        return self.row_loss(logits.movedim(1, -1)[kept], target[kept])


@dataclass(frozen=True)
class LossSpec:
    """One loss: how to build it from (num_classes, class_weights, ignore_index), its aliases, what it does."""

    name: str
    build: Callable[[int | None, torch.Tensor | None, int | None], nn.Module]
    aliases: tuple[str, ...] = ()
    summary: str = ""


LOSS_REGISTRY: dict[str, LossSpec] = {}


def register_loss(spec: LossSpec) -> LossSpec:
    """Add a loss to the registry, so `make_loss(spec.name, ...)` and recipes find it."""
    LOSS_REGISTRY[spec.name] = spec
    return spec


register_loss(LossSpec("ce", CrossEntropyLoss, aliases=("cross_entropy", "crossentropy", "xent"),
                       summary="cross-entropy on the logits (class weights, ignore index)"))
register_loss(LossSpec("mse", SoftmaxMSELoss, aliases=("softmax_mse", "l2"),
                       summary="mean squared error between softmax and the one-hot target"))
register_loss(LossSpec("bce", lambda num_classes, weights, ignore: BinaryLoss(weights, ignore),
                       aliases=("bce_with_logits", "binary_cross_entropy"),
                       summary="binary cross-entropy on one logit per pixel"))
register_loss(LossSpec("dice", SoftDiceLoss, aliases=("soft_dice",),
                       summary="1 - mean soft Dice over the classes"))
register_loss(LossSpec(
    "ce+dice",
    lambda num_classes, weights, ignore: SumOfLosses(CrossEntropyLoss(num_classes, weights, ignore),
                                                     SoftDiceLoss(num_classes, None, ignore)),
    aliases=("ce_dice", "cross_entropy+dice", "dice+ce"),
    summary="cross-entropy (with the class weights) plus soft Dice (unweighted)"))

LOSS_NAMES = tuple(LOSS_REGISTRY)


def loss_name(name: str) -> str:
    """The registered loss name for `name` or an alias ("cross_entropy", "soft_dice" …)."""
    return resolve_name(name, LOSS_REGISTRY, "loss")


def make_loss(name: str, class_map: ClassMap | str | int | None = None, class_weights: torch.Tensor | None = None,
              ignore_index: int | None = None, *, num_classes: int | None = None) -> nn.Module:
    """Loss module by registered name or alias: "ce", "mse" (softmax vs one-hot), "bce" (binary),
    "dice" (soft Dice) or "ce+dice" (the sum; the class weights go to the cross-entropy).

    `class_map` (a data set's `.class_map`, its name, or just a number of classes) gives the
    number of classes and the ignore index, whose pixels then count nowhere (cityscapes19's 255,
    ADE20K's "other"); `num_classes=` and `ignore_index=` still work on their own.
    """
    spec = LOSS_REGISTRY[loss_name(name)]
    classes, ignore_index = classes_of(class_map if class_map is not None else num_classes, ignore_index)
    num_classes = classes
    if class_weights is not None:
        class_weights = torch.as_tensor(class_weights, dtype=torch.float32)
    return spec.build(num_classes, class_weights, ignore_index)


def class_weights(counts: np.ndarray | torch.Tensor | list, method: str = "median_frequency") -> torch.Tensor:
    """Per-class loss weights from pixel counts, so rare classes weigh more; float32 tensor.

    median_frequency (Eigen & Fergus 2015): weight = median(freq) / freq, with freq = count / all
    pixels and the median over classes that occur. inverse (scikit-learn's "balanced"):
    weight = all pixels / (number of classes that occur · count). sqrt_median_frequency: the
    square root of median_frequency, a milder push that over-paints rare classes less in long runs.
    A class with zero pixels gets weight 0: it cannot be learned from this data, and 0 keeps the
    loss finite.
    """
    counts = torch.as_tensor(np.asarray(counts), dtype=torch.float64)
    if counts.ndim != 1 or bool((counts < 0).any()):
        raise ValueError("counts must be a 1-D sequence of non-negative pixel counts per class")
    present = counts > 0
    if not bool(present.any()):
        raise ValueError("every class count is zero: no labelled pixels to weight")
    frequency = counts / counts.sum()
    weights = torch.zeros_like(counts)
    if method in ("median_frequency", "sqrt_median_frequency"):
        median = float(np.median(frequency[present].numpy()))  # torch.median would take the lower middle
        weights[present] = median / frequency[present]
        if method == "sqrt_median_frequency":
            weights = weights.sqrt()
    elif method == "inverse":
        weights[present] = 1.0 / (int(present.sum()) * frequency[present])
    else:
        raise ValueError(f"unknown method {method!r}; use 'median_frequency', 'sqrt_median_frequency' or 'inverse'")
    return weights.float()
