"""Prepare the extracted Playing for Data (GTA5) frames for the workbook and write their manifest.

What it does, frame by frame (threads; the images are decoded only when resized):

1. Labels whose size differs from their image (about 60 frames of the real data): resized to the
   image by nearest neighbour (`--policy resize`, the default) or left out (`--policy drop`).
2. Blank labels (one labelId covering 99.5% or more, e.g. all black: the rule of the cleaning
   notebook's empty-label check): left out (`--blank drop`, the default) or kept and marked in
   the manifest's `blank` column (`--blank flag`).
3. Unreadable files, RGB labels (a palette PNG is expected) and images without labels: left out.
4. Classes: `--classes labelids` (default) keeps the Cityscapes labelIds, so any class map can be
   chosen when loading; `gta9` or `cityscapes19` writes labels already mapped, by palette index
   and never by colour (several labelIds share a colour: pole and polegroup, the black void ids).
   Mapped labels carry their class map in a PNG text chunk, so they are never mapped twice.
5. `--size WxH` or `--profile quick|full|smoke` writes prepared copies at that size (images by
   area averaging, labels by nearest neighbour): much faster loading and far less disk.

Then the manifest the loaders read (DATA/manifest.csv): frame, image, label, sequence, split (+
blank with --blank flag, note). The split is the official one from split.mat (train / val /
test, 1-based frame numbers) when present, with a pseudo-test split carved out of the official
validation frames by sequence (`--pseudo-test`); without split.mat it is the workbook's
sequence-aware split (helpers.datasets.split_by_sequence).

Sequences: GTA5 records no sequence ids, yet neighbouring frame numbers come from the same drive.
`--sequences similarity` cuts where consecutive frames stop looking alike
(helpers.cleaning.sequence_boundaries); `--sequences blocks` groups consecutive frame numbers in
blocks of `--block-size`; `auto` (default) uses similarity when available, else blocks.

Example: python data_scripts/prepare_gta5.py --data data/gta5 --classes gta9 --profile quick
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image, PngImagePlugin
from tqdm.auto import tqdm

try:
    import helpers  # noqa: F401  (installed with `pip install -e .`, as `make` does)
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.classes import cityscapes_palette, get_class_map  # noqa: E402
from helpers.config import PROFILES, data_root, is_quiet  # noqa: E402
from helpers.dataset_registry import PREPARED_CLASSES_KEY  # noqa: E402
from helpers.datasets import (  # noqa: E402
    KNOWN_IDS,
    LABEL_NEAREST,
    SPLITS,
    describe_counts,
    read_image,
    read_label_raw,
    split_by_sequence,
    write_manifest,
)
from helpers.files import atomic_path  # noqa: E402

try:  # the data-cleaning notebook's rule for an empty label, so both agree
    from helpers.cleaning import Thresholds

    BLANK_FRACTION = Thresholds().empty_fraction
except ImportError:
    BLANK_FRACTION = 0.995

CLASS_CHOICES = ("labelids", "gta9", "cityscapes19")
SPLIT_KEYS = {"train": "trainIds", "val": "valIds", "test": "testIds"}


@dataclass
class FrameResult:
    """What happened to one frame: kept or not, where its files are, and why."""

    frame: str
    image: str = ""
    label: str = ""
    kept: bool = True
    problem: str = ""  # unreadable, rgb_label, size_mismatch, blank, no_label
    note: str = ""
    blank: bool = False
    counts: np.ndarray = field(default_factory=lambda: np.zeros(256, np.int64))


# --------------------------------------------------------------------------------------------
# Reading and writing
# --------------------------------------------------------------------------------------------

def parse_size(text: str) -> tuple[int, int]:
    """'400x300' → (400, 300)."""
    try:
        width, height = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"size must look like 400x300, got {text!r}") from error
    if width < 8 or height < 8:
        raise argparse.ArgumentTypeError(f"size {text} is too small")
    return width, height


def image_size(path: Path, verify: bool) -> tuple[int, int]:
    """(W, H) from the file header; with `verify`, also read it through to catch truncation."""
    try:
        with Image.open(path) as image:
            size = image.size
            if verify:
                image.verify()
        return size
    except (OSError, SyntaxError, ValueError) as error:
        raise OSError(f"cannot read image {path}: {error}") from error


def save_png(array: np.ndarray, path: Path, palette: list[int] | None = None, classes: str | None = None) -> None:
    """Write a PNG atomically (temporary name, then rename); palette → mode 'P'; `classes` → text chunk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array)
    info = None
    if palette is not None:
        image = image.convert("P") if image.mode != "P" else image
        image.putpalette(palette)
    if classes:
        info = PngImagePlugin.PngInfo()
        info.add_text(PREPARED_CLASSES_KEY, classes)
    with atomic_path(path) as temporary:
        image.save(temporary, format="PNG", pnginfo=info, compress_level=3)


def class_palette(class_map_name: str) -> list[int]:
    """PIL palette showing a mapped label in its class colours (ignore index 255 in white)."""
    palette = [0] * 768
    for index, colour in enumerate(get_class_map(class_map_name).class_colours):
        palette[3 * index: 3 * index + 3] = colour
    palette[765:768] = (255, 255, 255)
    return palette


# --------------------------------------------------------------------------------------------
# One frame
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Options:
    """The run's choices every frame needs (see the command-line help)."""

    data: Path
    policy: str
    blank: str
    classes: str
    size: tuple[int, int] | None
    prepared: Path  # folder of prepared copies


def process_frame(frame: str, options: Options) -> FrameResult:
    """Check one frame, fix or drop it by the policies, write its prepared copies when asked."""
    data = options.data
    image_rel, label_rel = f"images/{frame}.png", f"labels/{frame}.png"
    result = FrameResult(frame, image_rel, label_rel)
    if not (data / label_rel).is_file():
        return _drop(result, "no_label", f"no {label_rel}")
    try:
        if options.size is None:  # header and checksums only: no need to decode 1914×1052 pixels
            image, (width, height) = None, image_size(data / image_rel, verify=True)
        else:
            image = read_image(data / image_rel)
            height, width = image.shape[:2]
        ids, mode = read_label_raw(data / label_rel)
    except OSError as error:
        return _drop(result, "unreadable", str(error))
    if ids.ndim != 2 or mode not in ("P", "L"):
        return _drop(result, "rgb_label", f"{label_rel} is a {mode} image, not a palette PNG of labelIds")
    notes, fixed = [], False
    if ids.shape != (height, width):
        change = f"label {ids.shape[1]}×{ids.shape[0]}, image {width}×{height}"
        if options.policy == "drop":
            return _drop(result, "size_mismatch", change)
        ids = cv2.resize(ids, (width, height), interpolation=LABEL_NEAREST)
        result.problem, fixed = "size_mismatch", True
        notes.append(f"{change}: label resized (nearest)")
    id_counts = np.bincount(ids.ravel(), minlength=256)
    if id_counts.max() >= BLANK_FRACTION * ids.size:
        blank = f"blank label (labelId {id_counts.argmax()} covers {id_counts.max() / ids.size:.1%})"
        if options.blank == "drop":
            return _drop(result, "blank", blank)
        result.blank, result.problem = True, result.problem or "blank"
        notes.append(blank)
    unknown = ~KNOWN_IDS[ids]
    if unknown.any():  # kept: those pixels go to the class map's unknown class, as when loading
        values, counts = np.unique(ids[unknown], return_counts=True)
        notes.append(describe_counts(dict(zip(values.tolist(), counts.tolist())), "label ids not in the Cityscapes table:"))
        result.problem = result.problem or "unknown_ids"
    labels = ids if options.classes == "labelids" else get_class_map(options.classes).id_lut()[ids]
    result.counts = np.bincount(labels.ravel(), minlength=256)
    result.note = "; ".join(notes)
    if options.size or options.classes != "labelids" or fixed:
        _write_prepared(result, image, labels, options)
    return result


def _drop(result: FrameResult, problem: str, note: str) -> FrameResult:
    result.kept, result.problem, result.note = False, problem, note
    return result


def _write_prepared(result: FrameResult, image: np.ndarray | None, labels: np.ndarray, options: Options) -> None:
    """Write the label (mapped, fixed and/or resized) and, when resizing, the image."""
    relative = options.prepared.relative_to(options.data)
    if options.size is not None:
        width, height = options.size
        shrinking = width * height < image.shape[0] * image.shape[1]
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        labels = cv2.resize(labels, (width, height), interpolation=LABEL_NEAREST)
        result.image = (relative / "images" / f"{result.frame}.png").as_posix()
        save_png(image, options.data / result.image)
    result.label = (relative / "labels" / f"{result.frame}.png").as_posix()
    if options.classes == "labelids":
        save_png(labels, options.data / result.label, cityscapes_palette())
    else:
        save_png(labels, options.data / result.label, class_palette(options.classes), options.classes)


# --------------------------------------------------------------------------------------------
# Sequences and splits
# --------------------------------------------------------------------------------------------

def block_sequences(frames: pd.Series, block_size: int) -> np.ndarray:
    """Sequence id = block of `block_size` consecutive frame numbers (frames 1–100 → 0, …)."""
    return (frames.astype(int).to_numpy() - 1) // block_size


def similarity_sequences(data: Path, manifest: pd.DataFrame, quiet: bool) -> np.ndarray | None:
    """Sequence ids cut where consecutive frames stop looking alike; None without helpers.cleaning."""
    try:
        from helpers.cleaning import sequence_boundaries
    except ImportError:
        return None
    found = sequence_boundaries(data, manifest.reset_index(drop=True), progress=not quiet)
    starts = found["boundary"].to_numpy(dtype=bool, copy=True)
    starts[0] = True
    return np.cumsum(starts) - 1


def derive_sequences(data: Path, manifest: pd.DataFrame, method: str, block_size: int,
                     quiet: bool = False) -> tuple[np.ndarray, str]:
    """Sequence id per frame, and a sentence saying how they were found."""
    if method in ("auto", "similarity"):
        sequences = similarity_sequences(data, manifest, quiet)
        if sequences is not None:
            return sequences, f"{sequences.max() + 1} sequences cut where consecutive frames stop looking alike"
        if method == "similarity":
            raise SystemExit("error: --sequences similarity needs helpers.cleaning.sequence_boundaries; "
                             "use --sequences blocks")
    sequences = block_sequences(manifest["frame"], block_size)
    return sequences, (f"{len(np.unique(sequences))} blocks of {block_size} consecutive frame numbers "
                       f"(GTA5 records no sequence ids)")


def read_split_mat(path: Path) -> dict[int, str]:
    """split.mat → {frame number: "train" | "val" | "test"}."""
    from scipy.io import loadmat

    try:
        content = loadmat(path)
    except Exception as error:  # scipy raises several types for a damaged file
        raise SystemExit(f"error: cannot read {path} ({error}); delete it and run get_gta5.py again") from error
    missing = [key for key in SPLIT_KEYS.values() if key not in content]
    if missing:
        raise SystemExit(f"error: {path} has no {', '.join(missing)}; is it the split.mat of read_mapping.zip?")
    return {int(number): split for split, key in SPLIT_KEYS.items() for number in np.ravel(content[key])}


def official_split(manifest: pd.DataFrame, split_of: dict[int, str], pseudo_test: float,
                   seed: int) -> pd.Series:
    """The split.mat split; `pseudo_test` of the validation sequences become pseudo_test."""
    splits = pd.Series([split_of.get(int(f), "") for f in manifest["frame"]], index=manifest.index)
    val_sequences = np.unique(manifest.loc[splits == "val", "sequence"])
    count = int(round(pseudo_test * len(val_sequences)))
    if count:
        chosen = np.random.default_rng(seed).choice(val_sequences, size=count, replace=False)
        splits[(splits == "val") & manifest["sequence"].isin(chosen)] = "pseudo_test"
    return splits


# --------------------------------------------------------------------------------------------
# The whole run
# --------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--data", type=Path, default=data_root() / "gta5",
                        help="data set folder written by get_gta5.py (default data/gta5)")
    parser.add_argument("--policy", choices=("resize", "drop"), default="resize",
                        help="labels whose size differs from the image: resize (nearest) or drop")
    parser.add_argument("--blank", choices=("drop", "flag"), default="drop", help="blank labels: drop or flag")
    parser.add_argument("--classes", choices=CLASS_CHOICES, default="labelids",
                        help="labelids (map when loading), or write labels mapped to gta9 / cityscapes19")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--size", type=parse_size, default=None, help="write copies at WxH, e.g. 400x300")
    size.add_argument("--profile", choices=sorted(PROFILES), default=None, help="write copies at a profile's size")
    parser.add_argument("--split-mat", type=Path, default=None, help="official split (default DATA/split.mat)")
    parser.add_argument("--pseudo-test", type=float, default=0.4,
                        help="share of the official validation sequences used as pseudo_test (default 0.4)")
    parser.add_argument("--sequences", choices=("auto", "similarity", "blocks"), default="auto",
                        help="how sequences are found (see above)")
    parser.add_argument("--block-size", type=int, default=100, help="frames per block for --sequences blocks")
    parser.add_argument("--seed", type=int, default=0, help="seed of the splits")
    parser.add_argument("--manifest", type=Path, default=None, help="manifest to write (default DATA/manifest.csv)")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="threads")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not 0 <= args.pseudo_test < 1:
        parser.error("--pseudo-test must be in [0, 1)")
    if args.block_size < 1:
        parser.error("--block-size must be at least 1")
    return args


def prepared_folder(data: Path, classes: str, size: tuple[int, int] | None) -> Path:
    """Where prepared copies go: DATA/prepared/<classes>-<W>x<H> (or -full)."""
    return data / "prepared" / f"{classes}-{f'{size[0]}x{size[1]}' if size else 'full'}"


def summarize(results: list[FrameResult], manifest: pd.DataFrame, args: argparse.Namespace,
              how_sequences: str, how_split: str, manifest_path: Path, prepared: Path | None) -> str:
    """The text printed at the end: what was found, what was done, where things are."""
    problems = pd.Series([r.problem for r in results if r.problem])
    dropped = pd.Series([r.problem for r in results if not r.kept])
    lines = [f"GTA5 prepare: {len(results):,} frames in {args.data}"]
    labels = {"size_mismatch": f"label size differs from the image (policy {args.policy})",
              "blank": f"blank label ({args.blank})", "unreadable": "unreadable file",
              "rgb_label": "RGB label instead of a palette PNG", "no_label": "image without a label",
              "unknown_ids": "label ids outside the Cityscapes table (mapped to the unknown class)"}
    for problem, text in labels.items():
        found, gone = int((problems == problem).sum()), int((dropped == problem).sum())
        if found:
            lines.append(f"  {text}: {found} ({gone} dropped, {found - gone} kept)")
    lines.append(f"  kept {len(manifest):,} frames; sequences: {how_sequences}")
    counts = manifest["split"].value_counts()
    shown = " · ".join(f"{name} {int(counts.get(name, 0)):,}" for name in SPLITS)
    lines.append(f"  split ({how_split}): {shown}")
    total = sum(r.counts for r in results if r.kept)
    if args.classes != "labelids" and total.sum():
        class_map = get_class_map(args.classes)
        shares = [f"{name} {100 * total[i] / total.sum():.1f}%" for i, name in enumerate(class_map.class_names)]
        lines.append(f"  {class_map.name} pixel share: " + " · ".join(shares))
    if prepared is not None:
        lines.append(f"  prepared copies: {prepared}")
    lines.append(f"  manifest: {manifest_path}")
    classes = "" if args.classes == "labelids" else f', classes="{args.classes}"'
    manifest_arg = "" if manifest_path == args.data / "manifest.csv" else f', manifest="{manifest_path}"'
    lines.append(f'Next, in a notebook: DATASET = "gta5", or load_dataset("gta5"{classes}{manifest_arg})')
    return "\n".join(lines)


def manifest_of(kept: list[FrameResult], args: argparse.Namespace) -> tuple[pd.DataFrame, str, str]:
    """The kept frames as a manifest with sequences and splits; plus how each was found, in words."""
    manifest = pd.DataFrame({"frame": [r.frame for r in kept], "image": [r.image for r in kept],
                             "label": [r.label for r in kept]})
    if args.blank == "flag":
        manifest["blank"] = [r.blank for r in kept]
    manifest["note"] = [r.note for r in kept]
    sequences, how_sequences = derive_sequences(args.data, manifest, args.sequences, args.block_size,
                                                 args.quiet or is_quiet())
    manifest.insert(3, "sequence", sequences.astype(int))
    split_mat = (args.split_mat or args.data / "split.mat").expanduser()
    if split_mat.is_file():
        manifest["split"] = official_split(manifest, read_split_mat(split_mat), args.pseudo_test, args.seed)
        how_split = f"official, from {split_mat.name}; pseudo_test from val sequences"
        unassigned = manifest["split"] == ""
        if unassigned.any():  # a manifest row without a split is an error when loading: leave them out here
            manifest = manifest[~unassigned].reset_index(drop=True)
            how_split += f"; {int(unassigned.sum()):,} frame(s) not in {split_mat.name} left out"
    else:
        manifest = split_by_sequence(manifest, seed=args.seed)
        how_split = "sequence-aware (no split.mat)"
    first = ["frame", "image", "label", "sequence", "split"]  # the columns of build_manifest, then ours
    return manifest[first + [c for c in manifest if c not in first]], how_sequences, how_split


def main(argv: list[str] | None = None) -> int:
    """Check, fix, map and (optionally) resize the GTA5 frames; write the manifest; print a summary."""
    args = parse_args(argv)
    data = args.data.expanduser()
    args.data = data
    if not (data / "images").is_dir():
        raise SystemExit(f"error: no images/ folder in {data}. Get the data first: "
                         f"python data_scripts/get_gta5.py --parts 1 --out {data}")
    frames = sorted(p.stem for p in (data / "images").glob("*.png") if p.stem.isdigit())
    if not frames:
        raise SystemExit(f"error: {data / 'images'} holds no NNNNN.png frames; run get_gta5.py again")
    size = args.size or (PROFILES[args.profile].image_size if args.profile else None)
    prepared = prepared_folder(data, args.classes, size)
    options = Options(data, args.policy, args.blank, args.classes, size, prepared)
    with ThreadPoolExecutor(max(1, args.workers)) as pool:
        results = list(tqdm(pool.map(lambda frame: process_frame(frame, options), frames), total=len(frames),
                            desc="preparing GTA5", unit="frame", disable=args.quiet or is_quiet()))
    report = pd.DataFrame([(r.frame, r.problem, r.kept, r.note) for r in results if r.problem],
                          columns=["frame", "problem", "kept", "note"])
    with atomic_path(data / "prepare_report.csv") as temporary:
        report.to_csv(temporary, index=False)
    kept = [r for r in results if r.kept]
    if not kept:
        raise SystemExit(f"error: no usable frame in {data}; see {data / 'prepare_report.csv'}")
    manifest, how_sequences, how_split = manifest_of(kept, args)
    manifest_path = (args.manifest or data / "manifest.csv").expanduser()
    write_manifest(manifest, manifest_path)
    wrote_copies = any(r.label.startswith("prepared/") for r in kept)
    print(summarize(results, manifest, args, how_sequences, how_split, manifest_path,
                    prepared if wrote_copies else None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
