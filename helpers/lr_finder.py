"""Learning-rate range test: train briefly while the learning rate grows, and watch the loss.

Smith (2015, "Cyclical learning rates for training neural networks") raises the learning rate
linearly and reads two bounds off the validation accuracy: where it starts to rise and where it
stops rising. fastai raises it exponentially over a wide range (1e-7 to 10) and reads a value
off the smoothed training loss. `lr_range_test` does both; the model and optimizer are put back
exactly as they were afterwards, so the test can be run before the real training.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.classes import ClassMap
from helpers.config import is_quiet, pick_device
from helpers.losses import make_loss
from helpers.train import evaluate, move_batch, resolve_classes

RISE_START = 0.1  # Smith base: the first point past 10 % of the total rise (accuracy) or fall (loss)
RISE_END = 0.9  # Smith max: the first point past 90 % of it, where the curve has flattened


@dataclass
class LRFinderResult:
    """Learning rates tried, raw and smoothed losses, validation accuracy and suggested rates.

    `suggestions` holds "steepest", "valley", "min_div_10", "smith_base" and "smith_max"
    (see `suggest`); `notes` says how each was found when the usual way was not possible.
    """

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    val_lrs: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    suggestions: dict[str, float] = field(default_factory=dict)
    mode: str = "exp"
    diverged: bool = False
    notes: list[str] = field(default_factory=list)

    def to_frame(self):
        """Table of lr, loss and smoothed loss (pandas)."""
        import pandas as pd

        return pd.DataFrame({"lr": self.lrs, "loss": self.losses, "smoothed": self.smoothed})

    def plot(self, ax=None):
        """Loss (raw and smoothed) against learning rate, suggestions marked, accuracy on a twin axis."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        ax.plot(self.lrs, self.losses, color="0.75", linewidth=1, label="loss (raw)")
        ax.plot(self.lrs, self.smoothed, color="C0", linewidth=2, label="loss (smoothed)")
        if self.mode == "exp":
            ax.set_xscale("log")
        colours = {"steepest": "C1", "valley": "C2", "min_div_10": "C3", "smith_base": "C4", "smith_max": "C5"}
        for name, lr in self.suggestions.items():
            ax.axvline(lr, color=colours.get(name, "k"), linestyle="--", linewidth=1, label=f"{name}: {lr:.2e}")
        handles, labels = ax.get_legend_handles_labels()
        if self.val_accuracy:
            twin = ax.twinx()
            twin.plot(self.val_lrs, self.val_accuracy, "o-", color="C6", label="val pixel accuracy")
            twin.set_ylabel("validation pixel accuracy")
            more_handles, more_labels = twin.get_legend_handles_labels()
            handles, labels = handles + more_handles, labels + more_labels
        finite = [value for value in self.smoothed if math.isfinite(value)]
        if finite:  # keep the divergence from squashing the interesting part
            low, first = min(finite + [value for value in self.losses if math.isfinite(value)]), finite[0]
            margin = max(first - low, 0.1 * abs(low), 1e-3)
            ax.set_ylim(low - 0.1 * margin, first + 0.5 * margin)
        ax.set_xlabel("learning rate" + (" (log scale)" if self.mode == "exp" else ""))
        ax.set_ylabel("training loss")
        ax.set_title(f"Learning-rate range test ({'exponential' if self.mode == 'exp' else 'linear'})")
        ax.legend(handles, labels, fontsize="small", loc="best")
        return ax


def lr_schedule(start_lr: float, end_lr: float, num_iter: int, mode: str = "exp") -> np.ndarray:
    """The `num_iter` learning rates of the test: evenly spaced ("linear") or log-spaced ("exp")."""
    if mode not in ("linear", "exp"):
        raise ValueError(f"mode must be 'linear' or 'exp', got {mode!r}")
    if not 0 < start_lr < end_lr:
        raise ValueError(f"need 0 < start_lr < end_lr, got start_lr={start_lr}, end_lr={end_lr}")
    if num_iter < 2:
        raise ValueError(f"num_iter must be >= 2, got {num_iter}")
    if mode == "linear":
        return np.linspace(start_lr, end_lr, num_iter)
    return np.geomspace(start_lr, end_lr, num_iter)


def smooth_losses(losses: list[float], beta: float = 0.98) -> list[float]:
    """Exponential moving average with bias correction: avg_i / (1 - beta**(i+1))."""
    average, smoothed = 0.0, []
    for i, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta ** (i + 1)))
    return smoothed


def lr_range_test(
    model: nn.Module,
    loader: torch.utils.data.DataLoader,
    optimizer: torch.optim.Optimizer,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
    mode: str = "exp",
    smooth_beta: float = 0.98,
    diverge_factor: float = 4.0,
    val_loader: torch.utils.data.DataLoader | None = None,
    val_every: int | None = None,
    *,
    loss: nn.Module | None = None,
    device: str | torch.device = "cpu",
    class_map: ClassMap | str | int | None = None,
    num_classes: int | None = None,
    ignore_index: int | None = None,
    progress: bool | None = None,
) -> LRFinderResult:
    """Train for up to `num_iter` batches (the loader is cycled) with a growing learning rate.

    Stops early once the smoothed loss exceeds `diverge_factor` × its minimum. With `val_loader`,
    the validation pixel accuracy is measured every `val_every` batches (default num_iter // 10).
    `loss` defaults to cross-entropy that leaves out the ignored pixels. The classes and the
    ignore index come from `class_map` (or `num_classes` and `ignore_index`), else from the
    loader's data set. Model weights, optimizer state, train/eval mode and the python, numpy and
    torch random states are restored afterwards, also after an exception.
    """
    schedule = lr_schedule(start_lr, end_lr, num_iter, mode)
    if val_loader is not None and val_every is None:
        val_every = max(1, num_iter // 10)
    device = pick_device(device) if isinstance(device, str) else torch.device(device)
    _, num_classes, ignore_index = resolve_classes(class_map, num_classes, ignore_index, loader)
    loss_fn = loss if loss is not None else make_loss("ce", num_classes, ignore_index=ignore_index)
    quiet = is_quiet() if progress is None else not progress

    saved = _snapshot(model, optimizer)
    result = LRFinderResult(lrs=[], losses=[], smoothed=[], mode=mode)
    try:
        model.to(device)
        if isinstance(loss_fn, nn.Module):
            loss_fn.to(device)
        _run(model, loader, optimizer, loss_fn, schedule, smooth_beta, diverge_factor, val_loader, val_every,
             device, num_classes, ignore_index, quiet, result)
    finally:
        _restore(model, optimizer, saved)
    if len(result.lrs) < 2:
        raise RuntimeError("the range test stopped after fewer than 2 batches: lower start_lr or check the loss")
    result.suggestions, notes = suggest(result.lrs, result.smoothed, result.val_lrs, result.val_accuracy)
    result.notes.extend(notes)
    return result


def _run(model, loader, optimizer, loss_fn, schedule, beta, diverge_factor, val_loader, val_every, device,
         num_classes, ignore_index, quiet, result) -> None:
    """The test loop: set lr, one step, record, stop on divergence."""
    model.train()
    batches = iter(loader)
    average, best = 0.0, math.inf
    for i, lr in enumerate(tqdm(schedule, desc="lr range test", leave=False, disable=quiet)):
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            batch = next(batches)
        for group in optimizer.param_groups:
            group["lr"] = float(lr)
        images, targets = move_batch(batch, device)
        optimizer.zero_grad(set_to_none=True)
        batch_loss = loss_fn(model(images), targets)
        value = float(batch_loss.detach())
        if not math.isfinite(value):
            result.diverged = True
            result.notes.append(f"stopped at lr {lr:.2e}: the loss was {value}")
            break
        batch_loss.backward()
        optimizer.step()
        average = beta * average + (1 - beta) * value
        smoothed = average / (1 - beta ** (i + 1))
        result.lrs.append(float(lr))
        result.losses.append(value)
        result.smoothed.append(smoothed)
        if val_loader is not None and ((i + 1) % val_every == 0 or i == len(schedule) - 1):
            metrics = evaluate(model, val_loader, num_classes, device, ignore_index=ignore_index)
            result.val_lrs.append(float(lr))
            result.val_accuracy.append(float(metrics["pixel_accuracy"]))
        best = min(best, smoothed)
        if i > 0 and smoothed > diverge_factor * best:
            result.diverged = True
            break


def suggest(lrs, smoothed, val_lrs=(), val_accuracy=()) -> tuple[dict[str, float], list[str]]:
    """Suggested learning rates from the smoothed loss (and the validation accuracy when given).

    - steepest: where the smoothed loss falls fastest against log(lr), before its minimum.
    - valley: fastai's rule (2.5): find the longest stretch over which the loss keeps falling
      (longest decreasing subsequence) and take the point at 1/3 + 1/6 = half of its length.
    - min_div_10: the lr of the lowest smoothed loss, divided by 10.
    - smith_base / smith_max: on the accuracy curve, the first lr past 10 % of the total rise
      (from the first point to the highest) and the first lr past 90 % of it (the curve has
      flattened). Without validation accuracy the same rule is applied to the fall of the
      smoothed loss (first point to its minimum), and a note says so.
    The first 10 % of the points and the last 5 (when there are 20 or more) are left out of
    steepest and valley, as fastai does, because the start is noisy and the end diverges.
    """
    lrs, smoothed = np.asarray(lrs, dtype=float), np.asarray(smoothed, dtype=float)
    notes: list[str] = []
    start, stop = (len(lrs) // 10, len(lrs) - 5) if len(lrs) >= 20 else (0, len(lrs))
    window_lrs, window_loss = lrs[start:stop], smoothed[start:stop]
    lowest = int(np.argmin(smoothed))
    suggestions = {
        "steepest": _steepest(window_lrs, window_loss),
        "valley": float(window_lrs[_valley_index(window_loss)]),
        "min_div_10": float(lrs[lowest] / 10),
    }
    if len(val_accuracy) >= 2 and max(val_accuracy) > val_accuracy[0]:
        base, peak = _rise_bounds(np.asarray(val_lrs, dtype=float), np.asarray(val_accuracy, dtype=float))
    else:
        if len(val_accuracy) >= 2:
            notes.append("the validation accuracy never rose above its first value; smith_base/smith_max "
                         "were read off the loss curve instead")
        else:
            notes.append("no validation accuracy: smith_base/smith_max were read off the loss curve "
                         "(where it starts and stops falling)")
        base, peak = _rise_bounds(lrs[: lowest + 1], -smoothed[: lowest + 1])
    suggestions["smith_base"], suggestions["smith_max"] = base, peak
    return suggestions, notes


def _steepest(lrs: np.ndarray, losses: np.ndarray) -> float:
    """The lr where d loss / d log(lr) is most negative, up to the loss minimum."""
    upto = int(np.argmin(losses)) + 1
    if upto < 2:
        return float(lrs[0])
    slopes = np.diff(losses[:upto]) / np.diff(np.log(lrs[:upto]))
    return float(lrs[int(np.argmin(slopes))])


def _valley_index(losses: np.ndarray) -> int:
    """fastai's valley: index inside the longest decreasing run of `losses`."""
    n = len(losses)
    lengths = np.ones(n, dtype=int)
    for i in range(1, n):
        higher_before = losses[:i] > losses[i]
        if higher_before.any():
            lengths[i] = lengths[:i][higher_before].max() + 1
    end = int(np.argmax(lengths))
    begin = max(0, end - int(lengths[end]))
    sections = (end - begin) / 3
    return min(n - 1, begin + int(sections) + int(sections / 2))


def _rise_bounds(lrs: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """Smith's bounds on a rising curve: first lr past 10 % and first past 90 % of the total rise."""
    if len(values) < 2:
        return float(lrs[0]), float(lrs[-1])
    top = int(np.argmax(values))
    rise = values[top] - values[0]
    if rise <= 0:
        return float(lrs[0]), float(lrs[top])
    base = int(np.argmax(values[: top + 1] >= values[0] + RISE_START * rise))
    peak = int(np.argmax(values[: top + 1] >= values[0] + RISE_END * rise))
    base = min(max(base - 1, 0) if base == peak else base, peak)
    return float(lrs[base]), float(lrs[peak])


def _snapshot(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """Deep copies of everything the test changes."""
    return {
        "model": copy.deepcopy(model.state_dict()),
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "training": model.training,
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def _restore(model: nn.Module, optimizer: torch.optim.Optimizer, saved: dict) -> None:
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    model.train(saved["training"])
    random.setstate(saved["python"])
    np.random.set_state(saved["numpy"])
    torch.set_rng_state(saved["torch"])
    if saved["cuda"] is not None:
        torch.cuda.set_rng_state_all(saved["cuda"])
