"""Looking inside training: activation statistics per layer, short runs that stop at the first NaN, loss levels.

Notebook 04b uses these to ask why a network trains at all: how the signal's size changes from
layer to layer with one initialisation or another (`activation_stats`), which learning rates a
network survives (`train_steps`, which stops at the first non-finite loss instead of skipping it
as `helpers.train.fit` does), and which loss a run must beat to have learned more than the class
frequencies (`class_prior_loss`); then the measurements and figures of its experiments (the
learning-rate sweep, rotated labels, short runs scored on held-out frames, what `fit` reports).
Notebook 04 measures with `other_labels_floor` and `other_labels_majority` the marks a network
trained on the labels of other images lands near (a loss floor it cannot beat in expectation, and an
accuracy mark it can pass only by chance), and with `describe_without_norm` what batch norm did for a run
at a learning rate far too high; `helpers.baselines` holds the colour rules notebook 03 races.

    rows = activation_stats(UNet(norm="none", init="default"), images)   # one row per convolution
    losses = train_steps(model, loader, F.cross_entropy, optimizer, steps=30)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
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
    frequencies); a loss clearly below it shows that the network has learned more than a constant: at
    least some of where classes tend to lie or of what is in each image. For C equally
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
    It bounds every network trained on such labels, in expectation over the pairings, whatever it
    sees. Against the true labels a network blind to its image scores at least about this much too
    (its best is the entropy of all the labels at each pixel, which by concavity is at least the mean
    of the leave-one-out entropies), so a loss on the true labels clearly below it shows a network
    that learned what is in each image.
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


def describe_without_norm(with_norm: Sequence[float], without_norm: Sequence[float], lr: float) -> str:
    """What the same run at a learning rate far too high did with and without batch norm (each list: a loss per step).

    A run's list ends at its first non-finite loss. The sentence says which of the two stayed finite,
    and so whether batch norm is what kept the run with it finite.
    """
    def first_bad(losses: Sequence[float]) -> int | None:
        return next((step for step, value in enumerate(losses, 1) if not math.isfinite(value)), None)

    bad_with, bad_without = first_bad(with_norm), first_bad(without_norm)
    if bad_without is not None and bad_with is None:
        return (f"Without batch norm the same run at lr {lr:g} gave a loss of {without_norm[bad_without - 1]} at step "
                f"{bad_without}; with batch norm all {len(with_norm)} losses stayed finite: batch norm is what kept "
                "that run finite.")
    if bad_without is None and bad_with is None:
        return (f"Without batch norm the same {len(without_norm)} steps at lr {lr:g} stayed finite too (last loss "
                f"{without_norm[-1]:,.4g}): in so few steps neither run overflowed, so this run does not show what "
                "batch norm adds here; more FAIL_STEPS or a larger HIGH_LR may.")
    if bad_without is None:
        return (f"With batch norm the run at lr {lr:g} gave a non-finite loss at step {bad_with}, and without it all "
                f"{len(without_norm)} losses stayed finite: here batch norm did not keep the run finite.")
    return (f"At lr {lr:g} both runs overflowed: with batch norm at step {bad_with}, without it at step {bad_without}; "
            "no normalisation keeps a rate this large finite for long.")


# ---- notebook 04b: the learning-rate sweep with and without batch norm ----

STREET_MARGIN = 0.05  # pixel accuracy a run must be above the average street by to count as clearly past it


def describe_floor_crossing(healthy: Sequence[float], shuffled: Sequence[float], floor: float, tail: int = 5,
                            margin: float = 0.05) -> str:
    """Whether the healthy run's loss got past the floor of labels of other images, read from the mean of its last
    `tail` steps (each step's loss is noisy), and where the run on labels of other images ended against it.

    A network blind to its image cannot end clearly under the floor on the true labels: by the share `margin` of
    it or more; a smaller lead is read as not clearly past it yet.
    """
    tail = min(tail, len(healthy))
    healthy_end, shuffled_end = float(np.mean(healthy[-tail:])), float(np.mean(shuffled[-tail:]))
    below = next((step for step, value in enumerate(healthy, 1) if value < floor), None)
    line = (f"loss, mean of the last {tail} of {len(healthy)} steps: healthy {healthy_end:.3f}, labels of other "
            f"images {shuffled_end:.3f} ({shuffled_end / healthy_end:.1f}× the healthy run's); the floor {floor:.3f}")
    if below is None:
        return line + ("\nThe healthy run did not get below the floor in these steps: its lower loss alone does not yet "
                       "prove that it learned more than a network blind to its image could. The accuracies below "
                       "decide; more TEN_STEPS help.")
    if healthy_end >= floor:
        return line + (f"\nThe healthy run dipped below the floor at step {below}, but the mean of its last {tail} steps "
                       f"is {healthy_end - floor:.3f} above it: not clearly past it yet. The accuracies below decide; "
                       "more TEN_STEPS help.")
    if healthy_end > (1 - margin) * floor:
        return line + (f"\nThe healthy run went below the floor at step {below}, but ended only {floor - healthy_end:.3f} "
                       f"under it, less than {margin:.0%} of it, where noise could put it: not clearly past it yet. The "
                       "accuracies below decide; more TEN_STEPS help.")
    shuffled_words = (f"{shuffled_end - floor:.3f} above it, as expected." if shuffled_end > floor
                      else f"{floor - shuffled_end:.3f} under it, by luck of the pairings drawn.")
    return line + (f"\nThe healthy run went below the floor at step {below} and ended {floor - healthy_end:.3f} under "
                   "it, which a network blind to its image cannot do on the true labels; the run with labels of other "
                   f"images ended {shuffled_words}")


def describe_street_marks(healthy: float, shuffled: float, street: float, margin: float = STREET_MARGIN) -> str:
    """The pixel accuracies of the healthy run and of the run on labels of other images against the average street.

    A network blind to its image lands near the average street's accuracy, within noise on either
    side: it is a mark, not a bound, so only a run more than `margin` above it counts as past it.
    """
    ahead = healthy - street
    if ahead > margin:
        lines = [f"The healthy run beat the average street by {ahead:.3f}, a clear margin (more than {margin:g}): it "
                 "learned what is in each image."]
    elif ahead > 0:
        lines = [f"The healthy run is only {ahead:.3f} above the average street, within {margin:g} of it, where a "
                 "network blind to its image can land too: not yet a sign that it uses the image; give both more TEN_STEPS."]
    else:
        lines = ["The healthy run has not yet beaten the average street: in so few steps accuracy does not separate "
                 "the runs; give both more TEN_STEPS."]
    off = shuffled - street
    if abs(off) <= margin:
        lines.append(f"With labels of other images the network scored {abs(off):.3f} "
                     + ("above" if off > 0 else "below") + " the average street: near it, where a network blind to "
                     "its image lands (the mark is no bound: such a network can end a little above it by chance).")
    elif off > margin:
        lines.append(f"With labels of other images the network scored {off:.3f} above the average street, more than "
                     f"{margin:g}: further than a network blind to its image usually lands; look at its predictions.")
    else:
        lines.append(f"With labels of other images the network scored {-off:.3f} below the average street: it has "
                     "not yet learned even the layout all the labels share.")
    return "\n".join(lines)


NORM_NAMES = {"batch": "with batch norm", "none": "without batch norm"}
NORM_COLOURS = {"batch": "tab:blue", "none": "tab:red"}


def sweep_verdict(sweep: pd.DataFrame) -> dict:
    """Largest rate that learned / stayed finite, lowest final loss, and the outcome, with and without batch norm.

    `sweep` has one row per run: norm ("batch" or "none"), lr, final, finite, learned. The outcome
    compares the largest rate that learned: "larger" (with batch norm), "smaller", "same",
    "only_with_norm", "only_without_norm" or "none". `diverged` lists, per norm, the runs that ended in NaN or inf
    (lr, and the step they reached when the sweep has a `steps` column). `deciding` holds, per norm, the runs the
    outcome turns on: the largest rate that learned and the next rate above it (each None when
    there is none), as dicts of lr, final and finite.
    """
    def largest(norm: str, column: str) -> float | None:
        rates = sweep.loc[(sweep["norm"] == norm) & sweep[column].astype(bool), "lr"]
        return float(rates.max()) if len(rates) else None

    def lowest(norm: str) -> tuple[float | None, float]:
        rows = sweep[(sweep["norm"] == norm) & sweep["finite"].astype(bool)]
        return (None, math.nan) if rows.empty else (float(rows.loc[rows["final"].idxmin(), "lr"]), float(rows["final"].min()))

    learned = {norm: largest(norm, "learned") for norm in NORM_NAMES}
    with_norm, without_norm = learned["batch"], learned["none"]
    outcome = ("none" if with_norm is None and without_norm is None else "only_with_norm" if without_norm is None
               else "only_without_norm" if with_norm is None else "larger" if with_norm > without_norm
               else "smaller" if with_norm < without_norm else "same")
    best = {norm: lowest(norm) for norm in NORM_NAMES}
    broken = {norm: sweep[(sweep["norm"] == norm) & ~sweep["finite"].astype(bool)].sort_values("lr") for norm in NORM_NAMES}
    diverged = {norm: [{"lr": float(row["lr"]), "steps": int(row["steps"]) if "steps" in row else None}
                       for _, row in rows.iterrows()] for norm, rows in broken.items()}
    return {"diverged": diverged, "largest_learned": learned, "largest_finite": {norm: largest(norm, "finite") for norm in NORM_NAMES},
            "best_lr": {norm: best[norm][0] for norm in NORM_NAMES},
            "best_final": {norm: best[norm][1] for norm in NORM_NAMES}, "outcome": outcome,
            "deciding": {norm: _deciding_runs(sweep, norm, learned[norm]) for norm in NORM_NAMES}}


def _deciding_runs(sweep: pd.DataFrame, norm: str, largest_learned: float | None) -> dict:
    """The run at the largest rate that learned and the run at the next rate above it, for one norm."""
    rows = sweep[sweep["norm"] == norm].sort_values("lr")

    def run(row) -> dict:
        return {"lr": float(row["lr"]), "final": float(row["final"]), "finite": bool(row["finite"])}

    above = rows if largest_learned is None else rows[rows["lr"] > largest_learned]
    last = None if largest_learned is None else run(rows[rows["lr"] == largest_learned].iloc[0])
    return {"last_learned": last, "next": run(above.iloc[0]) if len(above) else None}


_SWEEP_OUTCOMES = {
    "none": "no run learned beyond the class prior, with or without batch norm: give more STEPS",
    "only_with_norm": "only with batch norm did any of these rates learn beyond the class prior",
    "only_without_norm": "only without batch norm did any of these rates learn beyond the class prior",
    "smaller": "here batch norm needed a SMALLER learning rate",
    "same": "the largest rate that learned is the same with and without batch norm",
}


def sweep_outcome_text(facts: dict) -> str:
    """The outcome of a `sweep_verdict` in words (for "larger", by how many times batch norm's rate is larger)."""
    if facts["outcome"] == "larger":
        with_norm, without_norm = facts["largest_learned"]["batch"], facts["largest_learned"]["none"]
        return f"batch norm allowed a LARGER learning rate, {(with_norm or 0) / (without_norm or 1):g}× the largest without it"
    return _SWEEP_OUTCOMES[facts["outcome"]]


def _rate_text(rate: float | None, top_rate: float) -> str:
    """A learning rate in words, flagging the top of the range (where the limit may lie higher)."""
    if rate is None:
        return "none of the rates"
    return f"{rate:g}" + (" (the top of the range: the limit lies higher)" if rate == top_rate else "")


def _ended_text(run: dict, prior_loss: float) -> str:
    """Where one sweep run ended, against the class-prior loss."""
    if not run["finite"]:
        return f"lr {run['lr']:g} ended in NaN or inf"
    share = (prior_loss - run["final"]) / prior_loss
    return (f"lr {run['lr']:g} ended at {run['final']:.3f}, {abs(share):.1%} "
            + ("below" if share >= 0 else "above") + " the class-prior loss")


def describe_sweep(facts: dict, prior_loss: float, margin: float, top_rate: float, bounds: dict | None = None) -> str:
    """The verdict of a `sweep_verdict` as the reader's run shows it: the largest rates, the deciding runs, their margin.

    `margin`: the share below `prior_loss` a run's final loss must end to count as learned;
    `top_rate`: the largest rate swept (a limit found there may lie higher). The deciding runs are
    those of `facts["deciding"]` (or, where no rate learned, the one that came closest); the last
    sentence says whether the nearest of them ended within one margin of the line, where one seed
    more could move it to the other side; given `learned_bounds`, whether that could flip the direction.
    """
    learned, finite = facts["largest_learned"], facts["largest_finite"]
    closest = _closest_to_line(facts, prior_loss, margin)
    reading = (f"{sweep_outcome_text(facts)}." if closest >= margin * prior_loss else
               f"on this line alone, {sweep_outcome_text(facts)} — {_bounds_text(bounds)}."
               if bounds is not None and direction_is_clear(bounds) else
               f"on this line alone, {sweep_outcome_text(facts)} — but a deciding run ended within the margin of it "
               "(last line), so another seed could change this reading.")
    lines = [f"Largest rate whose run ended finite and {margin:.0%} or more below the class-prior loss: with batch norm "
             f"{_rate_text(learned['batch'], top_rate)}, without {_rate_text(learned['none'], top_rate)} → {reading}",
             f"Largest rate whose run merely stayed finite: with batch norm {_rate_text(finite['batch'], top_rate)}, "
             f"without {_rate_text(finite['none'], top_rate)} (finite is not learning: a network whose ReLUs all went "
             "dead outputs a constant and at best reaches the class-prior loss).",
             f"\nThe runs the verdict turns on (one seed each; the line: {margin:.0%} below the class-prior loss "
             f"{prior_loss:.3f}):"]
    for norm in NORM_NAMES:
        last, above = _deciding_pair(facts, norm)
        if last is None and facts["best_lr"][norm] is not None:  # none learned: the one that came closest decides
            parts = ["no rate learned", f"the closest, {_ended_text(above, prior_loss)}"]
        else:
            parts = [f"the largest that learned, {_ended_text(last, prior_loss)}" if last else "no rate learned",
                     f"the next rate, {_ended_text(above, prior_loss)}" if above else "no larger rate was tried"]
        lines.append(f"  {NORM_NAMES[norm]}: " + "; ".join(parts))
    lines.append(f"The nearest of them ended {closest:.3f} from the line (the margin is {margin * prior_loss:.3f}): " + (
        "closer than the margin, so the verdict rests on a run that another seed could put on the other side"
        + (" (the exact rates, not the direction: see the first line)." if bounds is not None and direction_is_clear(bounds)
           else ".") if closest < margin * prior_loss else
        "farther than the margin, though with one run per rate that is no measurement of the noise between seeds."))
    return "\n".join(lines)


def _deciding_pair(facts: dict, norm: str) -> tuple[dict | None, dict | None]:
    """The runs the learned verdict turns on for one norm: the largest that learned and the next rate
    above it; where none learned, (None, the finite run that came closest to learning)."""
    last, above = facts["deciding"][norm]["last_learned"], facts["deciding"][norm]["next"]
    if last is None and facts["best_lr"][norm] is not None:
        above = {"lr": facts["best_lr"][norm], "final": facts["best_final"][norm], "finite": True}
    return last, above


def _closest_to_line(facts: dict, prior_loss: float, margin: float) -> float:
    """How far the deciding run nearest the 'learned' line, (1 − margin) · prior_loss, ended from it (inf: none finite)."""
    learned_below = (1 - margin) * prior_loss
    return min((abs(run["final"] - learned_below) for norm in NORM_NAMES for run in _deciding_pair(facts, norm)
                if run and run["finite"]), default=math.inf)


def learned_is_clear(facts: dict, prior_loss: float, margin: float) -> bool:
    """Whether every run the learned verdict turns on ended at least one margin (margin · prior_loss) from the line."""
    return _closest_to_line(facts, prior_loss, margin) >= margin * prior_loss


def _diverged_text(facts: dict) -> str:
    """Which runs of the sweep diverged, per norm, and at which step (or that none did)."""
    parts = []
    for norm, runs in facts["diverged"].items():
        if runs:
            rates = " and ".join(f"{run['lr']:g}" for run in runs)
            steps = (f" (NaN or inf at step{'s' if len(runs) > 1 else ''} {' and '.join(str(run['steps']) for run in runs)})"
                     if all(run["steps"] is not None for run in runs) else "")
            parts.append(f"{NORM_NAMES[norm]} lr {rates} diverged{steps}")
    return "; ".join(parts) if parts else "no run diverged"


def learned_bounds(sweep: pd.DataFrame, prior_loss: float, margin: float) -> dict:
    """Per norm, the largest rate that learned however the runs within one margin of the line fall: "at_least" (only
    the runs a margin or more below the line count) and "at_most" (every finite run less than a margin above it
    counts); None where no rate qualifies. The line is (1 − margin) · prior_loss, the margin margin · prior_loss."""
    line, width = (1 - margin) * prior_loss, margin * prior_loss

    def largest(norm: str, below: float) -> float | None:
        rates = sweep.loc[(sweep["norm"] == norm) & sweep["finite"].astype(bool) & (sweep["final"] < below), "lr"]
        return float(rates.max()) if len(rates) else None

    return {norm: {"at_least": largest(norm, line - width), "at_most": largest(norm, line + width)} for norm in NORM_NAMES}


def direction_is_clear(bounds: dict) -> bool:
    """Whether one norm's largest learned rate lies above the other's however the runs within the margin fall."""
    def above(high: dict, low: dict) -> bool:
        return high["at_least"] is not None and (low["at_most"] is None or high["at_least"] > low["at_most"])

    return above(bounds["batch"], bounds["none"]) or above(bounds["none"], bounds["batch"])


def _bounds_text(bounds: dict) -> str:
    """The direction `direction_is_clear` found, with the bounds that settle it."""
    high, low = ("batch", "none") if bounds["batch"]["at_least"] is not None and (
        bounds["none"]["at_most"] is None or bounds["batch"]["at_least"] > bounds["none"]["at_most"]) else ("none", "batch")
    most = bounds[low]["at_most"]
    return (f"a deciding run ended within the margin, so another seed could move the exact rates, but not the direction: "
            f"{NORM_NAMES[high]} a rate of {bounds[high]['at_least']:g} or more learned, {NORM_NAMES[low]} "
            + (f"at most {most:g} could have" if most is not None else "none could have")
            + ", even with every run within the margin put on the other side of the line: "
            + ("batch norm allowed the larger learning rate" if high == "batch" else "batch norm needed the smaller one"))


def claim_outcome(facts: dict) -> str:
    """The outcome of the verdict `describe_sweep_claim` prints, on divergence: with batch norm the runs stayed finite
    up to a "larger" rate, a "smaller" one or the "same"; "none" when every run diverged."""
    with_norm, without_norm = facts["largest_finite"]["batch"], facts["largest_finite"]["none"]
    if with_norm is None and without_norm is None:
        return "none"
    if with_norm == without_norm:
        return "same"
    return "larger" if without_norm is None or (with_norm is not None and with_norm > without_norm) else "smaller"


def describe_sweep_claim(facts: dict, learned_clear: bool, optimizer_name: str, steps: int, top_rate: float,
                         bounds: dict | None = None) -> str:
    """What the sweep says about the course report's claim, on the evidence that holds for one seed.

    The verdict rests on divergence, the largest rate whose run stayed finite with and without
    batch norm, which does not hinge on a threshold; whether runs learned beyond the class prior
    is added only when `learned_clear` (see `learned_is_clear`), or, given `learned_bounds`, when no run within the
    margin could flip which of the two learned at the larger rate; else it is said to be left out.
    """
    with_norm, without_norm = facts["largest_finite"]["batch"], facts["largest_finite"]["none"]
    run, outcome = f"This sweep ({optimizer_name}, {steps} steps, one seed)", claim_outcome(facts)
    if outcome == "none":
        lines = [f"{run}: every run ended in NaN or inf, so it says nothing about the claim; try smaller SWEEP_LRS."]
    elif outcome == "same":
        lines = [f"{run}: with and without batch norm the runs stayed finite up to lr {_rate_text(with_norm, top_rate)}; "
                 "divergence does not separate the two here."]
    else:
        larger = outcome == "larger"
        lines = [f"{run}: the loss stayed finite up to lr {_rate_text(with_norm, top_rate)} with batch norm and up to "
                 f"{_rate_text(without_norm, top_rate)} without it; {_diverged_text(facts)}. "
                 + ("Batch norm tolerated the larger learning rates: this does not support the course report's 'allows a "
                    "smaller learning rate' (the sweep shows larger rates allowed, and nothing that needs a smaller "
                    "one) and agrees with Ioffe and Szegedy." if larger else
                    "The network without batch norm tolerated the larger rates: this agrees with the course report's "
                    "'allows a smaller learning rate'.")]
    if learned_clear:
        lines.append(f"Learning beyond the class prior, clear of the margin in every deciding run: {sweep_outcome_text(facts)}.")
    elif bounds is not None and direction_is_clear(bounds):
        lines.append(f"Learning beyond the class prior: {_bounds_text(bounds)}.")
    else:
        lines.append("Whether the runs learned beyond the class prior is not clear of the margin (above), so it is left "
                     "out of this verdict.")
    return "\n".join(lines)


RATE_COLOURS = plt.colormaps["Dark2"].colors  # qualitative: eight colours that differ in hue, not along one gradient
RATE_MARKERS = ("o", "s", "D", "v", "P", "X", "*", "h")  # not "^": it marks a curve that leaves the panel


def plot_lr_sweep(sweep: pd.DataFrame, curves: Sequence[Sequence[float]], prior_loss: float,
                  optimizer_name: str, steps: int, window: int = 5,
                  learned_below: float | None = None, clip: float = 100.0) -> plt.Figure:
    """The sweep in three panels: final loss against the rate, then every loss curve with and without batch norm.

    `window`: how many last steps `final` is the mean of (as in `loss_summary`); `learned_below`:
    the line a final loss must end under to count as learned, drawn on the first panel when given;
    `clip`: the top of the curve panels, so that a diverging run does not squash the others (a
    triangle marks where a curve leaves the panel). Reference lines sit behind the data. The final losses span the
    top row, the two sets of curves share the bottom one; each legend sits beside or below its panel, clear of the data.
    """
    fig = plt.figure(figsize=(14, 8.6), layout="constrained")
    grid = fig.add_gridspec(2, 2)
    axes = [fig.add_subplot(grid[0, :]), fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1])]  # final loss on top
    ceiling = 1.15 * float(sweep["first"].max())
    for norm, rows in sweep.groupby("norm", sort=False):
        colour, name = NORM_COLOURS[norm], NORM_NAMES[norm]
        axes[0].plot(rows["lr"], rows["final"], marker="o", color=colour, label=f"{name}: final loss")
        broken = rows[~rows["finite"].astype(bool)]
        if len(broken):
            axes[0].scatter(broken["lr"], np.full(len(broken), ceiling), marker="x", s=90, color=colour,
                            label=f"{name}: NaN or inf (drawn at the top)")
        axes[0].axhline(rows["first"].iloc[0], color=colour, linestyle=":", label=f"{name}: loss at step 1", zorder=1)
    if learned_below is not None:
        axes[0].axhline(learned_below, color="0.45", linestyle="-.", label="learned: a final loss below this", zorder=1)
    axes[0].set(xscale="log", xlabel=f"learning rate ({optimizer_name})", ylabel=f"mean loss over the last {min(window, steps)} of {steps} steps",
                title="Final training loss against the learning rate")
    rates = sorted(sweep["lr"].unique())
    rate_styles = {rate: {"color": RATE_COLOURS[i % len(RATE_COLOURS)], "marker": RATE_MARKERS[i % len(RATE_MARKERS)]}
                   for i, rate in enumerate(rates)}  # a colour and a marker per rate: told apart without a gradient
    for ax, norm in zip(axes[1:], NORM_NAMES):
        cut = False
        for index, row in sweep[sweep["norm"] == norm].iterrows():
            curve = np.asarray(curves[index], dtype=float)
            ended = "" if row["finite"] else f", NaN/inf at step {len(curve)}"
            above = np.flatnonzero(np.isfinite(curve) & (curve > clip))
            off = f", above {clip:g} from step {above[0] + 1} (▲)" if len(above) else ""
            style = rate_styles[row["lr"]]
            every = max(1, len(curve) // 6)  # about six markers a curve, shifted per rate so that they do not coincide
            ax.plot(np.arange(1, len(curve) + 1), np.where(np.isfinite(curve), curve, np.nan), **style, markersize=5,
                    markevery=(rates.index(row["lr"]) * every // len(rates), every), label=f"lr {row['lr']:g}{ended}{off}")
            if len(above):
                ax.plot([above[0] + 1], [clip], marker="^", markersize=9, color=style["color"], clip_on=False)
                cut = True
        ax.set(yscale="log", xlabel="step", ylabel="training loss (log scale" + (f", cut at {clip:g})" if cut else ")"),
               title=f"Loss curves {NORM_NAMES[norm]}")
        if cut:
            ax.set_ylim(top=clip)
    for ax in axes:
        ax.axhline(prior_loss, color="black", linestyle="--", label="class-prior loss", zorder=1, alpha=0.6)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    for ax in axes[1:]:  # below each curve panel, clear of the lines
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    return fig


# ---- notebook 04b: initialisation ----

INIT_NAMES = {"default": "PyTorch's default init", "kaiming": "He init"}


def describe_init_losses(norm: str, losses: dict[str, float], prior_loss: float, steps: int,
                         margin: float = 0.05) -> str:
    """The losses of the two initialisations after `steps` steps, read against the class-prior loss.

    A run that ends at or above the class-prior loss has learned nothing beyond a constant
    prediction of the class frequencies, so which of two such runs is lower says nothing about
    initialisation; one that ends less than the share `margin` below it only grazes the line (another
    seed could land on either side), as in notebook 04b's sweep.
    """
    text = (f"{NORM_NAMES[norm].capitalize()}, after {steps} steps of Adam the loss is {losses['default']:.3f} (default) "
            f"and {losses['kaiming']:.3f} (He), against the class-prior loss {prior_loss:.3f}: ")
    below = {init: 1 - losses[init] / prior_loss for init in ("default", "kaiming")}  # share under the line
    clear = [init for init in below if below[init] >= margin]
    grazing = [init for init in below if 0 < below[init] < margin]
    if not clear:
        graze = (" and ".join(f"{INIT_NAMES[init]} ended {below[init]:.1%} below it" for init in grazing)
                 + f", within the {margin:.0%} margin where another seed could land on either side; " if grazing else "")
        return text + (f"{graze}neither clearly learned beyond the class prior, so which init is ahead says nothing here "
                       "(one seed).")
    if len(clear) == 1:
        return text + (f"only {INIT_NAMES[clear[0]]} ended clearly below it ({below[clear[0]]:.1%} under it, more than "
                       f"the {margin:.0%} margin; one seed).")
    ahead = "kaiming" if losses["kaiming"] < losses["default"] else "default"
    return text + f"both ended clearly below it, and {INIT_NAMES[ahead]} is ahead (one seed)."


def describe_activation_growth(norm: str, before: dict[str, Sequence[float]], after: dict[str, Sequence[float]],
                               steps: int, lr: float, grown: float = 3.0) -> str:
    """How much each convolution's output std changed in `steps` steps (the dashed lines against the solid ones).

    `before` and `after` map each init to the per-layer stds. A median factor of `grown` or more
    counts as grown; with batch norm that growth does not compound (each output is renormalised),
    without it it does, and it is the mark of a learning rate too large for the network.
    """
    parts, grew = [], []
    for init in ("default", "kaiming"):
        factors = np.asarray(after[init], dtype=float) / np.asarray(before[init], dtype=float)
        parts.append(f"{np.median(factors):.3g}× with {INIT_NAMES[init]} (up to {factors.max():.3g}× at convolution "
                     f"{int(factors.argmax())})")
        if np.median(factors) >= grown:
            grew.append(INIT_NAMES[init])
    text = (f"{NORM_NAMES[norm].capitalize()}, {steps} steps of Adam at lr {lr:g} changed the convolutions' output std "
            f"by a median factor of {' and '.join(parts)}")
    if not grew:
        return text + f": the statistics stayed within about {grown:g}× of where they started."
    if norm == "batch":
        return text + ": the outputs grew, but batch norm divides each by its own std before the next layer, so the growth does not compound."
    return (text + f": with {' and '.join(grew)} the activations grew several times over in a few steps, which nothing "
            "renormalises here: too large a rate for this network without normalisation (section 2 sweeps the rate for SGD; "
            "exercise 3 does it for Adam).")


# ---- notebook 04b: weight decay, Adam's L2 penalty against AdamW ----

def describe_decay_pulls(small: dict, large: dict, lr: float = 0.01, decay: float = 0.01, steps: int = 100) -> str:
    """How Adam + L2 and AdamW pulled a weight with small and one with large gradients below their no-decay reference.

    `small` and `large` hold each weight's "reference" (its value after Adam without decay) and
    the pulls "l2" and "adamw" (reference minus the value with that decay). AdamW's pull, as a
    share of the reference, is compared with 1 − (1 − lr·decay)^steps, what `steps`
    multiplications by (1 − lr·decay) take off.
    """
    uniform_share = 1 - (1 - lr * decay) ** steps
    shares = [run["adamw"] / run["reference"] for run in (small, large)]
    return (f"Adam + L2 pulled the weight with small gradients {small['l2']:.4f} below its reference and the one with "
            f"large gradients {large['l2']:.2g}: "
            + (f"{small['l2'] / large['l2']:,.0f}× less." if small["l2"] > large["l2"] else "no less.")
            + f"\nAdamW took {shares[0]:.3%} and {shares[1]:.3%} of the two weights' reference values, "
            + ("the same share" if abs(shares[0] - shares[1]) < 0.1 * max(shares) else "different shares")
            + f"; 1 − (1 − lr·λ)^{steps} = {uniform_share:.3%}.")


# ---- notebook 04b: rotating a label ----

def label_interpolation_errors(nearest: np.ndarray, linear: np.ndarray, num_classes: int, ignore_index: int) -> dict:
    """Where a linearly interpolated label differs from the nearest-neighbour one, and what it invented.

    `changed`: labelled pixels whose id differs; `invented`: those whose new id is a class none of
    the 3×3 neighbours has in the right label; `no_class`: ids that are no class at all (a mix with
    the border's `ignore_index`), of which `linear_no_class_border` lie where the nearest-neighbour
    label has the border's `ignore_index` (and so are not among `changed`). Masks, their counts, and
    the class id invented most often (or None).
    """
    height, width = nearest.shape
    changed = (nearest != ignore_index) & (linear != nearest)
    padded = np.pad(nearest, 1, mode="edge")
    neighbours = np.stack([padded[dy:dy + height, dx:dx + width] for dy in range(3) for dx in range(3)])
    invented = changed & (linear < num_classes) & ~(neighbours == linear).any(axis=0)
    no_class = (linear >= num_classes) & (linear != ignore_index)
    ids, counts = np.unique(linear[invented], return_counts=True)
    return {"changed": changed, "invented": invented, "no_class": no_class,
            "linear_changed": int(changed.sum()), "linear_invented": int(invented.sum()),
            "linear_no_class": int(no_class.sum()),
            "linear_no_class_border": int((no_class & (nearest == ignore_index)).sum()), "most_invented": int(ids[counts.argmax()]) if len(ids) else None}


def describe_rotation(facts: dict, ignore_index: int, num_classes: int) -> str:
    """What rotating one frame's label did, by nearest neighbour and by (wrong) linear interpolation of the ids.

    `facts`: the angle, the share of pixels brought in from outside (`ignored_share`), whether nearest neighbour kept
    the classes, and the counts of `label_interpolation_errors` (with `most_invented`, a class name or None).
    """
    inside_no_class = facts["linear_no_class"] - facts["linear_no_class_border"]
    lines = [f"rotation by {facts['angle']:g}°: {facts['ignored_share']:.1%} of the label's pixels come from outside the "
             f"frame and get {ignore_index} (ignored)",
             "nearest neighbour only copies ids: every class after the rotation was in the frame before: "
             f"{facts['nearest_keeps_classes']}",
             f"linear interpolation of the ids: {facts['linear_changed']} pixels differ from the nearest-neighbour label; "
             f"{facts['linear_invented']} of them got a class that none of their 3×3 neighbours has"
             + (f" (most often {facts['most_invented']!r})" if facts["most_invented"] else "")
             + f"; another {facts['linear_no_class_border']} pixels, on the border where nearest neighbour gives "
             f"{ignore_index}, got a value that is no class at all (a mix with the border's {ignore_index})"
             + (f", as did {inside_no_class} of the {facts['linear_changed']}" if inside_no_class else "")]
    if num_classes == 2:
        lines.append("with two classes no id lies between two others: linear interpolation has no class to invent here, "
                     "what it gets wrong is the mix with the border")
    return "\n".join(lines)


def plot_label_rotation(panels: Sequence[tuple[np.ndarray, str]], class_map, extra_handles: Sequence = (),
                        title: str = "") -> plt.Figure:
    """Pictures side by side (frame, rotated frame, labels), a title each, and the class legend below them."""
    from .viz import add_legend

    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.9), layout="constrained", squeeze=False)
    for ax, (picture, name) in zip(axes[0], panels):
        ax.imshow(picture, interpolation="nearest")
        ax.set_title(name)
        ax.set_axis_off()
    add_legend(fig, class_map, extra_handles=list(extra_handles))
    fig.suptitle(title)
    return fig


# ---- notebook 04b: short runs scored on held-out frames, and what fit reports ----

def score_short_run(model: nn.Module, loader: torch.utils.data.DataLoader, loss_fn: Callable,
                    optimizer: torch.optim.Optimizer, steps: int, eval_loaders: dict, class_map,
                    device: str | torch.device = "cpu") -> dict:
    """`steps` steps of `train_steps`, then the mIoU on each of `eval_loaders` ("train", "held_out") and their gap.

    The gap, training mIoU − held-out mIoU, is what regularisation is meant to close.
    """
    from .train import evaluate

    losses = train_steps(model, loader, loss_fn, optimizer, steps, device)
    scores = {name: evaluate(model, eval_loader, class_map, device=device) for name, eval_loader in eval_loaders.items()}
    return {"train_miou": scores["train"]["miou"], "held_out_miou": scores["held_out"]["miou"],
            "gap": scores["train"]["miou"] - scores["held_out"]["miou"],
            "held_out_accuracy": scores["held_out"]["pixel_accuracy"],
            "train_miou_batch_statistics": evaluate(with_batch_statistics(model), eval_loaders["train"], class_map,
                                                    device=device)["miou"],
            "final_loss": loss_summary(losses)["final"], "losses": losses}


def with_batch_statistics(model: nn.Module) -> nn.Module:
    """A copy of `model` whose batch norms normalise by each batch's own statistics even in evaluation mode.

    Dropout stays off in evaluation mode, so scoring the copy separates what batch norm's running statistics do
    from what the weights learned: a model that scores well this way but badly in plain evaluation mode fitted its
    frames, and its running statistics do not match its weights.
    """
    copied = copy.deepcopy(model)
    for module in copied.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.track_running_stats, module.running_mean, module.running_var = False, None, None
    return copied


def fit_report(model: nn.Module, loader: torch.utils.data.DataLoader, loss_fn: Callable,
               optimizer: torch.optim.Optimizer, epochs: int, device: str | torch.device = "cpu",
               max_bad_batches: int = 5, **fit_options) -> dict:
    """Train with `helpers.train.fit` and keep what it reports: skipped batches, batch and epoch losses, or why it stopped.

    `stopped` is the first sentence of fit's error ("" when it finished); `weights_finite` tells
    whether a NaN got into the weights or batch norm's running statistics. `fit_options` go to `fit` (e.g. grad_clip=1.0).
    """
    from .train import fit

    try:
        history = fit(model, loader, None, loss_fn, optimizer, epochs=epochs, device=device,
                      max_bad_batches=max_bad_batches, **fit_options)
    except RuntimeError as error:
        stopped, history = str(error).split(". ")[0], None
    else:
        stopped = ""
    state = [tensor for tensor in model.state_dict().values() if tensor.is_floating_point()]  # parameters and buffers
    run = {"stopped": stopped, "weights_finite": all(bool(torch.isfinite(tensor).all()) for tensor in state)}
    if history is not None:
        batch_losses = [batch["loss"] for batch in history.batches]
        finite = [loss for loss in batch_losses if math.isfinite(loss)]
        run.update(skipped=history.skipped_batches, batches=len(batch_losses), batch_losses=batch_losses,
                   epoch_losses=[epoch["train_loss"] for epoch in history.epochs],
                   largest_finite_batch_loss=max(finite) if finite else math.nan)
    return run


def plot_batch_losses(runs: dict[str, dict], colours: dict[str, str], batch_size: int, title: str) -> plt.Figure:
    """Every batch loss of each `fit_report` run (skipped ones marked at the top), and the epoch means fit reports."""
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(14, 5), layout="constrained")
    top = max(run["largest_finite_batch_loss"] for run in runs.values()) * 1.5
    for name, run in runs.items():
        values = np.asarray(run["batch_losses"], dtype=float)
        numbers, finite = np.arange(1, len(values) + 1), np.isfinite(values)
        axes[0].plot(numbers[finite], values[finite], "o-", markersize=3, color=colours[name], label=f"loss {name}")
        if (~finite).any():
            axes[0].scatter(numbers[~finite], np.full((~finite).sum(), top), marker="x", s=70, color=colours[name],
                            label=f"loss {name}: not finite, batch skipped (drawn at the top)")
        axes[1].plot(np.arange(1, len(run["epoch_losses"]) + 1), run["epoch_losses"], "o-", color=colours[name],
                     label=f"loss {name}")
    axes[0].set(xlabel=f"batch ({batch_size} frames each)", ylabel="batch loss (log scale)", title="Every batch")
    axes[1].set(xlabel="epoch", ylabel="mean training loss of the epoch (log scale)",
                title="What fit reports: the epoch's mean over the batches it kept")
    axes[1].xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes:
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.15))  # below: no band between panels
    fig.suptitle(title)
    return fig


# ---- notebook 03: a short U-Net run against rules that see one pixel's colour ----

MEMORISED_AT = 0.8  # a training mIoU from which a short run counts as near memorising its frames


def describe_memorising(train_miou: float, gap: float, steps: int, frames: int, memorised_at: float = MEMORISED_AT) -> str:
    """Whether the baseline of the regularisation runs memorised its training frames, and what the runs can show.

    `train_miou` and `gap` (training − held-out mIoU) are the baseline's means over seeds; a
    training mIoU of `memorised_at` or more counts as near memorisation. Regularisation can only
    close a gap that memorising opened, so below it the runs show its cost, not its benefit.
    """
    if train_miou >= memorised_at:
        return (f"In {steps} steps the baseline got near memorising its {frames} training frames (training mIoU "
                f"{train_miou:.3f}) and scored {gap:.3f} less on the held-out frames: a gap regularisation can try to close.")
    return (f"In {steps} steps the baseline did not get near memorising its {frames} training frames (training mIoU "
            f"{train_miou:.3f}, under {memorised_at:g}; gap {gap:.3f}): these runs show what regularisation costs, not "
            "what it saves. Raise REGULARISATION_STEPS to see the rest.")


def _gap_change_text(verdict: dict) -> str:
    """A setting's change of the gap against the baseline's, with its standard error: '-0.016 (SE 0.005, shown only
    with pairing: unpaired SE 0.037)'. The note appears when the unpaired standard error would not show the change."""
    text = f"{verdict['difference']:+.3f} (SE {verdict['standard_error']:.3f}"
    unpaired = verdict.get("unpaired_standard_error", math.nan)
    if not verdict["within_noise"] and math.isfinite(unpaired) and abs(verdict["difference"]) < 2 * unpaired:
        text += f", shown only with pairing: unpaired SE {unpaired:.3f}"
    return text + ")"


def gap_narrowers(gap_verdicts: dict[str, dict]) -> list[str]:
    """The settings whose gap was smaller than the baseline's by more than two (paired) standard errors."""
    return [name for name, verdict in gap_verdicts.items() if verdict["difference"] < 0 and not verdict["within_noise"]
            and verdict["standard_error"] == verdict["standard_error"]]


def describe_gaps(gap_verdicts: dict[str, dict]) -> str:
    """Which regularisers closed the generalisation gap by more than two standard errors (paired, seed by seed), each
    with the size of its change, so that a small change does not read like a large one."""
    smaller = gap_narrowers(gap_verdicts)
    within = [name for name, verdict in gap_verdicts.items() if name not in smaller and verdict["difference"] < 0]
    shown = ", ".join(f"{name} {_gap_change_text(gap_verdicts[name])}" for name in smaller) or "none"
    unshown = ", ".join(f"{name} {_gap_change_text(gap_verdicts[name])}" for name in within)
    return ("a smaller gap than the baseline's by more than two standard errors (the gap's change, mean per seed, and its "
            "standard error): " + shown + (f"; smaller, but not shown by these runs: {unshown}" if within else ""))


def describe_gap_closers(summary: pd.DataFrame, names: Sequence[str], memorised: bool, helped: Sequence[str],
                         mechanisms: dict[str, dict[str, str]], lost: float = 0.1,
                         gap_verdicts: dict[str, dict] | None = None, memorised_at: float = MEMORISED_AT) -> str:
    """The regularisers that closed the gap without raising the held-out mIoU: training mIoU (evaluation mode) `lost`
    or more below the baseline's, and not in `helped`; for each, what its numbers show.

    `summary` is indexed by setting with `train_miou_mean`, and, when present, `final_loss_mean` (the training-mode
    loss at the end) and `train_miou_batch_statistics_mean` (the training frames scored with batch norm on each
    batch's own statistics, see `with_batch_statistics`). The score with batch statistics splits a setting's fall
    from the baseline into two parts, each named when it is `lost` or more, both when both are: that score below the
    baseline's own (it trained less), and the evaluation-mode score below that score (running statistics that do not
    match the weights). `mechanisms[name]["less"]` / `["evaluation"]` give a setting's likely cause of either part,
    `["both"]` (else the two joined) of both; `memorised`: whether the baseline got near memorising (a training mIoU
    of `memorised_at` or more). With `gap_verdicts` (`paired_within_noise` of the gap per setting), a last line names
    the settings that narrowed the gap beyond the noise with a fall of less than `lost`, and what narrowed it.
    """
    baseline = summary.loc["baseline"]
    closers = [name for name in names if name not in helped
               and summary.loc[name, "train_miou_mean"] <= baseline["train_miou_mean"] - lost]
    if closers:
        lines = [f"Lowered the training mIoU by {lost:g} or more without raising the held-out mIoU (training mIoU in "
                 f"evaluation mode against the baseline's {baseline['train_miou_mean']:.3f}):"]
        lines += [f"  {name}: {_closer_text(summary.loc[name], baseline, mechanisms.get(name, {}), lost)}"
                  for name in closers]
    else:
        lines = [f"No regulariser lowered the training mIoU by {lost:g} or more below the baseline's "
                 f"({baseline['train_miou_mean']:.3f}) without raising the held-out one."]
    narrowers = [name for name in gap_narrowers(gap_verdicts or {})
                 if name in names and name not in closers and name not in helped]
    if narrowers:
        lines.append(f"Narrowed the gap by more than two standard errors but lowered the training mIoU by less than {lost:g}, "
                     "so not in a list above:")
        lines += [f"  {name}: gap {_gap_change_text(gap_verdicts[name])}; "
                  f"{_small_fall_text(summary.loc[name], baseline)}" for name in narrowers]
    if closers:
        lines.append(f"The baseline got near memorising its frames (training mIoU {memorised_at:g} or more), so the cause "
                     "lies in these settings, not in the budget." if memorised else
                     f"The baseline did not get near memorising its frames (training mIoU under {memorised_at:g}): "
                     "slowing it down is then the usual outcome, as regularisation mostly pays off once a network has "
                     "trained long enough to (nearly) memorise.")
    return "\n".join(lines)


def _batch_statistics_scores(row: pd.Series, baseline: pd.Series) -> tuple[float, float]:
    """A setting's and the baseline's training mIoU scored with each batch's own statistics (NaN when not recorded)."""
    return (row.get("train_miou_batch_statistics_mean", math.nan),
            baseline.get("train_miou_batch_statistics_mean", math.nan))


def _small_fall_text(row: pd.Series, baseline: pd.Series) -> str:
    """What narrowed the gap of a setting whose training mIoU fell little: fitting less (its score with each batch's own
    statistics below the baseline's), or evaluation mode losing more of what the weights fitted than the baseline's."""
    evaluated, base_evaluated = row["train_miou_mean"], baseline["train_miou_mean"]
    text = f"training mIoU {evaluated:.3f} against the baseline's {base_evaluated:.3f} in evaluation mode"
    batch, base_batch = _batch_statistics_scores(row, baseline)
    if evaluated >= base_evaluated:
        return text + ": the training mIoU did not fall, so the gap narrowed on the held-out side"
    if batch != batch or base_batch != base_batch:
        return text + ("; without its score with each batch's own statistics, fitting less cannot be told from running "
                       "statistics that do not match the weights")
    text += f", {batch:.3f} against {base_batch:.3f} with each batch's own statistics"
    # rounded as printed, so that a part that prints as 0.000 counts as none
    fitted_less = round(base_batch - batch, 3)
    evaluation_lost = round((batch - evaluated) - (base_batch - base_evaluated), 3)
    if fitted_less <= 0:
        return (text + f": it fitted its frames no less than the baseline, and evaluation mode lost {batch - evaluated:.3f} "
                f"of that fit against the baseline's {base_batch - base_evaluated:.3f}: the narrower gap comes from batch "
                "norm's running statistics, not from regularisation")
    if evaluation_lost <= 0:
        return (text + f": it fitted its frames {fitted_less:.3f} less than the baseline, and evaluation mode lost no "
                "more than the baseline's")
    return (text + f": a little of both: it fitted its frames {fitted_less:.3f} less than the baseline, and evaluation "
            f"mode lost {evaluation_lost:.3f} more than the baseline's")


def _closer_text(row: pd.Series, baseline: pd.Series, causes: dict[str, str], lost: float) -> str:
    """One gap closer's fall from the baseline's training mIoU, split into training less and evaluation mode's loss."""
    evaluated = row["train_miou_mean"]
    loss = (f"training loss {row['final_loss_mean']:.3f} against the baseline's {baseline['final_loss_mean']:.3f}; "
            if "final_loss_mean" in row.index else "")
    batch, base_batch = _batch_statistics_scores(row, baseline)
    if batch != batch or base_batch != base_batch:
        return (f"{loss}training mIoU {evaluated:.3f}; without its score with each batch's own statistics, training "
                "less cannot be told from running statistics that do not match the weights")
    less = batch <= base_batch - lost
    evaluation = batch >= evaluated + lost
    statistics = f"training mIoU {batch:.3f} against {base_batch:.3f}"
    if less and evaluation:
        cause = causes.get("both") or ", and ".join(causes[key] for key in ("less", "evaluation") if key in causes)
        text = (f"trained less ({loss}{statistics} even with each batch's own statistics), and evaluation mode lost a "
                f"further {batch - evaluated:.3f} (down to {evaluated:.3f}), as batch norm's running statistics do not "
                "match the weights")
    elif less:
        cause = causes.get("less")
        text = f"trained less ({loss}{statistics} with each batch's own statistics, {evaluated:.3f} in evaluation mode)"
    elif evaluation:
        cause = causes.get("evaluation")
        text = (f"{loss}{statistics} with each batch's own statistics but {evaluated:.3f} in evaluation mode: "
                f"evaluation mode lost {batch - evaluated:.3f} of what the weights fitted, as batch norm's running "
                "statistics do not match them")
    else:
        cause = None
        text = (f"a little of both ({loss}{statistics} with each batch's own statistics, {evaluated:.3f} in evaluation "
                f"mode): neither part is {lost:g} or more on its own")
    return text + (f"; likely {cause}" if cause else "")


def describe_loss_comparison(summary: pd.DataFrame, train: dict, held_out: dict, other: str = "MSE on softmax",
                             baseline: str = "baseline") -> str:
    """What the MSE runs showed against cross-entropy: how fast they fitted the training frames, how evenly over
    seeds, and whether the held-out score differed.

    `summary`: `summarize` of train_miou and held_out_miou by setting; `train` and `held_out`: `paired_within_noise`
    of the two metrics, `other` against `baseline`. The gradient argument predicts a slower fit, not a worse model.
    """
    row, base = summary.loc[other], summary.loc[baseline]
    fit = (f"Training mIoU after the same steps: {row['train_miou_mean']:.3f} ± {row['train_miou_std']:.3f} with MSE "
           f"against {base['train_miou_mean']:.3f} ± {base['train_miou_std']:.3f} with cross-entropy (per seed "
           f"{train['difference']:+.3f}, standard error {train['standard_error']:.3f}): ")
    if train["standard_error"] != train["standard_error"]:
        fit += "one seed, so no standard error: these runs cannot tell a slower fit from noise"
    elif train["difference"] >= 0:
        fit += "not lower, so the slower fit the vanishing gradient predicts did not show in these runs"
    elif train["within_noise"]:
        fit += ("lower, but by less than two standard errors: the slower fit the vanishing gradient predicts is not "
                "shown by these runs")
    else:
        fit += "lower by more than two standard errors: MSE fitted its frames more slowly, as its vanishing gradient predicts"
    spread = row["train_miou_std"] / base["train_miou_std"] if base["train_miou_std"] > 0 else math.nan
    if spread == spread and spread >= 2:
        fit += f"; and it varied {spread:.0f}× as much from seed to seed, so how far a run got depended on its start"
    same = held_out["within_noise"] or held_out["standard_error"] != held_out["standard_error"]
    slower = train["difference"] < 0 and not train["within_noise"] and train["standard_error"] == train["standard_error"]
    kept = (f"Held-out mIoU {held_out['difference']:+.3f} against cross-entropy: "
            + ("not shown to differ, so in this budget the loss changed how fast the training frames were fitted, not "
               "the score on frames never seen" if same and slower else "not shown to differ either" if same else
               "lower by more than two standard errors" if held_out["difference"] < 0 else
               "higher by more than two standard errors"))
    return fit + ".\n" + kept + "."
