"""Reading image and label files: complete-file checks, 8-bit labels only, ids or colours onto a class map.

`read_image` decodes an RGB image and refuses truncated PNG and JPEG files; `read_label_raw`
decodes a label without mapping it (palette and grey labels give ids, colour labels RGB) and
refuses 16-bit, 32-bit and float pixels; `read_label` and `read_mask` map a label onto the classes
of a class map and say which values it did not know.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .classes import CITYSCAPES_LABELS, ClassMap, get_class_map
from .encoding import rgb_to_index, unknown_colours


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



def read_class_label(path: str | Path, class_map: ClassMap | str) -> tuple[np.ndarray, str | None]:
    """Decode a label of a data set whose values are listed in its class map, into class indices.

    Index and palette labels (ADE20K, VOC, the pet trimaps, class-index masks) go through the
    map's id table, colour labels through its colour table. Values the map does not list become
    its unknown class, and the note says which and how many pixels.
    """
    class_map = get_class_map(class_map)
    raw, _mode = read_label_raw(path)
    if raw.ndim == 3:
        found = unknown_colours(raw, class_map)
        return rgb_to_index(raw, class_map), describe_counts(found, "unknown colours") if found else None
    listed = np.zeros(256, dtype=bool)
    listed[list(class_map.id_to_class)] = True
    note = None
    unlisted = ~listed[raw]
    if unlisted.any():
        values, counts = np.unique(raw[unlisted], return_counts=True)
        note = describe_counts(dict(zip(values.tolist(), counts.tolist())),
                               f"label values that are no class of {class_map.name}:")
    return class_map.id_lut()[raw], note
