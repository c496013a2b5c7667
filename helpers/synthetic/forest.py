"""Aerial forest patches with binary masks, in the layout of the Kaggle "Forest Aerial Images for Segmentation"."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..config import is_quiet
from .writer import _staged_output

FOREST_FOLDER = "Forest Segmented"
FOREST_LAYOUT = {FOREST_FOLDER: {"images": ".jpg", "masks": ".jpg", "meta_data.csv": "file"}}

# ----------------------------------------------------------------------------------------------
# aerial forest patches


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth random field of about `cells` blobs across, normalized to ~N(0, 1)."""
    small = rng.standard_normal((cells + 3, cells + 3)).astype(np.float32)
    field = cv2.resize(small, (size + 2 * size // cells, size + 2 * size // cells), interpolation=cv2.INTER_CUBIC)
    offset = size // cells
    field = field[offset:offset + size, offset:offset + size]
    return (field - field.mean()) / (field.std() + 1e-6)


def render_forest_patch(seed: int = 0, source: int = 0, patch: int = 0, size: int = 256,
                        forest_fraction: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One aerial patch: (image size×size×3 uint8 RGB, mask size×size uint8, 255 = forest, 0 = not).

    Canopy is textured crowns in dark greens; the rest is fields, roads, buildings and water.
    `forest_fraction` defaults to a seeded value in [0, 1] (some patches all forest, some none).
    """
    style = np.random.default_rng([seed, 41, source])  # shared by the patches of one source image
    rng = np.random.default_rng([seed, 42, source, patch])
    if forest_fraction is None:
        forest_fraction = float(np.clip(rng.uniform(-0.15, 1.15), 0.0, 1.0))
    season = style.uniform(-1, 1)
    light = style.uniform(0.8, 1.15)
    # forest where a smooth field is above the quantile that leaves `forest_fraction`
    field = _smooth_noise(rng, size, int(rng.integers(2, 6))) + 0.35 * _smooth_noise(rng, size, 12)
    if forest_fraction <= 0:
        forest = np.zeros((size, size), bool)
    elif forest_fraction >= 1:
        forest = np.ones((size, size), bool)
    else:
        forest = field > np.quantile(field, 1.0 - forest_fraction)
    # ground: fields as a patchwork of stripes and colours
    image = np.empty((size, size, 3), np.float32)
    crops = [(150, 160, 90), (185, 170, 110), (120, 140, 70), (170, 150, 100), (140, 155, 95), (200, 185, 130)]
    cells = _smooth_noise(rng, size, 3)
    bounds = np.quantile(cells, [0.25, 0.5, 0.75])
    parcel = np.digitize(cells, bounds)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for k in range(4):
        colour = np.array(crops[int(rng.integers(len(crops)))], np.float32) * (1 + 0.08 * season)
        angle = rng.uniform(0, np.pi)
        stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * rng.uniform(0.3, 0.9)) * rng.uniform(3, 10)
        image[parcel == k] = colour + stripes[parcel == k, None]
    # water
    if rng.random() < 0.3:
        water = (_smooth_noise(rng, size, 3) > 1.0) & ~forest
        image[water] = np.array([45, 70, 80], np.float32) + rng.normal(0, 3, 3)
    # roads and buildings (never inside the forest mask: the mask stays honest)
    overlay = np.zeros((size, size, 3), np.uint8)
    mask_overlay = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(0, 3))):
        p0, p1 = rng.uniform(-20, size + 20, 2), rng.uniform(-20, size + 20, 2)
        thickness = int(rng.integers(3, 9))
        colour = tuple(int(c) for c in rng.choice([[120, 118, 112], [165, 150, 125], [95, 95, 98]]))
        cv2.line(overlay, tuple(int(v) for v in p0), tuple(int(v) for v in p1), colour, thickness)
        cv2.line(mask_overlay, tuple(int(v) for v in p0), tuple(int(v) for v in p1), 255, thickness)
    for _ in range(int(rng.poisson(2.0))):
        centre = rng.uniform(10, size - 10, 2)
        w, h = rng.uniform(6, 22, 2)
        box = cv2.boxPoints(((float(centre[0]), float(centre[1])), (float(w), float(h)), float(rng.uniform(0, 90))))
        roof = tuple(int(c) for c in rng.choice([[170, 80, 60], [120, 120, 125], [210, 210, 205], [90, 60, 50]]))
        cv2.fillPoly(overlay, [np.rint(box + 2).astype(np.int32)], (35, 35, 35))  # shadow
        cv2.fillPoly(overlay, [np.rint(box).astype(np.int32)], roof)
        cv2.fillPoly(mask_overlay, [np.rint(box + 2).astype(np.int32)], 255)
    built = (mask_overlay > 0) & ~forest
    image[built] = overlay[built]
    # canopy: round crowns, lit at the top, dark gaps between them, in varied greens
    seeds = np.full((size, size), 255, np.uint8)
    points = rng.integers(0, size, (size * size // 30, 2))
    seeds[points[:, 1], points[:, 0]] = 0
    distance = cv2.distanceTransform(seeds, cv2.DIST_L2, 3)
    crown_size = rng.uniform(2.5, 4.5)
    crowns = np.clip(1.0 - distance / crown_size, 0.0, 1.0)
    hue = _smooth_noise(rng, size, 8)
    fine = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), 0.8)
    base = np.array([38, 62, 34], np.float32) * (1 + 0.15 * season) + rng.normal(0, 4, 3)
    canopy = (base + (45 * crowns + 6 * fine)[..., None] * np.array([0.75, 1.0, 0.6], np.float32)
              + (8 * hue)[..., None] * np.array([1.0, 0.6, -0.2], np.float32))
    image[forest] = canopy[forest]
    # single trees outside the forest (not in the mask, as in the real data's coarse masks)
    for _ in range(int(rng.poisson(4))):
        c = rng.uniform(0, size, 2)
        cv2.circle(image, (int(c[0]), int(c[1])), int(rng.integers(2, 5)), tuple(float(v) for v in base * 1.1), -1)
    image += 6 * rng.standard_normal((size, size, 1)).astype(np.float32)
    image *= light
    return np.clip(image, 0, 255).astype(np.uint8), forest.astype(np.uint8) * 255


def generate_forest(out: str | os.PathLike, count: int = 240, size: int = 256, seed: int = 0,
                    progress: bool = True, force: bool = False) -> pd.DataFrame:
    """Write aerial patches in the Kaggle layout and return meta_data.csv's table (image, mask).

    out/"Forest Segmented"/images/<id>_sat_<nn>.jpg, masks/<id>_mask_<nn>.jpg (JPEG, 0/255 with
    compression artefacts) and out/"Forest Segmented"/meta_data.csv. Several patches share a source id.
    """
    if count < 1 or size < 16:
        raise ValueError(f"need count >= 1 and size >= 16, got count={count}, size={size}")
    with _staged_output(Path(out), FOREST_LAYOUT, force, "make_synthetic_forest.py") as staged:
        return _write_forest(staged / FOREST_FOLDER, count, size, seed, progress)


def _write_forest(root: Path, count: int, size: int, seed: int, progress: bool) -> pd.DataFrame:
    """Render `count` patches into root/images and root/masks, then write root/meta_data.csv."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    rng = np.random.default_rng([seed, 40])
    names = []
    while len(names) < count:
        source = int(rng.integers(100, 99_999))
        if any(name[0] == source for name in names):
            continue
        for patch in rng.choice(16, size=int(rng.integers(2, 9)), replace=False):
            names.append((source, int(patch)))
    names = sorted(names[:count])
    rows = []
    for source, patch in tqdm(names, desc="forest patches", unit="patch", disable=not progress or is_quiet()):
        image, mask = render_forest_patch(seed, source, patch, size)
        image_name, mask_name = f"{source}_sat_{patch:02d}.jpg", f"{source}_mask_{patch:02d}.jpg"
        cv2.imwrite(str(root / "images" / image_name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 90])
        cv2.imwrite(str(root / "masks" / mask_name), mask, [cv2.IMWRITE_JPEG_QUALITY, 75])
        rows.append((image_name, mask_name))
    table = pd.DataFrame(rows, columns=["image", "mask"])
    table.to_csv(root / "meta_data.csv", index=False)
    return table
