"""05_lr_range_test: the learning rates handed on are sane, ordered, never the edge of a sweep, and come with
their seed spread; the course report's SGD sweep is run and explained."""

from __future__ import annotations

import math


def positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def no_reading_noted(value, name: str, notes: list[str]) -> bool:
    """A suggestion is a rate, or None with a note that says which end of the range to move."""
    if value is None:
        return any(note.startswith(f"{name}: no reading") for note in notes)
    return positive(value)


def check(results: dict) -> None:
    assert results["optimizer"] == "adam"
    ranges = results["ranges"]
    adam_start, adam_end = ranges["exponential"]["adam"]
    # suggested_lr is read by 06, 07 and 08: always a finite rate, inside the exponential test's range
    assert positive(results["suggested_lr"]) and adam_start <= results["suggested_lr"] <= adam_end
    assert positive(results["suggested_lr_sgd"]) and 1e-4 <= results["suggested_lr_sgd"] <= 100.0
    # Smith's pair from the Adam linear test: rates inside its range, or no reading with a note
    base, peak = results["base_lr"], results["max_lr"]
    linear_start, linear_end = ranges["linear_adam"]
    notes = results["notes"]
    assert no_reading_noted(base, "smith_base", notes["linear_adam"]), (base, notes)
    assert no_reading_noted(peak, "smith_max", notes["linear_adam"]), (peak, notes)
    for value in (base, peak):
        assert value is None or linear_start < value < linear_end  # never the edge of the range
    if base is not None and peak is not None:
        assert base < peak
    assert results["linear_suggestions"]["smith_base"] == base
    caveats = results["smith_caveats"]  # what the curve lets Smith's pair mean
    assert isinstance(caveats["base_upper_bound"], bool) and isinstance(caveats["max_clean"], bool)
    assert not caveats["max_clean"] or peak is not None
    assert results["linear_suggestions"]["smith_max"] == peak
    # the comparison with Smith's range: a bool when the pair is complete, None (no comparison) otherwise
    inside = results["suggested_inside_smith_range"]
    if base is None or peak is None:
        assert inside is None
    else:
        assert inside == (base <= results["suggested_lr"] <= peak)
    assert "valley" in results["suggested_lr_rule"] or "DEFAULT_LRS" in results["suggested_lr_rule"]
    assert "10 %" in results["smith_rule"]
    # validation accuracy read along the linear tests; the course report's SGD sweep from 0.001 to 2
    for key in ("linear_val_accuracy", "sgd_linear_val_accuracy"):
        curve = results[key]
        assert len(curve["lr"]) == len(curve["pixel_accuracy"]) >= 5
        assert curve["lr"] == sorted(curve["lr"])
        assert all(0.0 <= value <= 1.0 for value in curve["pixel_accuracy"])
    assert ranges["linear_sgd"] == [1e-3, 2.0] and results["sgd_linear_val_accuracy"]["lr"][-1] == 2.0
    sgd_max = results["sgd_linear_suggestions"]["smith_max"]
    assert no_reading_noted(sgd_max, "smith_max", notes["linear_sgd"])
    if max(results["sgd_linear_val_accuracy"]["pixel_accuracy"]) == results["sgd_linear_val_accuracy"]["pixel_accuracy"][-1]:
        assert sgd_max is None  # highest at the last rate: no maximum
    assert results["sgd_linear_rate_growth"] > 1 and results["sgd_linear_step_growth"] > 0
    # the fast test for both optimizers: every suggestion a rate or a noted no-reading
    for name in ("adam", "sgd"):
        for rule, value in results["fast_suggestions"][name].items():
            assert no_reading_noted(value, rule, notes[f"exponential_{name}"]), (name, rule, value)
    sgd_valley = results["fast_suggestions"]["sgd"]["valley"]
    assert results["suggested_lr_sgd"] == (sgd_valley if sgd_valley is not None else 2e-2)
    assert isinstance(results["adam_loss_turned"], bool)
    assert results["adam_loss_turned"] == (results["adam_loss_rebound"] is not None and results["adam_loss_rebound"] > 0.1
                                           or "stopped" in " ".join(notes["exponential_adam"]))
    # stability over seeds: one row per seed, suggested_lr = geometric mean of the valleys that gave a reading
    rows = results["seed_suggestions"]
    assert len(rows) >= 2 and len({row["seed"] for row in rows}) == len(rows)
    valleys = [row["valley"] for row in rows if row["valley"] is not None]
    if valleys:
        geometric_mean = math.exp(sum(math.log(value) for value in valleys) / len(valleys))
        assert math.isclose(results["suggested_lr"], geometric_mean, rel_tol=1e-9)
        assert min(valleys) * (1 - 1e-9) <= results["suggested_lr"] <= max(valleys) * (1 + 1e-9)
    else:
        assert results["suggested_lr"] == 2e-3 and "DEFAULT_LRS" in results["suggested_lr_rule"]
    if len(valleys) >= 2:
        assert math.isclose(results["seed_spread"]["valley"], max(valleys) / min(valleys), rel_tol=1e-9)
    assert all(value is None or value >= 1.0 for value in results["seed_spread"].values())
    assert results["iterations"]["linear"] >= 10 and results["iterations"]["exponential"] >= 10
    width, height = results["test_image_size"]
    assert width >= 16 and height >= 16
