"""Reading the skip-connection ablation of notebook 08: a floor to beat, and this run's results in words.

- `majority_baseline`: predict the most frequent training class everywhere, scored like a model;
- `layout_agreement`: how much a model's predictions repeat the same layout from frame to frame;
- `describe_*`: the sentences the notebook prints, one branch per outcome that can happen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from helpers.classes import ClassMap
from helpers.metrics import ConfusionMatrix

LAYOUT_MARGIN = 0.15  # agreement this far above the targets' own: the model repeats one layout


def majority_baseline(train_counts: np.ndarray, targets: torch.Tensor, class_map: ClassMap) -> dict[str, Any]:
    """Scores of painting the most frequent training class on every pixel of `targets`: what a model must beat."""
    majority = int(np.argmax(train_counts))
    confusion = ConfusionMatrix(class_map)
    confusion.update(torch.full_like(targets, majority), targets)
    scores = confusion.compute()
    return {"class": class_map.class_names[majority], "pixel_accuracy": scores["pixel_accuracy"],
            "miou": scores["miou"]}


def describe_against_baseline(pixel_accuracy: Mapping[str, float], miou: Mapping[str, float],
                              baseline: Mapping[str, Any], epochs: int) -> str:
    """Which models beat painting the majority class everywhere, in pixel accuracy, after `epochs` epochs."""
    floor = baseline["pixel_accuracy"]
    lines = [f"the floor: \"{baseline['class']}\" on every pixel scores pixel accuracy {floor:.3f}, "
             f"mIoU {baseline['miou']:.3f} on the same frames"]
    for name, accuracy in pixel_accuracy.items():
        verdict = "above" if accuracy > floor else "BELOW"
        lines.append(f"- {name}: pixel accuracy {accuracy:.3f}, {verdict} the floor ({accuracy - floor:+.3f}); "
                     f"mIoU {miou[name]:.3f}")
    below = [name for name, accuracy in pixel_accuracy.items() if accuracy <= floor]
    if below:
        those = "its" if len(below) == 1 else "their"
        lines.append(f"after {epochs} epoch(s), {', '.join(below)} got fewer pixels right than the floor: "
                     f"barely trained, so read {those} mIoU as an early state, not as what the architecture can do")
    else:
        lines.append(f"after {epochs} epoch(s) every model beats the floor in pixel accuracy; all are still far "
                     "from trained (notebook 07 trains the U-Net for the full budget)")
    return "\n".join(lines)


def layout_agreement(labels: torch.Tensor) -> float:
    """Share of pixels whose class equals the most common class at that position over all frames (N×H×W).

    Near 1: the same layout on every frame. Compare a model's value with the targets' own.
    """
    labels = torch.as_tensor(labels)
    if labels.dim() != 3 or labels.shape[0] < 1:
        raise ValueError(f"labels must be N×H×W class ids, got shape {tuple(labels.shape)}")
    most_common = labels.mode(dim=0).values
    return float((labels == most_common).float().mean())


def describe_layouts(agreement: Mapping[str, float], target_agreement: float, epochs: int) -> str:
    """For each model, whether its predictions follow the frames or repeat one layout, against the targets."""
    lines = [f"how much the labels repeat one layout from frame to frame (1 = the same on every frame): "
             f"targets {target_agreement:.2f}"]
    for name, value in agreement.items():
        if value > target_agreement + LAYOUT_MARGIN:
            verdict = ("paints nearly the same layout on every frame: it has learned where classes usually are, "
                       "not what this frame shows")
        elif value < target_agreement - LAYOUT_MARGIN:
            verdict = "changes from frame to frame more than the targets do: speckle, not the scene's layout"
        else:
            verdict = "varies with the frame about as much as the targets do"
        lines.append(f"- {name}: {value:.2f}, {verdict}")
    lines.append(f"(after {epochs} epoch(s); blur at the edges can only be read where a model follows the frame)")
    return "\n".join(lines)


def describe_edge_gap(whole_gap: float, edge_gap: float, interval: Mapping[str, Any]) -> str:
    """Where a gap is larger (whole image or near the edges), read only when the whole-image gap is shown."""
    if not (interval["low"] > 0 or interval["high"] < 0):
        return ("the whole-image gap is not shown to be a difference, so which gap is larger is not read from "
                "this run")
    if abs(edge_gap) > abs(whole_gap):
        return "the gap is larger near the edges: the sharp detail is what differs"
    return ("the gap is larger on the whole image: the weaker model fails on whole regions, not only at the "
            "edges")
