"""Learning-rate range test: train briefly while the learning rate grows, and watch the loss.

Smith (2015, "Cyclical learning rates for training neural networks") raises the learning rate
linearly and reads two bounds off the validation accuracy: where it starts to rise and where it
stops rising. fastai raises it exponentially over a wide range (1e-7 to 10) and reads a value
off the smoothed training loss. `lr_range_test` does both; the model and optimizer are put back
exactly as they were afterwards, so the test can be run before the real training.

A reading needs the curve on both sides of it: Smith's maximum needs the accuracy to flatten or
fall, the loss minimum needs the loss to rise again. A suggestion that falls on the first or last
rate of the part of the sweep it is read from is therefore "no reading" (None, with a note that
says which end of the range to move), never a number that only says where the sweep stopped.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.classes import ClassMap
from helpers.config import is_quiet, pick_device
from helpers.losses import make_loss
from helpers.train import evaluate, move_batch, resolve_classes

RISE_START = 0.1  # Smith base: the first point past 10 % of the rise (accuracy) or fall (loss), from its lowest point
RISE_END = 0.9  # Smith max: the first point past 90 % of it, where the curve has flattened


@dataclass
class LRFinderResult:
    """Learning rates tried, raw and smoothed losses, validation accuracy and suggested rates.

    `suggestions` holds "steepest", "valley", "min_div_10", "smith_base" and "smith_max"
    (see `suggest`), each a learning rate or None when the sweep gave no reading of it;
    `notes` says why, and how each was found when the usual way was not possible.
    """

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    val_lrs: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    suggestions: dict[str, float | None] = field(default_factory=dict)
    mode: str = "exp"
    diverged: bool = False
    notes: list[str] = field(default_factory=list)
    smooth_beta: float = 0.98

    @property
    def rebound(self) -> float:
        """How far the smoothed loss came back up after its minimum, as a share of its fall.

        0: it never rose again (the sweep ended before the rate was too large); 1: back at the first
        loss; more: above it. NaN when the loss never fell.
        """
        finite = [value for value in self.smoothed if math.isfinite(value)]
        if not finite or min(finite) >= finite[0]:
            return float("nan")
        lowest = min(finite)
        return (finite[-1] - lowest) / (finite[0] - lowest)

    def to_frame(self):
        """Table of lr, loss and smoothed loss (pandas)."""
        import pandas as pd

        return pd.DataFrame({"lr": self.lrs, "loss": self.losses, "smoothed": self.smoothed})

    def plot(self, ax=None):
        """Loss (raw and smoothed) against learning rate, suggestions marked, accuracy on a twin axis."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        ax.plot(self.lrs, self.losses, color="0.6", linewidth=1, label="loss (raw)")
        ax.plot(self.lrs, self.smoothed, color="C0", linewidth=2, label="loss (smoothed)")
        if self.mode == "exp":
            ax.set_xscale("log")
        # the loss readings dashed, Smith's pair (a coarser reading off the loss here) dotted, in colours far apart
        styles = {"steepest": ("C1", "--"), "valley": ("C2", "--"), "min_div_10": ("C3", "--"),
                  "smith_base": ("C9", ":"), "smith_max": ("C4", ":")}
        for name, lr in self.suggestions.items():
            if lr is None:  # named in the legend, without a line
                ax.plot([], [], " ", label=f"{name}: no reading")
                continue
            colour, style = styles.get(name, ("k", "--"))
            ax.axvline(lr, color=colour, linestyle=style, linewidth=1.5, label=f"{name}: {lr:.2e}")
        finite = [value for value in self.smoothed if math.isfinite(value)]
        if finite:  # keep the divergence from squashing the interesting part
            low, first = min(finite + [value for value in self.losses if math.isfinite(value)]), finite[0]
            margin = max(first - low, 0.1 * abs(low), 1e-3)
            ax.set_ylim(low - 0.1 * margin, first + 0.5 * margin)
            top = first + 0.5 * margin
            marks = [(first_above(self.lrs, self.losses, top), "0.3", "raw loss"),
                     (first_above(self.lrs, self.smoothed, top), "C0", "smoothed loss")]
            mark_above_axis(ax, [mark for mark in marks if mark[0] is not None], top)
        handles, labels = ax.get_legend_handles_labels()
        if self.val_accuracy:
            twin = ax.twinx()
            twin.plot(self.val_lrs, self.val_accuracy, "o-", color="C6", label="val pixel accuracy")
            twin.set_ylabel("validation pixel accuracy")
            more_handles, more_labels = twin.get_legend_handles_labels()
            handles, labels = handles + more_handles, labels + more_labels
        ax.set_xlabel("learning rate" + (" (log scale)" if self.mode == "exp" else ""))
        ax.set_ylabel("training loss")
        ax.set_title(f"Learning-rate range test ({'exponential' if self.mode == 'exp' else 'linear'})")
        beside = 1.18 if self.val_accuracy else 1.01  # beside the axes, past the twin axis' labels
        ax.legend(handles, labels, fontsize="small", loc="upper left", bbox_to_anchor=(beside, 1.0), borderaxespad=0.0)
        return ax


def rate_text(value: float | None) -> str:
    """A suggested learning rate as text, "no reading" for None or NaN (a gap in a table)."""
    return "no reading" if value is None or value != value else f"{value:.2e}"


def describe_lr_source(name: str, lr: float, fraction: float, suggested: float | None) -> str:
    """One optimizer's learning rate for a grid and where it came from: `fraction` × the valley notebook 05
    recorded (`suggested`), or the notebook's DEFAULT_LRS when notebook 05 has not run into this folder."""
    source = (f"{fraction:g} × notebook 05's {suggested:.2e}" if suggested is not None
              else "DEFAULT_LRS: notebook 05 has not recorded a rate in this run folder")
    return f"{name}: learning rate {lr:.2e} ({source})"


def range_test_size(image_size: tuple[int, int], on_gpu: bool, override=None) -> tuple[int, int]:
    """The (W, H) of a short experiment (range test, grid): `override`, the full size on a GPU, else half on a CPU.

    Half, at least 64×48: the learning rate and the ranking of recipes depend on model, loss and batch far
    more than on the pixel count (the loss is a mean), and a CPU gets four times the steps.
    """
    if override is not None:
        return (int(override[0]), int(override[1]))
    if on_gpu:
        return tuple(image_size)
    return (max(64, image_size[0] // 2), max(48, image_size[1] // 2))


def resmooth(result: LRFinderResult, beta: float) -> LRFinderResult:
    """Smooth the raw losses of a test again with `beta` and redo its suggestions (a short test forgets faster)."""
    result.smoothed, result.smooth_beta = smooth_losses(result.losses, beta), beta
    result.suggestions, notes = suggest(result.lrs, result.smoothed, result.val_lrs, result.val_accuracy)
    result.notes = [note for note in result.notes if note.startswith("stopped")] + notes
    return result


def loss_turned(result: LRFinderResult, share: float = 0.1) -> bool:
    """Whether the smoothed loss rose again inside the range: it exploded, or came back by more than `share` of its fall."""
    return bool(result.diverged or result.rebound > share)


def describe_rebound(result: LRFinderResult) -> str:
    """How far the smoothed loss came back up after its lowest point, in words."""
    if result.rebound > 1:
        return (f"by the last rate it was back above its starting value "
                f"({result.smoothed[-1]:.3f} > {result.smoothed[0]:.3f})")
    return f"by the last rate it had come back up by {result.rebound:.0%} of its fall"


def _late_fall(result: LRFinderResult) -> tuple[float, float]:
    """How much the smoothed loss fell over the last fifth of the sweep, and how much it fell in all (first → lowest)."""
    smoothed = np.asarray(result.smoothed, dtype=float)
    fifth = max(1, len(smoothed) // 5)
    return float(smoothed[-fifth - 1] - smoothed[-1]), float(smoothed[0] - smoothed.min())


def describe_turn(result: LRFinderResult, flat: float = 0.05) -> str:
    """Whether the smoothed loss of a test turned inside its range: the condition for every reading past the fall.

    A loss still falling at the last rate is told apart by how fast: less than `flat` of its fall over the last fifth
    of the sweep is the same "flat by the end" that `describe_linear_test` reports.
    """
    if result.diverged:
        return f"the loss exploded: the test stopped at lr {result.lrs[-1]:.2e}"
    if result.rebound != result.rebound:  # NaN: no fall to turn from
        return "the smoothed loss never fell below its first value: the range starts too late, or nothing was learned"
    if loss_turned(result):
        lowest = result.lrs[int(np.argmin(result.smoothed))]
        return f"the loss turned: lowest at lr {lowest:.2e}; {describe_rebound(result)}"
    late_fall, fall = _late_fall(result)
    if late_fall < flat * fall:
        return (f"the loss was still falling at the last rate, but only slowly ({late_fall / fall:.0%} of its fall over "
                "the last fifth of the sweep): it had not turned, so the range ends too early to show where it stops")
    return "the loss was still falling at the last rate: the range ends too early to show where it stops"


def accuracy_shape(accuracy, dip: float = 0.05) -> dict:
    """What an accuracy curve did, read the same way for every optimizer: its "kind" and the indices that show it.

    Kinds: "never rose" (highest at the first point); "ragged" (after a point within `dip` of the highest it fell by
    more than `dip`, and the last point came back within `dip` of the highest: a fall and a recovery inside the
    noise, wherever the highest point lies); "fell" (it fell after its peak and stayed down); "rising" (highest at
    the last point, with no such fall); "flattened" (highest inside the range, no fall). Indices: "top" (the
    highest), "low" (the lowest before it), "peak" and "trough" (the point before the deepest fall, and its bottom).
    """
    values = np.asarray(accuracy, dtype=float)
    top, last = int(np.argmax(values)), len(values) - 1
    shape = {"top": top, "low": _rise_start(values), "peak": top, "trough": None}
    if top == 0:
        return {**shape, "kind": "never rose"}
    near = values[top] - dip
    falls = [j for j in range(1, len(values)) if values[:j].max() >= near and values[:j].max() - values[j] > dip]
    if falls and values[-1] >= near:
        trough = min(falls, key=lambda j: values[j])
        return {**shape, "kind": "ragged", "peak": int(np.argmax(values[:trough])), "trough": trough}
    if falls:
        return {**shape, "kind": "fell", "trough": top + 1 + int(np.argmin(values[top + 1:]))}
    return {**shape, "kind": "rising" if top == last else "flattened"}


def deepest_recovered_fall(accuracy, dip: float = 0.05) -> tuple[int, int] | None:
    """The deepest fall of an accuracy curve before its highest point (all of which the curve recovered from).

    Returns (the point before the fall, its bottom), the fall measured from the highest point so far; None when
    no fall before the highest point is deeper than `dip`. Such falls show how deep this curve's noise can go.
    """
    values = np.asarray(accuracy, dtype=float)
    top = int(np.argmax(values))
    falls = [(int(np.argmax(values[:j])), j) for j in range(1, top)]
    falls = [(start, bottom) for start, bottom in falls if values[start] - values[bottom] > dip]
    return max(falls, key=lambda fall: values[fall[0]] - values[fall[1]], default=None)


def loss_rose_after(result: LRFinderResult, rate: float, share: float = 0.05) -> bool:
    """Whether the training loss rose past `rate`: the test exploded, the smoothed loss at some later rate came out
    more than `share` above its value at `rate`, or the raw losses past `rate` averaged more than `share` above as
    many raw losses just before it (the smoothed loss lags by about 1 / (1 − β) batches, the raw loss does not)."""
    if result.diverged:
        return True
    lrs, smoothed = np.asarray(result.lrs, dtype=float), np.asarray(result.smoothed, dtype=float)
    raw = np.asarray(result.losses, dtype=float)
    past = int(np.searchsorted(lrs, rate, side="right"))  # batches at rates up to `rate`
    if past == 0 or past == len(lrs):
        return False
    after = raw[past:]
    before = raw[max(0, past - len(after)):past]
    return bool(np.nanmax(smoothed[past:]) > smoothed[past - 1] * (1 + share)
                or np.nanmean(after) > np.nanmean(before) * (1 + share))


def describe_late_fall(accuracy, rates, dip: float = 0.05, loss_rose: bool | None = None) -> str:
    """How much a fall after the highest point that has not come back by the end says about the rates past it.

    One standard for every curve: the fall counts as a sign that those rates were too large only when it is deeper
    (by more than `dip`) than every earlier fall the same curve recovered from, and, when `loss_rose` is known (see
    `loss_rose_after`), only when the training loss rose past the peak too; otherwise it may as well be noise, or
    something only the validation frames show. The text continues "the rates past <the peak> ...".
    """
    values, rates = np.asarray(accuracy, dtype=float), np.asarray(rates, dtype=float)
    top = int(np.argmax(values))
    depth = values[top] - values[top + 1:].min()
    earlier = deepest_recovered_fall(values, dip)
    if earlier is not None:
        start, bottom = earlier
        before = (f"{values[start]:.3f} → {values[bottom]:.3f} at lr {rates[bottom]:.2e}, "
                  f"a fall of {values[start] - values[bottom]:.3f}")
        if depth <= values[start] - values[bottom] + dip:
            return (f"may have been too large for it, or the fall was noise: it fell by {depth:.3f} from its peak, but "
                    f"this curve fell about as deep before and recovered ({before}), so one seed cannot tell")
        deeper = f"deeper than any earlier fall this curve recovered from (the deepest: {before})"
    else:
        deeper = f"and no earlier fall of this curve went deeper than {dip}"
    if loss_rose is False:
        return (f"may have been too large for it: it fell by {depth:.3f} from its peak, {deeper}, but the training loss "
                "did not rise past the peak, so only the validation frames show it (one seed)")
    return f"were probably too large for it: it fell by {depth:.3f} from its peak, {deeper}; one seed, though"


def describe_linear_test(result: LRFinderResult, dip: float = 0.05, flat: float = 0.05) -> list[str]:
    """What the accuracy and loss curves of a linear test did, as lines computed from them (one branch per outcome).

    `dip`: an accuracy drop that counts (a dip, or a fall after the peak), and how close to the highest point
    counts as "as high" (see `accuracy_shape`); `flat`: the loss counts as flat by the end when its last fifth
    fell by less than this share of its whole fall.
    """
    accuracy, rates = np.asarray(result.val_accuracy), np.asarray(result.val_lrs)
    shape = accuracy_shape(accuracy, dip)
    top, kind, smith_max = shape["top"], shape["kind"], result.suggestions.get("smith_max")
    lines = [f"validation accuracy: {accuracy[0]:.3f} at lr {rates[0]:.2e}, highest {accuracy[top]:.3f} at lr "
             f"{rates[top]:.2e}, {accuracy[-1]:.3f} at the last rate {rates[-1]:.2e}"]
    if kind == "never rose":
        lines.append("→ the accuracy never rose above its first value: there is no rise to read Smith's rule from, "
                     "so suggest() read it off the fall of the loss instead (see the note)")
    elif kind == "rising":
        lines.append("→ the accuracy was at its highest at the last rate: it had not stopped rising, so the test "
                     "found no maximum (no reading). The range did not reach a rate that is too large.")
    elif kind == "ragged":
        peak, trough = shape["peak"], shape["trough"]
        rule = (f"Smith's rule still read {rate_text(smith_max)}" if smith_max is not None
                else "Smith's rule: no reading")
        reached = (f"its highest, {accuracy[peak]:.3f}, at lr {rates[peak]:.2e}" if peak == top else
                   f"{accuracy[peak]:.3f} at lr {rates[peak]:.2e} (within {dip} of its highest)")
        lines.append(f"→ ragged: the accuracy reached {reached}, fell to {accuracy[trough]:.3f} at lr {rates[trough]:.2e}, and came back "
                     + (f"to its highest, {accuracy[-1]:.3f}, at the last rate" if top == len(accuracy) - 1 else
                        f"to {accuracy[-1]:.3f} at the last rate, within {dip} of its highest")
                     + f": no clean reading of the maximum ({rule})")
        lines.append(f"→ the rates past {rates[peak]:.2e} may have been too large for it, or the fall was noise: one "
                     "seed and a few validation frames cannot tell")
    else:
        lines.append(f"→ it stopped rising inside the range: Smith's maximum {rate_text(smith_max)}")
    if kind == "fell":
        lines.append(f"→ after its peak the accuracy fell (down to {accuracy[shape['trough']]:.3f}, "
                     f"{accuracy[-1]:.3f} at the last rate) and had not come back by the end: the rates past "
                     f"{rates[top]:.2e} {describe_late_fall(accuracy, rates, dip, loss_rose_after(result, rates[top]))}")
    dips = [(rates[i], accuracy[i]) for i in range(1, len(accuracy)) if accuracy[i] < accuracy[i - 1] - dip]
    if dips:
        lines.append(f"  dips along the way (more than {dip} below the point before): "
                     + ", ".join(f"{value:.3f} at lr {lr:.2e}" for lr, value in dips))
    lines.append(_describe_linear_loss(result, flat, kind))
    return lines + [f"note: {note}" for note in result.notes]


def _describe_linear_loss(result: LRFinderResult, flat: float, kind: str) -> str:
    """The line of `describe_linear_test` on the training loss, set against what the accuracy did (`kind`)."""
    if result.diverged:
        return f"training loss: it exploded — the test stopped at lr {result.lrs[-1]:.2e}"
    if loss_turned(result):
        return f"training loss: it turned — {describe_rebound(result)}"
    if result.rebound != result.rebound:
        return f"training loss: {describe_turn(result)}"
    smoothed = np.asarray(result.smoothed, dtype=float)
    late_fall, fall = _late_fall(result)
    trend = (f"flat by the end (it fell only {late_fall:.3f} over the last fifth of the sweep, "
             f"{late_fall / fall:.0%} of its fall {smoothed[0]:.3f} → {smoothed[-1]:.3f} smoothed), without rising again"
             if late_fall < flat * fall else
             f"still falling at the last rate ({smoothed[0]:.3f} → {smoothed[-1]:.3f} smoothed)")
    fell = ": the training loss alone did not show the fall of the accuracy"
    return f"training loss: {trend}" + {"fell": fell, "ragged": fell}.get(kind, ": no rate of this sweep made it rise")


def describe_against_report(result: LRFinderResult, dip: float = 0.05) -> str:
    """Whether this run's linear SGD sweep went as the course report's did (accuracy still rising at the last rate)."""
    accuracy, rates = np.asarray(result.val_accuracy), np.asarray(result.val_lrs)
    shape = accuracy_shape(accuracy, dip)
    kind, top, peak, trough = shape["kind"], shape["top"], shape["peak"], shape["trough"]
    if kind == "rising":
        text = (f"went as the report's did: the accuracy was still rising at the last rate ({rates[-1]:g}), so "
                "there is no maximum to read — sweep further")
    elif kind == "ragged":
        text = (f"did not reproduce the report's steadily rising curve: past lr {rates[peak]:.2e} "
                f"({accuracy[peak]:.3f}) the accuracy turned ragged — down to {accuracy[trough]:.3f} at lr "
                f"{rates[trough]:.2e}, back to {accuracy[-1]:.3f} at the last rate. Smith's maximum lies where "
                "the curve turns ragged, but a recovery at the last point leaves no clean reading of it")
    elif kind == "fell":
        text = (f"did not go as the report's: the accuracy peaked at {accuracy[top]:.3f} (lr {rates[top]:.2e}) and "
                f"ended at {accuracy[-1]:.3f}: however slowly the step grew, the rates past the peak "
                f"{describe_late_fall(accuracy, rates, dip, loss_rose_after(result, rates[top]))}")
    elif kind == "flattened":
        text = (f"did not go as the report's: the accuracy stopped rising inside the range (highest at lr "
                f"{rates[top]:.2e}) and stayed level")
    else:
        text = "says nothing about the report's curve: the accuracy never rose above its first value"
    text = f"this run's sweep {text}"
    low = shape["low"]
    if accuracy[low] < accuracy[0] - dip:
        text += (f". It also fell first, from {accuracy[0]:.3f} to {accuracy[low]:.3f} at lr {rates[low]:.2e}, "
                 "before it rose")
    return text


def base_is_upper_bound(result: LRFinderResult) -> bool:
    """Whether Smith's base of a linear test is the first accuracy point after the lowest: only an upper bound."""
    base = result.suggestions.get("smith_base")
    if base is None or base not in result.val_lrs:
        return False
    return result.val_lrs.index(base) == _rise_start(np.asarray(result.val_accuracy, dtype=float)) + 1


def max_is_clean(result: LRFinderResult) -> bool:
    """Whether Smith's maximum of a linear test is a clean reading: the accuracy flattened or fell after its highest
    point (not ragged, still rising or never rising), and the rule gave a reading."""
    return (result.suggestions.get("smith_max") is not None
            and accuracy_shape(result.val_accuracy)["kind"] in ("flattened", "fell"))


def describe_smith_pair(result: LRFinderResult) -> str:
    """Smith's base and maximum of a linear test, each with what the curve lets it mean: an upper bound for a base on
    the first point after the lowest, the 90 % rule's number without a clean reading for a ragged curve."""
    base, top = result.suggestions.get("smith_base"), result.suggestions.get("smith_max")
    base_text = ("no reading" if base is None else f"≤ {base:.2e} (an upper bound: the first point after the lowest)"
                 if base_is_upper_bound(result) else f"{base:.2e} (where it starts to improve)")
    curve = {"ragged": "the curve is ragged", "rising": "the accuracy was still rising",
             "never rose": "the accuracy never rose"}.get(accuracy_shape(result.val_accuracy)["kind"], "")
    top_text = ("no reading" if top is None else f"{top:.2e} (where it stops improving)" if max_is_clean(result)
                else f"{top:.2e} (the 90 % rule's number; {curve}, so it is not a clean reading)")
    return f"base {base_text}, max {top_text}"


def describe_base(result: LRFinderResult, suggested_lr: float, names: tuple[str, str] = ("base_lr", "suggested_lr")) -> str:
    """Where Smith's base of a linear test lies against the rate handed on, and whether it is only an upper bound.

    A base on the first accuracy point after the lowest one is an upper bound: the accuracy had already risen there,
    and where the rise began lies somewhere before it, between the points (or before the first one) unobserved.
    `names`: what the lines call the base and the rate handed on.
    """
    text = _describe_base(result, suggested_lr)
    return text.replace("base_lr", names[0]).replace("suggested_lr", names[1])


def _describe_base(result: LRFinderResult, suggested_lr: float) -> str:
    """`describe_base` with the default names."""
    base = result.suggestions.get("smith_base")
    if base is None:
        return "base_lr: no reading"
    ratio, where = base / suggested_lr, "above" if base > suggested_lr else "at or below"
    if base not in result.val_lrs:
        return f"base_lr {base:.2e} (read off the loss) is {ratio:.2f}× suggested_lr ({where} the rate handed on)"
    index, count = result.val_lrs.index(base), len(result.val_lrs)
    low = _rise_start(np.asarray(result.val_accuracy, dtype=float))
    text = f"base_lr {base:.2e} is accuracy point {index + 1} of {count}, {ratio:.2f}× suggested_lr"
    if low > 0:  # the curve fell before it rose: the base reads the recovery
        return text + _describe_recovery(result, suggested_lr, where)
    if not base_is_upper_bound(result):
        return text + f" ({where} the rate handed on)"
    text += (f": the first point after the lowest, so only an upper bound — the rise had begun by {base:.2e}, "
             f"somewhere unobserved before it, maybe even before the first point (lr {result.val_lrs[0]:.2e})")
    if base <= suggested_lr:
        return text + "; it began at or below the rate handed on"
    return text + "; whether it began below the rate handed on, this sweep cannot show"


def _describe_recovery(result: LRFinderResult, suggested_lr: float, where: str) -> str:
    """The rest of `_describe_base` for an accuracy curve that fell before it rose.

    Smith's rule then reads the rise from the bottom of the fall: a recovery, which does not place where learning
    started. When the first point already lies above the curve's 10 % level, learning started before it, unobserved.
    """
    values, rates = np.asarray(result.val_accuracy, dtype=float), result.val_lrs
    low, base = _rise_start(values), result.suggestions["smith_base"]
    level = values[low] + RISE_START * (values.max() - values[low])
    text = (": the first point after the lowest, so only an upper bound of where the rise from the lowest point "
            "began" if base_is_upper_bound(result) else f" ({where} the rate handed on)")
    text += (f". But the accuracy fell before it rose ({values[0]:.3f} at the first point, lr {rates[0]:.2e}, down to "
             f"{values[low]:.3f} at lr {rates[low]:.2e}): that rise is a recovery from the fall, and does not place "
             "where learning started")
    already = values[0] >= level
    if already:
        text += (f"; the accuracy was already {values[0]:.3f} at the first point, above this curve's 10 % level "
                 f"({level:.3f}), so learning started before the first point, where this sweep cannot place it")
    if base <= suggested_lr or (already and rates[0] <= suggested_lr):
        return text + "; it began at or below the rate handed on"
    below = sum(lr < suggested_lr for lr in result.lrs)
    return (text + "; whether it began below the rate handed on, this sweep cannot show "
            f"({below} of its {len(result.lrs)} batches ran below it)")


def describe_agreement(result: LRFinderResult, suggested_lr: float, far: float = 3.0) -> str:
    """The verdict on a linear test against the rate handed on: agreement, disagreement, or no clean comparison.

    The two tests agree when `suggested_lr` lies inside Smith's range or within a factor `far` of its nearer end; the
    comparison counts only when the base is not just an upper bound and the accuracy curve gave a clean maximum.
    """
    base, top = result.suggestions.get("smith_base"), result.suggestions.get("smith_max")
    guess = f"treat {suggested_lr:.2e} as a first guess and watch the first epochs of the real run"
    if base is None or top is None:
        return f"verdict: Smith's pair is incomplete, so the two tests cannot be compared: {guess}"
    flaws = (["the base is only an upper bound"] if base_is_upper_bound(result) else []) + (
        [] if accuracy_shape(result.val_accuracy)["kind"] in ("flattened", "fell") else ["the maximum no clean reading"])
    if flaws:
        return f"verdict: {' and '.join(flaws)}, so the comparison is inconclusive: {guess}"
    distance = max(base / suggested_lr, suggested_lr / top, 1.0)
    if distance <= far:
        return (f"verdict: the rate handed on lies within a factor of {far:g} of Smith's range ({distance:.1f}×): "
                "the two tests agree, the best sign that the number is real")
    return f"verdict: the rate handed on lies {distance:.1f}× outside Smith's range, more than {far:g}×: {guess}"


def describe_handed_on_lag(suggested_lr: float, result: LRFinderResult, fraction: float, beta: float = 0.5) -> str:
    """Where the rate a later notebook trains at (`fraction` × `suggested_lr`) lies against the valley of the same losses
    smoothed with a short memory (`beta`): how much of the smoothing's lag the fraction takes back, in this run."""
    fast_valley = suggest(result.lrs, smooth_losses(result.losses, beta))[0]["valley"]
    trained = fraction * suggested_lr
    if fast_valley is None:
        return (f"trained at {fraction:g} × suggested_lr = {trained:.2e}; the losses smoothed with β = {beta:g} gave "
                "no valley to set it against")
    ratio = trained / fast_valley
    where = ("within a factor of 2 of it: the fraction takes back most of the lag" if 0.5 <= ratio <= 2 else
             f"{ratio:.1f}× it: still right of it, the fraction takes back only part of the lag" if ratio > 2 else
             f"{ratio:.2f}× it: left of it, on the cautious side of both readings")
    own = result.suggestions.get("valley")  # the first seed's own valley: the same losses on both sides
    same_seed = ("" if own is None or math.isclose(own, suggested_lr) else
                 f" (suggested_lr pools the seeds; like with like, {fraction:g} × the first seed's own valley "
                 f"{own:.2e} is {fraction * own / fast_valley:.2f}× it)")
    return (f"trained at {fraction:g} × suggested_lr = {trained:.2e}, against the valley of the first seed's losses "
            f"smoothed with β = {beta:g} ({fast_valley:.2e}): {where}{same_seed}")


def plot_linear_test(result: LRFinderResult, title: str):
    """Loss and validation accuracy of a linear test side by side, with Smith's two rates and the 10 % / 90 % levels."""
    import matplotlib.pyplot as plt

    fig, (loss_ax, accuracy_ax) = plt.subplots(1, 2, figsize=(14, 4), layout="constrained")
    loss_ax.plot(result.lrs, result.losses, color="0.7", linewidth=1, label="training loss (per batch)")
    loss_ax.plot(result.lrs, result.smoothed, color="C0", linewidth=2, label=f"smoothed (β = {result.smooth_beta:.2f})")
    accuracy_ax.plot(result.val_lrs, result.val_accuracy, "o-", color="C2", label="validation pixel accuracy")
    if result.val_accuracy:
        low, high = result.val_accuracy[_rise_start(np.asarray(result.val_accuracy))], max(result.val_accuracy)
        for share, style in ((RISE_START, ":"), (RISE_END, "--")):
            accuracy_ax.axhline(low + share * (high - low), color="0.5", linestyle=style, linewidth=1,
                                label=f"{share:.0%} of the rise")
    for ax in (loss_ax, accuracy_ax):
        for name, short, colour in (("smith_base", "base", "C4"), ("smith_max", "max", "C3")):
            value = result.suggestions.get(name)
            if value is None:  # named in the legend, without a line
                ax.plot([], [], " ", label=f"{short} lr no reading")
            else:
                bound = "≤ " if name == "smith_base" and base_is_upper_bound(result) else ""  # an upper bound only
                ax.axvline(value, color=colour, linewidth=1.5, label=f"{short} lr {bound}{rate_text(value)}")
        ax.set_xlabel("learning rate (linear axis)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    loss_ax.set(ylabel="cross-entropy", title=f"{title}: training loss")
    accuracy_ax.set(ylabel="pixel accuracy", title=f"{title}: validation accuracy")
    return fig


def relative_step_growth(relative_steps: list[tuple[float, float]]) -> dict[str, float]:
    """How much the learning rate and the median relative step grew over a linear sweep (whole, and its second half).

    Compares the last fifth of the sweep with the first fifth ("rate", "step") and with the middle fifth
    ("late_rate", "late_step"); "last_step" is the median relative step over the last fifth.
    """
    rates, steps = (np.asarray(values, dtype=float) for values in zip(*relative_steps))
    fifth = max(1, len(rates) // 5)
    first, last = slice(0, fifth), slice(len(rates) - fifth, len(rates))
    middle = slice(len(rates) // 2 - fifth // 2, len(rates) // 2 + fifth // 2 + 1)
    return {
        "rate": float(rates[last].mean() / rates[first].mean()),
        "step": float(np.median(steps[last]) / np.median(steps[first])),
        "late_rate": float(rates[last].mean() / rates[middle].mean()),
        "late_step": float(np.median(steps[last]) / np.median(steps[middle])),
        "last_step": float(np.median(steps[last])),
    }


def describe_step_growth(growth: dict[str, float], far: float = 3.0) -> str:
    """Whether the step the network felt kept pace with the learning rate: far slower, slower, or as fast."""
    if growth["step"] * far <= growth["rate"]:
        return f"the step grew far more slowly than the rate (less than 1/{far:.0f} of its growth)"
    if growth["step"] < growth["rate"]:
        return f"the step grew more slowly than the rate, but by less than a factor of {far:.0f}"
    return "the step grew as fast as the rate or faster: batch norm did not hold it back in this sweep"


def plot_relative_steps(relative_steps: list[tuple[float, float]], ax=None):
    """The median relative step ‖Δw‖ / ‖w‖ of the convolutions against the learning rate of a sweep."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.6), layout="constrained")
    rates, steps = zip(*relative_steps)
    ax.plot(rates, steps, color="C1", label="median ‖Δw‖ / ‖w‖ per step")
    ax.set(xlabel="learning rate (linear axis)", ylabel="relative step of the 3×3 convolutions",
           title="SGD range test: the step the network feels, against the learning rate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_smoothed_losses(results: dict, title: str, ax=None):
    """Smoothed losses of several exponential tests on one log axis, each with its valley, to compare them.

    The axis stops at 1.3 × the highest first loss, so that a divergence does not squash the falls; a curve that
    rises past it gets a ▲ of its colour on the top edge where it leaves, named in the legend with that rate.
    Equal valleys are drawn with interleaved dashes, and the legend says which they equal.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    finite = {name: [value for value in result.smoothed if math.isfinite(value)] for name, result in results.items()}
    lowest = min(min(values) for values in finite.values() if values)
    first = max(values[0] for values in finite.values() if values)
    top = first * 1.3
    ax.set_ylim(lowest * 0.9, top)  # keep a divergence from squashing the falls
    ax.set_xscale("log")
    valleys = {name: result.suggestions.get("valley") for name, result in results.items()}
    marks = []
    for name, result in results.items():
        (line,) = ax.plot(result.lrs, result.smoothed, label=f"{name}: smoothed loss")
        valley = valleys[name]
        if valley is None:  # named in the legend, without a line
            ax.plot([], [], " ", label=f"{name}: valley no reading")
        else:  # equal valleys get dashes that interleave, so that each colour shows
            same = [other for other, rate in valleys.items() if rate is not None and np.isclose(rate, valley)]
            place, dash = same.index(name), 4.0
            style = (place * dash, (dash, dash * (len(same) - 1))) if len(same) > 1 else "--"
            label = f"{name}: valley {valley:.1e}" + (f" (same as {same[0]})" if place else "")
            ax.axvline(valley, color=line.get_color(), linestyle=style, linewidth=1.5 if len(same) > 1 else 1,
                       label=label)
        above = first_above(result.lrs, result.smoothed, top)
        if above is not None:
            marks.append((above, line.get_color(), f"{name}: smoothed loss"))
    mark_above_axis(ax, marks, top)
    ax.set(xlabel="learning rate (log scale)", ylabel="smoothed training loss", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def first_above(lrs, values, top: float) -> float | None:
    """The first rate whose value lies above `top` (or is not finite), None when the whole curve stays below."""
    return next((float(lr) for lr, value in zip(lrs, values) if not value <= top), None)


def mark_above_axis(ax, marks: list[tuple[float, str, str]], top: float, apart: float = 0.05) -> None:
    """A ▲ on the top edge of `ax` where each curve leaves it: `marks` holds (rate, colour, name of the curve).

    Each is named in the legend with its rate. A ▲ closer than `apart` (a share of the axis' width) to one drawn
    before it is moved down a marker's height, so that no ▲ hides another. Set the x scale first.
    """
    from matplotlib.transforms import offset_copy

    ax.get_xlim()  # settles the autoscaled limits before positions are read
    placed = []  # (x as a share of the axis' width, how far down)
    for rate, colour, name in marks:
        x = ax.transAxes.inverted().transform(ax.transData.transform((rate, top)))[0]
        down = 0
        while any(abs(x - other) < apart and level == down for other, level in placed):
            down += 1
        placed.append((x, down))
        shifted = offset_copy(ax.transData, fig=ax.figure, y=-9.0 * down, units="points")
        ax.plot([rate], [top], "^", color=colour, clip_on=False, markersize=8, transform=shifted,
                label=f"{name} above the axis from lr {rate:.2e}")


def compare_valleys(adam_valley: float | None, sgd_valley: float | None, far: float = 3.0) -> tuple[float | None, str]:
    """SGD's valley ÷ Adam's, and a sentence saying whether SGD's sits far above, near or far below Adam's."""
    if adam_valley is None or sgd_valley is None:
        return None, "no ratio: one of the two tests gave no valley reading"
    ratio = sgd_valley / adam_valley
    if ratio >= far:
        where = f"far above Adam's: SGD wants a learning rate {ratio:.1f}× larger"
    elif ratio <= 1 / far:
        where = f"far below Adam's: SGD wants a learning rate {1 / ratio:.1f}× smaller"
    else:
        where = f"within a factor of {far:.0f} of Adam's ({ratio:.2f}×): here the two useful ranges overlap"
    return ratio, f"SGD's valley ({rate_text(sgd_valley)}) sits {where}"


def describe_steadiest(spread, grid_step: float | None = None, forgiving: float = 3.0) -> str:
    """Which rule moved least over the seeds (smallest largest ÷ smallest), and how valley compares with it.

    With `grid_step` (the ratio of two neighbouring rates of the sweep) the spreads are also counted in grid
    steps: the readings sit on that grid, and rounding to it alone can put two nearly equal rates one step apart.
    So one step is the test's resolution; more is a real disagreement, small while within the factor `forgiving`
    that training tolerates.
    """
    steady = spread["largest ÷ smallest"].dropna()
    if steady.empty:
        return "no rule gave a reading for two seeds or more: nothing to compare"
    steadiest = [rule for rule, value in steady.items() if np.isclose(value, steady.min())]
    text = f"steadiest over the seeds in this run: {' and '.join(steadiest)} (largest ÷ smallest {steady.min():.2f})"
    if "valley" not in steadiest:
        text += (f"; valley's spread is {steady['valley']:.2f}×" if "valley" in steady
                 else "; valley gave fewer than two readings")
    if grid_step is None:
        return text
    steps = {rule: math.log(value) / math.log(grid_step) for rule, value in steady.items()}
    text += (f"\nthe readings sit on the sweep's grid of rates, ×{grid_step:.2f} from one to the next; spreads in "
             "grid steps: " + ", ".join(f"{rule} {value:.1f}" for rule, value in steps.items()))
    resolution = [rule for rule, value in steps.items() if value <= 1 + 1e-9]
    small = [rule for rule, value in steps.items() if value > 1 + 1e-9 and steady[rule] <= forgiving]
    wide = [rule for rule in steps if rule not in resolution + small]
    if resolution:
        text += (f"\n→ {' and '.join(resolution)} at most one grid step apart: the resolution of the test (rounding to "
                 "the grid alone can put two nearly equal rates one step apart): the seeds agree as far as the test can tell")
    if small:
        text += (f"\n→ {' and '.join(small)} more than one grid step apart: a small real disagreement (the seeds' "
                 f"rates differ by more than ×{grid_step:.2f}), within the factor of {forgiving:g} that training forgives")
    if wide:
        text += (f"\n→ {' and '.join(wide)} more than {forgiving:g}× apart: the seeds disagree by more than training "
                 "forgives")
    return text


def describe_smoothing_lag(result: LRFinderResult) -> list[str]:
    """How far the smoothing shifts the minimum of an exponential test to the right, in decades, against the raw loss.

    An average with β remembers about 1 / (1 − β) batches; each batch raises the rate by a fixed number of decades,
    so the smoothed curve trails the raw one by about (batches of lag) × (decades per batch).
    """
    lrs, losses = np.asarray(result.lrs, dtype=float), np.asarray(result.losses, dtype=float)
    lag_batches = 1 / (1 - result.smooth_beta)
    per_batch = math.log10(lrs[-1] / lrs[0]) / (len(lrs) - 1)
    lag = lag_batches * per_batch
    smoothed_min, raw_min = lrs[int(np.argmin(result.smoothed))], lrs[int(np.nanargmin(losses))]
    apart = math.log10(smoothed_min / raw_min)
    lines = [f"smoothing lag: β = {result.smooth_beta:.2f} remembers about {lag_batches:.0f} batches × "
             f"{per_batch:.3f} decades per batch = {lag:.2f} decades of learning rate",
             f"lowest smoothed loss at lr {smoothed_min:.2e}, lowest raw loss (one batch) at lr {raw_min:.2e}: "
             f"{apart:+.2f} decades"]
    min_div_10 = result.suggestions.get("min_div_10")
    if apart > lag:
        lines.append("→ the smoothed minimum lies right of the raw one by more than the lag: min_div_10 is read "
                     "too far right; trust the valley more")
    elif min_div_10 is not None and min_div_10 > raw_min:
        lines.append(f"→ min_div_10 ({min_div_10:.2e}) lies right of the lowest raw loss: the lag has eaten the "
                     "decade the rule keeps from the minimum, so it is no safe rate here")
    else:
        lines.append("→ the smoothed minimum lies within the lag of the raw one, and min_div_10 left of the lowest "
                     "raw loss: the rule's margin survives the lag")
    return lines


def describe_valley_shift(result: LRFinderResult, beta: float = 0.5) -> list[str]:
    """How far the valley and the minimum of an exponential test move when the same raw losses forget faster (`beta`).

    The average delays the whole curve, so every reading moves right; this measures by how much, for this run.
    """
    lrs = np.asarray(result.lrs, dtype=float)
    faster = smooth_losses(result.losses, beta)
    valley, fast_valley = result.suggestions.get("valley"), suggest(result.lrs, faster)[0]["valley"]
    lines = [f"valley at β = {result.smooth_beta:.2f}: {rate_text(valley)}; the same losses smoothed with β = {beta:g} "
             f"(a lag of about {1 / (1 - beta):.0f} batches): {rate_text(fast_valley)}"]
    if valley is None or fast_valley is None:
        return lines + ["→ no comparison: one of the two curves gave no valley reading"]
    moved = math.log10(valley / fast_valley)
    lowest_moved = math.log10(lrs[int(np.argmin(result.smoothed))] / lrs[int(np.argmin(faster))])
    if max(abs(moved), abs(lowest_moved)) < 1e-9:
        verdict = "neither moved: both curves give the same readings"
    else:
        verdict = ("the valley moved less than the minimum" if abs(moved) < abs(lowest_moved) - 1e-9 else
                   "the valley moved further than the minimum" if abs(moved) > abs(lowest_moved) + 1e-9 else
                   "the valley moved as far as the minimum")
    return lines + [f"→ the slower average moved the valley {moved:+.2f} decades and the lowest smoothed loss "
                    f"{lowest_moved:+.2f}: in this run {verdict}"]


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
    on_step: Callable[[int, float, nn.Module], None] | None = None,
) -> LRFinderResult:
    """Train for up to `num_iter` batches (the loader is cycled) with a growing learning rate.

    Stops early once the smoothed loss exceeds `diverge_factor` × its minimum. With `val_loader`,
    the validation pixel accuracy is measured every `val_every` batches (default num_iter // 10).
    `loss` defaults to cross-entropy that leaves out the ignored pixels. The classes and the
    ignore index come from `class_map` (or `num_classes` and `ignore_index`), else from the
    loader's data set. `on_step(step, lr, model)` is called after every optimizer step (to watch
    the weights along the sweep). Model weights, optimizer state, train/eval mode and the python,
    numpy and torch random states are restored afterwards, also after an exception.
    """
    schedule = lr_schedule(start_lr, end_lr, num_iter, mode)
    if val_loader is not None and val_every is None:
        val_every = max(1, num_iter // 10)
    device = pick_device(device) if isinstance(device, str) else torch.device(device)
    _, num_classes, ignore_index = resolve_classes(class_map, num_classes, ignore_index, loader)
    loss_fn = loss if loss is not None else make_loss("ce", num_classes, ignore_index=ignore_index)
    quiet = is_quiet() if progress is None else not progress

    saved = _snapshot(model, optimizer)
    result = LRFinderResult(lrs=[], losses=[], smoothed=[], mode=mode, smooth_beta=smooth_beta)
    try:
        model.to(device)
        if isinstance(loss_fn, nn.Module):
            loss_fn.to(device)
        _run(model, loader, optimizer, loss_fn, schedule, smooth_beta, diverge_factor, val_loader, val_every,
             device, num_classes, ignore_index, quiet, result, on_step)
    finally:
        _restore(model, optimizer, saved)
    if len(result.lrs) < 2:
        raise RuntimeError("the range test stopped after fewer than 2 batches: lower start_lr or check the loss")
    result.suggestions, notes = suggest(result.lrs, result.smoothed, result.val_lrs, result.val_accuracy)
    result.notes.extend(notes)
    return result


def _run(model, loader, optimizer, loss_fn, schedule, beta, diverge_factor, val_loader, val_every, device,
         num_classes, ignore_index, quiet, result, on_step=None) -> None:
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
        if on_step is not None:
            on_step(i, float(lr), model)
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


def suggest(lrs, smoothed, val_lrs=(), val_accuracy=()) -> tuple[dict[str, float | None], list[str]]:
    """Suggested learning rates from the smoothed loss (and the validation accuracy when given).

    - steepest: where the smoothed loss falls fastest against log(lr), before its minimum.
    - valley: fastai's rule (2.5): find the longest stretch over which the loss keeps falling
      (longest decreasing subsequence) and take the point at 1/3 + 1/6 = half of its length. It is
      read up to the loss minimum: fastai's subsequence can run on past it, where the loss already
      rises again, and land its valley there.
    - min_div_10: the lr of the lowest smoothed loss, divided by 10.
    - smith_base / smith_max: on the accuracy curve, the first lr past 10 % of the rise (from the
      lowest point before the highest — the first point, unless the curve fell first — to the
      highest) and the first lr past 90 % of it (the curve has flattened); a note says when the
      curve fell first. Without validation accuracy the same rule is applied to the fall of the
      smoothed loss (first point to its minimum), and a note says so.
    The first 10 % of the points and the last 5 (when there are 20 or more) are left out of
    steepest and valley, as fastai does, because the start is noisy and the end diverges.

    A reading that falls on the first or last point of the curve it is read from is None ("no
    reading"): the steepest fall or the longest fall still going on where that curve ends, a loss
    lowest at the last rate; smith_max also when the accuracy (or the fall of the loss) is highest
    at the last rate, since 90 % of a rise that has not ended is not where it ends. A note names
    the end of the range to move.
    """
    lrs, smoothed = np.asarray(lrs, dtype=float), np.asarray(smoothed, dtype=float)
    notes: list[str] = []
    start, stop = (len(lrs) // 10, len(lrs) - 5) if len(lrs) >= 20 else (0, len(lrs))
    window_lrs, window_loss = lrs[start:stop], smoothed[start:stop]
    lowest = int(np.argmin(smoothed))
    steepest, steepest_edge = _steepest(window_lrs, window_loss)
    falling = int(np.argmin(window_loss)) + 1  # the valley is read where the loss falls, not past its minimum
    valley, valley_edge = _valley(window_lrs[:falling], window_loss[:falling])
    if lowest < len(lrs) - 1:  # the loss turned, maybe in the points left out at the end: the fall was seen whole
        steepest_edge, valley_edge = (None if edge == "end" else edge for edge in (steepest_edge, valley_edge))
    ends = {"window": (window_lrs[0], window_lrs[-1]), "sweep": (lrs[0], lrs[-1])}
    readings = {
        "steepest": (steepest, steepest_edge, ends["window"]),
        "valley": (valley, valley_edge, ends["window"]),
        "min_div_10": (float(lrs[lowest] / 10), _edge(lowest, len(lrs)), ends["sweep"]),
    }
    if len(val_accuracy) >= 2 and max(val_accuracy) > val_accuracy[0]:
        curve_lrs, curve = np.asarray(val_lrs, dtype=float), np.asarray(val_accuracy, dtype=float)
        curve_name, curve_ends = "validation accuracy", (curve_lrs[0], curve_lrs[-1])
    else:
        if len(val_accuracy) >= 2:
            notes.append("the validation accuracy never rose above its first value; smith_base/smith_max "
                         "were read off the loss curve instead")
        else:
            notes.append("no validation accuracy: smith_base/smith_max were read off the loss curve "
                         "(where it starts and stops falling)")
        curve_lrs, curve, curve_name = lrs[: lowest + 1], -smoothed[: lowest + 1], "loss"
        curve_ends = ends["sweep"]
    base, peak = _rise_indices(curve)
    low = _rise_start(curve)
    if low > 0 and curve_name != "loss":
        notes.append(f"the {curve_name} fell before it rose (lowest {curve[low]:.3f} at lr {curve_lrs[low]:.2e}, "
                     f"first {curve[0]:.3f}): smith_base/smith_max measure the rise from that lowest point")
    read_over = len(lrs) if curve_name == "loss" else len(curve)  # the loss curve is cut at its minimum
    top = int(np.argmax(curve))  # the max needs the top observed: the curve flattens or falls after it
    readings["smith_base"] = (float(curve_lrs[base]), _edge(base, read_over), curve_ends)
    readings["smith_max"] = (float(curve_lrs[peak]), _edge(peak, read_over) or ("end" if top == read_over - 1 else None),
                             curve_ends)
    suggestions: dict[str, float | None] = {}
    for name, (lr, edge, (first, last)) in readings.items():
        suggestions[name] = None if edge else lr
        if edge == "end":
            notes.append(f"{name}: no reading — the curve had not turned by the last learning rate read "
                         f"({last:.2e}); raise end_lr")
        elif edge == "start":
            notes.append(f"{name}: no reading — the curve was already moving at the first learning rate read "
                         f"({first:.2e}); lower start_lr")
    return suggestions, notes


def _edge(index: int, length: int) -> str | None:
    """'start' or 'end' when `index` is the first or last of `length` points, else None."""
    return "start" if index <= 0 else "end" if index >= length - 1 else None


def _steepest(lrs: np.ndarray, losses: np.ndarray) -> tuple[float, str | None]:
    """The lr where d loss / d log(lr) is most negative, up to the loss minimum, and the end it sits on (or None)."""
    upto = int(np.argmin(losses)) + 1
    if upto < 2:
        return float(lrs[0]), "start"
    slopes = np.diff(losses[:upto]) / np.diff(np.log(lrs[:upto]))
    index = int(np.argmin(slopes))
    edge = "start" if index == 0 else "end" if index == len(lrs) - 2 else None
    return float(lrs[index]), edge


def _valley_bounds(losses: np.ndarray) -> tuple[int, int]:
    """(begin, end) of fastai's longest decreasing run of `losses`."""
    n = len(losses)
    lengths = np.ones(n, dtype=int)
    for i in range(1, n):
        higher_before = losses[:i] > losses[i]
        if higher_before.any():
            lengths[i] = lengths[:i][higher_before].max() + 1
    end = int(np.argmax(lengths))
    return max(0, end - int(lengths[end])), end


def _valley_index(losses: np.ndarray) -> int:
    """fastai's valley: index inside the longest decreasing run of `losses`."""
    begin, end = _valley_bounds(losses)
    sections = (end - begin) / 3
    return min(len(losses) - 1, begin + int(sections) + int(sections / 2))


def _valley(lrs: np.ndarray, losses: np.ndarray) -> tuple[float, str | None]:
    """fastai's valley lr, and 'end' when the longest fall still goes on at the last point ('start': no fall)."""
    begin, end = _valley_bounds(losses)
    edge = "start" if end == begin else "end" if end == len(losses) - 1 else None
    return float(lrs[_valley_index(losses)]), edge


def _rise_start(values: np.ndarray) -> int:
    """Index of the lowest point before the highest: where the rise starts (the first point, unless the curve fell first)."""
    return int(np.argmin(values[: int(np.argmax(values)) + 1]))


def _rise_indices(values: np.ndarray) -> tuple[int, int]:
    """Smith's bounds on a rising curve: indices of the first point past 10 % and first past 90 % of the rise.

    The rise is measured from the lowest point before the highest: a curve that fell first and then rose is read
    from the bottom of its fall, not from a first value it only passed again late.
    """
    if len(values) < 2:
        return 0, len(values) - 1
    top, low = int(np.argmax(values)), _rise_start(values)
    rise = values[top] - values[low]
    if rise <= 0:
        return 0, top
    base = low + int(np.argmax(values[low: top + 1] >= values[low] + RISE_START * rise))
    peak = low + int(np.argmax(values[low: top + 1] >= values[low] + RISE_END * rise))
    return min(max(base - 1, low) if base == peak else base, peak), peak


def _rise_bounds(lrs: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """Smith's bounds on a rising curve: first lr past 10 % and first past 90 % of the total rise."""
    base, peak = _rise_indices(np.asarray(values, dtype=float))
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
