"""Looking inside training: activation statistics per layer, short runs that stop at the first NaN, loss levels.

Notebook 04b uses these to ask why a network trains at all: how the signal's size changes from
layer to layer with one initialisation or another (`activation_stats`), which learning rates a
network survives (`train_steps`, which stops at the first non-finite loss instead of skipping it
as `helpers.train.fit` does), and which loss a run must beat to have learned more than the class
frequencies (`class_prior_loss`).
Notebook 04 measures with `other_labels_floor` and `other_labels_majority` what a network trained
on the labels of other images can reach at best.

    rows = activation_stats(UNet(norm="none", init="default"), images)   # one row per convolution
    losses = train_steps(model, loader, F.cross_entropy, optimizer, steps=30)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

CONVOLUTIONS = (nn.Conv2d, nn.ConvTranspose2d)


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every convolution (transposed ones included), in registration order.

    For the workbook's U-Net that is the order of the forward pass: encoder, decoder, head.
    """
    return [(name, module) for name, module in model.named_modules() if isinstance(module, CONVOLUTIONS)]


@torch.no_grad()
def activation_stats(model: nn.Module, images: torch.Tensor, train_mode: bool = True) -> pd.DataFrame:
    """Mean and standard deviation of each convolution's output for one batch, one row per layer.

    The outputs are measured before any normalisation or ReLU that follows, i.e. the signal the
    layer's weights produce. The batch runs through a copy of the model (in training mode by
    default, as during training), so the model's own batch-norm running statistics stay as they
    were. Columns: layer (0, 1, … in forward order), name, kind, mean, std, rms.
    """
    probe = copy.deepcopy(model).train(train_mode)
    rows: list[dict] = []

    def measure(name: str, module: nn.Module, output: torch.Tensor) -> None:
        values = output.detach().float()
        rows.append({"layer": len(rows), "name": name, "kind": type(module).__name__,
                     "mean": float(values.mean()), "std": float(values.std()),
                     "rms": float(values.pow(2).mean().sqrt())})

    handles = [module.register_forward_hook(lambda module, inputs, output, name=name: measure(name, module, output))
               for name, module in conv_layers(probe)]
    try:
        device = next(probe.parameters()).device
        probe(images.to(device))
    finally:
        for handle in handles:
            handle.remove()
    return pd.DataFrame(rows, columns=["layer", "name", "kind", "mean", "std", "rms"])


def train_steps(model: nn.Module, loader: torch.utils.data.DataLoader, loss_fn: Callable, optimizer: torch.optim.Optimizer,
                steps: int, device: str | torch.device = "cpu") -> list[float]:
    """`steps` optimizer steps over the loader's batches (again from the start when it runs out); the losses.

    Each step's loss is recorded before its update. The first loss that is NaN or ±inf is recorded
    and ends the run: unlike `helpers.train.fit`, nothing is skipped, so a run that blows up shows
    it (the list is then shorter than `steps`).
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    device = torch.device(device)
    model.to(device).train()
    losses: list[float] = []
    while len(losses) < steps:
        batches = 0
        for images, targets in loader:
            batches += 1
            loss = loss_fn(model(images.to(device)), targets.to(device))
            losses.append(float(loss.detach()))
            if not math.isfinite(losses[-1]):
                return losses
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if len(losses) == steps:
                return losses
        if batches == 0:
            raise ValueError("the loader gave no batch: check the data set and drop_last")
    return losses


def loss_summary(losses: Sequence[float], window: int = 5) -> dict:
    """What a short run's losses say: first, final (mean of the last `window`), peak, and whether all were finite.

    `final` is NaN when the run ended on a non-finite loss (see `train_steps`); `peak` is the
    largest finite loss.
    """
    if len(losses) == 0:
        raise ValueError("no losses to summarise")
    values = np.asarray(losses, dtype=float)
    finite = bool(np.isfinite(values).all())
    return {"first": float(values[0]), "final": float(values[-window:].mean()) if finite else math.nan,
            "peak": float(values[np.isfinite(values)].max()) if np.isfinite(values).any() else math.nan,
            "finite": finite, "steps": len(values)}


def class_prior_loss(counts: Sequence[float] | np.ndarray | torch.Tensor) -> float:
    """Cross-entropy of predicting the class frequencies at every pixel: the entropy of the label distribution.

    A network that ignores the image can still reach this loss (its output layer's biases learn the
    frequencies); only a loss below it shows that the network uses what it sees. For C equally
    frequent classes it is ln C, the chance level.
    """
    counts = np.asarray(counts.cpu() if isinstance(counts, torch.Tensor) else counts, dtype=float)
    if counts.ndim != 1 or (counts < 0).any() or counts.sum() <= 0:
        raise ValueError(f"counts must be a 1-D list of non-negative pixel counts with a positive sum, got {counts}")
    frequencies = counts[counts > 0] / counts.sum()
    return float(-(frequencies * np.log(frequencies)).sum())


def other_label_counts(targets: torch.Tensor, num_classes: int, ignore_index: int | None = None) -> torch.Tensor:
    """(N, C, H, W): at each pixel of image i, how many of the *other* images' labels hold each class.

    The labels an image can meet when it is trained on the label of a random other image of the batch.
    """
    if targets.ndim != 3 or len(targets) < 2:
        raise ValueError(f"targets must be (N, H, W) with N ≥ 2, got shape {tuple(targets.shape)}")
    valid = targets != ignore_index if ignore_index is not None else torch.ones_like(targets, dtype=torch.bool)
    one_hot = F.one_hot(torch.where(valid, targets, 0).long(), num_classes).movedim(-1, 1) * valid[:, None]
    return one_hot.sum(dim=0, keepdim=True) - one_hot


def other_labels_floor(targets: torch.Tensor, num_classes: int, ignore_index: int | None = None) -> float:
    """The lowest expected cross-entropy of training each image on a random other image's label.

    At each pixel the best a network can do is predict how often each class occurs there in the
    other labels; the loss of that prediction is their entropy, averaged over the labelled pixels.
    A network that learns what is in each image goes below it; one trained on the wrong labels cannot.
    """
    counts = other_label_counts(targets, num_classes, ignore_index).double()
    shares = counts / counts.sum(dim=1, keepdim=True).clamp(min=1)
    pixel_loss = -(counts * torch.log(shares.clamp(min=1e-300))).sum(dim=1)  # summed over the labels met there
    return float(pixel_loss.sum() / counts.sum())


def other_labels_majority(targets: torch.Tensor, num_classes: int, ignore_index: int | None = None) -> torch.Tensor:
    """(N, H, W): for each image, the most frequent class of the other labels at each pixel: the average street."""
    return other_label_counts(targets, num_classes, ignore_index).argmax(dim=1)


def agreement(prediction: torch.Tensor, target: torch.Tensor, ignore_index: int | None = None) -> float:
    """The share of labelled pixels on which `prediction` equals `target` (pixel accuracy)."""
    prediction, target = prediction.cpu(), target.cpu()
    labelled = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    return float((prediction == target)[labelled].float().mean())

