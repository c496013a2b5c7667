"""Data sets: from a registered data set to batches: manifests, joint transforms, cache and loaders.

The path of a frame from disk to a batch:

1. `build_manifest(name)` lists the frames of a data set of the registry
   (`helpers.dataset_registry`: one entry per data set, or "folder:PATH" for your own) with
   their sequence, scene, weather and injected defect when the data set records them.
2. `split_by_sequence` (`helpers.manifests`) assigns train / val / pseudo_test / test so that no sequence (a run of
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
import os
import re
import sys
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import (
    DataLoader,
    Dataset,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
)
from tqdm.auto import tqdm

from .classes import ClassMap, get_class_map
from .config import Profile, check_image_size, data_root, get_profile, is_quiet, make_generator, seed_worker
from .dataset_registry import (  # noqa: F401  (also reached through this module, the data sets' front door)
    DATASETS,
    DatasetMissingError,
    DatasetSpec,
    dataset_dir,
    get_spec,
    kaggle_forest_manifest,
    playing_for_data_manifest,
    register_dataset,
    register_folder,
    spec_for_class_map,
)
from .encoding import one_hot as encode_one_hot
from .files import atomic_path, atomic_write_text
from .manifests import (  # noqa: F401
    DEFAULT_FRACTIONS,
    MANIFEST_COLUMNS,
    SPLITS,
    StaleManifestError,
    check_fractions,
    check_manifest,
    random_frame_split,
    read_manifest,
    read_manifest_stamp,
    split_by_sequence,
    stamp_path,
)
from .readers import (  # noqa: F401
    KNOWN_IDS,
    LabelFormatError,
    describe_counts,
    mask_levels,
    read_image,
    read_label,
    read_label_raw,
    read_mask,
)

CACHE_VERSION = 2  # bump when the cache layout changes (changes to the decoding code change the key by themselves)
CACHE_FORMAT = "workbook-decoded-cache"
LABEL_NEAREST = getattr(cv2, "INTER_NEAREST_EXACT", cv2.INTER_NEAREST)  # pixel-centre exact nearest


class Problem(NamedTuple):
    """One bad input found while reading a data set, and what was done about it."""

    frame: str
    file: str
    reason: str
    action: str  # "skipped", "label resized (nearest)", "mapped to class N"


ROOT_MARK = "<data set root>"  # stands for the data set's folder in the problems a cache stores


class BadInputError(ValueError):
    """Raised by `on_bad="raise"` at the first unreadable or inconsistent frame."""


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


def add_haze(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Fade the image toward a light grey, more at the top (far away) than at the bottom: fog without depth.

    The fade is between half of `strength` and all of it at the top row, and 30 % of that at the
    bottom row, toward a random light grey; the label stays as it is, since fog hides nothing's class.
    """
    height = image.shape[0]
    fade = rng.uniform(0.5, 1.0) * strength * np.linspace(1.0, 0.3, height, dtype=np.float32)
    grey = rng.uniform(150, 230) + rng.uniform(-10, 10, 3)
    pixels = image.astype(np.float32)
    pixels += fade[:, None, None] * (grey.astype(np.float32) - pixels)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def add_rain(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Darker, greyer and streaked: rain without a wet road.

    The colours move 30 % toward grey and darken by up to `strength`; one short, thin, slanted
    bright streak per 400 pixels is drawn on top. The label stays as it is.
    """
    height, width = image.shape[:2]
    pixels = image.astype(np.float32)
    grey = pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    pixels = (1.0 - rng.uniform(0.0, strength)) * (0.7 * pixels + 0.3 * grey[..., None])
    count = width * height // 400
    starts = rng.uniform([0, 0], [width, height], (count, 2))
    lengths = rng.uniform(0.02, 0.06, (count, 1)) * height
    ends = starts + lengths * np.array([rng.uniform(-0.25, 0.05), 1.0])
    streaks = np.zeros((height, width), np.uint8)
    cv2.polylines(streaks, list(np.stack([starts, ends], 1).astype(np.int32)), False, 255, 1)
    pixels += 0.18 * streaks[..., None].astype(np.float32)
    return np.clip(pixels, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Augment:
    """The training augmentation: flip with probability `flip`, rotation in ±`degrees`, colour jitter,
    and weather — haze up to `haze`, rain darkening up to `rain` — so that foggy or rainy frames are not
    a surprise at test time. With one kind of weather switched on, half of the frames get it; with both,
    a third of them get each."""

    flip: float = 0.5
    degrees: float = 10.0
    jitter: float = 0.2
    haze: float = 0.0
    rain: float = 0.0

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator,
                 label_fill: int = 0) -> tuple[np.ndarray, np.ndarray]:
        if rng.random() < self.flip:
            image, label = hflip_pair(image, label)
        if self.degrees > 0:
            image, label = rotate_pair(image, label, rng.uniform(-self.degrees, self.degrees), label_fill)
        image = self.add_weather(image, rng)
        if self.jitter > 0:
            image = colour_jitter(image, rng, self.jitter, self.jitter, self.jitter)
        return image, label

    def add_weather(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Clear, fog or rain, each as likely as the others among those switched on."""
        weathers = [(add, strength) for add, strength in ((add_haze, self.haze), (add_rain, self.rain))
                    if strength > 0]
        choice = int(rng.integers(len(weathers) + 1)) if weathers else 0
        if choice == 0:
            return image
        add, strength = weathers[choice - 1]
        return add(image, rng, strength)


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
        self.spec = get_spec(dataset) if dataset is not None else spec_for_class_map(self.class_map)
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
        names = re.sub(r"[^\w.-]+", "_", f"{self.spec.name}-{self.size[0]}x{self.size[1]}-{self.class_map.name}")
        return f"{names[-80:].lstrip('_')}-{digest}"  # a folder of your own: its path, as a file name

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
        self.problems = [self._problem_here(Problem(*p)) for p in info.get("problems", [])]
        return kept

    def _problem_stored(self, problem: Problem) -> Problem:
        """`problem` with this data set's root written as ROOT_MARK, so that a cache found through another path to
        the same files (a link, a moved folder) names the files as the reader reaches them."""
        root = str(self.root)
        return problem._replace(file=problem.file.replace(root, ROOT_MARK, 1),
                                reason=problem.reason.replace(root, ROOT_MARK))

    def _problem_here(self, problem: Problem) -> Problem:
        """A cached `problem` with ROOT_MARK replaced by this data set's root."""
        root = str(self.root)
        return problem._replace(file=problem.file.replace(ROOT_MARK, root), reason=problem.reason.replace(ROOT_MARK, root))

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
                "problems": [list(self._problem_stored(p)) for p in self.problems], "size": self.size,
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

    `name` is a registered data set (or alias) or "folder:PATH". `classes` None means the data
    set's default class map (gta9 for streets, forest2 for forest, ade150 for ADE20K, the folder's
    own for a folder); the data set carries it as `dataset.class_map`, and the loss, training,
    metrics and plots read it from there.
    `manifest` may be a CSV path or table (e.g. the clean split written by notebook 01); without
    one, the full manifest with the default sequence split (seed 0) is used. `split` None or
    "all" keeps every frame. `max_images` (default: the profile's cap for that split) keeps frames
    evenly spread over the split. `label_fill` goes to `SegmentationDataset`.
    """
    spec = get_spec(name)
    folder = dataset_dir(spec, root)
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    class_map = spec.class_map(classes, folder)
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
                device: str | torch.device | None = None, drop_last: bool = False, shard: bool = False) -> DataLoader:
    """A DataLoader whose order and augmentation depend only on `seed`; workers fitted to the machine.

    pin_memory when the target device is CUDA; persistent workers when there are workers;
    `seed_worker` seeds numpy and random in each worker. `shard=True` under torchrun gives this
    process its share of the frames (`helpers.distributed`): a DistributedSampler when shuffled
    (augmentation seeded per process), every frame exactly once over the processes when not.
    """
    from helpers import distributed

    num_workers = fit_num_workers(dataset) if num_workers is None else int(num_workers)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    shard = shard and distributed.is_distributed()
    generator = make_generator(seed + distributed.rank() if shard else seed)
    if shard:
        order = (DistributedSampler(dataset, shuffle=True, seed=seed) if shuffle
                 else distributed.ShardSampler(dataset))
    else:
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


def class_shares_by(dataset: SegmentationDataset, column: str) -> pd.DataFrame:
    """How each group's labelled pixels divide among the classes: one row per value of a manifest column
    (e.g. scene types), each row summing to 1.

    Shows how the groups of frames differ in what they contain; ignored pixels are not counted.
    """
    num_classes = dataset.class_map.num_classes
    counts: dict = {}
    for index, value in enumerate(dataset.manifest[column]):
        labels = dataset.raw(index)[1].ravel()
        found = np.bincount(labels[labels < num_classes], minlength=num_classes)[:num_classes]
        counts[value] = counts.get(value, 0) + found
    table = pd.DataFrame(counts, index=list(dataset.class_map.class_names)).T.sort_index()
    return table.div(table.sum(axis=1), axis=0)


def _extreme_share(column: pd.Series, largest: bool) -> tuple[str, str]:
    """("5.6% … city", "") for the largest (or smallest) share in `column`; where the runner-up reads the same at one
    decimal, both with the decimals that tell them apart and a note naming the runner-up ("just above suburb's 5.58%")."""
    ranked = column.sort_values(ascending=not largest, kind="stable")
    (group, share), rest = next(ranked.items()), ranked.iloc[1:]
    where = "of the pixels in " if largest else "in "
    if rest.empty or round(100 * share, 1) != round(100 * rest.iloc[0], 1):
        return f"{share:.1%} {where}{group}", ""
    runner, runner_share = rest.index[0], rest.iloc[0]
    decimals = next((d for d in range(2, 5) if round(100 * share, d) != round(100 * runner_share, d)), None)
    if decimals is None:
        return f"{share:.1%} {where}{group}", f", tied with {runner}"
    side = "above" if largest else "below"
    return f"{share:.{decimals}%} {where}{group}", f", just {side} {runner}'s {runner_share:.{decimals}%}"


def describe_shares(shares: pd.DataFrame) -> str:
    """Per class, the group where it takes the largest and the smallest share of the pixels, and which groups
    lack it, from a `class_shares_by` table (shares of each group's pixels, not of the class's). A share that
    ties with the runner-up at one decimal is printed with the decimals that separate them, naming the runner-up."""
    lines = []
    for name in shares.columns:
        column = shares[name]
        absent = [str(group) for group, share in column.items() if share == 0]
        (most, most_note), (least, least_note) = _extreme_share(column, True), _extreme_share(column, False)
        line = f"- {name}: {most} (its largest share{most_note}), {least} (its smallest{least_note})"
        lines.append(line + (f"; none at all in {', '.join(absent)}" if absent else ""))
    return "\n".join(lines)
