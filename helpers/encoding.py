"""Label encoding: colours or palette ids → class indices, class indices → colours, one-hot.

The fast paths are lookup tables: a colour (r, g, b) is packed into one 24-bit integer
r·65536 + g·256 + b, and a 2²⁴-entry (16 MiB) table turns every pixel into its class at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

from .classes import ClassMap, get_class_map

UNKNOWN_MARK = 254  # internal marker in a colour table for "colour not in the map"


def pack_rgb(label_rgb: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 → H×W uint32 of r·65536 + g·256 + b."""
    label_rgb = np.asarray(label_rgb)
    if label_rgb.ndim != 3 or label_rgb.shape[-1] != 3 or label_rgb.dtype != np.uint8:
        raise ValueError(f"expected an H×W×3 uint8 RGB label, got {label_rgb.dtype} {label_rgb.shape}")
    rgb32 = label_rgb.astype(np.uint32)
    return (rgb32[..., 0] << 16) | (rgb32[..., 1] << 8) | rgb32[..., 2]


@lru_cache(maxsize=8)
def _colour_lut(class_map: ClassMap) -> np.ndarray:
    """2**24-entry uint8 table: packed colour → class, unknown colours → UNKNOWN_MARK."""
    lut = np.full(1 << 24, UNKNOWN_MARK, dtype=np.uint8)
    for (r, g, b), class_index in class_map.colour_to_class.items():
        lut[(r << 16) | (g << 8) | b] = class_index
    return lut


def rgb_to_index(label_rgb: np.ndarray, class_map: ClassMap | str = "gta9",
                 unknown: int | None = None) -> np.ndarray:
    """Colour label H×W×3 uint8 (RGB order) → class map H×W uint8 by one table lookup.

    Colours not in the map become `unknown` (default: the map's `unknown_class`; pass the
    ignore index, e.g. 255, to leave them out of the loss and the metrics).
    """
    class_map = get_class_map(class_map)
    unknown = class_map.unknown_class if unknown is None else unknown
    index = _colour_lut(class_map)[pack_rgb(label_rgb)]
    if unknown != UNKNOWN_MARK:
        index[index == UNKNOWN_MARK] = unknown
    return index


def palette_to_index(label_ids: np.ndarray, class_map: ClassMap | str = "gta9") -> np.ndarray:
    """Palette-PNG indices (Cityscapes labelIds) H×W uint8 → class indices H×W uint8."""
    label_ids = np.asarray(label_ids)
    if label_ids.dtype != np.uint8:
        raise ValueError(f"expected uint8 palette indices, got {label_ids.dtype}")
    return get_class_map(class_map).id_lut()[label_ids]


def label_to_index(label: np.ndarray, class_map: ClassMap | str = "gta9") -> np.ndarray:
    """A decoded label file → class indices: ids (palette or grey, H×W) by the id table, colours (H×W×3) by the
    colour table; what the map does not list becomes its unknown class."""
    label = np.asarray(label)
    return rgb_to_index(label, class_map) if label.ndim == 3 else palette_to_index(label, class_map)


def index_to_rgb(index: np.ndarray | torch.Tensor, class_map: ClassMap | str = "gta9",
                 ignore_colour: tuple[int, int, int] = (255, 255, 255), palette: str = "display") -> np.ndarray:
    """Class indices H×W (or N×H×W) → colour image …×3 uint8; out-of-range ids (ignore) get `ignore_colour`.

    `palette="display"` gives the colours of the plots, `"label"` those of the label files (the
    inverse of `rgb_to_index`).
    """
    if isinstance(index, torch.Tensor):
        index = index.detach().cpu().numpy()
    class_map = get_class_map(class_map)
    table = np.tile(np.array(ignore_colour, dtype=np.uint8), (256, 1))
    table[: class_map.num_classes] = class_map.colour_array(palette)
    return table[np.asarray(index).astype(np.int64)]


def one_hot(index: torch.Tensor | np.ndarray, num_classes: int) -> torch.Tensor:
    """Class indices N×H×W (or H×W) → one-hot N×C×H×W float32 (ignored pixels are all-zero)."""
    index = torch.as_tensor(np.asarray(index) if isinstance(index, np.ndarray) else index).long()
    if index.ndim == 2:
        index = index.unsqueeze(0)
    valid = (index >= 0) & (index < num_classes)
    encoded = torch.nn.functional.one_hot(index.clamp(0, num_classes - 1), num_classes)
    encoded = encoded * valid.unsqueeze(-1)
    return encoded.permute(0, 3, 1, 2).float()


def from_one_hot(encoded: torch.Tensor) -> torch.Tensor:
    """One-hot (or scores) N×C×H×W → class indices N×H×W by argmax over C."""
    return encoded.argmax(dim=1)


def naive_rgb_to_index(label_rgb: np.ndarray, class_map: ClassMap | str = "gta9",
                       unknown: int | None = None) -> np.ndarray:
    """The per-pixel double loop of the original course report: correct, and very slow.

    Kept to teach why lookup tables matter; it gives exactly what `rgb_to_index` gives.
    """
    class_map = get_class_map(class_map)
    unknown = class_map.unknown_class if unknown is None else unknown
    height, width, _ = label_rgb.shape
    index = np.zeros((height, width), dtype=np.uint8)
    for row in range(height):
        for col in range(width):
            colour = tuple(int(c) for c in label_rgb[row, col])
            index[row, col] = class_map.colour_to_class.get(colour, unknown)
    return index


def unknown_colours(label_rgb: np.ndarray, class_map: ClassMap | str = "gta9") -> dict[tuple[int, int, int], int]:
    """Colours in a label that the class map does not list, with their pixel counts (most first)."""
    class_map = get_class_map(class_map)
    packed = pack_rgb(label_rgb).ravel()
    values, counts = np.unique(packed, return_counts=True)
    known = _colour_lut(class_map)[values] != UNKNOWN_MARK
    found = {(int(v >> 16), int((v >> 8) & 255), int(v & 255)): int(c)
             for v, c in zip(values[~known], counts[~known])}
    return dict(sorted(found.items(), key=lambda item: -item[1]))


def describe_class_balance(frequency: np.ndarray, weights: np.ndarray, class_names: Sequence[str],
                           list_all_up_to: int = 30) -> str:
    """Notebook 02's table of each class's pixel share and weight, and which classes dominate and which is rarest.

    `frequency`: each class's share of the pixels; `weights`: its class weight. A map of more than
    `list_all_up_to` classes lists only the classes present.
    """
    lines = [f"{name:<16} {share:7.2%}   weight {weight:6.2f}" for name, share, weight in zip(class_names, frequency, weights)
             if share > 0 or len(class_names) <= list_all_up_to]
    present = np.flatnonzero(frequency > 0)
    by_share = present[np.argsort(frequency[present], kind="stable")[::-1]]
    if len(by_share) < 2:
        return "\n".join(lines + [f"only {len(by_share)} class present: no balance to describe"])
    (first, second), rarest = by_share[:2], by_share[-1]
    lines.append(f"{class_names[first]} and {class_names[second]} cover {frequency[[first, second]].sum():.0%} of the "
                 f"pixels; the rarest class, {class_names[rarest]}, {frequency[rarest]:.2%} — "
                 f"{frequency[first] / frequency[rarest]:.0f}× less than {class_names[first]} — and gets "
                 + ("the largest weight" if weights[rarest] == weights.max() else
                    f"a weight of {weights[rarest]:.2f}, below the largest") + f", {weights.max():.2f}")
    return "\n".join(lines)
