"""Writing data sets: PNG encoding, the Playing for Data and Kaggle layouts, staged into place."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from ..classes import cityscapes_palette
from ..config import is_quiet
from ..files import remove_leftovers, staging_folder
from .defects import _defect_label, street_plan
from .painting import render_street_frame

STREETS_LAYOUT = {"images": ".png", "labels": ".png", "meta.csv": "file"}

def encode_image_png(image_rgb: np.ndarray) -> bytes:
    """An RGB image as PNG bytes (OpenCV, fast compression, no timestamps: same image, same bytes)."""
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 2])
    if not ok:
        raise RuntimeError("OpenCV could not encode a PNG")
    return buffer.tobytes()


def write_label_png(label_ids: np.ndarray, path: str | os.PathLike) -> None:
    """Save labelIds as an 8-bit palette PNG with the Cityscapes colours (the Playing for Data format)."""
    image = Image.fromarray(np.ascontiguousarray(label_ids, dtype=np.uint8))
    image.putpalette(cityscapes_palette())
    image.save(path, format="PNG", compress_level=3)


def _is_earlier_output(folder: Path, layout: dict) -> bool:
    """Whether `folder` holds only what `layout` allows: name → "file", a file suffix (a folder of
    such files) or a nested layout."""
    for entry in folder.iterdir():
        kind = layout.get(entry.name)
        if kind is None:
            return False
        if kind == "file":
            if not entry.is_file():
                return False
        elif isinstance(kind, dict):
            if not entry.is_dir() or not _is_earlier_output(entry, kind):
                return False
        elif not entry.is_dir() or not all(f.is_file() and f.name.endswith(kind) for f in entry.iterdir()):
            return False
    return True


def _check_output(out: Path, layout: dict, force: bool, command: str) -> None:
    """Refuse `out` when it is neither missing, empty nor an earlier output of `command` (unless forced)."""
    if out.exists() and any(out.iterdir()) and not _is_earlier_output(out, layout) and not force:
        raise FileExistsError(f"{out} is not empty and does not look like an earlier output of {command}; "
                              f"choose an empty or new folder, or pass --force (force=True) to write into it")


@contextlib.contextmanager
def _staged_output(out: Path, layout: dict, force: bool, command: str):
    """Yield a hidden staging folder beside `out` to generate into; move it into place at the end.

    An interrupted run leaves the earlier data set as it was (no data set without its meta file);
    the staging folder it leaves is removed by the next run. `out` is replaced as a whole when it
    is new, empty or an earlier output; into a foreign folder (force) the files are moved one by
    one, the meta file last.
    """
    _check_output(out, layout, force, command)
    remove_leftovers(out.parent, out.name, ("generating", "old"))
    staged = staging_folder(out.parent, out.name, "generating")
    try:
        yield staged
        if out.exists() and any(out.iterdir()) and not _is_earlier_output(out, layout):
            files = sorted((p for p in staged.rglob("*") if p.is_file()), key=lambda p: (p.suffix == ".csv", str(p)))
            for file in files:
                target = out / file.relative_to(staged)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(file, target)
        else:
            old = staging_folder(out.parent, out.name, "old") / "previous" if out.exists() else None
            if old is not None:
                os.replace(out, old)
            os.replace(staged, out)
            if old is not None:
                shutil.rmtree(old.parent, ignore_errors=True)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def generate_streets(out: str | os.PathLike, sequences: int = 40, frames_per_sequence: int = 20,
                     size: tuple[int, int] = (480, 264), seed: int = 0, defect_rate: float = 0.04,
                     weather_rate: float = 0.3, progress: bool = True, force: bool = False) -> pd.DataFrame:
    """Write a street data set in the Playing for Data layout and return its meta table.

    out/images/00001.png (RGB), out/labels/00001.png (palette PNG, index = Cityscapes labelId) and
    out/meta.csv (frame, sequence, scene, weather, defect). The same arguments give the same bytes.
    A folder that is neither empty nor an earlier output is refused unless `force`.
    """
    width, height = int(size[0]), int(size[1])
    plan = street_plan(sequences, frames_per_sequence, seed, defect_rate, weather_rate)
    with _staged_output(Path(out), STREETS_LAYOUT, force, "make_synthetic_streets.py") as staged:
        _write_streets(staged, plan, frames_per_sequence, (width, height), seed, progress)
    return plan


def _write_streets(out: Path, plan: pd.DataFrame, frames_per_sequence: int, size: tuple[int, int], seed: int,
                   progress: bool) -> None:
    """Render every frame of `plan` into out/images, out/labels, then write out/meta.csv."""
    width, height = size
    (out / "images").mkdir(exist_ok=True)
    (out / "labels").mkdir(exist_ok=True)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        rows = tqdm(plan.itertuples(index=False), total=len(plan), desc="street frames", unit="frame",
                    disable=not progress or is_quiet())
        for row in rows:
            step = (int(row.frame) - 1) % frames_per_sequence
            image, label = render_street_frame(seed, int(row.sequence), step, (width, height), row.scene, row.weather)
            keep = 1.0
            if row.defect != "none":
                label, keep = _defect_label(row.defect, label, row, plan, seed, frames_per_sequence, (width, height))
            stem = f"{int(row.frame):05d}.png"
            data = encode_image_png(image)
            (out / "images" / stem).write_bytes(data[: int(len(data) * keep)])
            write_label_png(label, out / "labels" / stem)
    finally:
        cv2.setNumThreads(threads)
    plan.to_csv(out / "meta.csv", index=False)


