"""The reference model that ships with the workbook: a converged U-Net beside the reader's own short run.

`data_scripts/train_reference_model.py` trains it on the synthetic streets at the quick profile's
size (notebook 01's seed-0 split, train + val, notebook 07's augmentation, which it records) for many more epochs
than a CPU notebook can afford. Notebooks 07 and 09 show it next to the reader's model; it is
scored only on test frames of sequences it never trained on, since the reader's split (another
SEED) may put its training sequences into test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from helpers.config import REPO_ROOT, Profile

REFERENCE_PATH = REPO_ROOT / "models" / "reference-unet-quick.pt"
"""The shipped reference model (about 4 MB, weights in half precision)."""


def load_reference(dataset: str, profile: Profile, class_names: Sequence[str] | None = None,
                   path: str | Path = REFERENCE_PATH) -> tuple[torch.nn.Module | None, str]:
    """The reference model and a line saying what it is, or (None, why it does not apply to this run).

    It applies to the data set, classes, image size and width it was trained for; anything else is
    a comparison of different things, so None.
    """
    from helpers.train import load_model

    path = Path(path)
    if not path.is_file():
        return None, (f"no reference model at {path}: train one with "
                      "`python data_scripts/train_reference_model.py` (about 40 min on one CPU thread)")
    model = load_model(path)
    info = model.checkpoint_extra
    size = tuple(info.get("image_size") or ())
    if info.get("dataset") != dataset or size != tuple(profile.image_size) or model.config.get("base") != profile.base:
        return None, (f"the reference model was trained on {info.get('dataset')} at {size[0]}×{size[1]} with base "
                      f"{model.config.get('base')}; this run uses {dataset} at {profile.image_size[0]}×"
                      f"{profile.image_size[1]} with base {profile.base}: not comparable")
    if class_names is not None and list(class_names) != list(info.get("class_names") or []):
        return None, "the reference model predicts other classes than this run's class map: not comparable"
    return model, (f"reference model: {info['epochs']} epochs on {info['train_frames']} frames ({info['recipe']['optimizer']}"
                   f" + {info['recipe']['schedule']}, seed {info['seed']}; augmentation: "
                   f"{describe_augment(info.get('augment'))}), trained {info.get('trained_on', '?')}")


def describe_augment(fields: dict | str | bool | None) -> str:
    """The augmentation a model records (helpers.datasets.Augment's fields) in words, its switched-off parts left out."""
    if not isinstance(fields, dict):
        return "none" if not fields else str(fields)
    words = {"flip": "mirror {:.0%}", "degrees": "rotation ±{:g}°", "jitter": "colour jitter {:g}",
             "haze": "haze up to {:g}", "rain": "rain up to {:g}"}
    parts = [words[name].format(value) for name, value in fields.items() if name in words and value]
    return ", ".join(parts) or "none"


def member_count(model: torch.nn.Module) -> int:
    """How many models `model` averages: the members of an ensemble, else 1."""
    from helpers.models import Ensemble

    return len(model.members) if isinstance(model, Ensemble) else 1


def _rate_words(lr: float, schedule: str) -> str:
    """The learning rate as the recipe means it: the peak of a cycling schedule, the constant rate of none, else
    the starting rate."""
    from helpers.optim import schedule_name

    role = {"none": "constant", "onecycle": "peak", "cyclic": "peak"}.get(schedule_name(schedule), "starting")
    return f"{role} learning rate of {lr:.2e}"


def describe_reference_training(reference: torch.nn.Module, model: torch.nn.Module, epochs: int,
                                recipe: dict) -> str:
    """Every recorded way the `reference` model's training differs from this run's final `model`: epochs, schedule,
    learning rate (from the reference's checkpoint_extra, against the `epochs` this run trained and its `recipe`, a
    dict of `Recipe` fields), and how many models each averages (`member_count`)."""
    extra, members, their_members = reference.checkpoint_extra, member_count(model), member_count(reference)
    theirs_recipe, theirs = extra["recipe"], int(extra["epochs"])
    ratio = theirs / max(epochs, 1)
    differences = []
    if theirs != epochs:
        length = ("twice the epochs" if ratio == 2 else "half the epochs" if ratio == 0.5 else
                  f"{ratio:.1f} times the epochs" if ratio > 1 else "fewer epochs")
        differences.append(f"{length} ({theirs} against {epochs})")
    same_schedule = theirs_recipe["schedule"] == recipe["schedule"]
    if not same_schedule:
        differences.append(f"the {theirs_recipe['schedule']} schedule against {recipe['schedule']}")
    if not (same_schedule and math.isclose(float(theirs_recipe["lr"]), float(recipe["lr"]), rel_tol=1e-6)):
        differences.append(f"a {_rate_words(theirs_recipe['lr'], theirs_recipe['schedule'])} against a "
                           f"{_rate_words(recipe['lr'], recipe['schedule'])}")

    def kind(count: int) -> str:
        return "one model" if count == 1 else f"an ensemble of {count}"

    if their_members != members:
        differences.append(f"{kind(their_members)} against {kind(members)}")
    if not differences:
        return (f"nothing recorded differs between the reference model's training and this run's ({theirs} epochs, "
                f"{recipe['schedule']} schedule, {_rate_words(recipe['lr'], recipe['schedule'])}, {kind(members)})")
    if len(differences) == 1:
        return f"the reference model differs from this run's final model in one recorded way: {differences[0]}"
    return (f"the reference model differs from this run's final model in {len(differences)} recorded ways — "
            f"{'; '.join(differences)} — so a gap cannot be put on any one of them")


def unseen_indices(dataset, model: torch.nn.Module) -> np.ndarray:
    """Indices of `dataset`'s frames whose sequence the reference `model` never trained on."""
    trained = {str(sequence) for sequence in model.checkpoint_extra.get("train_sequences", [])}
    sequences = dataset.manifest["sequence"].astype(str).to_numpy()
    return np.flatnonzero(~np.isin(sequences, sorted(trained)))


def describe_reference_gap(gap: float, seed_spread: float | None, spread_source: str, epochs: int,
                           pseudo_test_miou: float, well_beyond: float = 2.0) -> str:
    """What the reference model's mIoU lead (`gap` > 0) or lag over this run's model can and cannot say.

    Both models are one seed each, so their gap varies with the seeds by √2 × `seed_spread` (the standard
    deviation of a difference of two single-seed scores; `seed_spread` is that of one score, measured where
    `spread_source` says). Below √2 × s the gap is noise; only a gap of `well_beyond` × √2 × s or more says
    something about the longer training.
    """
    size = abs(gap)
    side = "ahead of" if gap > 0 else "behind"
    line = f"the reference model is {size:.3f} mIoU {side} this run's model"
    if seed_spread is None or math.isnan(seed_spread):  # no spread measured
        return (f"{line}; no seed spread is recorded in this run folder ({spread_source}), and with one seed each "
                "a gap of a few hundredths may be the seed alone")
    noise = math.sqrt(2) * seed_spread
    measured = (f"√2 × {seed_spread:.3f} = {noise:.3f}, from the standard deviation over seeds of {spread_source}: a "
                "spread measured on notebook 06's short grid, used here for want of seeds of the final run")
    if size < noise:
        return f"{line}: within what the seeds alone move a gap between two single-seed models ({measured})"
    if size < well_beyond * noise:
        return (f"{line}: more than the seeds alone move a gap between two single-seed models ({measured}) but less "
                f"than {well_beyond:g} times it — not enough to say that the longer training made the difference")
    if gap > 0:
        return (f"{line}, well beyond what the seeds alone move a gap between two single-seed models ({measured}): "
                f"the longer training ({epochs} epochs) paid off on new streets")
    return (f"{line}, well beyond what the seeds alone move a gap between two single-seed models ({measured}): more "
            "epochs are no guarantee — past some point a model fits its training streets ever more closely without "
            f"getting better on new ones (the reference trained {epochs} epochs and scored {pseudo_test_miou:.3f} on "
            "its own pseudo-test split)")


def seed_spread(grid_summary: list[dict] | None, grid_setup: dict | None, optimizer: str,
                schedule: str) -> tuple[float | None, str]:
    """The standard deviation of mIoU over seeds that notebook 06 recorded for this optimizer and schedule, and
    where it comes from in words; (None, why not) when 06 recorded none for them in this run folder."""
    rows = [row for row in grid_summary or [] if row.get("optimizer") == optimizer and row.get("scheduler") == schedule]
    if not rows:
        return None, f"notebook 06 recorded no {optimizer} + {schedule} runs here"
    row, setup = rows[0], grid_setup or {}
    size = setup.get("image_size") or ["?", "?"]
    std = row.get("miou_std")
    return (None if std is None else float(std)), (
        f"notebook 06's {optimizer} + {schedule}, {row.get('runs', '?')} seeds of "
        f"{setup.get('epochs', '?')} epochs at {size[0]}×{size[1]}")
