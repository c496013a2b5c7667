"""Notebook 07's final run as functions, and the command that runs it where a notebook would take too long.

    python -m helpers.train --recipe runs/full/06_scheduler_comparison.json --dataset gta5 \\
        --profile full --out runs/full/07_final_training
    torchrun --nproc_per_node=4 -m helpers.train …            # the same run on 4 GPUs

Notebook 07 and the command build the run from the same pieces, so that they train the same frames
into the same checkpoint folder (a run started by one is resumed by the other):

- `read_recipe`: a recipe file (`Recipe.to_dict()`, or notebook 06's results with its `recipe`);
- `final_splits`: train + val merged for training, pseudo-test to watch the run, test for the report;
- `final_config` and `checkpoint_folder`: the settings that name the run's folder;
- `ensemble_plan`: how many of the last epochs the final model averages;
- `final_candidates`: best epoch, averaged weights, checkpoint ensemble (the last is the final model);
- `final_report` and `write_report`: the test metrics as JSON, and their figures as PNG files.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from helpers import distributed
from helpers.classes import ClassMap
from helpers.config import Profile, get_profile, seed_everything
from helpers.datasets import Augment
from helpers.recipe import Recipe
from helpers.train import (
    History,
    autocast_dtype,
    checkpoint_progress,
    claim_run_dir,
    config_digest,
    evaluate,
    fit,
    load_model,
    load_snapshots,
    predict,
)

REPORT_FILE = "test_report.json"


def read_recipe(path: str | Path) -> Recipe:
    """The Recipe in a JSON file: `Recipe.to_dict()` itself, or results holding it under "recipe" (notebook 06's)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no recipe file at {path}: run notebook 06 (it writes RUN_DIR/"
                                f"06_scheduler_comparison.json) or write Recipe(...).to_dict() to a JSON file")
    try:
        data = json.loads(path.read_text())
    except ValueError as error:
        raise ValueError(f"{path} is not JSON ({error}): write Recipe(...).to_dict() with json.dump") from error
    if isinstance(data, dict) and "recipe" in data:
        data = data["recipe"]
    try:
        return Recipe.from_dict(data)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path} holds no recipe: {error}") from error


FINAL_AUGMENT = Augment(flip=0.5, degrees=0.0, jitter=0.2, haze=0.85, rain=0.3)
"""The final run's augmentation (`augment=True`): mirror, colour jitter, and haze or rain on the training
frames, so that fog or rain in a test sequence is not new; no rotation, since a street camera stays level."""


def resolve_augment(augment: bool | Augment | None) -> Augment | None:
    """The `Augment` a final run uses: True → FINAL_AUGMENT, False or None → none, an `Augment` as given."""
    if augment is True:
        return FINAL_AUGMENT
    if not augment:
        return None
    if not isinstance(augment, Augment):
        raise TypeError(f"augment must be True, False or a helpers.datasets.Augment, not {augment!r}")
    return augment


@dataclass
class FinalSplits:
    """The frames of the final run: `table` (the split manifest) and the three data sets built from it."""

    table: pd.DataFrame
    train_set: object
    monitor_set: object
    test_set: object


def final_splits(dataset: str, profile: Profile, manifest: str | Path | pd.DataFrame | None = None,
                 classes: str | ClassMap | None = None, train_images: int | None = None,
                 augment: bool | Augment = False) -> FinalSplits:
    """Train on train + val (at most `train_images`, default the profile's), watch pseudo-test, report on test.

    `manifest` is notebook 01's clean split (a CSV path or table); None splits the whole data set by sequence.
    """
    from helpers.datasets import build_manifest, load_dataset, read_manifest, split_by_sequence

    if isinstance(manifest, pd.DataFrame):
        table = manifest.copy()
    else:
        table = read_manifest(manifest) if manifest is not None else split_by_sequence(build_manifest(dataset))
    table["trained_on"] = table["split"].isin(["train", "val"])
    final_table = table.assign(split=table["split"].replace({"val": "train"}))  # val joins train
    train_set = load_dataset(dataset, classes=classes, profile=profile, split="train", manifest=final_table,
                             max_images=train_images or profile.max_train_images,
                             augment=resolve_augment(augment) or False)
    monitor_set = load_dataset(dataset, classes=train_set.class_map, profile=profile, split="pseudo_test",
                               manifest=table)
    test_set = load_dataset(dataset, classes=train_set.class_map, profile=profile, split="test", manifest=table)
    return FinalSplits(table, train_set, monitor_set, test_set)


def unaugmented_subset(dataset, count: int) -> torch.utils.data.Subset:
    """`count` frames spread evenly over `dataset`, as stored: a copy of it with augmentation switched off, so that
    the frames trained on are scored as they are (a Subset gets no seeded sampler: augmented, it would draw a new
    mirror, haze or rain at every pass)."""
    plain = copy.copy(dataset)
    plain.augment = None
    return torch.utils.data.Subset(plain, np.linspace(0, len(dataset) - 1, count).astype(int).tolist())


def ensemble_plan(recipe: Recipe, ensemble_size: int | None = None) -> tuple[int, int]:
    """(ensemble size, first epoch averaged): the last quarter of the epochs unless `ensemble_size` says."""
    size = int(ensemble_size or max(1, recipe.epochs // 4))
    return size, max(1, recipe.epochs - size + 1)


def final_config(dataset: str, train_set, recipe: Recipe, profile: Profile, seed: int, augment: bool | Augment,
                 patience: int | None, ensemble_size: int, channels_last: bool, amp: bool | str,
                 device: str | torch.device) -> dict:
    """The settings of a final run (plain values): what `claim_run_dir` stores and the folder name hashes."""
    from helpers.datasets import dataset_fingerprint

    return {"dataset": dataset, "classes": train_set.class_map.name, "data_version": dataset_fingerprint(dataset),
            "recipe": recipe.to_dict(), "base": profile.base, "image_size": list(profile.image_size), "seed": seed,
            "augment": dataclasses.asdict(resolve_augment(augment)) if augment else False,
            "train_frames": {"count": len(train_set), "fingerprint": config_digest({"frames": train_set.frames})},
            "patience": patience, "ensemble_size": ensemble_size, "channels_last": channels_last,
            "precision": str(autocast_dtype(amp, device) or torch.float32)}


def checkpoint_folder(parent: str | Path, recipe: Recipe, config: dict) -> Path:
    """One folder per configuration: `parent/run-<optimizer>-<schedule>-<digest of the config>`."""
    return Path(parent).expanduser() / f"run-{recipe.optimizer}-{recipe.schedule}-{config_digest(config)}"


def epoch_span(first: int, last: int) -> str:
    """Epochs first to last in words: "epochs 39–50", or "epoch 2 only" when the span holds one epoch."""
    return f"epoch {first} only" if first == last else f"epochs {first}–{last}"


def final_candidates(checkpoint_dir: str | Path, history: History, device: str | torch.device = "cpu") -> dict:
    """The models a final run offers, by name: the best epoch, the averaged weights, the checkpoint ensemble.

    The rule fixed in advance takes the last of them: the ensemble of the last epochs run.
    """
    checkpoint_dir = Path(checkpoint_dir)
    snapshots = sorted(int(path.stem.split("_")[1]) for path in (checkpoint_dir / "snapshots").glob("epoch_*.pt"))
    candidates = {f"best single epoch ({history.best_epoch})": load_model(checkpoint_dir / "best.pt",
                                                                          map_location=device)}
    if history.averaged:
        span = epoch_span(history.averaged["from_epoch"], history.averaged["to_epoch"])
        candidates[f"weights averaged over {span}"] = load_model(checkpoint_dir / "averaged.pt",
                                                                        map_location=device)
    if snapshots:
        span = epoch_span(snapshots[0], snapshots[-1])
        candidates[f"predictions averaged over {span} (checkpoint ensemble)"] = load_snapshots(
            checkpoint_dir, snapshots, map_location=device)
    return candidates


# ----------------------------------------------------------------------------- the test report


def final_report(model: torch.nn.Module, test_set, batch_size: int, device: str | torch.device = "cpu") -> dict:
    """Test metrics from one confusion matrix, each frame's pixel accuracy, and the best and worst frames.

    Plain values only (NaN where a class is absent), ready for JSON; "predictions" holds the class
    maps for the figures (and the class map) and is left out of the file.
    """
    from helpers.datasets import make_loader
    from helpers.metrics import per_image_accuracy

    class_map = test_set.class_map
    metrics = evaluate(model, make_loader(test_set, batch_size=batch_size, shuffle=False, device=device),
                       device=device)
    images = torch.stack([test_set[i][0] for i in range(len(test_set))])
    targets = torch.stack([test_set[i][1] for i in range(len(test_set))])
    predictions = predict(model, images, device=device, batch_size=batch_size)
    accuracy = per_image_accuracy(predictions, targets, class_map).numpy()
    order = np.argsort(accuracy, kind="stable")
    frames = [str(frame) for frame in test_set.frames]
    names = list(class_map.class_names)
    return {
        "classes": class_map.name,
        "test_frames": len(test_set),
        "miou": float(metrics["miou"]),
        "pixel_accuracy": float(metrics["pixel_accuracy"]),
        "per_class_iou": dict(zip(names, map(float, metrics["iou"]))),
        "per_class_dice": dict(zip(names, map(float, metrics["dice"]))),
        "per_class_accuracy": dict(zip(names, map(float, metrics["class_accuracy"]))),
        "confusion": metrics["confusion"].tolist(),
        "per_image_accuracy": dict(zip(frames, map(float, accuracy))),
        "best_frames": [frames[i] for i in order[-2:][::-1]],
        "worst_frames": [frames[i] for i in order[:2]],
        "predictions": (images, targets, predictions, order, class_map),
    }


def per_frame_report(model: torch.nn.Module, dataset, batch_size: int,
                     device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass over `dataset`: each frame's C×C confusion matrix (rows = true class), and its plain
    cross-entropy summed over the pixels it gets right and over those it gets wrong.

    Per-frame matrices let any subset of frames (a scene, a weather, one image) be scored without a
    second pass; the two loss sums show which pixels the loss is made of.
    """
    from helpers.datasets import make_loader
    from helpers.metrics import confusion_per_group

    class_map = dataset.class_map
    ignore = class_map.ignore_index
    matrices, loss_right, loss_wrong = [], [], []
    model.eval()
    with torch.no_grad():
        for images, targets in make_loader(dataset, batch_size=batch_size, shuffle=False):
            logits = model(images.to(device)).float().cpu()
            valid = torch.ones_like(targets, dtype=torch.bool) if ignore is None else targets != ignore
            pixel_loss = torch.nn.functional.cross_entropy(
                logits, targets, reduction="none", ignore_index=-100 if ignore is None else ignore)
            right = (logits.argmax(dim=1) == targets) & valid
            matrices.append(confusion_per_group(logits.argmax(dim=1), targets, class_map))
            loss_right.append((pixel_loss * right).flatten(1).sum(1))
            loss_wrong.append((pixel_loss * (valid & ~right)).flatten(1).sum(1))
    return np.concatenate(matrices), torch.cat(loss_right).numpy(), torch.cat(loss_wrong).numpy()


def class_errors(confusion: np.ndarray, class_names: list[str], index: int, top: int = 2) -> dict:
    """Where class `index` loses IoU, from a confusion matrix (rows = true class): its precision and recall,
    its false positives and false negatives (in pixels), and the `top` classes its missed pixels went to,
    each with its share of the class's true pixels."""
    matrix = np.asarray(confusion, dtype=np.float64)
    hits, true, predicted = matrix[index, index], matrix[index].sum(), matrix[:, index].sum()
    missed = [(other, matrix[index, other] / true) for other in np.argsort(-matrix[index], kind="stable")
              if other != index and matrix[index, other] > 0][:top]
    return {"precision": float(hits / predicted) if predicted else float("nan"),
            "recall": float(hits / true) if true else float("nan"),
            "false_positives": int(predicted - hits), "false_negatives": int(true - hits),
            "missed_to": {class_names[other]: float(share) for other, share in missed}}


def one_frame_per_sequence(manifest: pd.DataFrame, count: int) -> pd.DataFrame:
    """The first frame of each of `count` different sequences (in the manifest's order): examples that are not
    near copies of each other. Fewer sequences than `count`: their frames fill the rest, in order."""
    firsts = manifest.drop_duplicates("sequence") if "sequence" in manifest else manifest.iloc[:0]
    rest = manifest.drop(index=firsts.index)
    return pd.concat([firsts, rest]).head(count)


def weather_groups(frames: pd.DataFrame) -> tuple[dict[str, np.ndarray] | None, str | None]:
    """Which frames are fog, rain or neither, and where that was read: notebook 01's flags when the
    manifest carries them, else the data set's recorded weather; (None, None) when it has neither."""
    if {"fog", "rain"} <= set(frames.columns):
        flags, source = frames[["fog", "rain"]].astype(bool), "notebook 01's flags"
    elif "weather" in frames:
        flags = pd.DataFrame({name: frames["weather"] == name for name in ("fog", "rain")})
        source = "meta.csv's weather column (notebook 01 has not run here)"
    else:
        return None, None
    fog, rain = flags["fog"].to_numpy(), flags["rain"].to_numpy()
    return {"fog": fog, "rain": rain, "neither": ~(fog | rain)}, source


def write_report(report: dict, out: str | Path, extra: dict | None = None, history: History | None = None) -> Path:
    """Write `report` (and `extra` plain values) to `out/test_report.json` and its figures as PNG files.

    Figures: per-class IoU and the confusion matrix, per-image accuracy, the best and worst frames,
    and the training curves when `history` is given. NaN becomes null in the JSON.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from helpers.viz import plot_confusion, plot_history, plot_per_class, show_samples
    from helpers.workbook import to_jsonable

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images, targets, predictions, order, class_map = report["predictions"]
    stored = {key: value for key, value in report.items() if key != "predictions"}
    stored.update(extra or {})
    iou = np.array(list(report["per_class_iou"].values()))

    fig, axes = plt.subplots(1, 2, figsize=(15, 5.2), layout="constrained", gridspec_kw={"width_ratios": [1.1, 1]})
    plot_per_class(iou, class_map, title=f"Test IoU per class (mIoU {report['miou']:.3f})", ax=axes[0])
    plot_confusion(np.array(report["confusion"]), class_map, normalize=True, ax=axes[1],
                   title="Test confusion matrix (each row sums to 1)")
    _save_figure(fig, out / "test_per_class.png")

    accuracy = np.array(list(report["per_image_accuracy"].values()))
    fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    ax.hist(accuracy, bins=20, range=(max(0.0, accuracy.min() - 0.02), 1.0), color="steelblue", edgecolor="white",
            label=f"{len(accuracy)} test frames")
    ax.axvline(report["pixel_accuracy"], color="black", linestyle="--",
               label=f"pixel accuracy over all pixels ({report['pixel_accuracy']:.3f})")
    ax.set(xlabel="pixel accuracy of one frame", ylabel="number of frames", title="Per-image accuracy on the test split")
    ax.legend(fontsize="small")
    _save_figure(fig, out / "test_per_image_accuracy.png")

    chosen = [int(i) for i in (*order[-2:][::-1], *order[:2])]
    frames = list(report["per_image_accuracy"])
    titles = [f"{'best' if n < 2 else 'worst'}: frame {frames[i]}" for n, i in enumerate(chosen)]
    fig = show_samples(images[chosen], targets[chosen], predictions[chosen], class_map, titles=titles,
                       suptitle="Best and worst test frames: image, target, prediction, errors (red)")
    _save_figure(fig, out / "test_best_worst_frames.png")

    if history is not None and history.epochs:
        fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
        plot_history(history, ["train_loss", "val_loss"], ax=axes[0], title="Loss (val = pseudo-test)")
        plot_history(history, ["pixel_accuracy", "miou"], ax=axes[1], title="Pseudo-test metrics", ylabel="score")
        _save_figure(fig, out / "history.png")

    path = out / REPORT_FILE
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(to_jsonable(stored), indent=1))
    temporary.replace(path)
    return path


def _save_figure(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    temporary = path.with_name(path.stem + ".tmp.png")
    fig.savefig(temporary, dpi=100)
    plt.close(fig)
    temporary.replace(path)


# ----------------------------------------------------------------------------- sentences about this run


def describe_schedule_choice(recipe: Recipe, grid_epochs: int | None, last_miou: list[float],
                             verdict: dict | None = None) -> str:
    """Where the recipe's schedule was chosen, and how much the pseudo-test mIoU (`last_miou`, the last epochs
    of this run) still swung: a schedule that won a short grid need not be the best for a longer run.

    `verdict` (notebook 06's `winner_verdict`) adds the recipes the winner tied with exactly and those within the
    noise of it: a choice among them was not shown by the grid.
    """
    if grid_epochs is None:
        chosen = f"The schedule ({recipe.schedule}) was not chosen by notebook 06 in this run folder"
    else:
        short = "short " if grid_epochs < recipe.epochs else ""
        verdict = verdict or {}
        identical, close = verdict.get("identical_to_winner", []), verdict.get("within_noise_of_winner", [])
        chosen = (f"The schedule ({recipe.schedule}) {'came first in' if identical else 'won'} notebook 06's {short}grid "
                  f"of {grid_epochs} epochs")
        if identical:
            chosen += (f", tied exactly with {', '.join(identical)} and listed first by the grid's tie rule, simpler "
                       "recipes first (identical runs: the same rates in those epochs; a longer run may separate them)")
        if close:
            chosen += f"{' and' if identical else ','} within the noise of {', '.join(close)}"
        chosen += (f"; it need not be the best one for this run of {recipe.epochs} epochs (notebook 06, exercise 1, "
                   "re-runs the grid with a longer budget)" if short else ", as long as this run")
    if len(last_miou) < 2:
        return chosen + "."
    low, high = min(last_miou), max(last_miou)
    calm = "a constant rate keeps it swinging to the end" if recipe.schedule == "none" else (
        "the schedule's last rates set how much it still moves")
    return (f"{chosen}. Over the last {len(last_miou)} epochs the pseudo-test mIoU still swung between {low:.3f} and "
            f"{high:.3f} ({high - low:.3f}): {calm}.")


def describe_lookup_race(unet: dict, lookup: dict, class_names: list[str], by: float = 0.01) -> str:
    """The final U-Net against notebook 03's colour lookup on the same test frames: pixel accuracy, mIoU, and the
    classes whose IoU the lookup still beats by `by` or more. `unet`, `lookup`: `ConfusionMatrix.compute()` dicts."""
    gap = unet["miou"] - lookup["miou"]
    standing = (f"the U-Net is {gap:.3f} mIoU ahead of the colour lookup: its view of shapes and neighbours beats "
                "knowing each colour's most frequent class" if gap > 0 else
                f"the U-Net is {-gap:.3f} mIoU behind the colour lookup: this run did not get past what one pixel's "
                "colour already says")
    leads = [f"{name} ({a:.2f} against {b:.2f})" for name, a, b in zip(class_names, lookup["iou"], unet["iou"])
             if a == a and b == b and a - b >= by]
    where = (f"the lookup still leads on {', '.join(leads)}" if leads
             else f"the lookup leads on no class by {by:g} IoU or more")
    return (f"pixel accuracy {unet['pixel_accuracy']:.3f} (U-Net) against {lookup['pixel_accuracy']:.3f} (lookup); "
            f"mIoU {unet['miou']:.3f} against {lookup['miou']:.3f}: {standing}; {where}")


def describe_class_shares(shares, class_names: list[str], many: float = 0.2, few: float = 0.02) -> str:
    """Which classes cover most of the training pixels (`many` or more each), which a few percent, and which very
    few (under `few`): the imbalance the recipe's loss must answer, from this run's pixel `shares`."""
    groups = {"most": [], "some": [], "few": []}
    for name, share in zip(class_names, np.asarray(shares, dtype=float)):
        groups["most" if share >= many else "some" if share >= few else "few"].append(f"{name} {share:.1%}")
    parts = [f"{', '.join(groups['most'])} cover most of the training pixels" if groups["most"] else
             f"no class covers {many:.0%} of the training pixels"]
    if groups["some"]:
        parts.append(f"{', '.join(groups['some'])} a few percent each")
    if groups["few"]:
        parts.append(f"{', '.join(groups['few'])} under {few:.0%} each")
    return "; ".join(parts)


def ordinal(place: int) -> str:
    """1 → "1st", 2 → "2nd", 3 → "3rd", 11 → "11th", 22 → "22nd"."""
    suffix = "th" if place % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(place % 10, "th")
    return f"{place}{suffix}"


def ordinal_ranks(scores: dict[str, float]) -> dict[str, str]:
    """Each name's place when `scores` rank them, highest first, as an ordinal ("1st", "2nd", …); ties keep the
    order of `scores`, as `describe_candidate_ranking` does."""
    ranked = sorted(scores, key=lambda name: -scores[name])
    return {name: ordinal(ranked.index(name) + 1) for name in scores}


def describe_candidate_ranking(pseudo_test: dict[str, float], test: dict[str, float], picked: str | None = None,
                               picked_from: int = 0) -> str:
    """The verdict under the candidates' table (which shows both scores and each place on test): how far test's
    order agrees with pseudo-test's, and where pseudo-test's first came on test. `picked` names the candidate
    chosen as the maximum of `picked_from` pseudo-test scores (the best epoch), whose pseudo-test score that
    choice flatters."""
    by_pseudo, by_test = (sorted(scores, key=lambda name: -scores[name]) for scores in (pseudo_test, test))
    if len(by_pseudo) < 2:
        return "one candidate only: nothing to rank"
    if by_pseudo == by_test:
        return f"pseudo-test and test rank the {len(by_pseudo)} candidates in the same order"
    pairs = [(a, b) for n, a in enumerate(by_pseudo) for b in by_pseudo[n + 1:]]
    agree = sum(by_test.index(a) < by_test.index(b) for a, b in pairs)
    order = ("test ranks them in exactly the reverse order of pseudo-test" if agree == 0 else
             f"pseudo-test and test agree on {agree} of the {len(pairs)} pairs")
    if by_test[0] == by_pseudo[0]:
        others = "the other two swap" if len(pairs) == 3 else "the others come in another order"
        return f"{order}: pseudo-test's first is test's first too, {others}"
    first = by_pseudo[0]
    place = by_test.index(first)
    where = "last" if place == len(by_test) - 1 else ordinal(place + 1)
    if first == picked and picked_from > 1:
        return (f"{order}; pseudo-test's first, {first} — the maximum of {picked_from} pseudo-test scores, which "
                f"that choice flatters (§4) — comes {where} on test")
    spread = pseudo_test[first] - pseudo_test[by_pseudo[-1]]
    return (f"{order}; pseudo-test's first, {first}, comes {where} on test: pseudo-test's gaps (at most "
            f"{spread:.3f}) did not foretell test's order")


def describe_sequence_spread(image_accuracy, sequences, scenes, pooled: float) -> str:
    """The per-image accuracies by sequence: each sequence's mean with its lowest and highest frame (lowest mean
    first), how many sequences lie below the `pooled` accuracy, and each scene whose sequences fall on both sides
    of it (a scene mean then describes few of its frames)."""
    frames = pd.DataFrame({"accuracy": np.asarray(image_accuracy), "sequence": np.asarray(sequences).astype(str),
                           "scene": np.asarray(scenes).astype(str)})
    by_sequence = frames.groupby(["sequence", "scene"], sort=False)["accuracy"]
    means = by_sequence.agg(["mean", "min", "max"]).sort_values("mean").reset_index().rename(
        columns={"mean": "accuracy"})
    each = "; ".join(f"{row.sequence} ({row.scene}) {row.accuracy:.3f}, frames {row.min:.3f}–{row.max:.3f}"
                     for row in means.itertuples())
    line = (f"mean frame accuracy per sequence, lowest first: {each}\n"
            f"{int((means.accuracy < pooled).sum())} of {len(means)} sequences lie below the pooled {pooled:.3f}")
    split = [f"{scene} ({', '.join(f'{row.sequence}: {row.accuracy:.3f}' for row in rows.itertuples())})"
             for scene, rows in means.groupby("scene", sort=False)
             if rows.accuracy.min() < pooled < rows.accuracy.max()]
    if split:
        line += f"; the sequences of {' and '.join(split)} fall on both sides of it"
    return line


def describe_test_against_pseudo_test(test_miou: float, pseudo_test_miou: float, train_miou: float) -> str:
    """Test against pseudo-test and against the frames trained on, with a tie (to 3 decimals) called a tie."""
    gap = test_miou - pseudo_test_miou
    beside = ("the same as pseudo-test (to 3 decimals)" if abs(gap) < 0.0005 else
              f"{abs(gap):.3f} {'higher' if gap > 0 else 'lower'} than pseudo-test")
    return f"test mIoU is {beside} here, and {train_miou - test_miou:.3f} below the frames trained on"


def describe_saved_size(size_bytes: int, members: int) -> str:
    """The saved file's size and why: an ensemble stores every member's weights (float32, 4 bytes each)."""
    total = size_bytes / 1e6
    if members <= 1:
        return f"{total:.1f} MB: one model's weights"
    return (f"{total:.1f} MB: the weights of all {members} members, about {total / members:.1f} MB each (float32), "
            f"so {members} times one model")


def describe_weather_group(name: str, miou: float, clear_miou: float, sequences: list, scenes: list[str],
                           scene_sequences: int | None = None) -> str:
    """One weather group's mIoU beside the frames with neither fog nor rain. When it is one sequence, also its scene
    type, and whether it is the only sequence of that scene type in the split (`scene_sequences`): then a low
    weather score and a low score of that scene type are one observation."""
    gap = miou - clear_miou
    line = (f"- {name}: mIoU {miou:.3f}, {abs(gap):.3f} {'below' if gap < 0 else 'above'} the frames with neither, "
            f"on {len(sequences)} sequence(s)")
    if len(sequences) != 1:
        return line
    street = f"{line} — one street (sequence {sequences[0]}, a {scenes[0]} scene): not enough to blame the weather"
    if scene_sequences == 1:
        return (f"{street}; it is also the only {scenes[0]} sequence of the split, so the {name} score and the "
                f"{scenes[0]} score are one observation")
    return street


def class_absent_subset(frame_matrices: np.ndarray, sequences) -> tuple[str, np.ndarray, list[int]] | None:
    """A set of frames that lacks a class (the first sequence, in order, whose frames neither hold nor predict one):
    (its name, its summed confusion matrix, the absent classes); None when every sequence holds every class."""
    sequences = np.asarray(sequences)
    for sequence in pd.unique(sequences):
        matrix = frame_matrices[sequences == sequence].sum(axis=0)
        absent = [c for c in range(matrix.shape[0]) if matrix[c].sum() + matrix[:, c].sum() == 0]
        if absent:
            return f"the frames of sequence {sequence}", matrix, absent
    return None


def describe_absent_convention(subset: str, report_value: float, workbook_value: float, absent: list[str]) -> str:
    """report_miou beside the workbook's mIoU on a subset, with the classes absent there: whether the two differ
    (the student then says which is wrong, and why)."""
    line = (f"on {subset} (absent: {', '.join(absent) or 'none'}): report_miou {report_value:.3f}, the workbook's "
            f"mIoU {workbook_value:.3f}")
    if abs(report_value - workbook_value) >= 0.0005:
        return f"{line} — they differ by {abs(report_value - workbook_value):.3f}: one of them is wrong"
    if not absent:
        return f"{line} — the same: with no class absent, this subset cannot tell the two apart"
    return f"{line} — the same to 3 decimals, although a class is absent"


# ----------------------------------------------------------------------------- the command


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.train",
        description="Train a recipe as notebook 07 does (train + val, pseudo-test monitor, checkpoint ensemble) and "
                    "write its test report. Under torchrun --nproc_per_node=N it trains on N processes.")
    parser.add_argument("--recipe", required=True, help="JSON file: Recipe.to_dict(), or notebook 06's results")
    parser.add_argument("--dataset", default="synthetic-streets", help="a registered data set, or folder:PATH")
    parser.add_argument("--profile", default="quick", help="smoke | quick | full (image size, model width, frames)")
    parser.add_argument("--out", required=True, help="parent of the run's checkpoint folder (notebook 07 uses "
                        "RUN_DIR/07_final_training)")
    parser.add_argument("--classes", default=None, help="class map; default the data set's own")
    parser.add_argument("--data-root", default=None, help="where the data sets are (default data/ or $WORKBOOK_DATA)")
    parser.add_argument("--manifest", default=None, help="notebook 01's clean split (default: manifest.csv beside "
                        "--out when it exists, else the whole data set split by sequence)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--train-images", type=int, default=None, help="default: the profile's")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                        help="mirror, colour jitter, haze and rain on the training frames, as notebook 07 (default on)")
    parser.add_argument("--patience", type=int, default=None, help="early stopping; default off")
    parser.add_argument("--ensemble-size", type=int, default=None, help="default: a quarter of the epochs")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--resume", dest="fresh", action="store_false", help="continue last.pt (the default)")
    start.add_argument("--fresh", dest="fresh", action="store_true", help="delete the run's checkpoints first")
    parser.set_defaults(fresh=False)
    parser.add_argument("--amp", choices=("auto", "on", "off"), default="auto",
                        help="auto: bfloat16 (or float16) on a GPU, float32 on a CPU")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--compile", action="store_true", help="train through torch.compile")
    parser.add_argument("--workers", type=int, default=None, help="DataLoader worker processes")
    parser.add_argument("--deterministic", action="store_true", help="cuDNN deterministic (no benchmark search)")
    return parser.parse_args(argv)


AMP_CHOICES = {"auto": "auto", "on": True, "off": False}


def main(argv: list[str] | None = None) -> int:
    """The command line of `python -m helpers.train`: train, choose the final model, write the report."""
    import os

    from helpers.datasets import class_counts, make_loader
    from helpers.models import UNet

    args = parse_args(argv)
    if args.data_root:
        os.environ["WORKBOOK_DATA"] = str(args.data_root)
    recipe, profile, amp = read_recipe(args.recipe), get_profile(args.profile), AMP_CHOICES[args.amp]
    device = distributed.start(args.device)
    try:
        seed_everything(args.seed, deterministic=args.deterministic or device.type != "cuda")
        out = Path(args.out).expanduser()
        manifest = Path(args.manifest) if args.manifest else out.parent / "manifest.csv"
        if args.manifest is None and not manifest.exists():
            manifest = None
        say(f"data: {args.dataset} ({'split of ' + str(manifest) if manifest else 'whole data set, split by sequence'})"
            f"; profile {profile.name}; {distributed.world_size()} process(es) on {device}")
        splits = final_splits(args.dataset, profile, manifest, args.classes, args.train_images, args.augment)
        class_map = splits.train_set.class_map
        ensemble_size, average_from = ensemble_plan(recipe, args.ensemble_size)
        config = final_config(args.dataset, splits.train_set, recipe, profile, args.seed, args.augment, args.patience,
                              ensemble_size, args.channels_last, amp, device)
        folder = checkpoint_folder(out, recipe, config)
        if distributed.is_main():
            if args.fresh:
                shutil.rmtree(folder, ignore_errors=True)
            claim_run_dir(folder, config, advice="pass --fresh to replace that run, or another --out")
        distributed.barrier()
        say(f"recipe: {recipe.describe()}\ncheckpoints: {folder} ({checkpoint_progress(folder)[0]} epoch(s) there)")

        batch = per_process_batch(recipe.batch_size)
        loaders = [make_loader(data, batch_size=batch, shuffle=shuffle, seed=args.seed, num_workers=args.workers,
                               device=device, shard=True)
                   for data, shuffle in ((splits.train_set, True), (splits.monitor_set, False))]
        torch.manual_seed(args.seed)  # the same initial weights in every process, as in the notebook
        model = UNet(num_classes=class_map.num_classes, base=profile.base)
        optimizer, schedule = recipe.build(model, steps_per_epoch=len(loaders[0]))
        loss = recipe.make_loss(class_map, class_counts(splits.train_set))
        started = time.perf_counter()
        history = fit(model, loaders[0], loaders[1], loss, optimizer, schedule, epochs=recipe.epochs, device=device,
                      run_dir=folder, early_stopping=args.patience, monitor="miou", config=config,
                      channels_last=args.channels_last, amp=amp, average_from=average_from,
                      snapshots_from=1 if args.patience else average_from, keep_snapshots=ensemble_size,
                      compile=args.compile)
        train_seconds = time.perf_counter() - started
        if distributed.is_main():
            candidates = final_candidates(folder, history, device)
            chosen = list(candidates)[-1]
            report = final_report(candidates[chosen], splits.test_set, recipe.batch_size, device)
            path = write_report(report, folder / "report", history=history, extra={
                "dataset": args.dataset, "profile": profile.name, "recipe": recipe.to_dict(), "final_model": chosen,
                "checkpoint_dir": str(folder), "epochs_run": len(history.epochs), "best_epoch": history.best_epoch,
                "stopped_early": history.stopped_early, "train_frames": len(splits.train_set),
                "processes": distributed.world_size(), "precision": config["precision"],
                "train_seconds": train_seconds})
            say(f"final model: {chosen}\ntest: mIoU {report['miou']:.3f}, pixel accuracy "
                f"{report['pixel_accuracy']:.3f}\nreport: {path} (and the figures beside it)")
        distributed.barrier()
    finally:
        distributed.stop()
    return 0


def per_process_batch(batch_size: int) -> int:
    """The recipe's batch shared out over the processes (its learning rate was chosen for that batch)."""
    processes = distributed.world_size()
    if batch_size % processes:
        raise ValueError(f"the recipe's batch of {batch_size} images does not divide over {processes} processes: "
                         f"start a number of processes that divides it, or change batch_size in the recipe file")
    return batch_size // processes


def say(message: str) -> None:
    """Print in the main process only (every process runs the same command)."""
    if distributed.is_main():
        print(message, flush=True)


if __name__ == "__main__":
    sys.exit(main())
