"""Every data set of the workbook in one place: where it lives, how its files are listed and read, how to get it.

One `register_dataset(DatasetSpec(...))` per data set, like the one-line-per-data-set table of
torchvision's segmentation references: its folder under the data folder, the paths that say it
is there, the function that lists its frames (the manifest builder), its default class map and
the others its labels can be read into, and the exact command that creates it. A notebook sets
`DATASET` to a name here, an alias, or "folder:PATH" for a folder of your own images and masks
(see `helpers.folder_data`).

Adding a data set touches this module (a manifest builder, a label reader when its labels need
one, and its spec), one script in data_scripts/ that creates the folder, and the tests that run
that script on a copy in the real layout.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .classes import CITYSCAPES_LABELS, RGB, ClassMap, get_class_map
from .cleaning import FILE_CHECKS
from .config import data_root
from .folder_data import FOLDER_PREFIX, folder_class_map, folder_manifest, resolve_folder
from .manifests import read_manifest, split_by_sequence
from .readers import describe_counts, read_class_label, read_image, read_label, read_label_raw, read_mask
from .registry import resolve_name

CITYSCAPES_IDS = tuple(label.label_id for label in CITYSCAPES_LABELS)
CITYSCAPES_COLOURS = tuple(dict.fromkeys(label.colour for label in CITYSCAPES_LABELS))


class DatasetMissingError(FileNotFoundError):
    """The data set folder does not exist; the message names it and the command that creates it."""


@dataclass(frozen=True)
class DatasetSpec:
    """How to find, list and read one data set, and how to create it when it is missing.

    `default_classes` is a class map name, or a function of the data set folder giving its map
    (a folder of your own). `sequences` says whether frames come in runs of near-duplicates (a
    drive): then splits must keep each run together; without, every frame is its own sequence
    and a random split is honest. `checks` are the cleaning checks that apply (None: all of
    them); `known_ids` and `known_colours` the label values the unknown-colours check accepts
    (None: those its default class map lists).
    """

    name: str
    folder: str  # folder name under data_root() (an absolute path for a folder of your own)
    build_manifest: Callable[[Path], pd.DataFrame]  # data set folder → manifest
    command: str  # shell command that creates it; "{folder}" is replaced by the target folder
    default_classes: str | Callable[[Path], ClassMap] = "gta9"
    class_maps: tuple[str, ...] = ("gta9", "cityscapes19")  # class maps its labels can be read into
    markers: tuple[str, ...] = ("images",)  # paths whose presence means "the data set is here"
    required: tuple[str, ...] = ()  # paths a complete copy has; without them it is an interrupted one
    read_image: Callable[[Path], np.ndarray] = read_image
    read_label: Callable[[Path, ClassMap], tuple[np.ndarray, str | None]] = read_label
    description: str = ""
    aliases: tuple[str, ...] = ()
    sequences: bool = True
    checks: tuple[str, ...] | None = None
    known_ids: tuple[int, ...] | None = None
    known_colours: tuple[RGB, ...] | None = None

    def command_for(self, folder: Path) -> str:
        """The exact command that creates this data set in `folder`."""
        return self.command.format(folder=folder)

    def default_class_map(self, folder: Path | None = None) -> ClassMap:
        """The class map its labels are read with when a notebook sets CLASSES = None."""
        if callable(self.default_classes):
            return self.default_classes(Path(folder) if folder is not None else Path(self.folder))
        return get_class_map(self.default_classes)

    def class_map(self, classes: str | ClassMap | None = None, folder: Path | None = None) -> ClassMap:
        """`classes` (a name, an alias or a map) checked against the maps its labels can be read into; None: the default."""
        default = self.default_class_map(folder)
        if classes is None:
            return default
        class_map = get_class_map(classes)
        allowed = [default.name, *self.class_maps]
        if class_map.name not in allowed:
            raise ValueError(f"{self.name} labels cannot be read as {class_map.name!r}; set CLASSES to one of "
                             f"{', '.join(repr(name) for name in dict.fromkeys(allowed))}, or None for "
                             f"{default.name!r}")
        return class_map

    def label_values(self, folder: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(256 booleans: ids a label may hold, sorted packed colours a colour label may hold), for the checks."""
        class_map = None
        if self.known_ids is None or self.known_colours is None:
            class_map = self.default_class_map(folder)
        ids = self.known_ids if self.known_ids is not None else tuple(class_map.id_to_class)
        colours = self.known_colours if self.known_colours is not None else tuple(class_map.colour_to_class)
        known = np.zeros(256, dtype=bool)
        known[list(ids)] = True
        packed = np.unique(np.array([(r << 16) | (g << 8) | b for r, g, b in colours], dtype=np.int64))
        return known, packed


DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add (or replace) a data set in the registry, so `load_dataset(spec.name)` finds it."""
    DATASETS[spec.name] = spec
    return spec


def get_spec(name: str | DatasetSpec) -> DatasetSpec:
    """A registered data set by name or alias, "folder:PATH" for a folder of your own, or a spec passed through."""
    if isinstance(name, DatasetSpec):
        return name
    text = str(name)
    if text.startswith(FOLDER_PREFIX):
        return folder_spec(text[len(FOLDER_PREFIX):])
    try:
        return DATASETS[resolve_name(text, DATASETS, "data set")]
    except ValueError as error:
        raise ValueError(f"{error}; or \"folder:PATH\" for a folder of your own images/ and masks/") from None


def dataset_dir(name: str | DatasetSpec, root: str | Path | None = None) -> Path:
    """Folder of data set `name`: `root` itself when it holds the data, else `root/<folder>`.

    `root` defaults to `data_root()`. Raises DatasetMissingError naming the folder and the
    command that creates it.
    """
    spec = get_spec(name)
    base = data_root() if root is None else Path(root).expanduser()
    own = Path(spec.folder).is_absolute()
    candidates = [base] if root is not None and not own else []
    candidates.append(base / spec.folder)
    for folder in candidates:
        if folder.is_dir() and any((folder / marker).exists() for marker in spec.markers):
            missing = [path for path in spec.required if not (folder / path).exists()]
            if missing:
                raise DatasetMissingError(
                    f"{folder} is not a complete {spec.name!r} data set: it has no {', '.join(missing)} "
                    f"(an interrupted generation or copy?).\nCreate it again with: {spec.command_for(folder)}")
            return folder
    holds_other_things = base.is_dir() and any(base.iterdir())
    target = base / spec.folder if root is None or holds_other_things or own else base
    raise DatasetMissingError(
        f"data set {spec.name!r} not found: folder {target} is missing or empty.\n"
        f"Create it with: {spec.command_for(target)}")


def spec_for_class_map(class_map: ClassMap) -> DatasetSpec:
    """The first registered data set whose default class map is `class_map` (else synthetic-streets)."""
    for spec in DATASETS.values():
        if spec.default_classes == class_map.name:
            return spec
    return DATASETS["synthetic-streets"]


def official_split(frames: pd.DataFrame, held_out: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """`held_out` frames (the data set's own test or validation set) become test; the others are split
    at random (each frame its own sequence) into train, val and pseudo_test, seeded."""
    frames = frames.reset_index(drop=True)
    frames["sequence"] = np.arange(len(frames))
    frames["split"] = np.where(held_out, "test", "")
    return split_by_sequence(frames, seed=seed, keep_test=True)


# --------------------------------------------------------------------------------------------
# Playing for Data: synthetic-streets and gta5
# --------------------------------------------------------------------------------------------

def _empty_split(frame: pd.DataFrame) -> pd.DataFrame:
    frame["split"] = ""
    return frame


def playing_for_data_manifest(folder: Path) -> pd.DataFrame:
    """Manifest of a Playing for Data layout: images/NNNNN.png + labels/NNNNN.png, meta.csv joined.

    Without meta.csv the sequences are unknown and every frame is its own sequence.
    """
    images = sorted((folder / "images").glob("*.png"))
    if not images:
        raise DatasetMissingError(f"no images/*.png in {folder}")
    frames = pd.DataFrame({
        "frame": [p.stem for p in images],
        "image": [f"images/{p.name}" for p in images],
        "label": [f"labels/{p.name}" for p in images],
    })
    meta_path = folder / "meta.csv"
    if meta_path.is_file():
        meta = pd.read_csv(meta_path)
        meta["frame"] = [f"{int(f):05d}" for f in meta["frame"]]
        frames = frames.merge(meta, on="frame", how="left")
        frames["sequence"] = frames["sequence"].fillna(-1).astype(int)
    else:
        frames["sequence"] = np.arange(len(frames))
    return _empty_split(frames)


PREPARED_CLASSES_KEY = "workbook-classes"
"""PNG text chunk of a label written already mapped: the name of its class map."""

GTA5_BLOCK_SIZE = 100
"""Without prepare_gta5.py's manifest, blocks of this many consecutive frames count as one sequence."""

GTA5_COMMAND = (
    "python data_scripts/get_gta5.py --parts 1 --out {folder}\n"
    "    (part 01: 2,500 frames, about 6 GB to download and 12 GB of disk while the archives are kept,\n"
    "     10 min to an hour depending on the connection; --delete-zips halves the disk)\n"
    "then: python data_scripts/prepare_gta5.py --data {folder} --profile quick   (a few minutes)")


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


# --------------------------------------------------------------------------------------------
# Kaggle forest patches: synthetic-forest and forest
# --------------------------------------------------------------------------------------------

FOREST_PATTERN = re.compile(r"^(\d+)_sat_")

FOREST_COMMAND = (
    "python data_scripts/get_forest.py --out {folder}\n"
    "    (needs Kaggle API credentials in ~/.kaggle/kaggle.json and `pip install kaggle`; 5,108 patches,\n"
    "     a few hundred MB, a minute or two)\n"
    "or download the zip from https://www.kaggle.com/datasets/quadeer15sh/augmented-forest-segmentation\n"
    "and run: python data_scripts/get_forest.py --from FILE.zip --out {folder}")


def _forest_folder(folder: Path) -> Path:
    """The 'Forest Segmented' folder holding images/ and masks/ (also the doubly nested download)."""
    for candidate in (folder / "Forest Segmented" / "Forest Segmented", folder / "Forest Segmented", folder):
        if (candidate / "images").is_dir():
            return candidate
    raise DatasetMissingError(f"no 'Forest Segmented/images' folder in {folder}")


def kaggle_forest_manifest(folder: Path) -> pd.DataFrame:
    """Manifest of the Kaggle forest layout; `sequence` is the source image id before `_sat_`."""
    inner = _forest_folder(folder)
    prefix = inner.relative_to(folder).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    meta_path = inner / "meta_data.csv"
    if meta_path.is_file():
        pairs = pd.read_csv(meta_path)[["image", "mask"]]
    else:  # pair by name: <id>_sat_<nn>.jpg ↔ <id>_mask_<nn>.jpg
        names = sorted(p.name for p in (inner / "images").glob("*_sat_*"))
        pairs = pd.DataFrame({"image": names, "mask": [n.replace("_sat_", "_mask_") for n in names]})
    pairs = pairs.sort_values("image", kind="stable").reset_index(drop=True)
    ids = [FOREST_PATTERN.match(name) for name in pairs["image"]]
    frames = pd.DataFrame({
        "frame": [Path(name).stem for name in pairs["image"]],
        "image": [f"{prefix}images/{name}" for name in pairs["image"]],
        "label": [f"{prefix}masks/{name}" for name in pairs["mask"]],
        "sequence": [int(m.group(1)) if m else i for i, m in enumerate(ids)],
    })
    return _empty_split(frames)


# --------------------------------------------------------------------------------------------
# ADE20K (SceneParsing 2016)
# --------------------------------------------------------------------------------------------

ADE20K_FOLDER = "ADEChallengeData2016"

ADE20K_COMMAND = (
    "python data_scripts/get_ade20k.py --out {folder}\n"
    "    (ADEChallengeData2016.zip, about 920 MB: 20,210 training and 2,000 validation images;\n"
    "     or --from ~/Downloads/ADEChallengeData2016.zip when downloaded by hand)")


def ade20k_manifest(folder: Path) -> pd.DataFrame:
    """Every ADE20K image with its annotation: the official validation images are the test split.

    There are no sequences (each image is its own scene), so the training images are split at
    random, seeded, into train, val and pseudo_test.
    """
    root = Path(folder) / ADE20K_FOLDER
    frames = []
    for subset, held_out in (("training", False), ("validation", True)):
        for image in sorted((root / "images" / subset).glob("*.jpg")):
            label = root / "annotations" / subset / f"{image.stem}.png"
            if label.is_file():
                frames.append((image.stem, image.relative_to(folder).as_posix(), label.relative_to(folder).as_posix(),
                               held_out))
    if not frames:
        raise DatasetMissingError(f"no {ADE20K_FOLDER}/images/training/*.jpg with annotations in {folder}")
    table = pd.DataFrame(frames, columns=["frame", "image", "label", "held_out"])
    return official_split(table.drop(columns="held_out"), table["held_out"].to_numpy())


# --------------------------------------------------------------------------------------------
# Oxford-IIIT Pet and Pascal VOC 2012, listed by torchvision
# --------------------------------------------------------------------------------------------

def _torchvision(name: str, kind: str, folder: Path, **arguments):
    """torchvision's `kind` data set over `folder` (never downloading); DatasetMissingError with the command if absent."""
    import torchvision.datasets

    try:
        return getattr(torchvision.datasets, kind)(str(folder), download=False, **arguments)
    except (RuntimeError, FileNotFoundError) as error:
        raise DatasetMissingError(f"{folder} does not hold torchvision's {kind} layout ({error}).\n"
                                  f"Create it with: {DATASETS[name].command_for(folder)}") from error


def _listed(folder: Path, pairs, held_out: bool) -> list[tuple]:
    return [(Path(image).stem, Path(image).relative_to(folder).as_posix(), Path(label).relative_to(folder).as_posix(),
             held_out) for image, label in pairs]


def _official_frames(folder: Path, rows: list[tuple]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["frame", "image", "label", "held_out"]).drop_duplicates("frame")
    return official_split(table.drop(columns="held_out"), table["held_out"].to_numpy())


def oxford_pet_manifest(folder: Path) -> pd.DataFrame:
    """The pets of torchvision's OxfordIIITPet: "trainval" split at random (seeded), "test" is the test split."""
    rows = []
    for split, held_out in (("trainval", False), ("test", True)):
        pets = _torchvision("oxford-pet", "OxfordIIITPet", folder, split=split, target_types="segmentation")
        rows += _listed(Path(folder), zip(pets._images, pets._segs), held_out)
    return _official_frames(Path(folder), rows)


def voc_manifest(folder: Path) -> pd.DataFrame:
    """The images of torchvision's VOCSegmentation (2012): "train" split at random (seeded), "val" is the test split."""
    rows = []
    for image_set, held_out in (("train", False), ("val", True)):
        voc = _torchvision("voc", "VOCSegmentation", folder, year="2012", image_set=image_set)
        rows += _listed(Path(folder), zip(voc.images, voc.masks), held_out)
    return _official_frames(Path(folder), rows)


# --------------------------------------------------------------------------------------------
# A folder of your own
# --------------------------------------------------------------------------------------------

FOLDER_COMMAND = ("put your images into {folder}/images and their masks (same names) into {folder}/masks, "
                  "with a classes.csv (name,r,g,b) for colour masks; see helpers/folder_data.py")


@functools.lru_cache(maxsize=32)
def _folder_spec(folder: Path) -> DatasetSpec:
    return DatasetSpec(
        name=f"{FOLDER_PREFIX}{folder}", folder=str(folder), build_manifest=folder_manifest, command=FOLDER_COMMAND,
        default_classes=folder_class_map, class_maps=(), markers=("images", "masks"), required=("images", "masks"),
        read_label=read_class_label, description=f"your own images and masks in {folder}", sequences=False,
        checks=FILE_CHECKS)


def folder_spec(path: str | Path) -> DatasetSpec:
    """The data set of a folder of images/ and masks/ ("folder:PATH"; a relative PATH is inside the data folder)."""
    return _folder_spec(resolve_folder(path))


def register_folder(name: str, path: str | Path) -> DatasetSpec:
    """Make a folder of your own images/ and masks/ a data set called `name` (in this Python process)."""
    return register_dataset(replace(folder_spec(path), name=name))


# --------------------------------------------------------------------------------------------
# The registry: one entry per data set
# --------------------------------------------------------------------------------------------

STREETS = dict(class_maps=("gta9", "cityscapes19"), known_ids=CITYSCAPES_IDS, known_colours=CITYSCAPES_COLOURS)
FOREST_MASKS = dict(default_classes="forest2", class_maps=("forest2",), markers=("Forest Segmented",),
                    read_label=read_mask, checks=("unreadable", "size_mismatch"))

register_dataset(DatasetSpec(
    name="synthetic-streets", folder="synthetic-streets", build_manifest=playing_for_data_manifest,
    command="make data  (or: python data_scripts/make_synthetic_streets.py --out {folder})",
    markers=("images", "meta.csv"), required=("images", "labels", "meta.csv"), aliases=("streets", "synthetic"),
    description="procedural street scenes in the Playing for Data layout", **STREETS))
register_dataset(DatasetSpec(
    name="synthetic-forest", folder="synthetic-forest", build_manifest=kaggle_forest_manifest,
    command="make data  (or: python data_scripts/make_synthetic_forest.py --out {folder})",
    description="procedural aerial patches with binary forest masks, Kaggle layout", **FOREST_MASKS))
register_dataset(DatasetSpec(
    name="gta5", folder="gta5", build_manifest=gta5_manifest, command=GTA5_COMMAND, markers=("images",),
    read_label=read_gta5_label, aliases=("playing-for-data",),
    description="Playing for Data (Richter et al. 2016): 24,966 GTA V frames of 1914×1052, Cityscapes labelIds",
    **STREETS))
register_dataset(DatasetSpec(
    name="forest", folder="forest", build_manifest=kaggle_forest_manifest, command=FOREST_COMMAND,
    description="Kaggle 'Forest Aerial Images for Segmentation': 5,108 patches of 256×256, binary masks",
    **FOREST_MASKS))
register_dataset(DatasetSpec(
    name="ade20k", folder="ade20k", build_manifest=ade20k_manifest, command=ADE20K_COMMAND,
    default_classes="ade150", class_maps=("ade150", "ade100"), markers=(ADE20K_FOLDER,),
    required=(f"{ADE20K_FOLDER}/images", f"{ADE20K_FOLDER}/annotations"), read_label=read_class_label,
    aliases=("ade", "scene-parsing", "ADEChallengeData2016"), sequences=False, checks=FILE_CHECKS,
    description="ADE20K SceneParsing 2016: 20,210 training and 2,000 validation images, 150 classes"))
register_dataset(DatasetSpec(
    name="oxford-pet", folder="oxford-pet", build_manifest=oxford_pet_manifest,
    command="python data_scripts/get_torchvision_data.py oxford-pet --out {folder}  (about 800 MB)",
    default_classes="pet", class_maps=("pet",), markers=("oxford-iiit-pet",), read_label=read_class_label,
    aliases=("pets", "oxford-iiit-pet"), sequences=False, checks=FILE_CHECKS,
    description="OxfordIIITPet (torchvision): 7,349 photos of 37 breeds of cats and dogs, pet/background trimaps"))
register_dataset(DatasetSpec(
    name="voc", folder="voc", build_manifest=voc_manifest,
    command="python data_scripts/get_torchvision_data.py voc --out {folder}  (about 2 GB)",
    default_classes="voc21", class_maps=("voc21",), markers=("VOCdevkit",), read_label=read_class_label,
    aliases=("voc2012", "pascal-voc"), sequences=False, checks=FILE_CHECKS,
    description="VOCSegmentation (torchvision): Pascal VOC 2012, 2,913 segmented images, 20 classes and background"))

