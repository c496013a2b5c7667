"""The real data sets in the registry: Playing for Data ("gta5") and the Kaggle forest patches ("forest").

Importing this module registers both, so `load_dataset("gta5")` and `load_dataset("forest")` work
like the synthetic data sets (a notebook only sets DATASET). Neither is downloaded here: a
missing folder raises DatasetMissingError with the commands that fetch and prepare it.

* gta5: the layout of synthetic-streets (images/NNNNN.png, labels/NNNNN.png palette PNGs of
  Cityscapes labelIds). data_scripts/prepare_gta5.py writes manifest.csv (checked frames, the
  official split from split.mat, sequences) and, on request, prepared copies whose labels are
  already mapped to a class map; such a label names its class map in a PNG text chunk, and is
  read only as that map.
* forest: the Kaggle layout of synthetic-forest ("Forest Segmented/images", "masks",
  meta_data.csv), normalised by data_scripts/get_forest.py; read exactly like synthetic-forest.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .classes import ClassMap, get_class_map
from .datasets import (
    DatasetSpec,
    describe_counts,
    kaggle_forest_manifest,
    playing_for_data_manifest,
    read_label,
    read_label_raw,
    read_manifest,
    read_mask,
    register_dataset,
)

PREPARED_CLASSES_KEY = "workbook-classes"
"""PNG text chunk of a label written already mapped: the name of its class map."""

GTA5_BLOCK_SIZE = 100
"""Without prepare_gta5.py's manifest, blocks of this many consecutive frames count as one sequence."""

GTA5_COMMAND = (
    "python data_scripts/get_gta5.py --parts 1 --out {folder}\n"
    "    (part 01: 2,500 frames, about 6 GB to download and 12 GB of disk while the archives are kept,\n"
    "     10 min to an hour depending on the connection; --delete-zips halves the disk)\n"
    "then: python data_scripts/prepare_gta5.py --data {folder} --profile quick   (a few minutes)")

FOREST_COMMAND = (
    "python data_scripts/get_forest.py --out {folder}\n"
    "    (needs Kaggle API credentials in ~/.kaggle/kaggle.json and `pip install kaggle`; 5,108 patches,\n"
    "     a few hundred MB, a minute or two)\n"
    "or download the zip from https://www.kaggle.com/datasets/quadeer15sh/augmented-forest-segmentation\n"
    "and run: python data_scripts/get_forest.py --from FILE.zip --out {folder}")


def gta5_manifest(folder: Path) -> pd.DataFrame:
    """The manifest written by prepare_gta5.py; without it, every frame with block sequences (and a warning)."""
    prepared = Path(folder) / "manifest.csv"
    if prepared.is_file():
        return read_manifest(prepared)
    warnings.warn(f"{folder} has no manifest.csv: using every frame unchecked, sequences = blocks of "
                  f"{GTA5_BLOCK_SIZE} frames and no official split. Run: python data_scripts/prepare_gta5.py "
                  f"--data {folder}", stacklevel=2)
    frames = playing_for_data_manifest(Path(folder))
    frames["sequence"] = (frames["frame"].astype(int) - 1) // GTA5_BLOCK_SIZE
    return frames


def prepared_classes(path: str | Path) -> str | None:
    """The class map a prepared label was mapped to (its PNG text chunk), or None for a source label."""
    try:
        with Image.open(path) as image:
            return image.info.get(PREPARED_CLASSES_KEY)
    except (OSError, SyntaxError, ValueError):
        return None  # unreadable: read_label reports it


def read_gta5_label(path: str | Path, class_map: ClassMap | str) -> tuple[np.ndarray, str | None]:
    """A GTA5 label as class indices: labelIds through the map's table, or a prepared label as it is.

    A label prepared for another class map raises ValueError saying how to get the one asked for;
    values that are no class of the map become its unknown class, and the note says which.
    """
    class_map = get_class_map(class_map)
    mapped_to = prepared_classes(path)
    if mapped_to is None:
        return read_label(path, class_map)
    if mapped_to != class_map.name:
        raise ValueError(f"{path} was prepared with --classes {mapped_to}, so it cannot be read as "
                         f"{class_map.name!r}. Load with classes={mapped_to!r}, or run "
                         f"python data_scripts/prepare_gta5.py --classes {class_map.name} (or --classes "
                         f"labelids to choose the class map when loading).")
    ids = read_label_raw(path)[0]
    valid = ids < class_map.num_classes
    if class_map.ignore_index is not None:
        valid |= ids == class_map.ignore_index
    if valid.all():
        return ids, None
    values, counts = np.unique(ids[~valid], return_counts=True)
    note = describe_counts(dict(zip(values.tolist(), counts.tolist())),
                           f"values that are no class of {class_map.name} ({class_map.num_classes} classes):")
    return np.where(valid, ids, class_map.unknown_class).astype(np.uint8), note


GTA5 = register_dataset(DatasetSpec(
    name="gta5",
    folder="gta5",
    build_manifest=gta5_manifest,
    command=GTA5_COMMAND,
    default_classes="gta9",
    class_maps=("gta9", "cityscapes19"),
    markers=("images",),
    read_label=read_gta5_label,
    description="Playing for Data (Richter et al. 2016): 24,966 GTA V frames of 1914×1052, Cityscapes labelIds",
))

FOREST = register_dataset(DatasetSpec(
    name="forest",
    folder="forest",
    build_manifest=kaggle_forest_manifest,
    command=FOREST_COMMAND,
    default_classes="forest2",
    class_maps=("forest2",),
    markers=("Forest Segmented",),
    read_label=read_mask,
    description="Kaggle 'Forest Aerial Images for Segmentation': 5,108 patches of 256×256, binary masks",
))
