"""Synthetic street scenes: frames per second on one core, and how often each GTA9 class appears.

Run: python benchmarks/bench_synthetic.py [--frames 100] [--size 480x264]

Speed is measured with OpenCV on one thread, for rendering alone and for rendering plus writing
the two PNG files. The class table counts, over frames of many sequences, the share of pixels of
each class and the fraction of frames in which it is visible at the quick profile's 160×120.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.classes import GTA9  # noqa: E402
from helpers.encoding import palette_to_index  # noqa: E402
from helpers.synthetic import (  # noqa: E402
    SCENES,
    encode_image_png,
    render_street_frame,
    scene_for_sequence,
    write_label_png,
)

VISIBLE_PIXELS = 12  # at 160×120, a class counts as present from this many pixels on


def measure_speed(size: tuple[int, int], frames: int) -> list[tuple[str, float, float]]:
    """(what, wall frames/s, CPU frames/s) for rendering alone and with PNG writing."""
    render_street_frame(0, 0, 0, size)  # build caches outside the timing
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for what in ("render", "render + write PNGs"):
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(frames):
                sequence, step = divmod(i, 10)
                image, label = render_street_frame(0, sequence, step, size)
                if what != "render":
                    Path(folder, f"{i:05d}.png").write_bytes(encode_image_png(image))
                    write_label_png(label, Path(folder, f"label_{i:05d}.png"))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            results.append((what, frames / wall, frames / cpu))
    return results


def class_statistics(size: tuple[int, int], frames: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Pixel share and presence (fraction of frames, visible at 160×120) per GTA9 class, overall and per scene."""
    pixels = np.zeros(GTA9.num_classes)
    present = np.zeros(GTA9.num_classes)
    per_scene = {scene: np.zeros(GTA9.num_classes) for scene in SCENES}
    scene_frames = dict.fromkeys(SCENES, 0)
    for i in range(frames):
        sequence, step = divmod(i, 5)
        step *= 4  # five frames spread over a 20-frame sequence
        _, label = render_street_frame(0, sequence, step, size)
        classes = palette_to_index(label, GTA9)
        pixels += np.bincount(classes.ravel(), minlength=GTA9.num_classes)
        small = cv2.resize(classes, (160, 120), interpolation=cv2.INTER_NEAREST)
        visible = np.bincount(small.ravel(), minlength=GTA9.num_classes) >= VISIBLE_PIXELS
        present += visible
        scene = scene_for_sequence(0, sequence)
        per_scene[scene] += visible
        scene_frames[scene] += 1
    per_scene = {scene: counts / max(scene_frames[scene], 1) for scene, counts in per_scene.items()}
    return pixels / pixels.sum(), present / frames, per_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100, help="frames for the class table (default 100)")
    parser.add_argument("--speed-frames", type=int, default=60, help="frames timed per row (default 60)")
    parser.add_argument("--size", default="480x264", help="WxH (default 480x264)")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core

    print(f"Speed at {size[0]}x{size[1]}, one core, OpenCV threads = {cv2.getNumThreads()}")
    print(f"{'what':<22}{'frames/s (wall)':>17}{'frames/s (CPU)':>16}")
    for what, wall, cpu in measure_speed(size, args.speed_frames):
        print(f"{what:<22}{wall:>17.1f}{cpu:>16.1f}")
    print("(wall clock suffers when other programs share the core; CPU time does not)")

    share, presence, per_scene = class_statistics(size, args.frames)
    print(f"\nGTA9 classes over {args.frames} frames ({args.frames // 5} sequences × 5 frames)")
    header = f"{'class':<17}{'pixel share':>12}{'present':>9}" + "".join(f"{s:>13}" for s in SCENES)
    print(header)
    for index, name in enumerate(GTA9.class_names):
        row = f"{name:<17}{share[index]:>12.3f}{presence[index]:>9.2f}"
        print(row + "".join(f"{per_scene[s][index]:>13.2f}" for s in SCENES))
    print(f"(present: the fraction of frames in which the class covers at least {VISIBLE_PIXELS} pixels at 160x120)")


if __name__ == "__main__":
    main()
