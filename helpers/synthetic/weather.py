"""Texture, light and weather on top of the flat painting: grain, exposure, rain and fog."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from .camera import (
    BUILDING,
    BUS,
    CAR,
    EGO,
    FENCE,
    GUARD_RAIL,
    MOTORCYCLE,
    PERSON,
    RAIL_TRACK,
    RIDER,
    ROAD,
    SIDEWALK,
    SKY,
    TERRAIN,
    TRAIN,
    TRUCK,
    VEGETATION,
    WALL,
    _Canvas,
)
from .layout import _Setup

WEATHERS = ("clear", "rain", "fog")

# ----------------------------------------------------------------------------------------------
# texture, light and weather

_FINE_NOISE = {ROAD: 5, SIDEWALK: 5, BUILDING: 4, WALL: 4, FENCE: 5, GUARD_RAIL: 4, VEGETATION: 12, TERRAIN: 8,
               SKY: 1, EGO: 1.5, RAIL_TRACK: 12, PERSON: 4, RIDER: 4}
_BLOTCH_NOISE = {ROAD: 7, SIDEWALK: 5, BUILDING: 7, WALL: 5, FENCE: 5, VEGETATION: 16, TERRAIN: 14, SKY: 3,
                 EGO: 3, RAIL_TRACK: 7, CAR: 3, TRUCK: 4, BUS: 3, TRAIN: 3, MOTORCYCLE: 3, PERSON: 3, RIDER: 3}


def _noise_lut(table: dict, default: float, strength: float) -> np.ndarray:
    lut = np.full(256, default, np.float32)
    for label, value in table.items():
        lut[label] = value
    return lut * strength


@functools.lru_cache(maxsize=8)
def _noise_fields(seed: int, sequence: int, size: tuple[int, int]):
    """Per sequence: fine grain (with a margin, for sensor noise) and smooth blotches, both ~N(0, 1)."""
    width, height = size
    rng = np.random.default_rng([seed, 31, sequence])
    fine = rng.standard_normal((height + 16, width + 16), dtype=np.float32)
    small = rng.standard_normal((height // 6 + 2, width // 6 + 2)).astype(np.float32)
    blotch = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    blotch += 0.5 * cv2.resize(rng.standard_normal((height // 20 + 2, width // 20 + 2)).astype(np.float32),
                               (width, height), interpolation=cv2.INTER_CUBIC)
    blotch /= blotch.std() + 1e-6
    return fine, blotch


def _finish(canvas: _Canvas, setup: _Setup, rng: np.random.Generator, weather: str) -> np.ndarray:
    """Texture, exposure, weather and sensor noise on top of the flat painting."""
    look = setup.look
    height, width = canvas.label.shape
    fine, blotch = _noise_fields(setup.seed, setup.sequence, (width, height))
    label = canvas.label
    dy, dx = (int(v) for v in rng.integers(0, 16, 2))
    texture = (fine[8:8 + height, 8:8 + width] * _noise_lut(_FINE_NOISE, 3.0, look.texture)[label]
               + blotch * _noise_lut(_BLOTCH_NOISE, 4.0, look.texture)[label]
               + 1.5 * fine[dy:dy + height, dx:dx + width])
    image = canvas.image.astype(np.float32)
    image += texture[..., None]
    image = cv2.GaussianBlur(image, (3, 3), 0.7)  # soft edges, like a camera
    if weather == "rain":
        image = _rain(image, canvas, rng)
    image *= np.array(look.gain, np.float32)
    if weather == "fog":
        fade = 1.0 - 0.85 * np.exp(-canvas.depth / look.visibility)  # haze everywhere, thicker far away
        image += fade[..., None] * (np.array(look.fog, np.float32) - image)
    return np.clip(image, 0, 255).astype(np.uint8)


def _rain(image: np.ndarray, canvas: _Canvas, rng: np.random.Generator) -> np.ndarray:
    """Darker and greyer, a wet sheen mirrored on the road, and streaks of rain."""
    height, width = canvas.label.shape
    horizon = int(canvas.camera.horizon) + 1
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None]
    image = 0.72 * (0.7 * image + 0.3 * grey)
    mirror = np.clip(2 * horizon - np.arange(horizon, height), 0, height - 1)
    reflection = cv2.blur(image[mirror], (3, 21))  # the scene above, mirrored in the wet road
    wet = np.zeros(256, np.float32)
    wet[ROAD], wet[SIDEWALK], wet[RAIL_TRACK] = 0.35, 0.2, 0.15
    alpha = wet[canvas.label[horizon:]][..., None]
    image[horizon:] += alpha * (reflection - image[horizon:])
    streaks = np.zeros((height, width), np.uint8)
    count = int(width * height / 400)
    starts = rng.uniform([0, 0], [width, height], (count, 2))
    slant = rng.uniform(-0.25, 0.05)
    lengths = rng.uniform(0.02, 0.06, (count, 1)) * height
    ends = starts + lengths * np.array([slant, 1.0])
    lines = np.stack([starts, ends], 1).astype(np.int32)
    cv2.polylines(streaks, list(lines), False, 255, 1)
    image += 0.18 * streaks[..., None].astype(np.float32)
    return image

