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

import contextlib
import functools
import hashlib
import json
import math
import os
import re
import sys
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

from .classes import CITYSCAPES_LABELS, ClassMap, get_class_map
from .config import Profile, check_image_size, data_root, get_profile, is_quiet, make_generator, seed_worker
from .encoding import one_hot as encode_one_hot
from .encoding import rgb_to_index, unknown_colours
from .files import atomic_path, atomic_write_text

SPLITS = ("train", "val", "pseudo_test", "test")
DEFAULT_FRACTIONS = {"train": 0.6, "val": 0.15, "pseudo_test": 0.1, "test": 0.15}
MANIFEST_COLUMNS = ("frame", "image", "label", "sequence", "scene", "weather", "defect", "split")
CACHE_VERSION = 2  # bump when the cache layout changes (changes to the decoding code change the key by themselves)
CACHE_FORMAT = "workbook-decoded-cache"
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

def _png_complete(data: bytes) -> bool:
    """Whether PNG bytes hold every chunk up to IEND (bytes after IEND are allowed and ignored)."""
    position = 8  # after the signature
    while position + 8 <= len(data):
        length = int.from_bytes(data[position: position + 4], "big")
        if data[position + 4: position + 8] == b"IEND":
            return True
        position += 12 + length  # length, type, data, CRC
    return False


def _jpeg_complete(data: bytes) -> bool:
    """Whether JPEG bytes end their last scan with an end-of-image marker.

    Inside entropy-coded data every 0xFF byte is followed by 0x00 or a restart marker, so an
    FF D9 after the last start-of-scan (FF DA) is the real end, even with bytes after it.
    """
    return data.rfind(b"\xff\xd9") > data.rfind(b"\xff\xda") >= 0


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file into an H×W×3 uint8 RGB array; OSError naming the file if it cannot."""
    path = Path(path)
    if not path.is_file():
        raise OSError(f"missing file {path}")
    raw = path.read_bytes()
    data = np.frombuffer(raw, dtype=np.uint8)
    if raw.startswith(b"\x89PNG\r\n\x1a\n") and not _png_complete(raw):
        raise OSError(f"truncated PNG {path}: the file ends before its IEND chunk")
    if raw.startswith(b"\xff\xd8") and not _jpeg_complete(raw):
        raise OSError(f"truncated JPEG {path}: the file ends before its end-of-image marker")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise OSError(f"cannot decode image {path} (truncated or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class LabelFormatError(OSError):
    """A label file that decodes but cannot hold class ids (16-bit, 32-bit or float pixels)."""


def _wide_pixels(mode: str) -> str | None:
    """'16-bit integers' (and so on) for a PIL mode whose pixels do not fit in 8 bits; None for 8-bit modes."""
    if mode.startswith("I;16"):
        return "16-bit integers"
    return {"I": "32-bit integers", "F": "32-bit floats"}.get(mode)


def read_label_raw(path: str | Path) -> tuple[np.ndarray, str]:
    """Decode a label file without mapping: (array, PIL mode). 'P'/'L' give H×W ids, RGB H×W×3.

    Labels hold 8-bit ids or colours; a 16-bit, 32-bit or float image raises LabelFormatError
    (clipping its values to 0–255 would silently change classes).
    """
    path = Path(path)
    if not path.is_file():
        raise OSError(f"missing file {path}")
    try:
        with Image.open(path) as label:
            mode = label.mode
            wide = _wide_pixels(mode)
            if wide:
                raise LabelFormatError(
                    f"label {path} has {mode} pixels ({wide}), not 8-bit ids or colours: a label must be an 8-bit "
                    f"palette or grey PNG of class ids (or an RGB colour label). Convert it, e.g. "
                    f"Image.fromarray(ids.astype(np.uint8)).save(...), after checking that every id is below 256")
            label.load()
            if mode in ("RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"):
                label = label.convert("RGB")
            elif mode not in ("P", "L", "RGB"):  # 1, LA, PA: read as grey levels
                label = label.convert("L")
            return np.asarray(label).copy(), mode
    except LabelFormatError:
        raise
    except OSError as error:
        raise OSError(f"cannot decode label {path}: {error}") from error
    except (ValueError, SyntaxError) as error:  # PIL raises these for some corrupt headers
        raise OSError(f"cannot decode label {path}: {error}") from error


KNOWN_IDS = np.zeros(256, dtype=bool)
KNOWN_IDS[[label.label_id for label in CITYSCAPES_LABELS]] = True  # -1 (license plate) is stored as 255
"""Palette ids a Playing for Data label may hold: the Cityscapes labelIds."""


def describe_counts(found: dict, what: str, shown: int = 3) -> str:
    """'unknown colours (1, 2, 3)×9, (9, 9, 9)×1' from {value: pixel count}, most frequent first."""
    ranked = sorted(found.items(), key=lambda item: -item[1])
    listed = ", ".join(f"{value}×{count}" for value, count in ranked[:shown])
    more = f" and {len(ranked) - shown} more" if len(ranked) > shown else ""
    return f"{what} {listed}{more}"


def read_label(path: str | Path, class_map: ClassMap | str) -> tuple[np.ndarray, str | None]:
    """Decode a label into H×W uint8 class indices of `class_map`, plus a note on unknown values.

    Palette ('P') and grey ('L') labels hold source ids (Cityscapes labelIds) and go through the
    map's id table; RGB labels go through its colour table. Colours and ids outside the
    Cityscapes table become `unknown_class`, and the note says which and how many pixels.
    """
    class_map = get_class_map(class_map)
    raw, _mode = read_label_raw(path)
    if raw.ndim == 2:
        unknown = ~KNOWN_IDS[raw]
        note = None
        if unknown.any():
            values, counts = np.unique(raw[unknown], return_counts=True)
            note = describe_counts(dict(zip(values.tolist(), counts.tolist())), "label ids not in the Cityscapes table:")
        return class_map.id_lut()[raw], note
    found = unknown_colours(raw, class_map)
    note = describe_counts(found, "unknown colours") if found else None
    return rgb_to_index(raw, class_map), note


def mask_levels(raw: np.ndarray) -> np.ndarray:
    """A binary mask's grey levels as 0/255: masks stored as 0/1 are scaled up, 0/255 ones pass through.

    A mask whose only values are 0 and 1 is a 0/1 mask (a 0/255 mask has no pixel of level 1
    without also having bright ones); read by the usual ≥ 128 rule it would be all background.
    """
    if raw.ndim == 3:
        raw = cv2.cvtColor(raw, cv2.COLOR_RGB2GRAY)
    if raw.max(initial=0) == 1:
        return raw * np.uint8(255)
    return raw


def read_mask(path: str | Path, class_map: ClassMap | str) -> tuple[np.ndarray, str | None]:
    """Decode a binary mask (JPEG 0/255 with artefacts, or 0/1) as grey levels mapped by the id table (≥128 → 1)."""
    class_map = get_class_map(class_map)
    raw, _mode = read_label_raw(path)
    return class_map.id_lut()[mask_levels(raw)], None


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
    required: tuple[str, ...] = ()  # paths a complete copy has; without them it is an interrupted one
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
    required=("images", "labels", "meta.csv"),
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
            missing = [path for path in spec.required if not (folder / path).exists()]
            if missing:
                raise DatasetMissingError(
                    f"{folder} is not a complete {spec.name!r} data set: it has no {', '.join(missing)} "
                    f"(an interrupted generation or copy?).\nCreate it again with: {spec.command_for(folder)}")
            return folder
    holds_other_things = base.is_dir() and any(base.iterdir())
    target = base / spec.folder if root is None or holds_other_things else base
    raise DatasetMissingError(
        f"data set {spec.name!r} not found: folder {target} is missing or empty.\n"
        f"Create it with: {spec.command_for(target)}")


USE_HOOKS: list[Callable[[DatasetSpec, Path], None]] = []
"""Called with (spec, folder) whenever a data set is listed or loaded (the workbook stamps results with it)."""


def _used(spec: DatasetSpec, folder: Path) -> None:
    for hook in USE_HOOKS:
        hook(spec, folder)


def build_manifest(name: str | DatasetSpec = "synthetic-streets", root: str | Path | None = None) -> pd.DataFrame:
    """List the frames of a data set: frame, image, label (relative paths), sequence, flags, split."""
    spec = get_spec(name)
    folder = dataset_dir(spec, root)
    manifest = spec.build_manifest(folder)
    _used(spec, folder)
    columns = [c for c in MANIFEST_COLUMNS if c in manifest] + [c for c in manifest if c not in MANIFEST_COLUMNS]
    return manifest[columns].reset_index(drop=True)


def dataset_fingerprint(name: str | DatasetSpec, root: str | Path | None = None) -> str:
    """A short hash of a data set's version: its manifest (frames, sequences, meta data) and file sizes.

    Regenerating the data at another seed, adding, removing or editing frames changes it; copying
    the folder elsewhere does not. Costs one `stat` per file: about 10 ms for the 1,600 files of the
    default streets, a few tenths of a second for the 50,000 of GTA5.
    """
    spec = get_spec(name)
    folder = dataset_dir(spec, root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. gta5 without its prepared manifest: warned when loaded
        manifest = spec.build_manifest(folder)
    digest = hashlib.sha1(spec.name.encode())
    digest.update(manifest.to_csv(index=False).encode())
    sizes = [size for size, _mtime in file_stamps(folder, manifest[["image", "label"]].astype(str).to_numpy().ravel())]
    digest.update(np.asarray(sizes, dtype=np.int64).tobytes())
    return digest.hexdigest()[:16]


class StaleManifestError(ValueError):
    """A manifest stamped for another data set, or for this one before it changed."""


def stamp_path(path: str | Path) -> Path:
    """Where the stamp of manifest `path` lives: manifest.csv → manifest.stamp.json."""
    path = Path(path)
    return path.with_name(path.stem + ".stamp.json")


def write_manifest(manifest: pd.DataFrame, path: str | Path, dataset: str | DatasetSpec | None = None,
                   root: str | Path | None = None, profile: Profile | str | None = None) -> Path:
    """Write a manifest as CSV (frame ids stay strings, e.g. 00001), atomically.

    With `dataset`, a stamp beside it (manifest.stamp.json) records the data set, its
    fingerprint, the profile and the CSV's sha256, so that `load_dataset` refuses the manifest
    for another data set or after the data set changed.
    """
    path = Path(path)
    text = manifest.to_csv(index=False)
    stamp_file = stamp_path(path)
    stamp_file.unlink(missing_ok=True)  # a stamp never describes another CSV than the one beside it
    if dataset is not None:
        spec = get_spec(dataset)
        profile_name = profile.name if isinstance(profile, Profile) else profile
        stamp = {"format": "workbook-manifest", "dataset": spec.name, "fingerprint": dataset_fingerprint(spec, root),
                 "profile": profile_name, "rows": len(manifest),
                 "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
        atomic_write_text(stamp_file, json.dumps(stamp, indent=1) + "\n")
    atomic_write_text(path, text)
    return path


WRITTEN_BY = "notebook 01_data_cleaning (the run folder's manifest.csv) or data_scripts/prepare_gta5.py (gta5)"


def read_manifest_stamp(path: str | Path) -> dict | None:
    """The stamp written beside manifest `path` by `write_manifest`, checked against the CSV; None if unstamped."""
    path, stamp_file = Path(path), stamp_path(path)
    if not stamp_file.is_file():
        return None
    try:
        stamp = json.loads(stamp_file.read_text())
        expected = stamp["sha256"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise StaleManifestError(f"the manifest stamp {stamp_file} is damaged ({error}); write the manifest "
                                 f"again with {WRITTEN_BY}, or delete the stamp to trust {path.name} as it is") from error
    if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
        raise StaleManifestError(f"{path} does not match its stamp {stamp_file.name} (edited by hand, or written by "
                                 f"an interrupted run): write it again with {WRITTEN_BY}, or delete "
                                 f"{stamp_file.name} to trust the CSV as it is")
    return stamp


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest CSV written by `write_manifest`, keeping frame ids as strings.

    Its stamp (or None) is in `.attrs["stamp"]` and the file in `.attrs["source"]`. A missing,
    empty, unreadable or column-less file raises an error that names it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest {path} not found; notebook 01_data_cleaning writes it")
    try:
        manifest = pd.read_csv(path, dtype={"frame": str, "image": str, "label": str, "split": str},
                               keep_default_na=False, na_values={"sequence": [""]})
    except pd.errors.EmptyDataError as error:
        raise ValueError(f"manifest {path} is empty: write it again with {WRITTEN_BY}") from error
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"manifest {path} is not a readable CSV table ({str(error).splitlines()[0]}): "
                         f"write it again with {WRITTEN_BY}") from error
    if "split" not in manifest:
        manifest["split"] = ""
    manifest.attrs.update(stamp=read_manifest_stamp(path), source=str(path))
    check_manifest(manifest, str(path))
    return manifest


def _rows(positions, source: str | None) -> str:
    """'lines 3, 7' of a CSV file (the header is line 1), or 'rows 1, 5' of a table."""
    numbers = [int(p) + 2 for p in positions] if source else [int(p) for p in positions]
    shown = ", ".join(str(n) for n in numbers[:6]) + (f" and {len(numbers) - 6} more" if len(numbers) > 6 else "")
    return f"{'line' if source else 'row'}{'s' if len(numbers) > 1 else ''} {shown}"


def check_manifest(manifest: pd.DataFrame, source: str | None = None) -> None:
    """Refuse a manifest that would be read wrongly: missing columns, a frame listed twice, blank or unknown splits.

    `source` (the CSV file) is named in the message, with the offending lines.
    """
    where = f"manifest {source}" if source else "the manifest"
    missing = [column for column in ("frame", "image", "label") if column not in manifest]
    if missing:
        raise ValueError(f"{where} has no column {', '.join(missing)} (it has {list(manifest.columns)}); a manifest "
                         f"lists frame, image, label (paths relative to the data set folder), sequence and split. "
                         f"Write it again with {WRITTEN_BY}")
    table = manifest.reset_index(drop=True)
    frames = table["frame"].astype(str)
    twice = frames[frames.duplicated(keep=False)]
    if len(twice):
        first = twice.iloc[0]
        positions = np.flatnonzero(frames.to_numpy() == first)
        splits = f" (splits {', '.join(map(repr, table['split'].iloc[positions]))})" if "split" in table else ""
        raise ValueError(f"{where}: frame {first} is listed {len(positions)} times, on {_rows(positions, source)}{splits}"
                         f"; {twice.nunique()} frame(s) are listed more than once. Keep one row per frame.")
    if "split" not in table:
        return
    split = table["split"].fillna("").astype(str)
    blank = np.flatnonzero(split.to_numpy() == "")
    if 0 < len(blank) < len(split):
        raise ValueError(f"{where}: {_rows(blank, source)} have no split while the others do; fill in one of "
                         f"{', '.join(SPLITS)} or remove those rows (or leave every split blank to split by sequence)")
    unknown = np.flatnonzero(~split.isin(SPLITS + ("",)).to_numpy())
    if len(unknown):
        raise ValueError(f"{where}: unknown split {split.iloc[unknown[0]]!r} on {_rows(unknown, source)}; "
                         f"use one of {', '.join(SPLITS)}")


def check_stamp(stamp: dict | None, spec: DatasetSpec, folder: Path, source: str) -> None:
    """Refuse a manifest stamped for another data set, or for this one as it was before it changed."""
    if stamp is None:
        return
    if stamp.get("dataset") != spec.name:
        raise StaleManifestError(
            f"{source} was written for the data set {stamp.get('dataset')!r}, but this notebook loads {spec.name!r}. "
            f"Set DATASET = {stamp.get('dataset')!r} in the parameters cell, or run 01_data_cleaning with "
            f"DATASET = {spec.name!r} to clean and split {spec.name} into this run folder (or choose another RUN_DIR).")
    fingerprint = dataset_fingerprint(spec, folder)
    if stamp.get("fingerprint") != fingerprint:
        raise StaleManifestError(
            f"{source} was written for {spec.name} as it was then (fingerprint {stamp.get('fingerprint')}); "
            f"the data in {folder} has changed since (now {fingerprint}: regenerated, or frames added, removed or "
            f"edited). Run 01_data_cleaning again to clean and split the data as it is now, or set RUN_DIR to "
            f"another folder.")


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
    source = manifest.attrs.get("source")
    where = f"manifest {source}" if source else "the manifest"
    if "sequence" not in manifest:
        raise ValueError(f"{where} has no 'sequence' column to split by: add one (frames of one drive share a "
                         f"number), fill in the 'split' column, or use random_frame_split")
    blank = np.flatnonzero(manifest["sequence"].isna().to_numpy())
    if len(blank):
        raise ValueError(f"{where}: {_rows(blank, source)} have no sequence; fill in the drive number of each frame "
                         f"(frames of one drive share it) or fill in the 'split' column, so no split is needed")
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


def file_stamps(root: Path, relative_paths) -> list[tuple[int, int]]:
    """(size, modification time in ns) of each file, (-1, -1) for a missing one: any edit changes them."""
    stamps = []
    for relative in relative_paths:
        try:
            info = os.stat(root / relative)
            stamps.append((info.st_size, info.st_mtime_ns))
        except OSError:
            stamps.append((-1, -1))
    return stamps


@functools.cache
def _source_digest(*modules: str) -> str:
    """sha1 of the source files of `modules`: the version of the code that decodes frames."""
    digest = hashlib.sha1()
    for name in sorted(modules):
        file = getattr(sys.modules.get(name), "__file__", None)
        digest.update(name.encode())
        with contextlib.suppress(OSError, TypeError):
            digest.update(Path(file).read_bytes())
    return digest.hexdigest()[:16]


def decoder_version(spec: DatasetSpec) -> str:
    """CACHE_VERSION and a digest of the code that reads and resizes this data set's frames.

    Any change to that code (this module, the colour tables, the data set's own readers) gives
    new cache keys, so frames decoded by older code are never served.
    """
    modules = {__name__, "helpers.encoding", "helpers.classes",
               getattr(spec.read_image, "__module__", __name__), getattr(spec.read_label, "__module__", __name__)}
    return f"{CACHE_VERSION}-{_source_digest(*modules)}"


def class_map_digest(class_map: ClassMap) -> str:
    """sha1 of what a class map does to labels (id table, colour table, unknown and ignore classes)."""
    content = json.dumps([class_map.name, class_map.id_lut().tolist(), sorted(
        (list(colour), index) for colour, index in class_map.colour_to_class.items()),
        class_map.unknown_class, class_map.ignore_index, list(class_map.class_names)])
    return hashlib.sha1(content.encode()).hexdigest()[:16]


class CacheError(ValueError):
    """Cache files that cannot be used (damaged, truncated, another format or shape); they are rebuilt."""


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
    registry entry that says how to read the files; default: the one whose class map this is),
    `label_fill` (the class given to label pixels that augmentation moves in from outside the
    frame; None: the class map's ignore index when it has one, else 0).

    Augmentation is seeded per item: `make_loader` passes `(index, seed)` with seeds from its own
    generator; a plain `dataset[index]` draws the seed from torch's RNG (seeded by
    `seed_everything`, and per worker by the DataLoader).

    Frames that cannot be used are dropped: `.manifest` and `.frames` hold the frames kept,
    `.problems` every problem found.
    """

    def __init__(self, manifest: pd.DataFrame, root: str | Path, class_map: ClassMap | str = "gta9",
                 size: tuple[int, int] = (160, 120), augment: bool | Augment = False, one_hot: bool = False,
                 cache: bool | str = True, on_bad: str = "resize",
                 dataset: str | DatasetSpec | None = None, progress: bool = True,
                 label_fill: int | None = None):
        if on_bad not in ("resize", "skip", "raise"):
            raise ValueError(f"on_bad must be 'resize', 'skip' or 'raise', got {on_bad!r}")
        if cache not in (True, False, "memory"):
            raise ValueError(f"cache must be True, False or 'memory', got {cache!r}")
        self.class_map = get_class_map(class_map)
        self.spec = get_spec(dataset) if dataset is not None else _spec_for(self.class_map)
        self.root = Path(root)
        self.size = check_image_size(size, "size")
        self.augment = Augment() if augment is True else (augment or None)
        self.one_hot = one_hot
        self.cache = cache
        self.on_bad = on_bad
        if label_fill is None:
            label_fill = self.class_map.ignore_index if self.class_map.ignore_index is not None else 0
        self.label_fill = int(label_fill)
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
        """Cache file stem: data set, size, class map and a hash of everything the decoded arrays depend on.

        That is the frame list, the size and modification time of every image and label file,
        the size, the class map's tables, `on_bad` and the version of the decoding code: editing,
        repairing or replacing any frame file gives a new key.
        """
        files = rows[["image", "label"]].astype(str).to_numpy()
        content = json.dumps({
            "decoder": decoder_version(self.spec), "dataset": self.spec.name, "root": str(self.root.resolve()),
            "frames": rows[["frame", "image", "label"]].astype(str).to_numpy().tolist(),
            "files": file_stamps(self.root, files.ravel()),
            "size": self.size, "classes": class_map_digest(self.class_map), "on_bad": self.on_bad,
        }, sort_keys=True)
        digest = hashlib.sha1(content.encode()).hexdigest()[:16]
        return f"{self.spec.name}-{self.size[0]}x{self.size[1]}-{self.class_map.name}-{digest}"

    def _prepare(self, rows: pd.DataFrame, progress: bool) -> list[int]:
        """Find (or build) the decoded data; return the manifest positions of the frames kept."""
        if self.cache is not True:
            return self._build(rows, progress, None, None)
        stem = cache_root() / self.cache_key(rows)
        paths = (stem.with_name(stem.name + ".images.npy"), stem.with_name(stem.name + ".labels.npy"))
        info_path = stem.with_name(stem.name + ".json")
        self.cache_files = paths
        if info_path.is_file() and all(p.is_file() for p in paths):
            try:
                return self._open_cache(stem.name, paths, info_path, len(rows))
            except CacheError as error:
                warnings.warn(f"the decoded-data cache {info_path.parent} cannot be used: {error}. "
                              f"Rebuilding it from the image files.", stacklevel=4)
        return self._build(rows, progress, paths, info_path)

    def _open_cache(self, key: str, paths: tuple[Path, Path], info_path: Path, rows: int) -> list[int]:
        """Open the cached arrays and check them against their index; CacheError naming the file if unusable."""
        try:
            info = json.loads(info_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CacheError(f"{info_path.name} is damaged ({error})") from error
        if not isinstance(info, dict) or info.get("format") != CACHE_FORMAT or info.get("key") != key:
            raise CacheError(f"{info_path.name} is of an older format")
        kept = info.get("kept")
        width, height = self.size
        if not isinstance(kept, list) or not all(isinstance(k, int) and 0 <= k < rows for k in kept):
            raise CacheError(f"{info_path.name} lists frames that are not in this manifest")
        expected = ((len(kept), height, width, 3), (len(kept), height, width))
        arrays = []
        for path, shape in zip(paths, expected):
            try:
                array = np.load(path, mmap_mode="r")
            except (OSError, ValueError, EOFError) as error:
                raise CacheError(f"{path.name} is truncated or damaged") from error
            if array.shape != shape or array.dtype != np.uint8:
                raise CacheError(f"{path.name} holds {array.dtype} arrays of shape {array.shape}, "
                                 f"but its index needs uint8 {shape}")
            arrays.append(array)
        self._images, self._labels = arrays
        self.problems = [Problem(*p) for p in info.get("problems", [])]
        return kept

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
        for array, path in zip((images, labels), paths):
            with atomic_path(path) as temporary, open(temporary, "wb") as handle:
                np.save(handle, array)
        info = {"format": CACHE_FORMAT, "key": info_path.name.removesuffix(".json"), "kept": kept,
                "problems": [list(p) for p in self.problems], "size": self.size,
                "classes": self.class_map.name, "dataset": self.spec.name, "root": str(self.root)}
        atomic_write_text(info_path, json.dumps(info, indent=1))  # written last: its presence means the arrays are complete

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
                 augment: bool | Augment = False, one_hot: bool = False, max_images: int | None = None,
                 cache: bool | str = True, on_bad: str = "resize", progress: bool = True,
                 label_fill: int | None = None) -> SegmentationDataset:
    """A `SegmentationDataset` of one split of a registered data set, sized by a profile.

    `classes` None means the data set's default (gta9 for streets, forest2 for forest).
    `manifest` may be a CSV path or table (e.g. the clean split written by notebook 01); without
    one, the full manifest with the default sequence split (seed 0) is used. `split` None or
    "all" keeps every frame. `max_images` (default: the profile's cap for that split) keeps frames
    evenly spread over the split. `label_fill` goes to `SegmentationDataset`.
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
        check_manifest(table, table.attrs.get("source"))
    else:
        table = read_manifest(manifest)
    check_stamp(table.attrs.get("stamp"), spec, folder, table.attrs.get("source", "the manifest"))
    _used(spec, folder)
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
                               cache=cache, on_bad=on_bad, dataset=spec, progress=progress, label_fill=label_fill)


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
