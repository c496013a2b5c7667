"""Segmentation metrics from a confusion matrix counted with torch.bincount.

The matrix is accumulated over a whole data set (rows = true class, columns = predicted
class) and the metrics are computed once from it at the end. That makes mIoU the IoU of the
data set, which is not the same as the mean of per-image mIoUs: a small image where one rare
class is missed would otherwise weigh as much as a large, well-segmented one.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F

from helpers.classes import ClassMap, classes_of

LEVEL_MARGIN = 0.01
"""IoU or mIoU differences smaller than this are read as level, not as a ranking: the seed alone moves a score on a
hundred-odd frames by at least this much (notebook 06 measures how far)."""


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)


def _nanmean(values: np.ndarray) -> float:
    """Mean over non-NaN entries; NaN (without a warning) when all are NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return float(np.nanmean(values)) if np.size(values) else float("nan")


class ConfusionMatrix:
    """C×C int64 counts, rows = target class, columns = predicted class (like torchvision's references).

    `update(pred, target)` takes class-index tensors of the same shape (any shape). Target pixels
    equal to `ignore_index`, or outside [0, C), are dropped; a prediction outside [0, C) is an error.
    `ConfusionMatrix(class_map)` takes C and the ignore index from a data set's class map.
    """

    def __init__(self, num_classes: int | ClassMap | str, ignore_index: int | None = None):
        num_classes, ignore_index = classes_of(num_classes, ignore_index)  # a class map: its classes and ignore index
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    @classmethod
    def from_counts(cls, counts: np.ndarray | torch.Tensor) -> ConfusionMatrix:
        """A confusion matrix holding given C×C counts (rows = target class), e.g. a sum of per-frame matrices,
        so that `compute()` scores any subset of frames without a second pass over them."""
        counts = torch.as_tensor(np.asarray(counts), dtype=torch.int64)
        if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
            raise ValueError(f"counts must be a square C×C matrix, got shape {tuple(counts.shape)}")
        confusion = cls(counts.shape[0])
        confusion.matrix = counts.clone()
        return confusion

    def reset(self) -> None:
        """Forget all counts."""
        self.matrix = torch.zeros_like(self.matrix)

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add the pixels of a batch of predictions and targets to the counts."""
        pred, target = torch.as_tensor(pred), torch.as_tensor(target)
        if pred.shape != target.shape:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape "
                             "(pass class indices, e.g. logits.argmax(1), not logits)")
        pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
        keep = (target >= 0) & (target < self.num_classes)
        if self.ignore_index is not None:
            keep &= target != self.ignore_index
        pred, target = pred[keep], target[keep]
        if pred.numel() and bool(((pred < 0) | (pred >= self.num_classes)).any()):
            raise ValueError(f"predictions hold class ids outside [0, {self.num_classes})")
        counts = torch.bincount(target * self.num_classes + pred, minlength=self.num_classes**2)
        self.matrix = self.matrix.to(counts.device) + counts.reshape(self.num_classes, self.num_classes)

    def compute(self) -> dict:
        """pixel_accuracy, per-class iou (NaN if absent from target and prediction), miou (nanmean),
        per-class dice and class_accuracy (recall; NaN if absent from the target)."""
        matrix = self.matrix.cpu().numpy().astype(np.float64)
        true_positive = np.diag(matrix)
        target_total = matrix.sum(axis=1)
        pred_total = matrix.sum(axis=0)
        iou = _iou_of_counts(matrix)
        all_pixels = matrix.sum()
        return {
            "pixel_accuracy": float(true_positive.sum() / all_pixels) if all_pixels else float("nan"),
            "iou": iou,
            "miou": _nanmean(iou),
            "dice": _safe_divide(2 * true_positive, target_total + pred_total),
            "class_accuracy": _safe_divide(true_positive, target_total),
        }


def per_image_accuracy(pred: torch.Tensor, target: torch.Tensor,
                       ignore_index: int | ClassMap | str | None = None) -> torch.Tensor:
    """Pixel accuracy of each image of N×H×W class maps → float tensor N (NaN for no labelled pixel).

    `ignore_index` may be a class map (its ignore index is used).
    """
    if ignore_index is not None and not isinstance(ignore_index, int):
        ignore_index = classes_of(ignore_index)[1]
    if pred.shape != target.shape or pred.ndim < 2:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must both be N×H×W")
    pred, target = pred.reshape(pred.shape[0], -1), target.reshape(target.shape[0], -1)
    valid = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    correct = ((pred == target) & valid).sum(dim=1).double()
    labelled = valid.sum(dim=1).double()
    return torch.where(labelled > 0, correct / labelled.clamp_min(1), torch.nan).float()


def boundary_mask(target: torch.Tensor, width: int = 3) -> torch.Tensor:
    """Bool mask of the pixels within `width` px (chessboard distance) of a class edge.

    A pixel is in the band when its (2·width+1)² window holds more than one label: the window's
    max-pool and min-pool differ. That is the map of label changes, dilated by `width`. Takes
    H×W or N×H×W; image borders are not edges.
    """
    if width < 1:
        raise ValueError(f"width must be at least 1 pixel, got {width}")
    labels = torch.as_tensor(target)
    squeeze = labels.ndim == 2
    labels = labels.unsqueeze(0) if squeeze else labels
    labels = labels.unsqueeze(1).float()  # N×1×H×W; exact for ids below 2**24
    kernel = 2 * width + 1
    window_max = F.max_pool2d(labels, kernel, stride=1, padding=width)
    window_min = -F.max_pool2d(-labels, kernel, stride=1, padding=width)
    band = (window_max != window_min)[:, 0]
    return band[0] if squeeze else band


def boundary_iou(pred: torch.Tensor, target: torch.Tensor, num_classes: int | ClassMap | str, width: int = 3,
                 ignore_index: int | None = None) -> dict:
    """IoU per class and mIoU counted only near class edges: {"miou": float, "iou": ndarray C}.

    The band is the union of the boundary bands (`boundary_mask`) of the target and of the
    prediction, so missed edges and invented edges both count. A simplified Boundary IoU
    (Cheng et al. 2021) that shows how sharp the predicted boundaries are. `num_classes` may be
    the data set's class map (its ignore index then leaves those pixels out).
    """
    pred, target = torch.as_tensor(pred), torch.as_tensor(target)
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape")
    band = boundary_mask(target, width) | boundary_mask(pred, width)
    confusion = ConfusionMatrix(num_classes, ignore_index)
    confusion.update(pred[band], target[band])
    result = confusion.compute()
    return {"miou": result["miou"], "iou": result["iou"]}


def _iou_of_counts(counts: np.ndarray) -> np.ndarray:
    """Per-class IoU of a C×C confusion matrix, or of each in a stack (…×C×C); NaN for an absent class."""
    true_positive = np.diagonal(counts, axis1=-2, axis2=-1).astype(np.float64)
    return _safe_divide(true_positive, counts.sum(axis=-1) + counts.sum(axis=-2) - true_positive)


def _miou_of_counts(counts: np.ndarray) -> np.ndarray:
    """mIoU of each of a stack of C×C confusion matrices: the IoU of the present classes, averaged."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return np.nanmean(_iou_of_counts(counts), axis=-1)


def confusion_per_group(pred: torch.Tensor, target: torch.Tensor, num_classes: int | ClassMap | str,
                        groups=None, ignore_index: int | None = None) -> np.ndarray:
    """One C×C confusion matrix (rows = true class) per group of frames, from a single bincount: G×C×C.

    `pred` and `target` are N×H×W class indices; `groups` gives each frame's group (None = each frame
    its own, in order). Pixels of `ignore_index` or outside 0…C−1 are left out.
    """
    num_classes, ignore_index = classes_of(num_classes, ignore_index)
    target = torch.as_tensor(target).long()
    groups = np.arange(len(target)) if groups is None else np.asarray(groups)
    names, group_of_frame = np.unique(groups, return_inverse=True)
    pixel_group = torch.as_tensor(group_of_frame).view(-1, *[1] * (target.ndim - 1)).expand_as(target)
    keep = (target >= 0) & (target < num_classes)
    if ignore_index is not None:
        keep &= target != ignore_index
    codes = ((pixel_group * num_classes + target) * num_classes + torch.as_tensor(pred).long())[keep]
    cells = len(names) * num_classes * num_classes
    return torch.bincount(codes, minlength=cells).reshape(len(names), num_classes, num_classes).numpy()


def bootstrap_miou_difference(pred_a: torch.Tensor, pred_b: torch.Tensor, target: torch.Tensor,
                              num_classes: int | ClassMap | str, groups=None, rounds: int = 2000,
                              seed: int = 0, ignore_index: int | None = None) -> dict:
    """How much an mIoU difference between two models moves with the frames scored: a paired bootstrap.

    `pred_a`, `pred_b` and `target` are N×H×W class indices of the same N frames; `groups` gives each
    frame's group (its sequence: neighbouring frames are near copies, so whole sequences are
    resampled), None = each frame its own. Returns the difference mIoU(a) − mIoU(b) of all frames
    and the 2.5 % and 97.5 % quantiles of `rounds` resampled differences. It measures only which
    frames were scored, not what another training seed would give.
    """
    num_classes, ignore_index = classes_of(num_classes, ignore_index)
    groups = np.arange(len(target)) if groups is None else np.asarray(groups)
    if not len(pred_a) == len(pred_b) == len(target) == len(groups):
        raise ValueError(f"pred_a, pred_b, target and groups must hold the same frames: got {len(pred_a)}, "
                         f"{len(pred_b)}, {len(target)} and {len(groups)}")
    names = np.unique(groups)
    per_group = np.stack([confusion_per_group(pred, target, num_classes, groups, ignore_index)
                          for pred in (pred_a, pred_b)])  # one confusion matrix per group and model
    draws = np.random.default_rng(seed).integers(0, len(names), (rounds, len(names)))
    weights = np.stack([np.bincount(row, minlength=len(names)) for row in draws])  # rounds × groups
    resampled = np.einsum("rg,mgij->mrij", weights, per_group)
    differences = _miou_of_counts(resampled[0]) - _miou_of_counts(resampled[1])
    observed = float(_miou_of_counts(per_group[0].sum(0)) - _miou_of_counts(per_group[1].sum(0)))
    low, high = np.quantile(differences, [0.025, 0.975])
    return {"difference": observed, "low": float(low), "high": float(high), "groups": len(names), "rounds": rounds}
