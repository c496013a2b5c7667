"""Reading the skip-connection ablation of notebook 08: a floor to beat, and this run's results in words.

- `majority_baseline`: predict the most frequent training class everywhere, scored like a model;
- `frame_fit`: whether a model's predictions fit their own frame better than other frames' labels;
- `band_shares`: how much of the image each model's boundary band covers (its own edges count too);
- `describe_*`: the sentences the notebook prints, one branch per outcome that can happen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from helpers.classes import ClassMap
from helpers.metrics import LEVEL_MARGIN, ConfusionMatrix, boundary_mask

# shares of a perfect model's frame gain: below the first "hardly follows the frame", below the second "mostly a
# fixed layout", below the third "follows the frame in part"
FOLLOWS = (0.1, 0.25, 0.5)
SHARE_MARGIN = 0.05  # shares of a score (or of a loss) closer than this are read as about the same
LOW_IOU = 0.2  # per-class IoUs below this move by a few pixels: one seed's lead there is not read
TARGET_BAND = "the target's edges alone"  # the key of `band_shares` for the band every model shares
# what each contender changes against the U-Net besides the skips ("": the skips alone), for the edge verdicts
BEYOND_SKIPS = {"U-Net without skips": "", "FCN-32s (ResNet-18, random init)": "no decoder, a ResNet-18 encoder"}


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
    """Each model against painting the majority class everywhere: in mIoU, the headline, and in pixel accuracy.

    Not above the floor's mIoU: not learned to tell the classes apart yet. Above it but below the floor's
    pixel accuracy: the trade that class weights ask for, rare classes painted generously and
    frequent-class pixels given up. Three outcomes, any two of them together when models differ.
    """
    floor_accuracy, floor_miou = baseline["pixel_accuracy"], baseline["miou"]
    lines = [f"the floor: \"{baseline['class']}\" on every pixel scores mIoU {floor_miou:.3f}, pixel accuracy "
             f"{floor_accuracy:.3f} on the same frames"]
    for name, accuracy in pixel_accuracy.items():
        lines.append(f"- {name}: mIoU {miou[name]:.3f}, {'above' if miou[name] > floor_miou else 'NOT above'} the "
                     f"floor's; pixel accuracy {accuracy:.3f}, {'above' if accuracy > floor_accuracy else 'below'} "
                     f"the floor's ({accuracy - floor_accuracy:+.3f})")
    unlearned = [name for name in pixel_accuracy if miou[name] <= floor_miou]
    traded = [name for name, accuracy in pixel_accuracy.items()
              if miou[name] > floor_miou and accuracy <= floor_accuracy]
    if unlearned:
        those = "its" if len(unlearned) == 1 else "their"
        lines.append(f"after {epochs} epoch(s), {', '.join(unlearned)} did not beat the floor's mIoU: not yet "
                     f"learned to tell the classes apart, so read {those} scores as an early state, not as what "
                     "the architecture can do")
    if traded:
        lines.append(f"{', '.join(traded)} beat the floor's mIoU but not its pixel accuracy: the class weights make "
                     "a pixel of a rare class count for many of a frequent one, so a model that cannot yet place "
                     "the rare classes paints them generously and gives up frequent-class pixels (the pictures of "
                     "section 4 show where: the per-class IoU cannot, as it merges pixels painted too often with "
                     "pixels missed)")
    if not unlearned and not traded:
        lines.append(f"after {epochs} epoch(s) every model beats the floor in both; all are still far from trained "
                     "(notebook 07 trains the U-Net for the full budget)")
    return "\n".join(lines)


def frame_fit(preds: torch.Tensor, targets: torch.Tensor, groups: np.ndarray | None = None,
              ignore_index: int | None = None) -> dict[str, float]:
    """Pixel accuracy of each prediction on its own frame's labels (`own`) and on other frames' (`other`).

    A model that paints where classes usually are, whatever the frame shows, fits another frame's labels
    about as well as its own; one that reads the frame fits its own much better. `groups` (a sequence
    per frame) keeps near-identical frames of one sequence out of `other`; when all frames are of one
    sequence, every other frame counts. Pixels labelled `ignore_index` are not counted.
    """
    preds, targets = torch.as_tensor(preds), torch.as_tensor(targets)
    if preds.shape != targets.shape or preds.dim() != 3 or len(preds) < 2:
        raise ValueError(f"need N×H×W predictions and targets of one shape, N ≥ 2; got {tuple(preds.shape)} "
                         f"and {tuple(targets.shape)}")
    groups = np.asarray(groups) if groups is not None and len(set(groups)) > 1 else np.arange(len(preds))
    valid = targets != ignore_index if ignore_index is not None else torch.ones_like(targets, dtype=torch.bool)

    def accuracy(pred: torch.Tensor, labels: torch.Tensor, counted: torch.Tensor) -> float:
        return float(((pred == labels) & counted).sum() / counted.sum().clamp(min=1))

    own, other = [], []
    for index in range(len(preds)):
        others = torch.from_numpy(groups != groups[index])
        own.append(accuracy(preds[index], targets[index], valid[index]))
        if others.any():
            other.append(accuracy(preds[index], targets[others], valid[others]))
    return {"own": float(np.mean(own)), "other": float(np.mean(other))}


def frame_share(fit: Mapping[str, float], target_other: float) -> float:
    """A model's frame gain (own − other) as a share of a perfect model's (1 − `target_other`); NaN if that is 0."""
    perfect = 1.0 - target_other
    return (fit["own"] - fit["other"]) / perfect if perfect > 0 else float("nan")


def describe_gap_reading(ahead: str, behind: str, shares: Mapping[str, float], epochs: int) -> str:
    """What an mIoU gap between two models measures, given how much each follows its frame (`frame_share`).

    A model below `FOLLOWS[1]` mostly paints a fixed layout: a gap against it measures how much later it
    starts reading its input under this recipe, not what the other model's skips carry.
    """
    layout = {name: paints_layout(shares, name) for name in (ahead, behind)}
    both = (f"frame gain {shares[ahead]:.0%} of a perfect model's for {ahead}, {shares[behind]:.0%} for {behind}; "
            "section 4")
    if layout[ahead] and layout[behind]:
        return (f"both still mostly paint a fixed layout ({both}): after {epochs} epoch(s) the gap compares two early "
                "states, not what the skips carry")
    if layout[behind]:
        return (f"{behind} still mostly paints a fixed layout ({both}): after {epochs} epoch(s) the gap measures how "
                "much later it starts reading its input, not what the skips carry (exercise 1 trains longer)")
    if layout[ahead]:
        return (f"the model ahead, {ahead}, still mostly paints a fixed layout ({both}): its lead is that of a good "
                "average layout, not of reading the frame")
    return f"both follow their frames, at least in part ({both}): the gap is between two models that look at their input"


def describe_frame_fit(fits: Mapping[str, Mapping[str, float]], target_other: float, epochs: int) -> str:
    """For each model, how much better it fits its own frame than other frames, against a perfect model's gain.

    `target_other` is `frame_fit(targets, targets)["other"]`: a perfect model fits its own frame at 1.0, so
    its gain is 1 − target_other. Four outcomes per model, by the share of that gain it shows (`FOLLOWS`).
    """
    perfect = 1.0 - target_other
    lines = [f"pixel accuracy on its own frame's labels, and on the labels of other frames (of other sequences) "
             f"(a perfect model: 1.00 and {target_other:.2f}, a gain of {perfect:.2f}):"]
    for name, fit in fits.items():
        gain = fit["own"] - fit["other"]
        share = frame_share(fit, target_other)
        if not share >= FOLLOWS[0]:
            verdict = ("hardly follows the frame: it fits other frames' labels about as well as its own, so it gives "
                       "about the same answer whatever the frame shows")
        elif share < FOLLOWS[1]:
            verdict = ("mostly a fixed layout: it paints where the classes usually are, and the frame shows through "
                       "only a little")
        elif share < FOLLOWS[2]:
            verdict = "follows the frame in part"
        else:
            verdict = "follows the frame"
        lines.append(f"- {name}: {fit['own']:.2f} against {fit['other']:.2f}, a gain of {round(gain, 2) + 0.0:+.2f} "
                     f"({round(share, 2) + 0.0:.0%} of a perfect model's): {verdict}")  # + 0.0: no -0.00
    lines.append(f"(after {epochs} epoch(s); blur at the edges can only be read where a model follows the frame)")
    return "\n".join(lines)


def _shown(interval: Mapping[str, Any]) -> bool:
    """Whether a bootstrap interval of a difference excludes zero."""
    return interval["low"] > 0 or interval["high"] < 0


def paints_layout(frame_shares: Mapping[str, float], name: str) -> bool:
    """Whether a model's frame gain (`frame_share`) is below `FOLLOWS[1]`: it mostly paints a fixed layout."""
    return not frame_shares[name] >= FOLLOWS[1]  # NaN counts as a layout: nothing shows it reads the frame


def _layout_reading(frame_shares: Mapping[str, float], models: Sequence[str], subject: str, about: str = "edges",
                    named: str | None = None) -> str:
    """Why a verdict is not given: which of `models` mostly paint a layout, their frame gains, and that `subject`
    (with its verb: "its share says") says nothing about `about` yet; `named` stands for the painters' names."""
    painters = [name for name in models if paints_layout(frame_shares, name)]
    if len(painters) == 1:
        gains = f"frame gain {frame_shares[painters[0]]:.0%} of a perfect model's"
    else:
        gains = "frame gains of a perfect model's: " + ", ".join(f"{frame_shares[n]:.0%} for {n}" for n in painters)
    paint = "paints" if len(painters) == 1 else "paint"
    who = named or (painters[0] if len(painters) == 1 else f"{', '.join(painters[:-1])} and {painters[-1]}")
    return f"{who} mostly {paint} a layout ({gains}), so {subject} nothing about {about} yet (section 4)"


def describe_proportion(weaker: str, stronger: str, near_share: float, far_share: float,
                        margin: float = SHARE_MARGIN, near: str = "near the edges",
                        far: str = "on the whole image", frame_shares: Mapping[str, float] | None = None) -> str:
    """Where the weaker model is further behind, read from the share of the stronger's score it keeps `near` the
    edges (a band around them) and `far` from them (the whole image, or a wider band).

    Boundary scores are lower than whole-image scores for every model, so an absolute gap shrinks near the
    edges even for a model that is the same fraction worse everywhere: the shares compare like with like.
    Blur at the edges can only be read where a model follows its frame: when either model's `frame_shares`
    is below `FOLLOWS[1]`, the shares are printed without a verdict.
    """
    if math.isnan(near_share) or math.isnan(far_share):  # the stronger model scored 0
        return "a score of 0 leaves no share to compare"
    shares = f"{weaker} keeps {near_share:.0%} of the score of {stronger} {near}, {far_share:.0%} {far}"
    layout = _pair_layout(frame_shares, weaker, stronger) if frame_shares is not None else ""
    if layout:
        return f"{shares}: {layout}"
    where = _further_behind(near_share, far_share, margin)
    if where == "near":
        return f"{shares}: in proportion further behind {near}, where skips carrying sharp detail would matter"
    if where == "far":
        return f"{shares}: in proportion further behind {far}: it fails on whole regions, not only at the edges"
    return (f"{shares}: in proportion about the same {near} as {far} (within {margin * 100:.0f} points): behind by "
            "the same share everywhere, not at the edges in particular")


def _further_behind(near_share: float, far_share: float, margin: float) -> str:
    """Where a weaker model keeping these shares of a stronger one's score is further behind: "near", "far" or
    "same" (the shares within `margin`)."""
    return "near" if near_share < far_share - margin else "far" if near_share > far_share + margin else "same"


def _pair_layout(frame_shares: Mapping[str, float], weaker: str, stronger: str, it: bool = False) -> str:
    """Why where `weaker` is behind `stronger` says nothing about edges, when either mostly paints a layout; '' when
    both follow their frames. `it`: name the painter "it" when it is the weaker model alone."""
    if not (paints_layout(frame_shares, weaker) or paints_layout(frame_shares, stronger)):
        return ""
    alone = not paints_layout(frame_shares, stronger)  # only the weaker paints a layout
    subject = "where it is behind says" if alone else f"where {weaker} is behind says"
    return _layout_reading(frame_shares, (weaker, stronger), subject, named="it" if alone and it else None)


def _share(weaker: float, stronger: float) -> float:
    return weaker / stronger if stronger > 0 else float("nan")


def describe_edge_gap(whole: Mapping[str, float], edge: Mapping[str, float], interval: Mapping[str, Any],
                      frame_shares: Mapping[str, float]) -> str:
    """Where the gap between two models (`whole` and `edge` mIoU, first minus second) is larger, in proportion.

    Read only when the whole-image gap's bootstrap `interval` excludes zero; then from the share of the
    stronger model's score the weaker keeps near the edges and on the whole image (`describe_proportion`),
    and only when both models follow their frames (`frame_shares`, each model's `frame_share`).
    """
    first, second = whole
    text = f"boundary mIoU {edge[first]:.3f} against {edge[second]:.3f} ({edge[first] - edge[second]:+.3f})"
    if not _shown(interval):
        return text + ": the whole-image gap is not shown to be a difference, so where it is larger is not read"
    stronger, weaker = (first, second) if interval["low"] > 0 else (second, first)
    return text + "; " + describe_proportion(weaker, stronger, _share(edge[weaker], edge[stronger]),
                                             _share(whole[weaker], whole[stronger]), frame_shares=frame_shares)


def describe_edge_loss(miou: Mapping[str, float], boundary_miou: Mapping[str, float],
                       frame_shares: Mapping[str, float], intervals: Mapping[str, Mapping[str, Any]],
                       reference: str = "U-Net", margin: float = SHARE_MARGIN,
                       beyond_skips: Mapping[str, str] = BEYOND_SKIPS) -> str:
    """mIoU lost near the edges as a share of each model's own mIoU, and, model by model, whether `reference`
    loses a smaller share than it.

    A pair is compared only when both models follow their frames (`frame_shares` at least `FOLLOWS[1]`; a model
    that mostly paints a layout gets its numbers printed and no edge verdict) and their whole-image gap is shown
    (`intervals[f"{reference} − {name}"]` excludes zero). A difference is credited to the skips only for a model
    that differs from `reference` in the skips alone (`beyond_skips[name] == ""`); otherwise the line says what
    else differs.
    """
    loss = {name: _share(miou[name] - boundary_miou[name], miou[name]) for name in miou}
    text = ("mIoU lost near the edges, as a share of the model's own mIoU: "
            + ", ".join(f"{name} {loss[name]:.0%} ({miou[name]:.3f} → {boundary_miou[name]:.3f})" for name in miou))
    painters = [name for name in miou if paints_layout(frame_shares, name)]
    if painters:
        subject = "its share says" if len(painters) == 1 else "their shares say"
        text += "\n  " + _layout_reading(frame_shares, painters, subject)
    if reference in painters:
        return text
    for name in miou:
        if name == reference or name in painters:
            continue
        pair = f"{reference} − {name}"
        if not _shown(intervals[pair]):
            text += (f"\n  {pair}: the whole-image gap is not shown (section 3), so which holds up better at the "
                     "edges is not read")
            continue
        if math.isnan(loss[reference]) or math.isnan(loss[name]):
            text += f"\n  {pair}: a score of 0 leaves no share to compare"
            continue
        if abs(loss[reference] - loss[name]) < margin:
            text += (f"\n  {pair}: about the same share (within {margin * 100:.0f} points): neither holds up better "
                     "at the edges")
            continue
        steadier, other = (reference, name) if loss[reference] < loss[name] else (name, reference)
        text += f"\n  {pair}: {steadier} loses the smaller share ({loss[steadier]:.0%} against {loss[other]:.0%})"
        beyond = beyond_skips.get(name)  # None: not known to differ in the skips alone
        if steadier != reference:
            text += f", not {reference} in this run"
        elif beyond == "":
            text += ", as skips carrying sharp detail would make it"
        else:
            what = f" ({beyond})" if beyond else ""
            text += (f"; but {name} differs from {reference} in more than skips{what}, so this is not the skips' "
                     "doing alone")
    return text


def describe_small_classes(iou: Mapping[str, Mapping[str, float]], classes: Sequence[str],
                           frame_shares: Mapping[str, float], reference: str = "U-Net",
                           low: float = LOW_IOU) -> list[str]:
    """The reference's IoU on each small class against every other model's, and whether that can be read at all.

    A model that mostly paints a layout (`frame_shares` below `FOLLOWS[1]`) has its IoU printed but is left out of
    the ahead/behind reading, with the reason; when the reference paints a layout, nothing is read.
    One line per class present (one bullet each in the notebook).
    """
    lines = []
    for cls in classes:
        present = {model: scores.get(cls, math.nan) for model, scores in iou.items()}
        present = {model: value for model, value in present.items() if not math.isnan(value)}
        if reference not in present:
            continue
        others = ", ".join(f"{model} {value:.3f} ({round(value - present[reference], 3) + 0.0:+.3f})"  # no -0.000
                           for model, value in present.items() if model != reference)
        painters = [m for m in present if paints_layout(frame_shares, m)]
        readable = [m for m in present if m != reference and m not in painters]
        ahead = [m for m in readable if present[m] - present[reference] >= LEVEL_MARGIN]
        noise = (f"one seed, IoU below {low}: not read as a difference" if max(present.values()) < low
                 else "one seed, no interval per class: not shown to be a difference")
        if reference in painters or not readable:
            reading = ""
        elif ahead:
            reading = f"ahead of {reference}: {', '.join(ahead)}, against the expectation ({noise})"
        else:
            who = "no model" if not painters else "no model that follows its frame is"
            reading = f"{who} ahead of {reference}, as expected ({noise})"
        if painters:
            subject = "its score here says" if len(painters) == 1 else "their scores here say"
            layout = _layout_reading(frame_shares, painters, subject, about="the skips")
            reading = f"{reading}; {layout}" if reading else layout
        lines.append(f"{cls}, a small class: {reference} {present[reference]:.3f}, {others} — {reading}")
    return lines or ["no small class is present in this class map"]


def band_shares(preds: Mapping[str, torch.Tensor], targets: torch.Tensor, width: int) -> dict[str, float]:
    """The share of pixels in each model's boundary band (the target's edges and its own, as `boundary_iou` counts)."""
    target_band = boundary_mask(targets, width)
    shares = {name: float((target_band | boundary_mask(pred, width)).float().mean()) for name, pred in preds.items()}
    return {**shares, TARGET_BAND: float(target_band.float().mean())}


def describe_band_shares(shares: Mapping[str, float], spread: float = 0.05) -> str:
    """Each model's band share, and whether the boundary scores of the models count the same pixels."""
    models = {name: share for name, share in shares.items() if name != TARGET_BAND}
    text = ("the boundary band (the target's edges and the model's own) covers "
            + ", ".join(f"{share:.0%} of the pixels for {name}" for name, share in models.items())
            + f" ({TARGET_BAND}: {shares[TARGET_BAND]:.0%})")
    if max(models.values()) - min(models.values()) >= spread:
        return (text + ": the models are scored on different pixels — one that draws more edges is scored on "
                "more of the image — so compare their boundary scores with that in mind")
    return text + ": about the same pixels for every model, so their boundary scores compare like with like"


def describe_class_leads(first: str, second: str, iou: Mapping[str, Mapping[str, float]], low: float = LOW_IOU) -> str:
    """Where `second` is ahead of `first` per class, where behind, level (within `LEVEL_MARGIN`); absent classes skipped.

    A class where both IoUs are below `low` is listed apart and not read: a few pixels move such scores, and one seed
    cannot tell a lead there from noise (as `describe_small_classes` says of the small classes).
    """
    gaps = {cls: iou[second][cls] - iou[first][cls] for cls in iou[first]
            if iou[first][cls] == iou[first][cls] and iou[second][cls] == iou[second][cls]}
    unread = [c for c in gaps if max(iou[first][c], iou[second][c]) < low]
    read = {c: gap for c, gap in gaps.items() if c not in unread}
    ahead = sorted((c for c, g in read.items() if g >= LEVEL_MARGIN), key=lambda c: -gaps[c])
    behind = sorted((c for c, g in read.items() if g <= -LEVEL_MARGIN), key=lambda c: gaps[c])
    level = [c for c in read if c not in ahead and c not in behind]

    def listed(classes: list[str]) -> str:
        return ", ".join(f"{c} ({gaps[c]:+.3f})" for c in classes) or "no class"

    parts = [f"ahead on {listed(ahead)}", f"behind on {listed(behind)}"]
    if level:
        parts.append(f"level (within {LEVEL_MARGIN}) on {', '.join(level)}")
    if unread:
        parts.append(f"both below IoU {low}, not read as a difference: {listed(unread)}")
    return f"{second} against {first}, IoU per class (one seed): " + "; ".join(parts)


def describe_band_widths(band_scores: Mapping[str, Sequence[float]], widths: Sequence[int], reference: str,
                         intervals: Mapping[str, Mapping[str, Any]], frame_shares: Mapping[str, float]) -> str:
    """Boundary mIoU at the narrowest and widest band, and, in proportion, where `reference`'s gap is larger.

    `intervals[f"{reference} − {name}"]` is the whole-image gap's bootstrap interval: the trend of a gap that
    is not shown to exist is not read; nor is it where a model mostly paints a layout (`frame_shares`).
    """
    lines = [f"boundary mIoU at {widths[0]} px: " + ", ".join(f"{n} {s[0]:.3f}" for n, s in band_scores.items()),
             f"boundary mIoU at {widths[-1]} px: " + ", ".join(f"{n} {s[-1]:.3f}" for n, s in band_scores.items())]
    for name, scores in band_scores.items():
        if name == reference:
            continue
        near, far = band_scores[reference][0] - scores[0], band_scores[reference][-1] - scores[-1]
        interval = intervals[f"{reference} − {name}"]
        if not _shown(interval):
            trend = "the whole-image gap itself is not shown, so its trend is not read"
        else:
            weaker, stronger = (name, reference) if interval["low"] > 0 else (reference, name)
            near_share = _share(band_scores[weaker][0], band_scores[stronger][0])
            trend = describe_proportion(weaker, stronger, near_share,
                                        _share(band_scores[weaker][-1], band_scores[stronger][-1]),
                                        near=f"in the {widths[0]}-px band", far=f"in the {widths[-1]}-px band",
                                        frame_shares=frame_shares)
        lines.append(f"{reference} − {name}: {near:+.3f} at {widths[0]} px, {far:+.3f} at {widths[-1]} px — {trend}")
    return "\n".join(lines)


def describe_run_summary(miou: Mapping[str, float], boundary_miou: Mapping[str, float],
                         intervals: Mapping[str, Mapping[str, Any]], frame_shares: Mapping[str, float],
                         lightness: Mapping[str, float], delta_e: Mapping[str, float], reference: str = "U-Net",
                         twin: str = "U-Net without skips", fcn: str = "FCN-32s (ResNet-18, random init)",
                         margin: float = SHARE_MARGIN) -> str:
    """This run in four bullets, for the summary: the twin near the edges and on the whole image (or that it
    mostly paints a layout), whether the gap to FCN-32s is shown, what the skips do to the colorizer's
    lightness error, and whether a colorizer beats leaving the frame grey.

    `intervals` are keyed `f"{reference} − {name}"`; `lightness` (|ΔL|) and `delta_e` are keyed "with skips",
    "without skips" and "grey input".
    """
    lines = []
    interval, gap = intervals[f"{reference} − {twin}"], miou[reference] - miou[twin]
    if not _shown(interval):
        lines.append(f"{reference} against {twin}: mIoU {gap:+.3f}, not shown to be a difference by these frames")
    else:
        stronger, weaker = (reference, twin) if interval["low"] > 0 else (twin, reference)
        near, far = _share(boundary_miou[weaker], boundary_miou[stronger]), _share(miou[weaker], miou[stronger])
        behind = (f"{weaker} is behind {stronger} by {abs(gap):.3f} mIoU, a difference these frames show (95 % "
                  f"interval [{interval['low']:+.3f}, {interval['high']:+.3f}])")
        layout = _pair_layout(frame_shares, weaker, stronger, it=True)
        if layout:
            lines.append(f"{behind}, but {layout}")
        elif math.isnan(near) or math.isnan(far):
            lines.append(f"{behind}; a score of 0 leaves no share to compare")
        else:
            where = {"near": "further behind near the edges", "far": "further behind on the whole image",
                     "same": "behind by about the same share near the edges and on the whole image"}
            lines.append(f"{behind}, {where[_further_behind(near, far, margin)]} (it keeps {near:.0%} of the score "
                         f"near the edges, {far:.0%} on the whole image)")
    interval = intervals[f"{reference} − {fcn}"]
    lines.append(f"{reference} − {fcn}: mIoU {miou[reference] - miou[fcn]:+.3f}, "
                 + ("a difference these frames show" if _shown(interval) else "not shown to be a difference"))
    with_skips, without = lightness["with skips"], lightness["without skips"]
    lines.append(f"the colorizer's lightness error |ΔL|: {without:.2f} without skips, {with_skips:.2f} with them — "
                 + (f"the skips cut it {without / with_skips:.1f}×" if 0 < with_skips < without
                    else "the skips did not cut it in this run"))
    grey = delta_e["grey input"]
    beat = [name for name in ("with skips", "without skips") if delta_e[name] < grey]
    verdict = ("neither colorizer beats" if not beat else "both colorizers beat" if len(beat) == 2
               else f"only the colorizer {beat[0]} beats")
    lines.append(f"{verdict} leaving the frame grey in mean ΔE ({delta_e['with skips']:.1f} with skips, "
                 f"{delta_e['without skips']:.1f} without, grey {grey:.1f})")
    return "\n".join("- " + line for line in lines)
