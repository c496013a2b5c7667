"""The reference model that ships with the workbook: a converged U-Net beside the reader's own short run.

`data_scripts/train_reference_model.py` trains it on the synthetic streets at the quick profile's
size (notebook 01's seed-0 split, train + val, notebook 07's augmentation, which it records) for many more epochs
than a CPU notebook can afford. Notebooks 07 and 09 show it next to the reader's model; it is
scored only on test frames of sequences it never trained on, since the reader's split (another
SEED) may put its training sequences into test.
"""

from __future__ import annotations

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


def unseen_indices(dataset, model: torch.nn.Module) -> np.ndarray:
    """Indices of `dataset`'s frames whose sequence the reference `model` never trained on."""
    trained = {str(sequence) for sequence in model.checkpoint_extra.get("train_sequences", [])}
    sequences = dataset.manifest["sequence"].astype(str).to_numpy()
    return np.flatnonzero(~np.isin(sequences, sorted(trained)))
