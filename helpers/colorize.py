"""Colorization: a U-Net that turns a grey image back into colour, and how far its colours are off.

Segmentation is not the only dense task a U-Net can learn. Colorization takes the luminance of a
photo (one channel) and predicts its three RGB channels; the target comes free with every image.
It shows plainly what skip connections carry: the fine detail of the input. Without them the
decoder must rebuild every edge from the 1/16-size bottleneck and the colours come out blurred.

- `to_grey`: RGB → luma (ITU-R BT.601 weights, as OpenCV's COLOR_RGB2GRAY);
- `make_colorizer`: `UNet(in_channels=1, num_classes=3)`; its outputs are logits, `sigmoid` gives RGB;
- `train_colorizer`: a short seeded loop (Adam, L1 loss on the RGB values) over a tensor of images;
- `colorize`: grey images → RGB images in [0, 1];
- `delta_e`: the colour error, mean CIE76 ΔE in the CIELAB space of OpenCV (ΔE ≈ 2.3 is a
  just-noticeable difference); `colour_errors` splits it into lightness and colour (a-b) parts;
  `grey_baseline_delta_e` is the error of leaving the image grey;
- `describe_lightness`: each colorizer's lightness error against the grey input's own.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from helpers.config import is_quiet
from helpers.models import UNet

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601, what cv2.COLOR_RGB2GRAY uses
LOSSES = {"l1": F.l1_loss, "mse": F.mse_loss}
LIGHTNESS_MARGIN = 0.5  # |ΔL| closer than this (L* runs 0–100; ΔE 2.3 is just noticeable) is read as the same


def _check_rgb(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """Images as a float N×3×H×W tensor (a single 3×H×W image gets a batch dimension)."""
    images = torch.as_tensor(images)
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"{name} must be RGB tensors N×3×H×W in [0, 1], got shape {tuple(images.shape)}")
    return images.float()


def to_grey(images: torch.Tensor) -> torch.Tensor:
    """RGB N×3×H×W in [0, 1] → luma N×1×H×W in [0, 1] (BT.601 weights)."""
    images = _check_rgb(images)
    weights = torch.tensor(LUMA_WEIGHTS, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def make_colorizer(base: int = 16, depth: int = 4, skips: bool = True, up: str = "transpose") -> UNet:
    """A U-Net from one grey channel to three RGB logits (apply `torch.sigmoid` for colours)."""
    return UNet(in_channels=1, num_classes=3, base=base, depth=depth, up=up, skips=skips)


def train_colorizer(model: nn.Module, images: torch.Tensor, steps: int, batch_size: int = 8, lr: float = 2e-3,
                    device: str | torch.device = "cpu", seed: int = 0, loss: str = "l1",
                    progress: bool | None = None) -> dict:
    """Train `model` to predict `images` (N×3×H×W in [0, 1]) from their grey version for `steps` batches.

    Adam at `lr`, `loss` ("l1" or "mse") between sigmoid(logits) and the RGB target. L1 aims at
    the median colour, so it dares saturated colours; MSE aims at the mean of the colours an
    object could have, so an unsure colorizer stays greyish. Batches are drawn by a
    generator seeded with `seed` (reshuffled every pass). Returns {"losses": [per step],
    "seconds": float, "images_seen": int}. The model is left in eval mode on `device`.
    """
    images = _check_rgb(images)
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be at least 1, got {steps} and {batch_size}")
    device = torch.device(device)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(images), generator=generator)
    position, losses, seen = 0, [], 0
    quiet = is_quiet() if progress is None else not progress
    started = time.perf_counter()
    for _ in tqdm(range(steps), desc="colorization", disable=quiet, leave=False):
        if position >= len(order):
            order, position = torch.randperm(len(images), generator=generator), 0
        batch = images[order[position: position + batch_size]].to(device)
        position += batch_size
        optimizer.zero_grad(set_to_none=True)
        batch_loss = LOSSES[loss](torch.sigmoid(model(to_grey(batch))), batch)
        batch_loss.backward()
        optimizer.step()
        losses.append(float(batch_loss.detach()))
        seen += len(batch)
    model.eval()
    return {"losses": losses, "seconds": time.perf_counter() - started, "images_seen": seen}


@torch.no_grad()
def colorize(model: nn.Module, grey: torch.Tensor, device: str | torch.device = "cpu",
             batch_size: int = 16) -> torch.Tensor:
    """RGB predictions N×3×H×W in [0, 1] (on the CPU) for grey images N×1×H×W."""
    grey = torch.as_tensor(grey).float()
    if grey.dim() == 3:
        grey = grey.unsqueeze(0)
    if grey.dim() != 4 or grey.shape[1] != 1:
        raise ValueError(f"grey must be N×1×H×W, got shape {tuple(grey.shape)}; use to_grey(images) first")
    was_training = model.training
    model.to(device).eval()
    try:
        outputs = [torch.sigmoid(model(chunk.to(device))).cpu() for chunk in grey.split(batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(outputs)


def to_lab(images: torch.Tensor) -> np.ndarray:
    """RGB N×3×H×W in [0, 1] → CIELAB N×H×W×3 float32 (L in [0, 100], a and b about ±100), via OpenCV."""
    images = _check_rgb(images)
    pictures = images.detach().cpu().clamp(0, 1).permute(0, 2, 3, 1).numpy().astype(np.float32)
    return np.stack([cv2.cvtColor(np.ascontiguousarray(picture), cv2.COLOR_RGB2Lab) for picture in pictures])


def delta_e_map(pred: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """Per-pixel CIE76 colour difference N×H×W: the Euclidean distance in CIELAB."""
    pred, target = _check_rgb(pred, "pred"), _check_rgb(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape")
    return np.linalg.norm(to_lab(pred) - to_lab(target), axis=-1)


def delta_e(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean CIE76 ΔE between two RGB batches in [0, 1] (0 = identical; ≈ 2.3 is just noticeable)."""
    return float(delta_e_map(pred, target).mean())


def colour_errors(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Mean ΔE split in two: {"delta_e", "lightness" (mean |ΔL|), "colour" (mean distance in the a-b plane)}.

    A blurred output shows as a lightness error; a wrong or missing hue as a colour error.
    """
    pred, target = _check_rgb(pred, "pred"), _check_rgb(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape")
    difference = to_lab(pred) - to_lab(target)
    return {"delta_e": float(np.linalg.norm(difference, axis=-1).mean()),
            "lightness": float(np.abs(difference[..., 0]).mean()),
            "colour": float(np.linalg.norm(difference[..., 1:], axis=-1).mean())}


def grey_baseline_delta_e(images: torch.Tensor) -> float:
    """Mean ΔE of the trivial answer 'keep it grey' (R = G = B = luma): what a colorizer must beat."""
    grey = to_grey(images)
    return delta_e(grey.expand(-1, 3, -1, -1), images)


def plot_colorization(candidates: dict[str, torch.Tensor], target: torch.Tensor, mean_errors: dict[str, float],
                      losses: dict[str, list[float]], title: str, loss: str = "l1"):
    """Each colorization of one frame beside the original, its ΔE map below and the training losses: where skips help.

    `candidates` and `target` are 1×3×H×W RGB in [0, 1]; `mean_errors` (ΔE over all frames) go into the titles;
    `loss` names the training loss on the loss panel's axis ("l1" or "mse", as `train_colorizer` takes it).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(candidates) + 1, figsize=(3.25 * (len(candidates) + 1), 5.8), layout="constrained")
    for ax, (name, picture) in zip(axes[0], [*candidates.items(), ("original", target)]):
        ax.imshow(picture[0].permute(1, 2, 0).cpu().numpy())
        ax.set_title(name + (f" · ΔE {mean_errors[name]:.1f}" if name in mean_errors else ""), fontsize="small")
    error_maps = {name: delta_e_map(picture, target)[0] for name, picture in candidates.items()}
    top = max(float(error.max()) for error in error_maps.values())  # one colour scale for every map
    for ax, (name, error) in zip(axes[1], error_maps.items()):
        image = ax.imshow(error, cmap="magma", vmin=0, vmax=top)
        ax.set_title(f"ΔE per pixel: {name}", fontsize="small")
    fig.colorbar(image, ax=axes[1, :-1], label="ΔE (CIE76)", location="bottom", shrink=0.6)  # under its maps
    for ax in [*axes[0], *axes[1, :-1]]:
        ax.set_xticks([])
        ax.set_yticks([])
    for name, values in losses.items():
        axes[1, -1].plot(values, label=name)
    axes[1, -1].set(xlabel="batch", ylabel=f"{loss.upper()} loss on the RGB values", title="Colorization training")
    axes[1, -1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(title)
    return fig


def describe_lightness(lightness: dict[str, float], reference: str = "grey input",
                       margin: float = LIGHTNESS_MARGIN) -> str:
    """Each colorizer's lightness error |ΔL| against the grey input's own, one line each.

    The grey input is BT.601 luma of the sRGB values, close to but not equal to CIELAB L*: its |ΔL| is that
    difference, the lightness error of passing the input through unchanged. Three outcomes per colorizer.
    """
    grey = lightness[reference]
    lines = []
    for name, value in lightness.items():
        if name == reference:
            continue
        if value < grey - margin:
            verdict = "below it: the colorizer corrects part of the difference between luma and L*"
        elif value <= grey + margin:
            verdict = (f"about the same (within {margin}): the lightness passes through about as the input holds it")
        else:
            verdict = (f"above it ({value / grey:.1f}× as large)" if grey > 0 else "above it") + (
                ": the colorizer loses lightness that the input holds, not only the luma-to-L* difference")
        lines.append(f"colorizer {name}: |ΔL| {value:.2f} against the grey input's {grey:.2f} — {verdict}")
    return "\n".join(lines)
