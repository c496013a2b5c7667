"""Data sets: registry, manifests, sequence-aware splits, joint transforms, cache and loaders.

The path of a frame from disk to a batch:

1. `build_manifest(name)` lists the frames of a data set (one row per image/label pair) with
   their sequence, scene, weather and injected defect when the data set records them.
2. `split_by_sequence` assigns train / val / pseudo_test / test so that no sequence (a run of
   near-duplicate frames) lands in two splits.
3. `SegmentationDataset` decodes every frame once, resizes it to the profile size (labels by
   nearest neighbour only), maps label ids to classes and keeps the result as uint8 `.npy`
   memmaps in the cache folder. Bad input is found in this pass, in the main process.
4. `make_loader` wraps it in a seeded DataLoader.

Bad input policy (`on_bad`):

* an unreadable image or label (missing, truncated, not an image) is always skipped;
* a label whose size differs from its image is resized by nearest neighbour (`on_bad="resize"`,
  the default) or skipped (`on_bad="skip"`);
* colours of an RGB label that the class map does not know become the map's unknown class.

Every case is reported as a `Problem(frame, file, reason, action)` in `dataset.problems` and in
one warning. `on_bad="raise"` stops at the first problem instead.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler
from tqdm.auto import tqdm

from .classes import ClassMap, get_class_map
from .config import Profile, data_root, get_profile, is_quiet, make_generator, seed_worker
from .encoding import one_hot as encode_one_hot
from .encoding import rgb_to_index, unknown_colours

SPLITS = ("train", "val", "pseudo_test", "test")
DEFAULT_FRACTIONS = {"train": 0.6, "val": 0.15, "pseudo_test": 0.1, "test": 0.15}
MANIFEST_COLUMNS = ("frame", "image", "label", "sequence", "scene", "weather", "defect", "split")
CACHE_VERSION = 1  # bump when the cache layout or the decoding changes
LABEL_NEAREST = getattr(cv2, "INTER_NEAREST_EXACT", cv2.INTER_NEAREST)  # pixel-centre exact nearest


# --------------------------------------------------------------------------------------------
# Errors and problems
# --------------------------------------------------------------------------------------------

class DatasetMissingError(FileNotFoundError):
    """The data set folder does not exist; the message names it and the command that creates it."""


class Problem(NamedTuple):
    """One bad input found while reading a data set, and what was done about it."""

    frame: str
    file: str
    reason: str
    action: str  # "skipped", "label resized (nearest)", "mapped to class N"


class BadInputError(ValueError):
    """Raised by `on_bad="raise"` at the first unreadable or inconsistent frame."""


# --------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------

def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file into an H×W×3 uint8 RGB array; OSError naming the file if it cannot."""
    path = Path(path)
    if not path.is_file():
        raise OSError(f"missing file {path}")
    data = np.fromfile(path, dtype=np.uint8)
    ending = data[-64:].tobytes()
    suffix = path.suffix.lower()
    if suffix == ".png" and b"IEND" not in ending:
        raise OSError(f"truncated PNG {path}: the file ends before its IEND chunk")
    if suffix in (".jpg", ".jpeg") and b"\xff\xd9" not in ending:
        raise OSError(f"truncated JPEG {path}: the file ends before its end-of-image marker")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise OSError(f"cannot decode image {path} (truncated or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_label_raw(path: str | Path) -> tuple[np.ndarray, str]:
    """Decode a label file without mapping: (array, PIL mode). 'P'/'L' give H×W ids, RGB H×W×3."""
    path = Path(path)
    if not path.is_file():
        raise OSError(f"missing file {path}")
    try:
        with Image.open(path) as label:
            label.load()
            mode = label.mode
            if mode == "RGBA":
                label = label.convert("RGB")
            elif mode not in ("P", "L", "RGB"):  # 1, LA, I;16, I: read as grey levels
                label = label.convert("L")
            return np.asarray(label).copy(), mode
    except OSError as error:
        raise OSError(f"cannot decode label {path}: {error}") from error
    except (ValueError, SyntaxError) as error:  # PIL raises these for some corrupt headers
        raise OSError(f"cannot decode label {path}: {error}") from error


def read_label(path: str | Path, class_map: ClassMap | str) -> tuple[np.ndarray, str | None]:
    """Decode a label into H×W uint8 class indices of `class_map`, plus a note on unknown colours.

    Palette ('P') and grey ('L') labels hold source ids (Cityscapes labelIds) and go through the
    map's id table; RGB labels go through its colour table, unknown colours → `unknown_class`.
    """
    class_map = get_class_map(class_map)
    raw, _mode = read_label_raw(path)
    if raw.ndim == 2:
        return class_map.id_lut()[raw], None
    found = unknown_colours(raw, class_map)
    note = None
    if found:
        listed = ", ".join(f"{colour}×{count}" for colour, count in list(found.items())[:3])
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        note = f"unknown colours {listed}{more}"
    return rgb_to_index(raw, class_map), note


def read_mask(path: str | Path, class_map: ClassMap | str) -> tuple[np.ndarray, str | None]:
    """Decode a binary JPEG mask (any mode) as grey levels and map them by the id table (≥128 → 1)."""
    class_map = get_class_map(class_map)
    raw, _mode = read_label_raw(path)
    if raw.ndim == 3:
        raw = cv2.cvtColor(raw, cv2.COLOR_RGB2GRAY)
    return class_map.id_lut()[raw], None


# --------------------------------------------------------------------------------------------
# Manifests of the built-in data sets
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


FOREST_PATTERN = re.compile(r"^(\d+)_sat_")


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
# Registry
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DatasetSpec:
    """How to find, list and read one data set, and how to create it when it is missing."""

    name: str
    folder: str  # folder name under data_root()
    build_manifest: Callable[[Path], pd.DataFrame]  # data set folder → manifest
    command: str  # shell command that creates it; "{folder}" is replaced by the target folder
    default_classes: str = "gta9"
    class_maps: tuple[str, ...] = ("gta9", "cityscapes19")  # class maps its labels can be read into
    markers: tuple[str, ...] = ("images",)  # paths whose presence means "the data set is here"
    read_image: Callable[[Path], np.ndarray] = read_image
    read_label: Callable[[Path, ClassMap], tuple[np.ndarray, str | None]] = read_label
    description: str = ""

    def command_for(self, folder: Path) -> str:
        """The exact command that creates this data set in `folder`."""
        return self.command.format(folder=folder)


DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add (or replace) a data set in the registry, so `load_dataset(spec.name)` finds it."""
    DATASETS[spec.name] = spec
    return spec


def get_spec(name: str | DatasetSpec) -> DatasetSpec:
    """Look up a registered data set by name, or pass a spec through."""
    if isinstance(name, DatasetSpec):
        return name
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; registered: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


register_dataset(DatasetSpec(
    name="synthetic-streets",
    folder="synthetic-streets",
    build_manifest=playing_for_data_manifest,
    command="make data  (or: python data_scripts/make_synthetic_streets.py --out {folder})",
    markers=("images", "meta.csv"),
    description="procedural street scenes in the Playing for Data layout",
))

register_dataset(DatasetSpec(
    name="synthetic-forest",
    folder="synthetic-forest",
    build_manifest=kaggle_forest_manifest,
    command="make data  (or: python data_scripts/make_synthetic_forest.py --out {folder})",
    default_classes="forest2",
    class_maps=("forest2",),
    markers=("Forest Segmented",),
    read_label=read_mask,
    description="procedural aerial patches with binary forest masks, Kaggle layout",
))


def _spec_for(class_map: ClassMap) -> DatasetSpec:
    """The first registered data set whose default class map is `class_map` (else synthetic-streets)."""
    for spec in DATASETS.values():
        if spec.default_classes == class_map.name:
            return spec
    return DATASETS["synthetic-streets"]


def dataset_dir(name: str | DatasetSpec, root: str | Path | None = None) -> Path:
    """Folder of data set `name`: `root` itself when it holds the data, else `root/<folder>`.

    `root` defaults to `data_root()`. Raises DatasetMissingError naming the folder and the
    command that creates it.
    """
    spec = get_spec(name)
    base = data_root() if root is None else Path(root).expanduser()
    candidates = [base] if root is not None else []
    candidates.append(base / spec.folder)
    for folder in candidates:
        if folder.is_dir() and any((folder / marker).exists() for marker in spec.markers):
            return folder
    holds_other_things = base.is_dir() and any(base.iterdir())
    target = base / spec.folder if root is None or holds_other_things else base
    raise DatasetMissingError(
        f"data set {spec.name!r} not found: folder {target} is missing or empty.\n"
        f"Create it with: {spec.command_for(target)}")


def build_manifest(name: str | DatasetSpec = "synthetic-streets", root: str | Path | None = None) -> pd.DataFrame:
    """List the frames of a data set: frame, image, label (relative paths), sequence, flags, split."""
    spec = get_spec(name)
    manifest = spec.build_manifest(dataset_dir(spec, root))
    columns = [c for c in MANIFEST_COLUMNS if c in manifest] + [c for c in manifest if c not in MANIFEST_COLUMNS]
    return manifest[columns].reset_index(drop=True)


def write_manifest(manifest: pd.DataFrame, path: str | Path) -> Path:
    """Write a manifest as CSV (frame ids stay strings, e.g. 00001)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest.to_csv(path, index=False)
    return path


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest CSV written by `write_manifest`, keeping frame ids as strings."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest {path} not found; notebook 01_data_cleaning writes it")
    manifest = pd.read_csv(path, dtype={"frame": str, "image": str, "label": str, "split": str},
                           keep_default_na=False, na_values={"sequence": [""]})
    if "split" not in manifest:
        manifest["split"] = ""
    return manifest


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------

def check_fractions(fractions: dict[str, float] | Sequence[float] | None) -> dict[str, float]:
    """Validate split fractions: names from SPLITS, non-negative, summing to 1 (default 0.6/0.15/0.1/0.15)."""
    if fractions is None:
        return dict(DEFAULT_FRACTIONS)
    if not isinstance(fractions, dict):
        fractions = list(fractions)
        if len(fractions) != len(SPLITS):
            raise ValueError(f"give {len(SPLITS)} fractions for {SPLITS}, got {fractions}")
        fractions = dict(zip(SPLITS, fractions))
    unknown = set(fractions) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split name(s) {sorted(unknown)}; use {SPLITS}")
    checked = {name: float(fractions.get(name, 0.0)) for name in SPLITS}
    if any(value < 0 or not math.isfinite(value) for value in checked.values()):
        raise ValueError(f"split fractions must be finite and ≥ 0, got {checked}")
    if abs(sum(checked.values()) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {sum(checked.values()):.4f} from {checked}")
    return checked


def _apportion(total: int, fractions: dict[str, float]) -> dict[str, int]:
    """Split `total` items by fractions with the largest-remainder rule; every positive split gets ≥ 1."""
    quotas = {name: total * f for name, f in fractions.items()}
    counts = {name: int(math.floor(q)) for name, q in quotas.items()}
    by_remainder = sorted(quotas, key=lambda name: quotas[name] - counts[name], reverse=True)
    for name in by_remainder[: total - sum(counts.values())]:
        counts[name] += 1
    positive = [name for name in fractions if fractions[name] > 0]
    if total >= len(positive):
        for name in positive:
            if counts[name] == 0:
                donor = max(counts, key=counts.get)
                counts[donor] -= 1
                counts[name] = 1
    return counts


def _stratified_counts(sizes: dict[str, int], fractions: dict[str, float],
                       rng: np.random.Generator) -> dict[tuple[str, str], int]:
    """How many sequences of each stratum go to each split.

    Each stratum gets the floor of its ideal share per split; the rest is handed out by largest
    remainder (random tie-break) so that the split totals match the overall fractions.
    """
    targets = _apportion(sum(sizes.values()), fractions)
    quota = {(s, k): sizes[s] * fractions[k] for s in sizes for k in SPLITS}
    count = {key: int(math.floor(q)) for key, q in quota.items()}
    row_left = {s: sizes[s] - sum(count[s, k] for k in SPLITS) for s in sizes}
    col_left = {k: targets[k] - sum(count[s, k] for s in sizes) for k in SPLITS}
    jitter = dict(zip(quota, rng.random(len(quota))))
    for s, k in sorted(quota, key=lambda key: (quota[key] - count[key], jitter[key]), reverse=True):
        if row_left[s] > 0 and col_left[k] > 0:
            count[s, k] += 1
            row_left[s] -= 1
            col_left[k] -= 1
    for s in sizes:  # rare leftovers: the split with the most room
        for _ in range(row_left[s]):
            k = max(SPLITS, key=lambda name: col_left[name])
            count[s, k] += 1
            col_left[k] -= 1
    return count


def split_by_sequence(manifest: pd.DataFrame, fractions: dict[str, float] | Sequence[float] | None = None,
                      seed: int = 0, stratify: str | None = "scene") -> pd.DataFrame:
    """Assign whole sequences to train / val / pseudo_test / test, stratified by scene when known.

    Fractions count sequences. Each scene type is spread over the splits in proportion, and the
    split sizes match the fractions overall (largest-remainder rounding). Same seed, same split.
    """
    fractions = check_fractions(fractions)
    if "sequence" not in manifest:
        raise ValueError("the manifest has no 'sequence' column; use random_frame_split instead")
    sequences = manifest.groupby("sequence", sort=True).first().reset_index()
    if stratify and stratify in sequences and sequences[stratify].notna().all():
        strata = sequences[stratify].astype(str).to_numpy()
    else:
        strata = np.full(len(sequences), "all")
    rng = np.random.default_rng(seed)
    members = {s: rng.permutation(sequences["sequence"].to_numpy()[strata == s]) for s in sorted(set(strata))}
    count = _stratified_counts({s: len(m) for s, m in members.items()}, fractions, rng)
    split_of: dict[int, str] = {}
    for s, shuffled in members.items():
        cuts = np.cumsum([0] + [count[s, k] for k in SPLITS])
        for k, start, stop in zip(SPLITS, cuts[:-1], cuts[1:]):
            split_of.update({int(sequence): k for sequence in shuffled[start:stop]})
    result = manifest.copy()
    result["split"] = [split_of[int(sequence)] for sequence in result["sequence"]]
    return result


def random_frame_split(manifest: pd.DataFrame, fractions: dict[str, float] | Sequence[float] | None = None,
                       seed: int = 0) -> pd.DataFrame:
    """Assign frames (not sequences) to splits at random: near-duplicate neighbours leak across splits."""
    fractions = check_fractions(fractions)
    counts = _apportion(len(manifest), fractions)
    labels = np.concatenate([[k] * counts[k] for k in SPLITS]).astype(object)
    result = manifest.copy()
    result["split"] = labels[np.random.default_rng(seed).permutation(len(manifest))]
    return result


# --------------------------------------------------------------------------------------------
# Joint transforms (image H×W×3 uint8, label H×W uint8)
# --------------------------------------------------------------------------------------------

def resize_pair(image: np.ndarray, label: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Resize to size=(W, H): the image by area averaging (linear when enlarging), the label by nearest only."""
    width, height = size
    if image.shape[:2] != (height, width):
        shrinking = width * height < image.shape[0] * image.shape[1]
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    if label.shape[:2] != (height, width):
        label = cv2.resize(label, (width, height), interpolation=LABEL_NEAREST)
    return image, label


def hflip_pair(image: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror image and label left to right together."""
    return image[:, ::-1].copy(), label[:, ::-1].copy()


def rotate_pair(image: np.ndarray, label: np.ndarray, degrees: float,
                label_fill: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rotate both about the centre: the image bilinearly (black border), the label by nearest neighbour.

    The label's new border gets `label_fill`: the ignore index when the class map has one (those
    pixels then count nowhere), else class 0 ("everything else", matching the black border).
    """
    height, width = label.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2 - 0.5, height / 2 - 0.5), degrees, 1.0)
    image = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    label = cv2.warpAffine(label, matrix, (width, height), flags=cv2.INTER_NEAREST,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=int(label_fill))
    return image, label


def colour_jitter(image: np.ndarray, rng: np.random.Generator, brightness: float = 0.2,
                  contrast: float = 0.2, saturation: float = 0.2) -> np.ndarray:
    """Random brightness, contrast and saturation factors in [1-s, 1+s], on the image only."""
    pixels = image.astype(np.float32)
    pixels *= rng.uniform(1 - brightness, 1 + brightness)
    mean = pixels.mean()
    pixels = (pixels - mean) * rng.uniform(1 - contrast, 1 + contrast) + mean
    grey = pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    pixels = (pixels - grey[..., None]) * rng.uniform(1 - saturation, 1 + saturation) + grey[..., None]
    return np.clip(pixels, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Augment:
    """The training augmentation: flip with probability `flip`, rotation in ±`degrees`, colour jitter."""

    flip: float = 0.5
    degrees: float = 10.0
    jitter: float = 0.2

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator,
                 label_fill: int = 0) -> tuple[np.ndarray, np.ndarray]:
        if rng.random() < self.flip:
            image, label = hflip_pair(image, label)
        if self.degrees > 0:
            image, label = rotate_pair(image, label, rng.uniform(-self.degrees, self.degrees), label_fill)
        if self.jitter > 0:
            image = colour_jitter(image, rng, self.jitter, self.jitter, self.jitter)
        return image, label


# --------------------------------------------------------------------------------------------
# Decoding one frame, and the cache
# --------------------------------------------------------------------------------------------

def cache_root() -> Path:
    """Folder of the decoded-data cache: env WORKBOOK_CACHE, default data_root()/.cache."""
    return Path(os.environ.get("WORKBOOK_CACHE", data_root() / ".cache")).expanduser()


def _decode_frame(spec: DatasetSpec, root: Path, row: dict, class_map: ClassMap, size: tuple[int, int],
                  on_bad: str) -> tuple[np.ndarray | None, np.ndarray | None, list[Problem]]:
    """Read, check, class-map and resize one frame. Returns (image, label, problems); None when skipped."""
    frame, image_path, label_path = str(row["frame"]), root / row["image"], root / row["label"]
    try:
        image = spec.read_image(image_path)
    except OSError as error:
        return None, None, [Problem(frame, str(image_path), str(error), "skipped")]
    try:
        label, note = spec.read_label(label_path, class_map)
    except OSError as error:
        return None, None, [Problem(frame, str(label_path), str(error), "skipped")]
    problems = []
    if note:
        problems.append(Problem(frame, str(label_path), note, f"mapped to class {class_map.unknown_class}"))
    if label.shape[:2] != image.shape[:2]:
        reason = (f"label {label.shape[1]}×{label.shape[0]} but image "
                  f"{image.shape[1]}×{image.shape[0]}")
        if on_bad == "skip":
            return None, None, problems + [Problem(frame, str(label_path), reason, "skipped")]
        label = cv2.resize(label, (image.shape[1], image.shape[0]), interpolation=LABEL_NEAREST)
        problems.append(Problem(frame, str(label_path), reason, "label resized (nearest)"))
    image, label = resize_pair(image, label, size)
    return image, label, problems


def _source_stamp(root: Path) -> list:
    """Modification times of the data set's CSV files: regenerating the data changes the cache key."""
    stamps = []
    for pattern in ("*.csv", "*/*.csv", "*/*/*.csv"):
        stamps += [(p.relative_to(root).as_posix(), p.stat().st_mtime_ns) for p in sorted(root.glob(pattern))]
    return stamps


def _warn_problems(name: str, problems: list[Problem]) -> None:
    if not problems:
        return
    shown = "; ".join(f"{Path(p.file).name}: {p.reason} → {p.action}" for p in problems[:5])
    more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
    warnings.warn(f"{len(problems)} problem(s) in {name}: {shown}{more} (see dataset.problems)", stacklevel=3)


class SegmentationDataset(Dataset):
    """Image/label pairs at a fixed size: `(image float32 3×H×W in [0, 1], target int64 H×W)`.

    Arguments: `manifest` (rows with frame, image, label paths relative to `root`), `class_map`,
    `size=(W, H)`, `augment` (True or an `Augment`: flip + small rotation + colour jitter, on the
    decoded uint8 data), `one_hot` (target C×H×W float instead), `cache` (True: uint8 .npy
    memmaps in `cache_root()`, built once; "memory": decoded into RAM; False: decode the files at
    every access), `on_bad` ("resize", "skip" or "raise", see module doc), `dataset` (the
    registry entry that says how to read the files; default: the one whose class map this is).

    Augmentation is seeded per item: `make_loader` passes `(index, seed)` with seeds from its own
    generator; a plain `dataset[index]` draws the seed from torch's RNG (seeded by
    `seed_everything`, and per worker by the DataLoader).

    Frames that cannot be used are dropped: `.manifest` and `.frames` hold the frames kept,
    `.problems` every problem found.
    """

    def __init__(self, manifest: pd.DataFrame, root: str | Path, class_map: ClassMap | str = "gta9",
                 size: tuple[int, int] = (160, 120), augment: bool | Augment = False, one_hot: bool = False,
                 cache: bool | str = True, on_bad: str = "resize",
                 dataset: str | DatasetSpec | None = None, progress: bool = True):
        if on_bad not in ("resize", "skip", "raise"):
            raise ValueError(f"on_bad must be 'resize', 'skip' or 'raise', got {on_bad!r}")
        if cache not in (True, False, "memory"):
            raise ValueError(f"cache must be True, False or 'memory', got {cache!r}")
        self.class_map = get_class_map(class_map)
        self.spec = get_spec(dataset) if dataset is not None else _spec_for(self.class_map)
        self.root = Path(root)
        self.size = (int(size[0]), int(size[1]))
        self.augment = Augment() if augment is True else (augment or None)
        self.one_hot = one_hot
        self.cache = cache
        self.on_bad = on_bad
        self.label_fill = self.class_map.ignore_index if self.class_map.ignore_index is not None else 0
        self.problems: list[Problem] = []
        self._images: np.ndarray | None = None
        self._labels: np.ndarray | None = None
        self.cache_files: tuple[Path, Path] | None = None
        rows = manifest.reset_index(drop=True)
        if rows.empty:
            raise ValueError("the manifest has no frames (an empty split, or everything filtered out?)")
        kept = self._prepare(rows, progress)
        self.manifest = rows.iloc[kept].reset_index(drop=True)
        self.frames = [str(f) for f in self.manifest["frame"]]
        _warn_problems(self.spec.name, self.problems)

    # ---- building -------------------------------------------------------------------------
    def cache_key(self, rows: pd.DataFrame) -> str:
        """Cache file stem: data set, size, class map and a hash of the frame list and sources."""
        content = json.dumps({
            "version": CACHE_VERSION, "dataset": self.spec.name, "root": str(self.root.resolve()),
            "frames": rows[["frame", "image", "label"]].astype(str).to_numpy().tolist(),
            "size": self.size, "classes": self.class_map.name, "on_bad": self.on_bad,
            "stamp": _source_stamp(self.root),
        }, sort_keys=True)
        digest = hashlib.sha1(content.encode()).hexdigest()[:16]
        return f"{self.spec.name}-{self.size[0]}x{self.size[1]}-{self.class_map.name}-{digest}"

    def _prepare(self, rows: pd.DataFrame, progress: bool) -> list[int]:
        """Find (or build) the decoded data; return the manifest positions of the frames kept."""
        if self.cache is True:
            stem = cache_root() / self.cache_key(rows)
            paths = (stem.with_name(stem.name + ".images.npy"), stem.with_name(stem.name + ".labels.npy"))
            info_path = stem.with_name(stem.name + ".json")
            self.cache_files = paths
            if info_path.is_file() and all(p.is_file() for p in paths):
                info = json.loads(info_path.read_text())
                self.problems = [Problem(*p) for p in info["problems"]]
                return info["kept"]
            return self._build(rows, progress, paths, info_path)
        return self._build(rows, progress, None, None)

    def _build(self, rows: pd.DataFrame, progress: bool, paths: tuple[Path, Path] | None,
               info_path: Path | None) -> list[int]:
        """Decode every frame once (threads), collecting problems; write memmaps atomically when caching."""
        width, height = self.size
        records = rows.to_dict("records")
        keep_arrays = self.cache in (True, "memory")
        images = np.empty((len(rows), height, width, 3), np.uint8) if keep_arrays else None
        labels = np.empty((len(rows), height, width), np.uint8) if keep_arrays else None
        kept: list[int] = []

        def work(record: dict):
            return _decode_frame(self.spec, self.root, record, self.class_map, self.size, self.on_bad)

        workers = max(1, min(8, os.cpu_count() or 1))
        with ThreadPoolExecutor(workers) as pool:
            results = pool.map(work, records)
            bar = tqdm(results, total=len(records), desc=f"decoding {self.spec.name} at {width}×{height}",
                       disable=is_quiet() or not progress)
            for position, (image, label, problems) in enumerate(bar):
                if problems and self.on_bad == "raise":
                    raise BadInputError(f"{problems[0].file}: {problems[0].reason}. Fix or remove the "
                                        f"file, or pass on_bad='resize' / 'skip' to handle it.")
                self.problems += problems
                if image is None:
                    continue
                if keep_arrays:
                    images[len(kept)], labels[len(kept)] = image, label
                kept.append(position)
        if records and not kept:
            first = self.problems[0]
            raise BadInputError(f"none of the {len(records)} frames in {self.root} could be used; "
                                f"first problem: {first.file}: {first.reason}")
        if not keep_arrays:
            return kept
        images, labels = images[: len(kept)], labels[: len(kept)]
        if paths is not None:
            try:
                self._write_cache(images, labels, kept, paths, info_path)
                return kept
            except OSError as error:  # read-only or full disk: keep the decoded data in memory
                warnings.warn(f"cannot write the cache to {paths[0].parent} ({error}); keeping the decoded "
                              f"frames in memory. Set WORKBOOK_CACHE to a writable folder.", stacklevel=3)
                self.cache_files = None
        self._images, self._labels = images, labels
        return kept

    def _write_cache(self, images: np.ndarray, labels: np.ndarray, kept: list[int], paths: tuple[Path, Path],
                     info_path: Path) -> None:
        """Write the arrays, then the index; each via a temporary file and a rename (never half a cache)."""
        paths[0].parent.mkdir(parents=True, exist_ok=True)
        for array, path in zip((images, labels), paths):
            tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
            try:
                with open(tmp, "wb") as handle:
                    np.save(handle, array)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        info = {"kept": kept, "problems": [list(p) for p in self.problems], "size": self.size,
                "classes": self.class_map.name, "dataset": self.spec.name, "root": str(self.root)}
        tmp = info_path.with_name(f"{info_path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(info, indent=1))
        os.replace(tmp, info_path)  # written last: its presence means the arrays are complete

    # ---- access ---------------------------------------------------------------------------
    def _arrays(self) -> tuple[np.ndarray, np.ndarray] | None:
        if self._images is None and self.cache_files is not None:
            self._images = np.load(self.cache_files[0], mmap_mode="r")
            self._labels = np.load(self.cache_files[1], mmap_mode="r")
        if self._images is None:
            return None
        return self._images, self._labels

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if self.cache is True:  # workers reopen the memmaps instead of receiving copies
            state["_images"] = state["_labels"] = None
        return state

    def __len__(self) -> int:
        return len(self.frames)

    def raw(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame `index` at the dataset size, before augmentation: (image H×W×3 uint8, classes H×W uint8)."""
        arrays = self._arrays()
        if arrays is not None:
            return np.array(arrays[0][index]), np.array(arrays[1][index])
        row = self.manifest.iloc[index].to_dict()
        image, label, problems = _decode_frame(self.spec, self.root, row, self.class_map, self.size, self.on_bad)
        if image is None:
            raise OSError(f"frame {row['frame']} became unreadable since the dataset was built: "
                          f"{problems[0].reason}")
        return image, label

    def __getitem__(self, index: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Item `index`; `(index, seed)` fixes its augmentation (what `make_loader`'s sampler passes)."""
        index, seed = index if isinstance(index, tuple) else (index, None)
        image, label = self.raw(index)
        if self.augment is not None:
            if seed is None:  # torch's RNG: seeded by seed_everything, and per DataLoader worker
                seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
            image, label = self.augment(image, label, np.random.default_rng(seed), self.label_fill)
        image_tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255)
        target = torch.from_numpy(label.astype(np.int64))
        if self.one_hot:
            return image_tensor, encode_one_hot(target, self.class_map.num_classes)[0]
        return image_tensor, target

    @property
    def in_memory(self) -> bool:
        """True when items come from decoded arrays (cache) rather than from the image files."""
        return self.cache in (True, "memory")

    def __repr__(self) -> str:
        return (f"SegmentationDataset({self.spec.name}, {len(self)} frames, size={self.size}, "
                f"classes={self.class_map.name}, augment={self.augment is not None}, cache={self.cache})")


# --------------------------------------------------------------------------------------------
# Loading by name
# --------------------------------------------------------------------------------------------

def _even_subset(manifest: pd.DataFrame, count: int) -> pd.DataFrame:
    """`count` frames evenly spaced through the manifest, so every sequence stays represented."""
    if count >= len(manifest):
        return manifest
    positions = np.unique(np.linspace(0, len(manifest) - 1, count).round().astype(int))
    return manifest.iloc[positions]


def load_dataset(name: str = "synthetic-streets", root: str | Path | None = None,
                 classes: str | ClassMap | None = None, profile: Profile | str | None = None,
                 split: str | None = "train", manifest: str | Path | pd.DataFrame | None = None,
                 augment: bool = False, one_hot: bool = False, max_images: int | None = None,
                 cache: bool | str = True, on_bad: str = "resize", progress: bool = True) -> SegmentationDataset:
    """A `SegmentationDataset` of one split of a registered data set, sized by a profile.

    `classes` None means the data set's default (gta9 for streets, forest2 for forest).
    `manifest` may be a CSV path or table (e.g. the clean split written by notebook 01); without
    one, the full manifest with the default sequence split (seed 0) is used. `split` None or
    "all" keeps every frame. `max_images` (default: the profile's cap for that split) keeps frames
    evenly spread over the split.
    """
    spec = get_spec(name)
    folder = dataset_dir(spec, root)
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    class_map = get_class_map(classes or spec.default_classes)
    if class_map.name not in spec.class_maps:
        raise ValueError(f"{spec.name} labels cannot be read as {class_map.name!r}; "
                         f"use one of {spec.class_maps}")
    if manifest is None:
        table = build_manifest(spec, folder)  # split below, unless the data set ships one
    elif isinstance(manifest, pd.DataFrame):
        table = manifest.copy()
    else:
        table = read_manifest(manifest)
    if "split" not in table or (table["split"].fillna("") == "").all():
        table = split_by_sequence(table)
    if split not in (None, "all"):
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; use one of {SPLITS}, 'all' or None")
        available = sorted(set(table["split"]))
        table = table[table["split"] == split]
        if table.empty:
            raise ValueError(f"split {split!r} has no frames in this manifest; it has {available}")
    if max_images is None:
        max_images = profile.max_train_images if split == "train" else profile.max_eval_images
    if max_images is not None:
        table = _even_subset(table, int(max_images))
    return SegmentationDataset(table, folder, class_map, profile.image_size, augment=augment, one_hot=one_hot,
                               cache=cache, on_bad=on_bad, dataset=spec, progress=progress)


# --------------------------------------------------------------------------------------------
# Loaders and statistics
# --------------------------------------------------------------------------------------------

def available_cpus() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def fit_num_workers(dataset: Dataset) -> int:
    """DataLoader workers for this machine and data set.

    Measured (benchmarks/bench_loading.py): items read from the cache cost microseconds, less
    than handing them between processes, so cached data without augmentation uses 0 workers.
    Decoding PNGs or augmenting pays for workers, but only when cores are left for the model:
    0 on ≤ 2 cores, else up to 4, leaving one core to the main process.
    """
    cpus = available_cpus()
    if cpus <= 2:
        return 0
    cheap = getattr(dataset, "in_memory", False) and getattr(dataset, "augment", None) is None
    return 0 if cheap else min(4, cpus - 1)


class SeededSampler(Sampler):
    """Yields `(index, seed)`: the order of `sampler` plus one augmentation seed per item.

    Seeds come from the loader's generator in the main process, so the augmented batches are the
    same for a given seed whatever the number of workers.
    """

    def __init__(self, sampler: Sampler, generator: torch.Generator):
        self.sampler = sampler
        self.generator = generator

    def __iter__(self):
        for index in self.sampler:
            yield index, int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator).item())

    def __len__(self) -> int:
        return len(self.sampler)


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int = 0, num_workers: int | None = None,
                device: str | torch.device | None = None, drop_last: bool = False) -> DataLoader:
    """A DataLoader whose order and augmentation depend only on `seed`; workers fitted to the machine.

    pin_memory when the target device is CUDA; persistent workers when there are workers;
    `seed_worker` seeds numpy and random in each worker.
    """
    num_workers = fit_num_workers(dataset) if num_workers is None else int(num_workers)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    generator = make_generator(seed)
    order = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
    if isinstance(dataset, SegmentationDataset):
        order = SeededSampler(order, generator)
    return DataLoader(dataset, batch_size=batch_size, sampler=order, num_workers=num_workers,
                      worker_init_fn=seed_worker, generator=generator,
                      pin_memory=torch.device(device).type == "cuda",
                      persistent_workers=num_workers > 0, drop_last=drop_last)


def make_loaders(train_ds: Dataset, val_ds: Dataset, batch_size: int | None = None,
                 profile: Profile | str | None = None, seed: int = 0, num_workers: int | None = None,
                 device: str | torch.device | None = None) -> tuple[DataLoader, DataLoader]:
    """Train loader (shuffled, seeded) and validation loader (in order); batch size and workers from the profile."""
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    batch_size = batch_size or profile.batch_size
    num_workers = profile.num_workers if num_workers is None else num_workers
    train = make_loader(train_ds, batch_size, shuffle=True, seed=seed, num_workers=num_workers, device=device)
    val = make_loader(val_ds, batch_size, shuffle=False, seed=seed, num_workers=num_workers, device=device)
    return train, val


def class_counts(dataset: SegmentationDataset, chunk: int = 256) -> np.ndarray:
    """Pixel count per class over the data set (before augmentation; ignored pixels not counted)."""
    num_classes = dataset.class_map.num_classes
    counts = np.zeros(num_classes, dtype=np.int64)
    arrays = dataset._arrays()
    for start in range(0, len(dataset), chunk):
        if arrays is not None:
            labels = np.asarray(arrays[1][start: start + chunk])
        else:
            labels = np.stack([dataset.raw(i)[1] for i in range(start, min(start + chunk, len(dataset)))])
        values = labels.ravel()
        counts += np.bincount(values[values < num_classes], minlength=num_classes)[:num_classes]
    return counts


from . import real_datasets  # noqa: E402,F401  (registers "gta5" and "forest")
