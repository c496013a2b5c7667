"""Data cleaning: automatic checks for broken frames, weather flags and sequence boundaries.

Every frame is read once; each check turns a few image statistics into a yes/no answer:

| check | question | statistic |
| --- | --- | --- |
| unreadable | can both files be decoded? | the decoder's verdict |
| size_mismatch | same width and height? | the two shapes |
| unknown_colours | only known label values? | palette ids / colours outside the data set's table |
| empty_label | is anything labelled? | one value covering (nearly) every pixel |
| fog | is the image washed out? | dark-channel brightness / fine detail of the upper half (`haze`) |
| rain | are there rain streaks? | share of pixels on thin near-vertical bright lines (`streaks`) |
| misaligned | do label boundaries sit on image edges? | edge strength under the boundaries, shifted vs not (`gain`) |
| swapped | does the label belong to this image at all? | how sharply the fit peaks at shift 0 (`sharpness`) |

`run_checks` measures the statistics of every frame (reading each once) and `apply_thresholds`
turns them into the yes/no columns, so thresholds can be changed without reading again. Fog and
rain frames are valid data: they are flagged, not removed; `clean_manifest` drops the frames that
fail a defect check. `detection_scores` compares the flags with the defects and weather that a
synthetic data set records in meta.csv, and `sequence_boundaries` finds where sequences start.

The thresholds are tuned on the default data (480×264): every check finds every recorded defect
there with no false alarm. Image statistics shift with the image size, so for data of another
size `fit_thresholds` refits the weather thresholds from meta.csv. The weather and alignment
checks are about street scenes; on other data sets (ADE20K, pets, VOC, a folder of your own)
`run_checks(..., dataset=...)` runs the file checks (FILE_CHECKS) that apply to any data, with
the label values that data set's class map lists.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import cv2
import numpy as np
import pandas as pd
from PIL import Image
from scipy.spatial.distance import cdist
from tqdm.auto import tqdm

from .classes import CITYSCAPES_LABELS, LABEL_ID, cityscapes_palette
from .config import is_quiet
from .encoding import pack_rgb
from .readers import KNOWN_IDS, read_image, read_label_raw

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DEFECT_CHECKS = ("unreadable", "size_mismatch", "unknown_colours", "empty_label", "misaligned", "swapped")
WEATHER_CHECKS = ("fog", "rain")
CHECKS = DEFECT_CHECKS + WEATHER_CHECKS
FILE_CHECKS = DEFECT_CHECKS[:4]
"""The checks that apply to any data set: they read files and label values, not street scenes."""

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

KNOWN_COLOURS = np.unique([(r << 16) | (g << 8) | b for r, g, b in (lab.colour for lab in CITYSCAPES_LABELS)])


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds of the checks.

    Tuned on the default synthetic data (480×264, seed 0) and confirmed on another seed: each
    threshold sits in the gap between frames with and without the defect.
    """

    empty_fraction: float = 0.995  # one label value covering at least this share → empty label
    work_width: int = 480  # images wider than this are scaled down first
    search_width: int = 240  # the misalignment search runs at this width
    haze: float = 0.27  # fog: dark-channel brightness / fine detail above this (clear ≤ 0.23, fog ≥ 0.32 on seeds 0 and 1)
    streaks: float = 2.0  # rain: % of pixels on thin near-vertical bright lines (minus horizontal) above this
    max_shift: int = 12  # misalignment search: ±max_shift px at work_width
    misaligned_gain: float = 0.5  # edge strength at the best shift minus at shift 0 above this …
    # (bonnet left out: clean frames ≤ 0.35, misaligned ≥ 0.69 on seeds 0 and 1)
    swapped_sharpness: float = 1.16  # … and a sharp fit there → misaligned; a blurry fit at 0 → swapped


# label values drawn at the same place in every frame (the bonnet): they say nothing about which
# image a label belongs to, so the swapped check leaves their boundaries out
STATIC_IDS = (LABEL_ID["ego vehicle"],)


class LabelValues(NamedTuple):
    """The label values a data set's labels may hold, for the unknown-colours check."""

    ids: np.ndarray  # 256 booleans: palette / grey ids that are known
    colours: np.ndarray  # sorted packed colours (r·65536 + g·256 + b) that are known
    static: tuple[int, ...]  # ids drawn at the same place in every frame (left out of the swapped check)
    table: str  # what lists them, in words


CITYSCAPES_VALUES = LabelValues(KNOWN_IDS, KNOWN_COLOURS, STATIC_IDS, "the Cityscapes table")


def label_values(dataset, root: str | Path | None = None) -> LabelValues:
    """The known label values of a registered data set (or "folder:PATH"): its table, or its class map's."""
    from .dataset_registry import CITYSCAPES_IDS, get_spec

    spec = get_spec(dataset)
    if spec.known_ids == CITYSCAPES_IDS:
        return CITYSCAPES_VALUES
    ids, colours = spec.label_values(root)
    return LabelValues(ids, colours, (), f"the classes of {spec.default_class_map(root).name}")


# --------------------------------------------------------------------------------------------
# Statistics of one frame
# --------------------------------------------------------------------------------------------

def _ridge(grey: np.ndarray, axis: int, distance: int = 2) -> np.ndarray:
    """How much brighter each pixel is than both neighbours `distance` px away along `axis` (thin lines).

    The `distance` pixels at both ends of the axis are left out.
    """
    if axis == 1:
        centre, before, after = grey[:, distance:-distance], grey[:, : -2 * distance], grey[:, 2 * distance:]
    else:
        centre, before, after = grey[distance:-distance], grey[: -2 * distance], grey[2 * distance:]
    return np.minimum(centre - before, centre - after)


def weather_statistics(image: np.ndarray) -> dict[str, float]:
    """Image statistics behind the fog and rain checks, for an RGB uint8 image.

    `haze`: fog lifts the darkest channel everywhere (dark-channel prior) and wipes out fine
    detail in the distance, so dark-channel mean / detail of the upper half is high.
    `streaks`: rain streaks are thin, short, near-vertical bright lines: the share (in %) of
    pixels on such lines, minus the share on horizontal ones (which ordinary texture has too).
    """
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    darkest = np.minimum(np.minimum(image[..., 0], image[..., 1]), image[..., 2])
    dark = cv2.erode(darkest, np.ones((7, 7), np.uint8)).astype(np.float32) / 255
    detail = np.abs(cv2.Laplacian(cv2.GaussianBlur(grey, (0, 0), 1.5), cv2.CV_32F))
    length = max(2, round(grey.shape[0] / 38))  # streaks are 2–6 % of the image height long
    distance = 2 if grey.shape[1] >= 240 else 1
    vertical = cv2.blur(_ridge(grey, 1, distance), (1, length))
    horizontal = cv2.blur(_ridge(grey, 0, distance), (length, 1))
    upper = detail[: detail.shape[0] // 2].mean()
    return {
        "brightness": float(grey.mean() / 255),
        "dark_channel": float(dark.mean()),
        "detail": float(upper),
        "haze": float(dark.mean() / max(upper, 1e-3)),
        "streaks": float(100 * ((vertical > 6).mean() - (horizontal > 6).mean())),
    }


def label_boundaries(label: np.ndarray, exclude: Iterable[int] = ()) -> np.ndarray:
    """Boolean mask of pixels whose right or lower neighbour has another label value.

    Boundaries touching a value in `exclude` are left out.
    """
    horizontal = label[:, 1:] != label[:, :-1]
    vertical = label[1:, :] != label[:-1, :]
    for value in exclude:
        horizontal &= (label[:, 1:] != value) & (label[:, :-1] != value)
        vertical &= (label[1:, :] != value) & (label[:-1, :] != value)
    edges = np.zeros(label.shape, dtype=bool)
    edges[:, :-1] |= horizontal
    edges[:-1, :] |= vertical
    return edges


def edge_strength(image: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the grey image, divided by its mean (1 = an average pixel)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    magnitude = cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    return magnitude / (magnitude.mean() + 1e-6)


def shift_grid(max_shift: int) -> np.ndarray:
    """All shifts (dy, dx) with |dy|, |dx| ≤ max_shift, as an S×2 array; row S // 2 is (0, 0)."""
    offsets = np.arange(-max_shift, max_shift + 1)
    return np.stack(np.meshgrid(offsets, offsets, indexing="ij"), -1).reshape(-1, 2)


def alignment_curve(strength: np.ndarray, boundaries: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Mean edge strength under the label boundaries once the label is moved by each shift (dy, dx).

    A shift moves the label dx px to the right and dy px down (image rows count downwards). A label
    that fits its image has its boundaries on image edges: the curve peaks at (0, 0). A misaligned
    label peaks at the shift that moves it back, minus its offset; the label of another image peaks nowhere. Boundary
    pixels moved off the image do not count.
    """
    ys, xs = np.nonzero(boundaries)
    if ys.size == 0:
        return np.zeros(len(shifts))
    margin = int(np.abs(shifts).max())
    padded = np.pad(strength.astype(np.float32), margin)  # zeros around: off-image pixels add nothing
    inside = np.pad(np.ones(strength.shape, np.float32), margin)
    width = padded.shape[1]
    positions = (ys + margin) * width + (xs + margin)  # flat index of each boundary pixel
    moved = positions[None, :] + (shifts[:, 0] * width + shifts[:, 1])[:, None]  # S × pixels
    total = padded.ravel()[moved].sum(axis=1, dtype=np.float64)
    count = inside.ravel()[moved].sum(axis=1, dtype=np.float64)
    return total / np.maximum(count, 1.0)


def peak_sharpness(strength: np.ndarray, boundaries: np.ndarray, centre: tuple[int, int] = (0, 0),
                   search: int = 0) -> tuple[tuple[int, int], float]:
    """How sharply the fit peaks at shift `centre`: (peak shift, strength there / mean at 2–3 px from it).

    With `search` > 0 the peak is looked for within ±search px of `centre` first. A label that
    belongs to its image fits to the pixel (sharpness well above 1); chance coincidences with
    another image's edges are blurry (sharpness near 1).
    """
    window = shift_grid(3 + search)
    curve = alignment_curve(strength, boundaries, window + np.asarray(centre))
    central = np.abs(window).max(axis=1) <= search
    peak = window[central][int(np.argmax(curve[central]))]
    distance = np.hypot(*(window - peak).T)
    ring = curve[(distance >= 2) & (distance <= 3.5)].mean()
    value = curve[int(np.flatnonzero((window == peak).all(axis=1))[0])]
    return (int(peak[0] + centre[0]), int(peak[1] + centre[1])), float(value / max(ring, 1e-6))


def _search_copy(image: np.ndarray, label: np.ndarray,
                 thresholds: Thresholds) -> tuple[np.ndarray, np.ndarray, float]:
    """(image, label, scale) shrunk to at most `search_width` wide: the coarse shift search runs there, for speed."""
    scale = min(1.0, thresholds.search_width / image.shape[1])
    if scale < 1:
        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        label = cv2.resize(label, size, interpolation=cv2.INTER_NEAREST)
    return image, label, scale


def fit_map(image: np.ndarray, label: np.ndarray, thresholds: Thresholds,
            static: Iterable[int] = STATIC_IDS) -> tuple[np.ndarray, float]:
    """The alignment curve as a (2r+1)×(2r+1) map over shifts (dy rows, dx columns), and its reach r in full-size px.

    Computed like the misaligned check (on the copy at most `search_width` wide, over ±`max_shift`
    px), without the boundaries of `static` values, so a figure shows what the check measured.
    """
    small_image, small_label, scale = _search_copy(image, label, thresholds)
    reach = max(1, round(thresholds.max_shift * scale))
    curve = alignment_curve(edge_strength(small_image), label_boundaries(small_label, static), shift_grid(reach))
    return curve.reshape(2 * reach + 1, 2 * reach + 1), (reach + 0.5) / scale


def describe_fit_map(width: int, thresholds: Thresholds) -> str:
    """What one cell of `fit_map` covers for a frame `width` px wide: the copy's pixel in the frame's pixels, the span."""
    scale = min(1.0, thresholds.search_width / width)
    reach = max(1, round(thresholds.max_shift * scale))
    if scale == 1:
        return (f"each cell of a fit map is one pixel of the {width}-wide frame (at most search_width "
                f"{thresholds.search_width} wide, so searched at full size): the map spans ±{reach} px in steps of 1")
    step = 1 / scale
    copy_width = round(width * scale)
    rounded = "" if round(reach * step, 3) == thresholds.max_shift else f" (max_shift {thresholds.max_shift} in whole cells)"
    return (f"each cell of a fit map is one pixel of the {copy_width}-wide copy, {step:.3g} px of the {width}-wide "
            f"frame: the map spans ±{reach * step:.3g} px{rounded} in steps of {step:.3g}")


def alignment_statistics(image: np.ndarray, label: np.ndarray, thresholds: Thresholds,
                         static: Iterable[int] = STATIC_IDS) -> dict[str, float]:
    """How well a label fits its image: the best shift, the gain there, and the sharpness of the fit.

    A coarse search over ±`max_shift` px runs at `search_width` (the curve `fit_map` draws): `gain`
    is the edge strength at the best shift minus at (0, 0). `sharpness` (at shift 0) and
    `sharpness_moved` (at the best shift, refined to the pixel) are measured at full size. All three
    leave out the boundaries of `static` label values (the bonnet is at the same place in every
    frame, so it fits any image).
    """
    small_image, small_label, scale = _search_copy(image, label, thresholds)
    shifts = shift_grid(max(1, round(thresholds.max_shift * scale)))
    curve = alignment_curve(edge_strength(small_image), label_boundaries(small_label, static), shifts)
    best = int(np.argmax(curve))
    at_zero = float(curve[len(curve) // 2])
    strength, boundaries = edge_strength(image), label_boundaries(label, static)
    _, sharpness = peak_sharpness(strength, boundaries)
    coarse = (int(round(shifts[best, 0] / scale)), int(round(shifts[best, 1] / scale)))
    (best_dy, best_dx), sharpness_moved = peak_sharpness(strength, boundaries, coarse, search=2)
    return {"edge_agreement": at_zero, "best_agreement": float(curve[best]), "gain": float(curve[best] - at_zero),
            "best_dy": best_dy, "best_dx": best_dx, "sharpness": sharpness, "sharpness_moved": sharpness_moved}


# --------------------------------------------------------------------------------------------
# Running the checks
# --------------------------------------------------------------------------------------------

STATISTICS = ("width", "height", "label_width", "label_height", "unknown_pixels", "largest_share", "brightness",
              "dark_channel", "detail", "haze", "streaks", "edge_agreement", "best_agreement", "gain", "best_dy",
              "best_dx", "sharpness", "sharpness_moved")


def frame_statistics(image_path: Path, label_path: Path, thresholds: Thresholds = Thresholds(),
                     known: LabelValues = CITYSCAPES_VALUES, checks: Iterable[str] = CHECKS) -> dict:
    """Read one frame and measure everything the checks decide on (see STATISTICS).

    Also holds `unreadable` (with the decoder's message in `detail_text`) and the sizes; the
    yes/no answers come from `apply_thresholds`, so thresholds can change without reading again.
    Label values are known when `known` lists them; the weather and alignment statistics are
    measured only when `checks` holds fog or rain, misaligned or swapped (else they stay NaN).
    """
    checks = set(checks)
    row = {name: np.nan for name in STATISTICS}
    row.update(unreadable=False, detail_text="")
    try:
        image = read_image(image_path)
        label, _mode = read_label_raw(label_path)
    except OSError as error:
        row.update(unreadable=True, detail_text=str(error))
        return row
    row.update(height=image.shape[0], width=image.shape[1], label_height=label.shape[0], label_width=label.shape[1])
    if label.ndim == 3:  # colour label: check colours, then work on packed colours (black = static)
        label = pack_rgb(label)
        unknown = ~np.isin(label, known.colours)
        static = (0,)
        counts = np.unique(label, return_counts=True)[1]
    else:
        unknown = ~known.ids[label]
        static = known.static
        counts = np.bincount(label.ravel(), minlength=256)
    row.update(unknown_pixels=int(unknown.sum()), largest_share=float(counts.max() / label.size))
    same_size = label.shape[:2] == image.shape[:2]
    scale = min(1.0, thresholds.work_width / image.shape[1])
    if scale < 1:
        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        label = cv2.resize(label, size, interpolation=cv2.INTER_NEAREST) if same_size else label
    if checks & set(WEATHER_CHECKS):
        row.update(weather_statistics(image))
    if checks & {"misaligned", "swapped"} and same_size and len(counts[counts > 0]) > 1:
        row.update(alignment_statistics(image, label, thresholds, static))
    return row


def apply_thresholds(report: pd.DataFrame, thresholds: Thresholds | None = None) -> pd.DataFrame:
    """Turn the statistics of a report into one yes/no column per check and a `reason` in words.

    Returns a new report; run it again with other thresholds to see what they change.
    """
    thresholds = thresholds or Thresholds()
    report = report.copy()
    readable = ~report["unreadable"].astype(bool)
    report["size_mismatch"] = readable & ((report["width"] != report["label_width"])
                                          | (report["height"] != report["label_height"]))
    report["unknown_colours"] = readable & (report["unknown_pixels"] > 0)
    report["empty_label"] = readable & (report["largest_share"] >= thresholds.empty_fraction)
    report["fog"] = readable & (report["haze"] > thresholds.haze)
    report["rain"] = readable & (report["streaks"] > thresholds.streaks)
    comparable = readable & ~report["size_mismatch"] & ~report["empty_label"] & report["gain"].notna()
    report["misaligned"] = comparable & (report["gain"] > thresholds.misaligned_gain) \
        & (report["sharpness_moved"] >= thresholds.swapped_sharpness)
    report["swapped"] = comparable & ~report["misaligned"] & (report["sharpness"] < thresholds.swapped_sharpness)
    for check in set(CHECKS) - set(report.attrs.get("checks", CHECKS)):  # checks that do not apply to this data
        report[check] = False
    table = report.attrs.get("label_table", CITYSCAPES_VALUES.table)
    report["reason"] = [_reason(row, table) for row in report.to_dict("records")]
    report.attrs["thresholds"] = asdict(thresholds)
    return report


def plot_alignment_checks(report: pd.DataFrame, thresholds: Thresholds, defect_truth: pd.Series) -> Figure:
    """Sharpness against gain for every frame the alignment checks could measure, with the two thresholds.

    Dots are coloured by the defect `defect_truth` records ("none", "misaligned", "swapped" or
    "unknown"), frames flagged by `apply_thresholds` are ringed, and right of the gain line (up to
    30 frames) each point carries its sharpness_moved, the number that decides there.
    """
    import matplotlib.pyplot as plt

    comparable = report["gain"].notna()
    gain_limit, sharp_limit = thresholds.misaligned_gain, thresholds.swapped_sharpness
    fig, ax = plt.subplots(figsize=(9, 4.8))
    for defect, colour in (("none", "tab:green"), ("misaligned", "tab:orange"), ("swapped", "tab:red"),
                           ("unknown", "tab:purple")):
        chosen = comparable & (defect_truth == defect)
        if chosen.any():
            ax.scatter(report.loc[chosen, "gain"], report.loc[chosen, "sharpness"], s=16 if defect == "none" else 40,
                       alpha=0.6 if defect == "none" else 1.0, color=colour,
                       label=f"{defect} in meta.csv ({int(chosen.sum())})")
    for check, marker in (("misaligned", "s"), ("swapped", "D")):
        chosen = comparable & report[check]
        if chosen.any():
            ax.scatter(report.loc[chosen, "gain"], report.loc[chosen, "sharpness"], s=110, marker=marker,
                       facecolors="none", edgecolors="black", label=f"flagged {check} ({int(chosen.sum())})")
    moved = report[comparable & (report["gain"] > gain_limit)].sort_values("gain")
    near = 0.04 * np.ptp(report.loc[comparable, ["gain", "sharpness"]].to_numpy(), axis=0)  # "close" on each axis
    previous, below = None, False
    for gain, sharpness, sharpness_moved in moved[["gain", "sharpness", "sharpness_moved"]].to_numpy()[:30]:
        crowded = previous is not None and bool((np.abs(np.subtract((gain, sharpness), previous)) <= near).all())
        below = not below if crowded else False  # a point close to the last one gets its number on the other side
        ax.annotate(f"{sharpness_moved:.2f}", (gain, sharpness), xytext=(6, -10 if below else 3),
                    textcoords="offset points", fontsize=7)
        previous = (gain, sharpness)
    left = min(0.0, ax.get_xlim()[0])
    ax.axvline(gain_limit, color="black", linestyle="--", label=f"gain {gain_limit}: misaligned beyond, if sharp once moved")
    ax.hlines(sharp_limit, left, gain_limit, color="black", linestyle=":",
              label=f"sharpness {sharp_limit}: swapped below (gain ≤ {gain_limit})")
    ax.set_xlim(left=left)
    ax.text(0.98, 0.97, f"right of the dashed line, the number is sharpness_moved:\n≥ {sharp_limit} misaligned, "
            f"else swapped if sharpness < {sharp_limit}", transform=ax.transAxes, ha="right", va="top", fontsize=7)
    ax.set_xlabel("gain: edge strength at the best shift minus at (0, 0)")
    ax.set_ylabel("sharpness of the fit at (0, 0)")
    ax.set_title("Misaligned and swapped labels from three fit statistics")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return fig


def _reason(row: dict, table: str = CITYSCAPES_VALUES.table) -> str:
    """The checks a frame fails, in words (`table`: what lists the known label values)."""
    if row["unreadable"]:
        return row["detail_text"]
    reasons = []
    if row["size_mismatch"]:
        reasons.append(f"label {row['label_width']:.0f}×{row['label_height']:.0f} "
                       f"but image {row['width']:.0f}×{row['height']:.0f}")
    if row["unknown_colours"]:
        reasons.append(f"{row['unknown_pixels']:.0f} pixels of label values not in {table}")
    if row["empty_label"]:
        reasons.append(f"one label value covers {row['largest_share']:.1%} of the label")
    if row["misaligned"]:
        reasons.append(f"label fits better moved by ({row['best_dx']:.0f}, {row['best_dy']:.0f}) px (x, y)")
    if row["swapped"]:
        reasons.append(f"label edges fit no image edges (sharpness {row['sharpness']:.2f})")
    if row["fog"]:
        reasons.append(f"fog (haze {row['haze']:.2f})")
    if row["rain"]:
        reasons.append(f"rain (streaks {row['streaks']:.1f}%)")
    return "; ".join(reasons)


def check_frame(image_path: Path, label_path: Path, thresholds: Thresholds | None = None) -> dict:
    """All checks on one frame: the statistics, one boolean per check (CHECKS) and a `reason`."""
    thresholds = thresholds or Thresholds()
    statistics = pd.DataFrame([frame_statistics(image_path, label_path, thresholds)])
    return apply_thresholds(statistics, thresholds).iloc[0].to_dict()


def write_toy_frame(folder: Path, name: str, image: np.ndarray, label: np.ndarray,
                    keep_bytes: float = 1.0) -> tuple[Path, Path]:
    """Write an RGB image and a Cityscapes-id label as PNGs, the image cut to `keep_bytes` of its bytes (a failed download)."""
    data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes()
    image_path, label_path = Path(folder) / f"{name}_image.png", Path(folder) / f"{name}_label.png"
    image_path.write_bytes(data[: int(len(data) * keep_bytes)])
    label_file = Image.fromarray(label, mode="P")
    label_file.putpalette(cityscapes_palette())
    label_file.save(label_path)
    return image_path, label_path


def toy_file_checks(toys: dict[str, tuple[np.ndarray, np.ndarray, float]],
                    checks: Iterable[str] = FILE_CHECKS) -> pd.DataFrame:
    """Run `check_frame` on toy frames {name: (image, label, share of image bytes kept)}: one row per toy, one column per check.

    The toys are written to a temporary folder, so the checks read real files, as on a data set.
    """
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        for number, (name, (image, label, keep)) in enumerate(toys.items()):
            result = check_frame(*write_toy_frame(Path(folder), f"toy{number}", image, label, keep))
            rows[name] = {check: bool(result[check]) for check in checks}
    return pd.DataFrame(rows).T


def run_checks(root: str | Path, manifest: pd.DataFrame, thresholds: Thresholds | None = None,
               progress: bool = True, dataset=None) -> pd.DataFrame:
    """Check every frame of `manifest` (paths relative to `root`); one row per frame.

    The report holds the manifest's columns, one boolean column per check (CHECKS), the
    statistics behind them (STATISTICS) and a `reason` in words. Frames are read in threads.
    `dataset` (a registered name, "folder:PATH" or a spec) says which checks apply and which
    label values are known (see `label_values`); without, every check runs with the Cityscapes
    table. A check that does not apply is False for every frame; `report.attrs["checks"]` lists
    the ones that ran.
    """
    root = Path(root)
    thresholds = thresholds or Thresholds()
    records = manifest.to_dict("records")
    checks, known = CHECKS, CITYSCAPES_VALUES
    if dataset is not None:
        from .dataset_registry import get_spec

        checks, known = get_spec(dataset).checks or CHECKS, label_values(dataset, root)

    def work(record: dict) -> dict:
        return frame_statistics(root / record["image"], root / record["label"], thresholds, known, checks)

    with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as pool:
        rows = list(tqdm(pool.map(work, records), total=len(records), desc="checking frames",
                         disable=is_quiet() or not progress))
    statistics = pd.DataFrame(rows, index=manifest.index)
    statistics.attrs.update(label_table=known.table, checks=tuple(checks))
    statistics = apply_thresholds(statistics, thresholds)
    columns = list(CHECKS) + ["reason"] + list(STATISTICS) + ["detail_text"]
    statistics = statistics[columns]
    report = pd.concat([manifest.drop(columns=[c for c in columns if c in manifest]), statistics], axis=1)
    report.attrs.update(checks=tuple(checks), label_table=known.table, thresholds=asdict(thresholds))
    return report


def fit_thresholds(report: pd.DataFrame, manifest: pd.DataFrame | None = None,
                   thresholds: Thresholds | None = None) -> Thresholds:
    """Thresholds for fog and rain fitted to the weather recorded in meta.csv (other fields kept).

    The defaults are tuned at 480×264; image statistics shift with the image size, so data at
    another size needs its own. Each threshold goes midway between the highest value of frames
    without that weather and the lowest value of frames with it (or, when they overlap, where the
    most frames are right). Fitted on the frames it is then scored on, it flatters: score it on others.
    """
    thresholds = thresholds or Thresholds()
    truth_source = report if manifest is None else manifest.loc[report.index]
    readable = ~report["unreadable"].to_numpy(dtype=bool)
    fitted = {}
    for field, statistic, weather in (("haze", "haze", "fog"), ("streaks", "streaks", "rain")):
        values = report[statistic].to_numpy(dtype=float)[readable]
        truth = (truth_source["weather"].astype(str) == weather).to_numpy()[readable]
        if truth.all() or not truth.any():
            continue
        negatives, positives = values[~truth], values[truth]
        if negatives.max() < positives.min():
            fitted[field] = float((negatives.max() + positives.min()) / 2)
        else:
            candidates = np.unique(values)
            correct = [((values > c) == truth).sum() for c in candidates]
            fitted[field] = float(candidates[int(np.argmax(correct))])
    return replace(thresholds, **fitted)


def flagged(report: pd.DataFrame, checks: Iterable[str] = DEFECT_CHECKS) -> pd.Series:
    """True for frames that fail any of `checks` (default: the defect checks, not the weather)."""
    return report[list(checks)].any(axis=1)


def first_flagged(report: pd.DataFrame, check: str) -> pd.Series | None:
    """The first report row that `check` flagged, or for check="ok" the first that no check flagged; None if none."""
    chosen = ~report[list(CHECKS)].any(axis=1) if check == "ok" else report[check].astype(bool)
    return report[chosen].iloc[0] if chosen.any() else None


def read_frame(root: str | Path, row: dict | pd.Series) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(RGB image, raw label) of a manifest row (paths relative to `root`); None for a file that cannot be decoded.

    A review shows broken frames too, so an unreadable file becomes None instead of an error.
    """
    try:
        image = read_image(Path(root) / row["image"])
    except OSError:
        image = None
    try:
        label = read_label_raw(Path(root) / row["label"])[0]
    except OSError:
        label = None
    return image, label


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
    """The manifest columns of a report (everything `run_checks` added left out)."""
    added = set(CHECKS) | set(STATISTICS) | {"reason", "detail_text"}
    return report[[c for c in report.columns if c not in added]]


# --------------------------------------------------------------------------------------------
# How well do the checks find the recorded defects?
# --------------------------------------------------------------------------------------------

def detection_scores(report: pd.DataFrame, manifest: pd.DataFrame | None = None) -> pd.DataFrame:
    """Precision and recall of each check against the defects and weather recorded in meta.csv.

    One row per check: the meta value it looks for, frames having it, frames flagged, true
    positives, precision and recall (NaN where undefined). Frames that cannot be read are left
    out for every check but `unreadable`: a file that cannot be decoded shows no rain.
    """
    truth_source = report if manifest is None else manifest.loc[report.index]
    readable = ~report["unreadable"].to_numpy(dtype=bool)
    rows = []
    for check in CHECKS:
        column, value = TRUTH[check]
        if column not in truth_source:
            continue
        scope = np.ones(len(report), dtype=bool) if check == "unreadable" else readable
        truth = (truth_source[column].astype(str) == value).to_numpy() & scope
        found = report[check].to_numpy(dtype=bool) & scope
        hits = int((truth & found).sum())
        rows.append({
            "check": check, "looks_for": f"{column}={value}", "frames": int(scope.sum()),
            "actual": int(truth.sum()), "flagged": int(found.sum()), "true_positives": hits,
            "precision": hits / found.sum() if found.sum() else np.nan,
            "recall": hits / truth.sum() if truth.sum() else np.nan,
        })
    return pd.DataFrame(rows).set_index("check")


def describe_detection(scores: pd.DataFrame, report: pd.DataFrame, manifest: pd.DataFrame) -> str:
    """This run's verdict per check, from `detection_scores`: which found every recorded case without a false
    alarm, and for the others what they missed and what the frames they flagged wrongly really are."""
    scored = scores[scores["actual"] > 0]
    perfect = [check for check, row in scored.iterrows() if row["recall"] == 1 and row["precision"] == 1]
    lines = [f"{len(perfect)} of {len(scored)} checks found every recorded case and raised no false alarm: "
             + (", ".join(perfect) or "none")]
    readable = ~report["unreadable"].astype(bool)
    for check, row in scored.drop(index=perfect).iterrows():
        column, value = TRUTH[check]
        raised = report[check].astype(bool) & (readable | (check == "unreadable"))
        false_alarms = manifest.loc[raised & (manifest[column].astype(str) != value)]
        really = false_alarms["weather"].where(false_alarms["defect"] == "none", false_alarms["defect"]).value_counts()
        lines.append(f"- {check}: found {int(row['true_positives'])} of {int(row['actual'])} (recall {row['recall']:.2f}); "
                     f"{len(false_alarms)} false alarm(s) (precision {row['precision']:.2f})"
                     + (f", on frames that are really {', '.join(f'{name} ({count})' for name, count in really.items())}"
                        if len(false_alarms) else ""))
    if len(perfect) < len(scored):
        lines.append("A false alarm on a weather check keeps the frame (fog and rain are only flagged); one on a defect "
                     "check drops a good frame. Look at such frames before trusting the threshold.")
    return "\n".join(lines)


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


def frame_thumbnails(paths: Iterable[Path], size: tuple[int, int] = (48, 27)) -> np.ndarray:
    """N × pixels array of the small grey copies (`frame_thumbnail`) of readable images, read in threads."""
    paths = list(paths)
    with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as pool:
        thumbnails = list(pool.map(lambda path: frame_thumbnail(path, size), paths))
    unreadable = [str(path) for path, thumb in zip(paths, thumbnails) if thumb is None]
    if unreadable:
        raise OSError(f"cannot read {len(unreadable)} image(s), e.g. {unreadable[0]}: clean the manifest first "
                      "(helpers.cleaning.clean_manifest)")
    return np.stack(thumbnails).reshape(len(thumbnails), -1) if thumbnails else np.zeros((0, size[0] * size[1]))


def nearest_frames(thumbnails: np.ndarray, queries: np.ndarray,
                   candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query row: the nearest candidate row and its distance (mean absolute difference of the thumbnails)."""
    distance = cdist(thumbnails[queries], thumbnails[candidates], metric="cityblock") / thumbnails.shape[1]
    return candidates[distance.argmin(axis=1)], distance.min(axis=1)


def nearest_train(thumbnails: np.ndarray, split_manifest: pd.DataFrame) -> dict[str, np.ndarray]:
    """For every test frame, its nearest training frame: how close the training set comes to each test frame.

    Returns the test rows, their nearest train rows, the distances and whether that train frame
    is of the test frame's own sequence (a near-duplicate neighbour: a leak).
    """
    splits = split_manifest["split"].to_numpy()
    test_rows = np.flatnonzero(splits == "test")
    nearest, distance = nearest_frames(thumbnails, test_rows, np.flatnonzero(splits == "train"))
    sequences = split_manifest["sequence"].to_numpy()
    return {"test_rows": test_rows, "nearest": nearest, "distance": distance,
            "same_sequence": sequences[test_rows] == sequences[nearest]}


def sequence_boundaries(root: str | Path, manifest: pd.DataFrame, jump: float = 2.8,
                        progress: bool = True) -> pd.DataFrame:
    """Find where a new sequence starts from the difference between consecutive frames.

    Neighbouring frames of one sequence are near-duplicates; at a cut the mean absolute
    difference of small grey copies jumps. A frame starts a sequence when its difference to the
    previous readable frame is at least `jump` times the median difference around it.
    Returns frame, readable, difference, ratio and `boundary` (True = first frame of a new
    sequence, counted from the previous readable frame).
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
    return pd.DataFrame({"frame": manifest["frame"].to_numpy(),
                         "readable": [thumb is not None for thumb in thumbs],
                         "difference": difference, "ratio": ratio,
                         "boundary": np.nan_to_num(ratio) >= jump}, index=manifest.index)


def boundary_scores(boundaries: pd.DataFrame, manifest: pd.DataFrame) -> dict[str, float]:
    """Precision and recall of found boundaries against the manifest's `sequence` column.

    Only readable frames count: a true boundary is a readable frame whose sequence differs from
    that of the previous readable frame.
    """
    readable = boundaries["readable"].to_numpy(dtype=bool)
    sequence = manifest.loc[boundaries.index, "sequence"].to_numpy()[readable]
    truth = np.zeros(len(sequence), dtype=bool)
    truth[1:] = sequence[1:] != sequence[:-1]
    found = boundaries["boundary"].to_numpy(dtype=bool)[readable]
    hits = int((truth & found).sum())
    return {"actual": int(truth.sum()), "found": int(found.sum()), "true_positives": hits,
            "precision": hits / found.sum() if found.sum() else float("nan"),
            "recall": hits / truth.sum() if truth.sum() else float("nan")}
