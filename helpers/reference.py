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


def describe_reference_training(extra: dict, epochs: int, schedule: str) -> str:
    """How the reference model's training compares with this run's: the epoch ratio and the schedules, from what the
    reference recorded (`extra`: its checkpoint_extra) and this run's `epochs` and `schedule`."""
    theirs, their_schedule = int(extra["epochs"]), extra["recipe"]["schedule"]
    ratio = theirs / max(epochs, 1)
    if theirs == epochs:
        length = f"as many epochs as this run ({theirs})"
    elif ratio == 2:
        length = f"twice the epochs ({theirs} against {epochs})"
    elif ratio > 1:
        length = f"{ratio:.1f} times the epochs ({theirs} against {epochs})"
    else:
        length = f"fewer epochs ({theirs} against {epochs})"
    same = their_schedule == schedule
    how = (f"with the same schedule ({schedule})" if same else
           f"with {their_schedule} instead of this run's schedule ({schedule}): two things differ, so a gap cannot be "
           "put on the epochs alone")
    return f"the reference model trained for {length}, {how}"


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
