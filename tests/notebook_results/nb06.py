"""06_scheduler_comparison: a full 2 × 5 grid, schedules that moved the learning rate as they should,
a winner from the grid, and a forest table of mean ± std for 4 settings."""

from __future__ import annotations

import math

OPTIMIZERS = {"sgd", "adam"}
SCHEDULERS = {"none", "plateau", "cyclic", "cosine", "onecycle"}


def unit(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and 0.0 <= value <= 1.0


def check(results: dict) -> None:
    grid = results["grid"]
    assert results["grid_runs"] == len(grid) == 10 and results["grid_failed"] == 0
    assert {(row["optimizer"], row["scheduler"]) for row in grid} == {(o, s) for o in OPTIMIZERS for s in SCHEDULERS}
    lrs = results["grid_setup"]["lrs"]
    for row in grid:
        assert unit(row["pixel_accuracy"]) and unit(row["miou"]), row
        assert row["seconds"] > 0 and math.isfinite(row["final_train_loss"])
        assert row["lr"] == lrs[row["optimizer"]] > 0
        # each schedule moved the learning rate by its own rule during fit
        first, peak, last, lr = row["lr_first"], row["lr_peak"], row["lr_last"], row["lr"]
        if row["scheduler"] in ("none", "plateau"):
            assert math.isclose(first, lr) and math.isclose(peak, lr), row
        elif row["scheduler"] == "cosine":
            assert math.isclose(first, lr) and last < first, row
        elif row["scheduler"] == "onecycle":
            assert first < lr and last < first / 100, row  # warm-up from below, anneals far below the start
        else:  # cyclic, between its bounds
            low, high = results["grid_setup"]["cycle_bounds"][row["optimizer"]]
            assert math.isclose(first, low) and low < peak <= high * (1 + 1e-9), row
    # the winner is the grid's best pseudo-test mIoU, with everything notebook 07 needs
    winner = results["winner"]
    assert winner["optimizer"] in OPTIMIZERS and winner["scheduler"] in SCHEDULERS and winner["lr"] > 0
    best = max(grid, key=lambda row: row["miou"])
    assert (winner["optimizer"], winner["scheduler"]) == (best["optimizer"], best["scheduler"])
    assert results["winner_miou"] == best["miou"] and winner["lr"] == best["lr"]
    # forest: 4 settings, each with a mean and a std over the seeds
    seeds = results["forest_seeds"]
    assert len(seeds) >= 2
    summary = results["forest_summary"]
    assert {(row["loss"], row["optimizer"]) for row in summary} == {(loss, o) for loss in ("mse", "bce") for o in OPTIMIZERS}
    for row in summary:
        assert row["runs"] == len(seeds), row
        for metric in ("miou", "forest_iou", "pixel_accuracy"):
            assert unit(row[f"{metric}_mean"]), row
            assert math.isfinite(row[f"{metric}_std"]) and row[f"{metric}_std"] >= 0, row
    verdicts = results["forest_verdicts"]
    assert len(verdicts) == 4
    for verdict in verdicts:
        assert verdict["within_noise"] == (abs(verdict["difference"]) <= verdict["std"]), verdict
