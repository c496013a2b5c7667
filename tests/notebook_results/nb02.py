"""02_one_hot_encoding: what the smoke run must have recorded."""

import math


def check(results: dict) -> None:
    assert results["lut_speedup"] > 20, "the lookup table must beat the naive loop by far"
    assert results["palette_and_rgb_agree"] is True
    assert 0 < results["bgr_pitfall_wrong_share"] < 1, "reading BGR as RGB must break some pixels"
    assert results["one_hot_round_trip"] is True
    assert results["one_hot_bytes_ratio"] == 4 * 9  # float32 against uint8, 9 channels
    assert results["bgr_unknown_colours_only_by_mistake"] >= 1  # the mistake makes colours GTA9 never had
    frequency = results["class_frequency"]
    assert len(frequency) == 9 and math.isclose(sum(frequency), 1.0, rel_tol=1e-6)
    weights = results["class_weights"]
    present = [w for w, f in zip(weights, frequency) if f > 0]
    rarest = min(range(9), key=lambda c: frequency[c] if frequency[c] > 0 else 2)
    assert weights[rarest] == max(present), "the rarest class must get the largest weight"
    assert results["round_trip_frames"] >= 8
