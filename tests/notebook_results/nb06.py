"""06_scheduler_comparison: a full 2 × 5 grid over the seeds, schedules that moved the learning rate as
they should, the best mean as the winner with its paired noise verdict against the best distinct recipe, the winning recipe recorded whole,
and a forest table of mean ± std for 4 settings."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from helpers.recipe import Recipe

OPTIMIZERS = {"sgd", "adam"}
SCHEDULERS = {"none", "plateau", "cyclic", "cosine", "onecycle"}


def unit(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and 0.0 <= value <= 1.0


def check(results: dict, run_dir=None) -> None:
    grid, setup = results["grid"], results["grid_setup"]
    seeds = setup["seeds"]
    assert len(seeds) >= 2, "every contender runs over several seeds"
    assert results["grid_runs"] == len(grid) == 10 * len(seeds) and results["grid_failed"] == 0
    assert {(row["optimizer"], row["scheduler"], row["seed"]) for row in grid} == {
        (o, s, seed) for o in OPTIMIZERS for s in SCHEDULERS for seed in seeds}
    lrs = setup["lrs"]
    assert lrs["sgd"] != lrs["adam"], "each optimizer trains at its own learning rate"
    if run_dir is not None and (Path(run_dir) / "05_lr_range_test.json").exists():  # a fraction of 05's readings
        range_test = json.loads((Path(run_dir) / "05_lr_range_test.json").read_text())
        readings = {"adam": range_test["suggested_lr"], "sgd": range_test["suggested_lr_sgd"]}
        assert setup["range_test_lrs"] == readings and 0 < setup["lr_fraction"] <= 1
        for name, reading in readings.items():
            assert math.isclose(lrs[name], setup["lr_fraction"] * reading, rel_tol=1e-12)
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
        else:  # cyclic, between a quarter of the rate and the rate
            assert math.isclose(first, lr / 4) and lr / 4 < peak <= lr * (1 + 1e-9), row
            assert last <= (first + peak) / 2 * (1 + 1e-9), row  # whole cycles: it ends falling back to the base
    # the second look: an optimizer that barely trained, retrained at constant rates above its grid rate
    for name, probes in results["rate_probe"].items():
        assert name in OPTIMIZERS and probes, (name, probes)
        for rule, probe in probes.items():
            assert probe["lr"] >= 1.5 * lrs[name], (name, rule, probe)
            assert math.isnan(probe["miou_mean"]) or unit(probe["miou_mean"]), (name, rule, probe)
    if run_dir is not None and (Path(run_dir) / "05_lr_range_test.json").exists():  # 05's lowest-loss rate itself
        fast = json.loads((Path(run_dir) / "05_lr_range_test.json").read_text()).get("fast_suggestions") or {}
        for name, probes in results["rate_probe"].items():
            min_div_10 = (fast.get(name) or {}).get("min_div_10")
            if min_div_10 and min_div_10 >= 1.5 * lrs[name] and 10 * min_div_10 > setup["range_test_lrs"][name]:
                assert any(math.isclose(probe["lr"], 10 * min_div_10) for probe in probes.values()), (name, probes)
    # the summary is the mean and std over the seeds, and the winner is the best mean
    summary = {(row["optimizer"], row["scheduler"]): row for row in results["grid_summary"]}
    assert len(summary) == 10
    for (optimizer, scheduler), row in summary.items():
        values = [r["miou"] for r in grid if (r["optimizer"], r["scheduler"]) == (optimizer, scheduler)]
        assert math.isclose(row["miou_mean"], statistics.mean(values), abs_tol=1e-12)
        assert math.isclose(row["miou_std"], statistics.stdev(values), abs_tol=1e-12)
    # the best mean wins; an exact tie (a plateau that never fired is the run without a schedule) goes to the
    # recipe listed first in the notebook's OPTIMIZERS × SCHEDULERS, the simpler one
    simplest_first = [(o, s) for o in ("sgd", "adam") for s in ("none", "plateau", "cyclic", "cosine", "onecycle")]
    ranked = sorted(summary, key=lambda key: (-summary[key]["miou_mean"], simplest_first.index(key)))
    best = ranked[0]
    compared = Recipe.from_dict(results["compared_recipe"])
    assert (compared.optimizer, compared.schedule) == best and compared.lr == lrs[best[0]]
    assert results["winner_miou"] == summary[best]["miou_mean"]
    assert compared.epochs == setup["epochs"] and compared.loss == Recipe(loss=setup["loss"]).loss
    # the recipe handed on is the compared one, scaled to the final number of epochs and nothing else
    handed_on = Recipe.from_dict(results["recipe"])
    assert set(handed_on.differences(compared)) <= {"epochs"}
    # the verdict compares the winner with the best recipe whose runs differ from the winner's (a plateau that
    # never fired repeats the runs without a schedule), seed by seed: the recipes share their seeds
    verdict = results["winner_verdict"]
    by_seed = {(row["optimizer"], row["scheduler"], row["seed"]): row for row in grid}
    columns = ("miou", "pixel_accuracy", "final_train_loss", "final_val_loss")

    def identical(key) -> bool:
        return all(by_seed[(*key, seed)][column] == by_seed[(*best, seed)][column] for seed in seeds for column in columns)

    assert verdict["paired"] is True
    assert verdict["identical_to_winner"] == [f"{o.upper()} + {s}" for o, s in ranked[1:] if identical((o, s))]
    runner_up = next(key for key in ranked[1:] if not identical(key))
    assert verdict["runner_up"] == f"{runner_up[0].upper()} + {runner_up[1]}"
    differences = [by_seed[(*best, seed)]["miou"] - by_seed[(*runner_up, seed)]["miou"] for seed in seeds]
    error = statistics.stdev(differences) / math.sqrt(len(seeds))
    assert math.isclose(verdict["difference"], statistics.mean(differences), abs_tol=1e-12)
    assert math.isclose(verdict["standard_error"], error, rel_tol=1e-9, abs_tol=1e-12)
    assert verdict["within_noise"] == (abs(verdict["difference"]) < 2 * error)
    # beside the paired standard error: the unpaired one over the same seeds, and the per-seed correlation that
    # decides which of the two is smaller
    ours, theirs = ([by_seed[(*key, seed)]["miou"] for seed in seeds] for key in (best, runner_up))
    unpaired = math.sqrt((statistics.variance(ours) + statistics.variance(theirs)) / len(seeds))
    assert math.isclose(verdict["unpaired_standard_error"], unpaired, rel_tol=1e-9, abs_tol=1e-12)
    if len(seeds) >= 3 and len(set(ours)) > 1 and len(set(theirs)) > 1:
        assert math.isclose(verdict["correlation"], statistics.correlation(ours, theirs), rel_tol=1e-9, abs_tol=1e-12)
    else:
        assert verdict["correlation"] is None or math.isnan(verdict["correlation"])
    # forest: 4 settings, each with a mean and a std over the seeds
    seeds = results["forest_seeds"]
    assert len(seeds) >= 2
    forest = results["forest_summary"]
    assert {(row["loss"], row["optimizer"]) for row in forest} == {(loss, o) for loss in ("mse", "bce") for o in OPTIMIZERS}
    for row in forest:
        assert row["runs"] == len(seeds), row
        for metric in ("miou", "forest_iou", "pixel_accuracy"):
            assert unit(row[f"{metric}_mean"]), row
            assert math.isfinite(row[f"{metric}_std"]) and row[f"{metric}_std"] >= 0, row
    verdicts = results["forest_verdicts"]
    assert len(verdicts) == 4
    for forest_verdict in verdicts:
        assert forest_verdict["within_noise"] == (abs(forest_verdict["difference"]) < 2 * forest_verdict["standard_error"])
