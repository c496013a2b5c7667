"""The plan of a street data set (weather per sequence, defects per frame) and the defective labels."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from .layout import scene_for_sequence
from .painting import render_street_frame

DEFECT_KINDS = ("misaligned", "swapped", "size_mismatch", "empty_label", "truncated")
META_COLUMNS = ["frame", "sequence", "scene", "weather", "defect"]

def street_plan(sequences: int = 40, frames_per_sequence: int = 20, seed: int = 0, defect_rate: float = 0.04,
                weather_rate: float = 0.3) -> pd.DataFrame:
    """The meta table of a street data set, without rendering: frame, sequence, scene, weather, defect.

    Scenes rotate in seeded blocks of four sequences. round(weather_rate · sequences) sequences get
    rain or fog (alternately, rain first). round(defect_rate · frames) frames get a defect; the kinds
    take turns in the order of DEFECT_KINDS, so each kind gets n // 5 frames and the first n % 5
    kinds one more.
    """
    if sequences < 1 or frames_per_sequence < 1:
        raise ValueError(f"need at least one sequence and one frame, got {sequences} × {frames_per_sequence}")
    for name, rate in (("defect_rate", defect_rate), ("weather_rate", weather_rate)):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {rate}")
    total = sequences * frames_per_sequence
    sequence = np.repeat(np.arange(sequences), frames_per_sequence)
    scenes = [scene_for_sequence(seed, s) for s in range(sequences)]
    weathers = ["clear"] * sequences
    bad = int(round(weather_rate * sequences))
    for i, s in enumerate(np.random.default_rng([seed, 5]).permutation(sequences)[:bad]):
        weathers[int(s)] = "rain" if i % 2 == 0 else "fog"
    defects = np.array(["none"] * total, dtype=object)
    count = int(round(defect_rate * total))
    chosen = np.random.default_rng([seed, 6]).choice(total, size=count, replace=False)
    for i, index in enumerate(chosen):
        defects[index] = DEFECT_KINDS[i % len(DEFECT_KINDS)]
    return pd.DataFrame({"frame": np.arange(1, total + 1), "sequence": sequence,
                         "scene": [scenes[s] for s in sequence], "weather": [weathers[s] for s in sequence],
                         "defect": defects})


def shift_label(label: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Shift a label (ids H×W or colours H×W×3) by (dx, dy) pixels; the uncovered border repeats the nearest row or column."""
    height, width = label.shape[:2]
    rows = np.clip(np.arange(height) - dy, 0, height - 1)
    cols = np.clip(np.arange(width) - dx, 0, width - 1)
    return label[rows[:, None], cols[None, :]]


def _defect_label(kind: str, label: np.ndarray, row, plan: pd.DataFrame, seed: int,
                  frames_per_sequence: int, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """The label written for a defective frame, and the fraction of the image PNG kept (truncated)."""
    rng = np.random.default_rng([seed, 7, int(row.frame)])
    if kind == "misaligned":
        dx, dy = (int(rng.integers(5, 11)) * int(rng.choice([-1, 1])) for _ in range(2))
        if rng.random() < 0.5:  # sometimes along one axis only
            dx, dy = (dx, 0) if rng.random() < 0.5 else (0, dy)
        return shift_label(label, dx, dy), 1.0
    if kind == "swapped":
        sequences = int(plan["sequence"].max()) + 1  # with one sequence, an unwritten one is taken
        other = (int(row.sequence) + 1 + int(rng.integers(0, max(sequences - 1, 1)))) % max(sequences, 2)
        step = int(rng.integers(0, frames_per_sequence))
        _, other_label = render_street_frame(seed, other, step, size)
        return other_label, 1.0
    if kind == "size_mismatch":
        width, height = size
        dw, dh = (int(rng.integers(1, 9)) * int(rng.choice([-1, 1])) for _ in range(2))
        return cv2.resize(label, (width + dw, height + dh), interpolation=cv2.INTER_NEAREST), 1.0
    if kind == "empty_label":
        return np.zeros_like(label), 1.0
    return label, float(rng.uniform(0.3, 0.7))  # truncated image file


