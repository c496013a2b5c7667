"""Colour → class encoding on a full-size GTA5 label (1914×1052): lookup table vs naive loop.

The naive per-pixel loop is timed on a crop and scaled to the full frame; the lookup table is
timed on the whole frame. numpy runs these on one core.
"""

from __future__ import annotations

import time

import numpy as np

from helpers.classes import GTA9
from helpers.encoding import naive_rgb_to_index, rgb_to_index

WIDTH, HEIGHT = 1914, 1052
CROP = (100, 200)  # rows, cols timed for the naive loop


def make_label(rng: np.random.Generator) -> np.ndarray:
    """A label of blocky class regions with a sprinkle of unknown colours, like a real frame."""
    colours = np.array(list(GTA9.colour_to_class), dtype=np.uint8)
    blocks = rng.integers(0, len(colours), size=(HEIGHT // 16 + 1, WIDTH // 16 + 1))
    label = colours[np.kron(blocks, np.ones((16, 16), dtype=int))[:HEIGHT, :WIDTH]]
    noise = rng.random((HEIGHT, WIDTH)) < 0.01
    label[noise] = rng.integers(0, 256, size=(int(noise.sum()), 3), dtype=np.uint8)
    return label


def best_of(function, repeats: int) -> float:
    """Fastest of `repeats` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    label = make_label(np.random.default_rng(0))
    rgb_to_index(label, GTA9)  # builds and caches the 16.7M-entry table once
    lut_seconds = best_of(lambda: rgb_to_index(label, GTA9), repeats=5)
    crop = label[: CROP[0], : CROP[1]]
    naive_crop_seconds = best_of(lambda: naive_rgb_to_index(crop, GTA9), repeats=1)
    naive_seconds = naive_crop_seconds * (WIDTH * HEIGHT) / crop[..., 0].size
    assert np.array_equal(rgb_to_index(crop, GTA9), naive_rgb_to_index(crop, GTA9))
    megapixels = WIDTH * HEIGHT / 1e6
    print(f"label {WIDTH}×{HEIGHT} ({megapixels:.2f} Mpixel), GTA9, one core")
    print(f"{'method':<28}{'seconds/frame':>15}{'Mpixel/s':>12}")
    print(f"{'naive loop (crop, scaled)':<28}{naive_seconds:>15.3f}{megapixels / naive_seconds:>12.2f}")
    print(f"{'rgb_to_index (lookup)':<28}{lut_seconds:>15.4f}{megapixels / lut_seconds:>12.1f}")
    print(f"speed-up: {naive_seconds / lut_seconds:,.0f}×")


if __name__ == "__main__":
    main()
