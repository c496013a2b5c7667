"""Data cleaning: automatic checks for broken frames, weather flags and sequence boundaries.

Every frame is read once; each check turns a few image statistics into a yes/no answer:

| check | question | statistic |
| --- | --- | --- |
| unreadable | can both files be decoded? | the decoder's verdict |
| size_mismatch | same width and height? | the two shapes |
| unknown_colours | only known label values? | palette ids outside the Cityscapes table / colours not in it |
| empty_label | is there anything labelled? | one value covering (nearly) every pixel |
| fog | washed-out image? | low saturation and low contrast in the upper half, bright |
| rain | rain streaks? | energy of short, thin, near-vertical bright lines |
| misaligned | do label boundaries sit on image edges? | edge agreement at shift 0 vs the best shift |
| swapped | does the label belong to this image at all? | edge agreement low at every shift |

Fog and rain frames are valid data: they are flagged, not removed. `clean_manifest` drops
frames that fail a defect check. `detection_scores` compares the flags with the defects a
synthetic data set records in meta.csv.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .classes import CITYSCAPES_LABELS
from .config import is_quiet
from .datasets import read_image, read_label_raw
from .encoding import pack_rgb

DEFECT_CHECKS = ("unreadable", "size_mismatch", "unknown_colours", "empty_label", "misaligned", "swapped")
WEATHER_CHECKS = ("fog", "rain")
CHECKS = DEFECT_CHECKS + WEATHER_CHECKS

# which meta.csv value each check should find: (column, value)
TRUTH = {
    "unreadable": ("defect", "truncated"),
    "size_mismatch": ("defect", "size_mismatch"),
    "unknown_colours": ("defect", "unknown_colours"),
    "empty_label": ("defect", "empty_label"),
    "misaligned": ("defect", "misaligned"),
    "swapped": ("defect", "swapped"),
    "fog": ("weather", "fog"),
    "rain": ("weather", "rain"),
}

KNOWN_IDS = np.zeros(256, dtype=bool)
KNOWN_IDS[[label.label_id for label in CITYSCAPES_LABELS]] = True
KNOWN_COLOURS = np.unique([(r << 16) | (g << 8) | b for r, g, b in (lab.colour for lab in CITYSCAPES_LABELS)])


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds of the checks, tuned on the default synthetic data set (see notebook 01)."""

    empty_fraction: float = 0.995  # one label value covering more than this → empty label
    work_width: int = 240  # statistics are computed on copies scaled to this width
    fog_saturation: float = 0.12  # fog: mean saturation of the upper half below this …
    fog_contrast: float = 0.09  # … and grey standard deviation (0–1) of the upper half below this
    rain_streaks: float = 2.5  # rain: streak energy above this
    max_shift: int = 8  # misalignment search: ±max_shift px (full resolution)
    edge_tolerance: float = 1.5  # a label boundary pixel "agrees" within this distance of an image edge
    misaligned_gain: float = 0.15  # agreement at the best shift minus at shift 0 above this → misaligned
    swapped_agreement: float = 0.35  # best agreement below this → the label belongs to another image


# --------------------------------------------------------------------------------------------
# Statistics of one frame
# --------------------------------------------------------------------------------------------

def weather_statistics(image: np.ndarray) -> dict[str, float]:
    """Brightness, saturation and contrast (of the upper half) and rain-streak energy of an RGB image."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    upper = slice(0, image.shape[0] // 2)
    # streaks: thin bright lines; remove them with a horizontal opening, keep what is near-vertical
    opened = cv2.morphologyEx(grey, cv2.MORPH_OPEN, np.ones((1, 5), np.uint8))
    thin = grey - opened
    vertical = cv2.blur(thin, (1, 7)) - cv2.blur(thin, (7, 1))
    return {
        "brightness": float(grey.mean() / 255),
        "saturation": float(hsv[upper, :, 1].mean() / 255),
        "contrast": float(grey[upper].std() / 255),
        "streaks": float(np.clip(vertical, 0, None).mean()),
    }


def label_boundaries(label: np.ndarray) -> np.ndarray:
    """Boolean mask of pixels whose right or lower neighbour has another label value."""
    edges = np.zeros(label.shape, dtype=bool)
    edges[:, :-1] |= label[:, 1:] != label[:, :-1]
    edges[:-1, :] |= label[1:, :] != label[:-1, :]
    return edges


def image_edges(image: np.ndarray) -> np.ndarray:
    """Canny edges of the grey image, thresholds from its median (works across exposures)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    grey = cv2.GaussianBlur(grey, (3, 3), 0.8)
    median = float(np.median(grey))
    return cv2.Canny(grey, max(10, int(0.5 * median)), max(30, int(1.2 * median))) > 0


def alignment_scores(image: np.ndarray, label: np.ndarray, max_shift: int, tolerance: float,
                     step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Agreement of label boundaries with image edges for every shift (dy, dx) of the label.

    Returns (shifts S×2, agreement S): the fraction of label-boundary pixels that lie within
    `tolerance` px of an image edge once the label is moved by (dy, dx). A well aligned label
    scores best at (0, 0); a misaligned one at its offset; the label of another image nowhere.
    """
    edges = image_edges(image)
    distance = cv2.distanceTransform((~edges).astype(np.uint8), cv2.DIST_L2, 3)
    near = distance <= tolerance
    ys, xs = np.nonzero(label_boundaries(label))
    offsets = np.arange(-max_shift, max_shift + 1, step)
    shifts = np.stack(np.meshgrid(offsets, offsets, indexing="ij"), -1).reshape(-1, 2)
    if ys.size == 0:
        return shifts, np.zeros(len(shifts))
    height, width = label.shape
    moved_y = ys[None, :] + shifts[:, :1]
    moved_x = xs[None, :] + shifts[:, 1:]
    inside = (moved_y >= 0) & (moved_y < height) & (moved_x >= 0) & (moved_x < width)
    hits = near[np.clip(moved_y, 0, height - 1), np.clip(moved_x, 0, width - 1)] & inside
    agreement = hits.sum(1) / np.maximum(inside.sum(1), 1)
    return shifts, agreement


# --------------------------------------------------------------------------------------------
# Running the checks
# --------------------------------------------------------------------------------------------

def _empty_row() -> dict:
    row = {check: False for check in CHECKS}
    row.update(reason="", width=np.nan, height=np.nan, label_width=np.nan, label_height=np.nan,
               brightness=np.nan, saturation=np.nan, contrast=np.nan, streaks=np.nan,
               agreement=np.nan, best_agreement=np.nan, best_dy=0, best_dx=0)
    return row


def check_frame(image_path: Path, label_path: Path, thresholds: Thresholds = Thresholds()) -> dict:
    """All checks on one frame: a dict of booleans (CHECKS), statistics and a readable `reason`."""
    row, reasons = _empty_row(), []
    try:
        image = read_image(image_path)
        label, mode = read_label_raw(label_path)
    except OSError as error:
        row.update(unreadable=True, reason=str(error))
        return row
    row.update(height=image.shape[0], width=image.shape[1], label_height=label.shape[0], label_width=label.shape[1])
    if label.ndim == 3:  # colour label: unknown colours, then compare by packed colour
        label = pack_rgb(label)
        unknown = ~np.isin(label, KNOWN_COLOURS)
    else:
        unknown = ~KNOWN_IDS[label]
    if unknown.any():
        row["unknown_colours"] = True
        reasons.append(f"{int(unknown.sum())} pixels of unknown label values")
    values, counts = np.unique(label, return_counts=True)
    if counts.max() >= thresholds.empty_fraction * label.size:
        row["empty_label"] = True
        reasons.append(f"one label value covers {counts.max() / label.size:.1%} of the label")
    if label.shape[:2] != image.shape[:2]:
        row["size_mismatch"] = True
        reasons.append(f"label {label.shape[1]}×{label.shape[0]} but image {image.shape[1]}×{image.shape[0]}")

    scale = min(1.0, thresholds.work_width / image.shape[1])
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
    stats = weather_statistics(small)
    row.update(stats)
    if stats["saturation"] < thresholds.fog_saturation and stats["contrast"] < thresholds.fog_contrast:
        row["fog"] = True
        reasons.append("fog (low saturation and contrast)")
    if stats["streaks"] > thresholds.rain_streaks:
        row["rain"] = True
        reasons.append("rain (streaks)")

    if not (row["empty_label"] or row["size_mismatch"]) and len(values) > 1:
        small_label = cv2.resize(label.astype(np.int32).astype(np.float32), (small.shape[1], small.shape[0]),
                                 interpolation=cv2.INTER_NEAREST) if scale < 1 else label
        shift = max(1, int(round(thresholds.max_shift * scale)))
        shifts, agreement = alignment_scores(small, small_label, shift, thresholds.edge_tolerance)
        best = int(np.argmax(agreement))
        at_zero = float(agreement[len(agreement) // 2])
        row.update(agreement=at_zero, best_agreement=float(agreement[best]),
                   best_dy=int(round(shifts[best, 0] / scale)), best_dx=int(round(shifts[best, 1] / scale)))
        if agreement[best] < thresholds.swapped_agreement:
            row["swapped"] = True
            reasons.append(f"label edges match no image edges (best agreement {agreement[best]:.2f})")
        elif agreement[best] - at_zero > thresholds.misaligned_gain:
            row["misaligned"] = True
            reasons.append(f"label fits better moved by ({row['best_dx']}, {row['best_dy']}) px "
                           f"({at_zero:.2f} → {agreement[best]:.2f})")
    row["reason"] = "; ".join(reasons)
    return row


def run_checks(root: str | Path, manifest: pd.DataFrame, thresholds: Thresholds | None = None,
               progress: bool = True) -> pd.DataFrame:
    """Check every frame of `manifest` (paths relative to `root`); one row per frame.

    The report holds the manifest's columns, one boolean column per check (CHECKS), the
    statistics behind them and a `reason` in words. Frames are read in a few threads.
    """
    root = Path(root)
    thresholds = thresholds or Thresholds()
    records = manifest.to_dict("records")

    def work(record: dict) -> dict:
        return check_frame(root / record["image"], root / record["label"], thresholds)

    with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as pool:
        rows = list(tqdm(pool.map(work, records), total=len(records), desc="checking frames",
                         disable=is_quiet() or not progress))
    checks = pd.DataFrame(rows, index=manifest.index)
    report = pd.concat([manifest.drop(columns=[c for c in checks if c in manifest]), checks], axis=1)
    report.attrs["thresholds"] = asdict(thresholds)
    return report


def flagged(report: pd.DataFrame, checks: Iterable[str] = DEFECT_CHECKS) -> pd.Series:
    """True for frames that fail any of `checks` (default: the defect checks, not the weather)."""
    return report[list(checks)].any(axis=1)


def clean_manifest(manifest: pd.DataFrame, report: pd.DataFrame | None = None,
                   drop: Iterable[str] = DEFECT_CHECKS) -> pd.DataFrame:
    """The manifest without frames that fail a defect check; fog and rain stay, flagged in columns.

    `clean_manifest(report)` works too: a report from `run_checks` holds the manifest's columns.
    """
    if report is None:
        manifest, report = report_manifest(manifest), manifest
    bad = flagged(report.loc[manifest.index], drop)
    clean = manifest.loc[~bad].copy()
    for check in WEATHER_CHECKS:
        clean[check] = report.loc[clean.index, check].astype(bool)
    return clean.reset_index(drop=True)


def report_manifest(report: pd.DataFrame) -> pd.DataFrame:
    """The manifest columns of a report (everything `run_checks` did not add)."""
    added = set(_empty_row())
    return report[[c for c in report.columns if c not in added]]


# --------------------------------------------------------------------------------------------
# How well do the checks find the recorded defects?
# --------------------------------------------------------------------------------------------

def detection_scores(report: pd.DataFrame, manifest: pd.DataFrame | None = None) -> pd.DataFrame:
    """Precision and recall of each check against the defects and weather recorded in meta.csv.

    One row per check: the meta value it looks for, frames truly having it, frames flagged,
    true positives, precision and recall (NaN where undefined).
    """
    truth_source = report if manifest is None else manifest.loc[report.index]
    rows = []
    for check in CHECKS:
        column, value = TRUTH[check]
        if column not in truth_source:
            continue
        truth = (truth_source[column].astype(str) == value).to_numpy()
        found = report[check].to_numpy(dtype=bool)
        hits = int((truth & found).sum())
        rows.append({
            "check": check, "looks_for": f"{column}={value}", "actual": int(truth.sum()),
            "flagged": int(found.sum()), "true_positives": hits,
            "precision": hits / found.sum() if found.sum() else np.nan,
            "recall": hits / truth.sum() if truth.sum() else np.nan,
        })
    return pd.DataFrame(rows).set_index("check")


# --------------------------------------------------------------------------------------------
# Sequence boundaries
# --------------------------------------------------------------------------------------------

def frame_thumbnail(path: Path, size: tuple[int, int] = (48, 27)) -> np.ndarray | None:
    """A small grey copy of an image (float32 0–1), or None when it cannot be read."""
    try:
        image = read_image(path)
    except OSError:
        return None
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def sequence_boundaries(root: str | Path, manifest: pd.DataFrame, jump: float = 3.0,
                        progress: bool = True) -> pd.DataFrame:
    """Find where a new sequence starts from the difference between consecutive frames.

    Neighbouring frames of one sequence are near-duplicates; at a cut the mean absolute
    difference of small grey copies jumps. A frame starts a sequence when its difference to the
    previous readable frame is `jump` times the median difference of its neighbours, or more.
    Returns frame, difference, ratio and `boundary` (True = first frame of a new sequence).
    """
    root = Path(root)
    paths = [root / p for p in manifest["image"]]
    with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as pool:
        thumbs = list(tqdm(pool.map(frame_thumbnail, paths), total=len(paths), desc="comparing frames",
                           disable=is_quiet() or not progress))
    difference = np.full(len(thumbs), np.nan)
    previous = None
    for position, thumb in enumerate(thumbs):
        if thumb is None:
            continue
        if previous is not None:
            difference[position] = float(np.abs(thumb - previous).mean())
        previous = thumb
    typical = pd.Series(difference).rolling(9, center=True, min_periods=2).median().to_numpy()
    typical = np.where(np.isfinite(typical), typical, np.nanmedian(difference))
    ratio = difference / np.maximum(typical, 1e-3)
    boundary = np.nan_to_num(ratio) >= jump
    return pd.DataFrame({"frame": manifest["frame"].to_numpy(), "difference": difference, "ratio": ratio,
                         "boundary": boundary}, index=manifest.index)


def boundary_scores(boundaries: pd.DataFrame, manifest: pd.DataFrame) -> dict[str, float]:
    """Precision and recall of found boundaries against the manifest's `sequence` column."""
    sequence = manifest.loc[boundaries.index, "sequence"].to_numpy()
    truth = np.zeros(len(sequence), dtype=bool)
    truth[1:] = sequence[1:] != sequence[:-1]
    found = boundaries["boundary"].to_numpy(dtype=bool)
    hits = int((truth & found).sum())
    return {"actual": int(truth.sum()), "found": int(found.sum()), "true_positives": hits,
            "precision": hits / found.sum() if found.sum() else float("nan"),
            "recall": hits / truth.sum() if truth.sum() else float("nan")}
