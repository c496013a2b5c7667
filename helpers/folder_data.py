"""Your own data: a folder of images and masks with matching names, used like any other data set.

    my-data/images/cat_01.jpg    my-data/masks/cat_01.png    my-data/classes.csv (optional)

A mask belongs to the image with the same name before the extension. Masks may be

* class-index PNGs: grey levels 0, 1, 2 … are the classes; 255 marks pixels to ignore;
* palette PNGs (mode "P"): the palette index is the class (as in Pascal VOC), 255 is ignored;
* RGB colour PNGs: each colour is a class, listed in classes.csv.

classes.csv has a header and one row per class, in class order: `name,r,g,b`. It names the
classes of index and palette masks and gives their colours; for colour masks it is required,
and a colour it does not list is ignored (and reported by the checks). Without it, the classes
are the values found in the masks: 0/255 or 0/1 masks are read as background and foreground.

`inspect_folder(path)` says what it found (pairs, mask format, classes, the frames that fail the
file checks of notebook 01) before anything trains; `DATASET = "folder:PATH"` in a notebook, or
`register_folder(name, path)`, makes the folder a data set.
"""

from __future__ import annotations

import csv
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .classes import RGB, ClassMap, distinct_colours
from .config import data_root
from .readers import describe_counts, read_label_raw

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
CLASSES_FILE = "classes.csv"
FOLDER_PREFIX = "folder:"
IGNORE = 255


class FolderLayoutError(ValueError):
    """A folder that cannot be read as a data set; the message says what is wrong and how to fix it."""


def resolve_folder(path: str | os.PathLike) -> Path:
    """The folder a "folder:PATH" names: PATH itself when absolute (or ~), else PATH inside the data folder."""
    path = Path(os.path.expanduser(str(path)))
    return (path if path.is_absolute() else data_root() / path).resolve()


def _files(folder: Path) -> dict[str, Path]:
    """{stem: file} of the images in `folder` (hidden files and other suffixes left out)."""
    if not folder.is_dir():
        return {}
    return {path.stem: path for path in sorted(folder.iterdir())
            if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")}


def pair_files(folder: str | os.PathLike) -> tuple[pd.DataFrame, list[str], list[str]]:
    """(pairs with frame, image, label relative to `folder`; images without a mask; masks without an image)."""
    folder = Path(folder)
    images, masks = _files(folder / "images"), _files(folder / "masks")
    stems = sorted(set(images) & set(masks))
    pairs = pd.DataFrame({"frame": stems,
                          "image": [f"images/{images[stem].name}" for stem in stems],
                          "label": [f"masks/{masks[stem].name}" for stem in stems]})
    return pairs, sorted(set(images) - set(masks)), sorted(set(masks) - set(images))


def folder_manifest(folder: Path) -> pd.DataFrame:
    """Manifest of a folder data set: every image with a mask; each frame its own sequence, no split yet."""
    pairs, _, _ = pair_files(folder)
    if pairs.empty:
        raise FolderLayoutError(f"{folder} holds no image with a mask of the same name: put the images in "
                                f"{folder / 'images'} and the masks in {folder / 'masks'} (cat_01.jpg ↔ cat_01.png)")
    pairs["sequence"] = np.arange(len(pairs))
    pairs["split"] = ""
    return pairs


def read_classes_csv(path: Path) -> list[tuple[str, RGB]]:
    """The rows of classes.csv as (name, (r, g, b)); FolderLayoutError naming the line that is wrong."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError) as error:
        raise FolderLayoutError(f"cannot read {path}: {error}") from error
    if not rows or [cell.strip().lower() for cell in rows[0][:4]] != ["name", "r", "g", "b"]:
        raise FolderLayoutError(f"{path} must start with the header line name,r,g,b (then one line per class, "
                                f"in class order, e.g. background,0,0,0)")
    classes = []
    for number, row in enumerate(rows[1:], start=2):
        try:
            name, colour = row[0].strip(), tuple(int(value) for value in row[1:4])
            if len(colour) != 3 or not name or not all(0 <= value <= 255 for value in colour):
                raise ValueError
        except ValueError:
            raise FolderLayoutError(f"{path}, line {number}: {','.join(row)!r} is not name,r,g,b with r, g, b "
                                    f"between 0 and 255") from None
        classes.append((name, colour))
    if not classes or len(classes) >= IGNORE:
        raise FolderLayoutError(f"{path} lists {len(classes)} classes; give between 1 and {IGNORE - 1}")
    colours = [colour for _, colour in classes]
    if len(set(colours)) < len(colours):
        twice = next(colour for colour in colours if colours.count(colour) > 1)
        raise FolderLayoutError(f"{path}: the colour {twice} is given to two classes; each class needs its own")
    return classes


@dataclass
class MaskSurvey:
    """What the masks of a folder hold: their formats, and the values (or colours) with pixel counts."""

    formats: dict[str, int] = field(default_factory=dict)  # "index", "palette", "colour" → masks
    values: dict[int, int] = field(default_factory=dict)  # index and palette masks: value → pixels
    colours: dict[RGB, int] = field(default_factory=dict)  # colour masks: colour → pixels
    palette: list[int] | None = None  # the palette of the first palette mask
    unreadable: list[str] = field(default_factory=list)

    @property
    def format(self) -> str:
        """The most common mask format ("index", "palette" or "colour"; "none" without a readable mask)."""
        return max(self.formats, key=self.formats.get) if self.formats else "none"


def survey_masks(folder: Path, labels: list[str]) -> MaskSurvey:
    """Read every mask once and count its values (or colours)."""
    survey = MaskSurvey()
    for relative in labels:
        try:
            raw, mode = read_label_raw(folder / relative)
        except OSError as error:
            survey.unreadable.append(f"{relative}: {error}")
            continue
        kind = "colour" if raw.ndim == 3 else "palette" if mode == "P" else "index"
        survey.formats[kind] = survey.formats.get(kind, 0) + 1
        if raw.ndim == 3:
            colours, counts = np.unique(raw.reshape(-1, 3), axis=0, return_counts=True)
            for colour, count in zip(map(tuple, colours.tolist()), counts.tolist()):
                survey.colours[colour] = survey.colours.get(colour, 0) + count
        else:
            for value, count in enumerate(np.bincount(raw.ravel(), minlength=256).tolist()):
                if count:
                    survey.values[value] = survey.values.get(value, 0) + count
            if mode == "P" and survey.palette is None:
                with Image.open(folder / relative) as image:
                    survey.palette = (image.getpalette() or []) + [0] * 768
    return survey


def _binary(values: dict[int, int]) -> bool:
    return set(values) <= {0, 1} or set(values) <= {0, IGNORE}


def infer_class_map(name: str, survey: MaskSurvey, classes: list[tuple[str, RGB]] | None) -> ClassMap:
    """The class map of a folder: from classes.csv when given, else from the mask values found."""
    ignore = {IGNORE: IGNORE}
    if classes is not None:
        names, colours = tuple(n for n, _ in classes), tuple(c for _, c in classes)
        return ClassMap(name, names, colours, id_to_class={i: i for i in range(len(names))} | ignore,
                        colour_to_class={colour: i for i, colour in enumerate(colours)},
                        unknown_class=IGNORE, ignore_index=IGNORE)
    if survey.format == "colour" and set(survey.colours) <= {(0, 0, 0), (255, 255, 255)}:
        return ClassMap(name, ("background", "foreground"), ((0, 0, 0), (255, 255, 255)),
                        colour_to_class={(0, 0, 0): 0, (255, 255, 255): 1}, unknown_class=0)
    if survey.format == "colour":
        shown = sorted(survey.colours.items(), key=lambda item: -item[1])[:12]
        template = "\n".join(f"class_{i},{r},{g},{b}" for i, ((r, g, b), _) in enumerate(shown))
        raise FolderLayoutError(
            f"the masks of {name} are RGB colour images: write a {CLASSES_FILE} beside images/ and masks/ that "
            f"says which colour is which class. The colours found, most pixels first: "
            f"{describe_counts(dict(shown), '')[1:]}. A start (rename the classes):\nname,r,g,b\n{template}")
    if not survey.values:
        raise FolderLayoutError(f"no readable mask in {name}: {'; '.join(survey.unreadable[:3])}")
    if _binary(survey.values):
        return ClassMap(name, ("background", "foreground"), ((0, 0, 0), (255, 255, 255)),
                        id_to_class={0: 0, 1: 1, IGNORE: 1}, unknown_class=0)
    top = max(value for value in survey.values if value != IGNORE)
    if survey.palette is not None:
        colours = tuple(tuple(survey.palette[3 * i: 3 * i + 3]) for i in range(top + 1))
    else:
        colours = distinct_colours(top + 1)
    return ClassMap(name, tuple(f"class {i}" for i in range(top + 1)), colours,
                    id_to_class={i: i for i in range(top + 1)} | ignore, unknown_class=IGNORE, ignore_index=IGNORE)


def _stamp(path: Path) -> tuple:
    """What changes when the folder's masks or classes.csv change (for the cache of class maps)."""
    parts = [path / "masks", path / CLASSES_FILE]
    return tuple(os.stat(p).st_mtime_ns if p.exists() else -1 for p in parts)


@functools.lru_cache(maxsize=32)
def _folder_class_map(folder: Path, stamp: tuple) -> ClassMap:
    classes_file = folder / CLASSES_FILE
    classes = read_classes_csv(classes_file) if classes_file.is_file() else None
    survey = MaskSurvey() if classes is not None else survey_masks(folder, list(pair_files(folder)[0]["label"]))
    return infer_class_map(folder.name, survey, classes)


def folder_class_map(folder: str | os.PathLike) -> ClassMap:
    """The class map of a folder data set (classes.csv, else the mask values); cached until the masks change."""
    folder = Path(folder)
    return _folder_class_map(folder, _stamp(folder))


# --------------------------------------------------------------------------------------------
# What a folder holds, in words
# --------------------------------------------------------------------------------------------

@dataclass
class FolderReport:
    """What `inspect_folder` found; `str(report)` is the text a learner reads."""

    folder: Path
    pairs: int
    images_without_mask: list[str]
    masks_without_image: list[str]
    survey: MaskSurvey
    class_map: ClassMap | None
    classes_source: str
    checks: pd.DataFrame | None  # one row per frame, the file checks that apply
    problem: str = ""  # why no class map could be made

    @property
    def flagged(self) -> pd.DataFrame:
        """The frames that fail a file check (they are left out by the clean manifest of notebook 01)."""
        if self.checks is None:
            return pd.DataFrame()
        from .cleaning import FILE_CHECKS

        return self.checks[self.checks[list(FILE_CHECKS)].any(axis=1)]

    def __str__(self) -> str:
        lines = [f"{self.folder}: {self.pairs} image(s) with a mask"]
        for what, names in (("images without a mask", self.images_without_mask),
                            ("masks without an image", self.masks_without_image)):
            if names:
                lines.append(f"  {len(names)} {what} (left out): {', '.join(names[:5])}{' …' if len(names) > 5 else ''}")
        formats = ", ".join(f"{count} {kind}" for kind, count in self.survey.formats.items())
        if formats:
            lines.append(f"  masks: {formats}")
        if self.class_map is None:
            lines.append(f"  classes: none — {self.problem}")
            return "\n".join(lines)
        cm = self.class_map
        lines.append(f"  classes ({self.classes_source}): " + ", ".join(
            f"{i} {name} {colour}" for i, (name, colour) in enumerate(zip(cm.class_names, cm.class_colours))))
        if cm.ignore_index is not None:
            lines.append(f"  ignored: value {cm.ignore_index}" + (", and colours not in classes.csv"
                                                                 if cm.colour_to_class else ""))
        if self.checks is not None:
            from .cleaning import FILE_CHECKS

            counts = {check: int(self.checks[check].sum()) for check in FILE_CHECKS}
            lines.append("  checks: " + ", ".join(f"{check} {count}" for check, count in counts.items()))
            for _, row in self.flagged.head(8).iterrows():
                lines.append(f"    {row['frame']}: {row['reason']}")
            if len(self.flagged) > 8:
                lines.append(f"    … and {len(self.flagged) - 8} more")
            usable = self.pairs - len(self.flagged)
            lines.append(f"  {usable} frame(s) pass every check. Use it: DATASET = \"folder:{self.folder}\"")
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:  # a notebook shows the text, not the dataclass
        printer.text(str(self))


def inspect_folder(path: str | os.PathLike, checks: bool = True, progress: bool = True) -> FolderReport:
    """Look at a folder of images/ and masks/ before training: pairs, mask format, classes, file checks.

    Runs the checks of notebook 01 that apply to any data (unreadable files, size mismatch,
    values or colours that are no class, empty masks); never raises for bad frames, only for a
    folder that holds no pair at all.
    """
    folder = resolve_folder(path)
    pairs, lonely_images, lonely_masks = pair_files(folder)
    if pairs.empty:
        folder_manifest(folder)  # raises with what to do
    survey = survey_masks(folder, list(pairs["label"]))
    class_map, problem, source = None, "", ""
    classes_file = folder / CLASSES_FILE
    try:
        classes = read_classes_csv(classes_file) if classes_file.is_file() else None
        class_map = infer_class_map(folder.name, survey, classes)
        source = CLASSES_FILE if classes is not None else "the mask values found"
    except FolderLayoutError as error:
        problem = str(error)
    report = None
    if checks and class_map is not None:
        from .cleaning import run_checks

        report = run_checks(folder, folder_manifest(folder), dataset=f"{FOLDER_PREFIX}{folder}", progress=progress)
    return FolderReport(folder, len(pairs), lonely_images, lonely_masks, survey, class_map, source, report, problem)
