"""05_lr_range_test: the learning rates handed on are sane, ordered and come with their seed spread."""

from __future__ import annotations

import math


def positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def check(results: dict) -> None:
    assert results["optimizer"] == "adam"
    # suggested_lr is read by 06, 07 and 08: a finite rate inside the exponential test's range
    assert positive(results["suggested_lr"]) and 1e-5 <= results["suggested_lr"] <= 1.0
    assert positive(results["suggested_lr_sgd"]) and 1e-4 <= results["suggested_lr_sgd"] <= 10.0
    # Smith's pair from the linear test (1e-5 … 1e-2): positive and ordered
    base, peak = results["base_lr"], results["max_lr"]
    assert positive(base) and positive(peak), (base, peak)
    assert 1e-5 <= base < peak <= 1e-2, (base, peak)
    assert results["linear_suggestions"]["smith_base"] == base
    assert results["linear_suggestions"]["smith_max"] == peak
    assert isinstance(results["suggested_inside_smith_range"], bool)
    assert "valley" in results["suggested_lr_rule"] and "10 %" in results["smith_rule"]
    # validation accuracy read along the linear test
    curve = results["linear_val_accuracy"]
    assert len(curve["lr"]) == len(curve["pixel_accuracy"]) >= 5
    assert curve["lr"] == sorted(curve["lr"])
    assert all(0.0 <= value <= 1.0 for value in curve["pixel_accuracy"])
    # the fast test for both optimizers
    for name in ("adam", "sgd"):
        assert all(positive(value) for value in results["fast_suggestions"][name].values())
    assert results["fast_suggestions"]["sgd"]["valley"] == results["suggested_lr_sgd"]
    # stability over seeds: one row per seed, suggested_lr = geometric mean of their valleys
    rows = results["seed_suggestions"]
    assert len(rows) >= 2 and len({row["seed"] for row in rows}) == len(rows)
    for row in rows:
        assert all(positive(row[rule]) for rule in ("valley", "steepest", "min_div_10"))
    valleys = [row["valley"] for row in rows]
    geometric_mean = math.exp(sum(math.log(value) for value in valleys) / len(valleys))
    assert math.isclose(results["suggested_lr"], geometric_mean, rel_tol=1e-9)
    assert min(valleys) * (1 - 1e-9) <= results["suggested_lr"] <= max(valleys) * (1 + 1e-9)
    assert math.isclose(results["seed_spread"]["valley"], max(valleys) / min(valleys), rel_tol=1e-9)
    assert all(value >= 1.0 for value in results["seed_spread"].values())
    assert results["iterations"]["linear"] >= 10 and results["iterations"]["exponential"] >= 10
    width, height = results["test_image_size"]
    assert width >= 16 and height >= 16
