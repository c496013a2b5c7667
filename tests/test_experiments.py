"""helpers.experiments: grids over settings and seeds, mean ± std summaries, noise verdicts."""

from __future__ import annotations

import math
import random
import time

import numpy as np
import pandas as pd
import pytest
import torch

from helpers.experiments import (
    Timing,
    conv_multiply_adds,
    curves_by_setting,
    dash_line,
    describe_cyclic_run,
    describe_forest_cost,
    describe_loss_comparison,
    describe_near_line,
    describe_pairing,
    describe_rate_check,
    describe_rate_probe,
    describe_shared_rate,
    describe_verdict_caveats,
    describe_why_winner,
    describe_widest_spread,
    describe_winner,
    failed_runs,
    format_mean_std,
    gap_text,
    interval_text,
    label_log_ticks,
    paired_within_noise,
    plateau_reductions,
    plot_epoch_curves,
    plot_grid_bars,
    probe_means,
    probe_rates,
    range_test_evidence,
    rate_probe_verdicts,
    run_grid,
    same_runs,
    seed_list,
    share_text,
    summarize,
    timed,
    verdict_lines,
    within_noise,
)
from helpers.models import UNet


def fake_run(config: dict, seed: int) -> dict:
    """A run whose score is the config's level plus a seed offset (known mean and std)."""
    return {"score": config["level"] + 0.1 * seed, "steps": 3}


def test_seed_list_from_count_and_from_list():
    assert seed_list(3) == [0, 1, 2]
    assert seed_list([5, 7]) == [5, 7]
    with pytest.raises(ValueError, match="at least one seed"):
        seed_list(0)
    with pytest.raises(ValueError, match="distinct"):
        seed_list([1, 1])


def test_run_grid_gives_one_row_per_config_and_seed_in_order():
    configs = [{"name": "a", "level": 1.0}, {"name": "b", "level": 2.0}]
    grid = run_grid(configs, fake_run, seeds=3)
    assert len(grid) == 6
    assert list(grid["name"]) == ["a", "a", "a", "b", "b", "b"]
    assert list(grid["seed"]) == [0, 1, 2, 0, 1, 2]
    np.testing.assert_allclose(grid["score"], [1.0, 1.1, 1.2, 2.0, 2.1, 2.2])
    assert (grid["steps"] == 3).all()
    assert (grid["seconds"] >= 0).all() and "error" not in grid


def test_run_grid_keeps_the_seconds_a_run_reports():
    grid = run_grid([{"level": 0.0}], lambda config, seed: {"score": 1.0, "seconds": 42.0}, seeds=[4])
    assert grid.loc[0, "seconds"] == 42.0 and grid.loc[0, "seed"] == 4


def test_run_grid_seeds_everything_before_each_run():
    def draw(config, seed):
        return {"torch": float(torch.rand(1)), "numpy": float(np.random.rand()), "python": random.random()}

    first = run_grid([{"k": 1}, {"k": 2}], draw, seeds=[0, 1])
    again = run_grid([{"k": 9}], draw, seeds=[1, 0])
    # the same seed gives the same draws, whatever ran before
    for column in ("torch", "numpy", "python"):
        assert first.loc[0, column] == first.loc[2, column] == again.loc[1, column]
        assert first.loc[1, column] == again.loc[0, column]
        assert first.loc[0, column] != first.loc[1, column]


def test_run_grid_keeps_objects_in_columns_for_later():
    grid = run_grid([{"level": 1.0}], lambda config, seed: {"score": 1.0, "curve": [3.0, 2.0, 1.0]}, seeds=2)
    curves = grid.pop("curve")
    assert curves.tolist() == [[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]]
    assert "curve" not in grid


def test_run_grid_raises_or_records_errors():
    def sometimes_fails(config, seed):
        if config["level"] > 1:
            raise RuntimeError("the loss was nan")
        return {"score": 0.5}

    configs = [{"level": 1}, {"level": 2}]
    with pytest.raises(RuntimeError, match="nan"):
        run_grid(configs, sometimes_fails, seeds=1)
    grid = run_grid(configs, sometimes_fails, seeds=1, on_error="record")
    assert grid.loc[0, "error"] == "" and grid.loc[0, "score"] == 0.5
    assert "RuntimeError: the loss was nan" in grid.loc[1, "error"]
    assert math.isnan(grid.loc[1, "score"])


def test_run_grid_rejects_bad_arguments_and_key_clashes():
    with pytest.raises(ValueError, match="no configurations"):
        run_grid([], fake_run)
    with pytest.raises(ValueError, match="reserved"):
        run_grid([{"seed": 1}], fake_run)
    with pytest.raises(ValueError, match="on_error"):
        run_grid([{"level": 1}], fake_run, on_error="ignore")
    with pytest.raises(ValueError, match="also config keys"):
        run_grid([{"level": 1}], lambda config, seed: {"level": 2})


def test_summarize_gives_mean_and_sample_std_per_setting():
    grid = run_grid([{"name": "b", "level": 2.0}, {"name": "a", "level": 1.0}], fake_run, seeds=3)
    summary = summarize(grid, by="name", metrics=["score", "steps"])
    assert list(summary.index) == ["b", "a"]  # order of first appearance
    np.testing.assert_allclose(summary["score_mean"], [2.1, 1.1])
    np.testing.assert_allclose(summary["score_std"], [0.1, 0.1])  # std of (0, .1, .2) with ddof=1
    np.testing.assert_allclose(summary["steps_std"], [0.0, 0.0])
    assert list(summary["runs"]) == [3, 3]


def test_summarize_by_two_columns_and_skipping_failed_runs():
    grid = pd.DataFrame({
        "optimizer": ["sgd", "sgd", "adam", "adam", "adam"],
        "loss": ["mse", "mse", "bce", "bce", "bce"],
        "miou": [0.5, 0.7, 0.8, np.nan, 0.6],
    })
    summary = summarize(grid, by=["optimizer", "loss"], metrics="miou")
    assert list(summary.index) == [("sgd", "mse"), ("adam", "bce")]
    assert summary.loc[("adam", "bce"), "runs"] == 2
    assert summary.loc[("adam", "bce"), "miou_mean"] == pytest.approx(0.7)
    assert summary.loc[("sgd", "mse"), "miou_std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    with pytest.raises(ValueError, match="no column"):
        summarize(grid, by="scheduler", metrics="miou")


def test_single_run_has_no_std_and_formats_without_it():
    grid = pd.DataFrame({"name": ["a", "b", "b"], "miou": [0.5, 0.6, 0.8]})
    summary = summarize(grid, "name", ["miou"])
    assert math.isnan(summary.loc["a", "miou_std"])
    text = format_mean_std(summary, ["miou"], digits=2)
    assert text.loc["a", "miou"] == "0.50"
    assert text.loc["b", "miou"] == "0.70 ± 0.14"
    assert list(text["runs"]) == [1, 2]


def test_within_noise_compares_the_difference_with_its_standard_error():
    summary = pd.DataFrame({"miou_mean": [0.60, 0.62, 0.80], "miou_std": [0.01, 0.03, 0.01], "runs": [3, 3, 4]},
                           index=pd.Index(["mse", "bce", "big"], name="loss"))
    close = within_noise(summary, "miou", "bce", "mse")
    # standard error of the difference: sqrt(0.03²/3 + 0.01²/3) = 0.01826; 0.02 < 2 × 0.01826
    assert close["difference"] == pytest.approx(0.02)
    assert close["standard_error"] == pytest.approx(math.sqrt(0.03**2 / 3 + 0.01**2 / 3))
    assert close["within_noise"] is True and close["runs"] == [3, 3]
    far = within_noise(summary, "miou", "mse", "big")
    assert far["difference"] == pytest.approx(-0.20) and far["within_noise"] is False
    # larger than the bigger std (0.01) but not than two standard errors: not shown to be a difference
    subtle = pd.DataFrame({"miou_mean": [0.615, 0.60], "miou_std": [0.01, 0.01], "runs": [2, 2]}, index=["a", "b"])
    verdict = within_noise(subtle, "miou", "a", "b")
    assert verdict["standard_error"] == pytest.approx(0.01) and verdict["within_noise"] is True
    with pytest.raises(KeyError, match="not a row"):
        within_noise(summary, "miou", "mse", "dice")


def test_within_noise_without_any_std_is_never_within_noise():
    summary = pd.DataFrame({"miou_mean": [0.5, 0.5], "miou_std": [np.nan, np.nan], "runs": [1, 1]}, index=["a", "b"])
    verdict = within_noise(summary, "miou", "a", "b")
    assert math.isnan(verdict["standard_error"]) and verdict["within_noise"] is False


def test_within_noise_on_a_summary_by_two_columns():
    grid = pd.DataFrame({
        "loss": ["mse"] * 3 + ["bce"] * 3,
        "optimizer": ["sgd"] * 6,
        "miou": [0.50, 0.60, 0.70, 0.90, 0.91, 0.92],
    })
    summary = summarize(grid, by=["loss", "optimizer"], metrics=["miou"])
    verdict = within_noise(summary, "miou", ("bce", "sgd"), ("mse", "sgd"))
    assert verdict["difference"] == pytest.approx(0.31)
    assert verdict["standard_error"] == pytest.approx(math.sqrt(0.1**2 / 3 + 0.01**2 / 3))
    assert verdict["within_noise"] is False


def test_paired_verdict_sees_a_consistent_difference_that_unpaired_noise_hides():
    # the seeds move both settings together (0.40, 0.60, 0.80); "b" is always 0.02 above "a", give or take 0.005
    grid = pd.DataFrame({"scheduler": ["a"] * 3 + ["b"] * 3, "seed": [0, 1, 2] * 2,
                         "miou": [0.40, 0.60, 0.80, 0.42, 0.625, 0.815]})
    summary = summarize(grid, by="scheduler", metrics=["miou"])
    assert within_noise(summary, "miou", "b", "a")["within_noise"] is True  # unpaired: 0.02 hides in sd 0.2
    paired = paired_within_noise(grid, "scheduler", "miou", "b", "a")
    differences = np.array([0.02, 0.025, 0.015])
    assert paired["difference"] == pytest.approx(0.02)
    assert paired["standard_error"] == pytest.approx(differences.std(ddof=1) / math.sqrt(3))  # sd(d)/√n = 0.0029
    assert paired["within_noise"] is False and paired["runs"] == [3, 3] and paired["seeds"] == [0, 1, 2]
    assert paired["unpaired_standard_error"] == pytest.approx(within_noise(summary, "miou", "b", "a")["standard_error"])
    assert paired["correlation"] > 0.99 and paired["standard_error"] < paired["unpaired_standard_error"]


def test_paired_standard_error_is_larger_when_the_seeds_split_their_luck():
    # seed 1 is "a"'s worst run and "b"'s best (the per-seed scores of this grid's winner and ADAM + cosine)
    grid = pd.DataFrame({"scheduler": ["a"] * 3 + ["b"] * 3, "seed": [0, 1, 2] * 2,
                         "miou": [0.215, 0.164, 0.216, 0.146, 0.187, 0.172]})
    paired = paired_within_noise(grid, "scheduler", "miou", "a", "b")
    a, b = np.array([0.215, 0.164, 0.216]), np.array([0.146, 0.187, 0.172])
    assert paired["correlation"] == pytest.approx(np.corrcoef(a, b)[0, 1]) and paired["correlation"] < -0.7
    assert paired["unpaired_standard_error"] == pytest.approx(math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 3))
    assert paired["standard_error"] > paired["unpaired_standard_error"]
    flat = grid.assign(miou=[0.2, 0.2, 0.2, 0.1, 0.15, 0.12])  # "a" did not vary: no correlation
    assert math.isnan(paired_within_noise(flat, "scheduler", "miou", "a", "b")["correlation"])
    two = grid[grid.seed < 2]
    assert math.isnan(paired_within_noise(two, "scheduler", "miou", "a", "b")["correlation"])
    assert math.isfinite(paired_within_noise(two, "scheduler", "miou", "a", "b")["unpaired_standard_error"])


def test_describe_pairing_says_where_pairing_helped_and_where_it_cost():
    shared = {"difference": 0.023, "standard_error": 0.011, "unpaired_standard_error": 0.021, "correlation": 0.8}
    split = {"difference": 0.030, "standard_error": 0.027, "unpaired_standard_error": 0.021, "correlation": -0.78}
    mixed = describe_pairing({"ADAM + cyclic": shared, "ADAM + cosine": split})
    assert mixed.startswith("Pairing by seed made the standard error smaller in 1 of 2 comparisons, as for ADAM + "
                            "cyclic (0.011 against 0.021, r +0.80), and larger for ADAM + cosine (0.027 against "
                            "0.021, r -0.78)")
    assert "r > 0" in mixed and "r < 0" in mixed
    helped = describe_pairing({"ADAM + cyclic": shared, "SGD + none": shared})
    assert "smaller in all 2 comparison(s), as for ADAM + cyclic (0.011 against 0.021, r +0.80):" in helped
    assert "r < 0" not in helped and "SGD + none" not in helped
    cost = describe_pairing({"ADAM + cosine": split})
    assert "larger in every comparison" in cost and "unpaired standard error would have been the sharper" in cost
    assert describe_pairing({"x": {"difference": 0.1, "standard_error": math.nan, "unpaired_standard_error": math.nan,
                                   "correlation": math.nan}}) == ""
    no_r = describe_pairing({"x": {**shared, "correlation": math.nan}})
    assert "(0.011 against 0.021)" in no_r


def test_paired_verdict_pairs_by_seed_over_two_columns_and_skips_missing_seeds():
    grid = pd.DataFrame({"loss": ["mse"] * 3 + ["bce"] * 3, "optimizer": ["sgd"] * 6, "seed": [0, 1, 2, 2, 1, 0],
                         "miou": [0.5, 0.6, float("nan"), 0.9, 0.7, 0.6]})  # mse's seed 2 failed
    verdict = paired_within_noise(grid, ["loss", "optimizer"], "miou", ("bce", "sgd"), ("mse", "sgd"))
    assert verdict["seeds"] == [0, 1] and verdict["difference"] == pytest.approx(0.1)
    assert verdict["standard_error"] == pytest.approx(0.0) and verdict["within_noise"] is False
    single = paired_within_noise(grid[grid.seed == 0], ["loss", "optimizer"], "miou", ("bce", "sgd"), ("mse", "sgd"))
    assert math.isnan(single["standard_error"]) and single["within_noise"] is False
    with pytest.raises(KeyError, match="no runs"):
        paired_within_noise(grid, ["loss", "optimizer"], "miou", ("dice", "sgd"), ("mse", "sgd"))


def test_same_runs_finds_a_setting_that_repeated_another_exactly():
    grid = pd.DataFrame({"scheduler": ["none"] * 2 + ["plateau"] * 2 + ["cosine"] * 2, "seed": [0, 1, 1, 0, 0, 1],
                         "miou": [0.5, 0.6, 0.6, 0.5, 0.5, 0.6], "final_val_loss": [1.0, 0.9, 0.9, 1.0, 1.1, 0.9]})
    assert same_runs(grid, "scheduler", "none", "plateau", ["miou", "final_val_loss"])  # a plateau that never fired
    assert not same_runs(grid, "scheduler", "none", "cosine", ["miou", "final_val_loss"])  # same mIoU, other runs
    assert same_runs(grid, "scheduler", "none", "cosine", ["miou"])


def test_describe_winner_says_each_outcome_of_the_paired_verdict():
    lead = "ADAM + cosine has the best mean pseudo-test mIoU, 0.612 over 3 seeds"
    tied = {"difference": 0.004, "standard_error": 0.003, "within_noise": True}
    assert describe_winner("ADAM + cosine", 0.6123, 3, "ADAM + none", tied, tied=["ADAM + none", "SGD + cosine"],
                           identical=["ADAM + plateau"]) == (
        "Skipped as identical to the winner, seed for seed: ADAM + plateau.\n"
        f"{lead}, 0.004 ahead of ADAM + none on average over the seeds: less than two standard errors of the per-seed "
        "differences (2 × 0.003). These runs do not show that it is better: 2 recipe(s) are within the noise of it "
        "(ADAM + none, SGD + cosine). It is handed on because the rule, fixed in advance, takes the best mean; any of "
        "those would be as defensible.")
    clear = {"difference": 0.05, "standard_error": 0.0123, "within_noise": False}
    assert describe_winner("ADAM + cosine", 0.6123, 3, "SGD + none", clear) == (
        f"{lead}, 0.050 ahead of SGD + none on average over the seeds: more than two standard errors of the per-seed "
        "differences (2 × 0.012), a lead these seeds show.")
    one_seed = {"difference": 0.05, "standard_error": math.nan, "within_noise": False}
    assert describe_winner("ADAM + cosine", 0.6123, 1, "SGD + none", one_seed) == (
        "ADAM + cosine has the best mean pseudo-test mIoU, 0.612 over 1 seeds, 0.050 ahead of SGD + none; with one "
        "seed per recipe there is no standard error, so nothing can be said about noise.")
    assert describe_winner("ADAM + cosine", 0.6123, 3, None, {}, identical=["ADAM + plateau"]) == (
        f"Skipped as identical to the winner, seed for seed: ADAM + plateau.\n{lead}; no other distinct recipe ran, "
        "so there is nothing to compare it with.")


def test_failed_runs_lists_the_failures_and_drops_the_error_column():
    grid = pd.DataFrame({"optimizer": ["sgd", "adam", "adam"], "miou": [0.5, float("nan"), 0.4],
                         "error": ["", "RuntimeError: loss is nan", None]})
    kept, failed = failed_runs(grid)
    assert "error" not in kept and len(kept) == 3
    assert failed["optimizer"].tolist() == ["adam"] and failed["error"].tolist() == ["RuntimeError: loss is nan"]
    kept, failed = failed_runs(grid.drop(columns="error"))
    assert len(kept) == 3 and failed.empty and "error" in failed


def test_plateau_reductions_counts_the_runs_whose_rate_fell():
    grid = pd.DataFrame({"optimizer": ["sgd", "sgd", "adam", "adam"], "scheduler": ["plateau", "plateau", "plateau", "none"],
                         "lr_first": [0.1, 0.1, 1e-3, 1e-3], "lr_last": [0.01, 0.1, 1e-3, 1e-3]})
    assert plateau_reductions(grid) == {"sgd": (1, 2), "adam": (0, 1)}


def test_curves_by_setting_stacks_the_finished_runs():
    grid = pd.DataFrame({"loss": ["mse", "mse", "bce"], "optimizer": ["sgd", "sgd", "adam"],
                         "curve": [[0.1, 0.2], [0.3, 0.4], float("nan")]})  # the BCE run failed
    curves = curves_by_setting(grid, ["loss", "optimizer"], "curve")
    assert list(curves) == ["MSE + SGD"]
    np.testing.assert_array_equal(curves["MSE + SGD"], [[0.1, 0.2], [0.3, 0.4]])
    assert list(curves_by_setting(grid, ["optimizer"], "curve")) == ["SGD"]


def test_grid_figure_has_bars_dots_title_axes_and_legend():
    import matplotlib

    matplotlib.use("Agg")
    grid = pd.DataFrame({"optimizer": ["sgd", "sgd", "adam", "adam"], "scheduler": ["none"] * 4,
                         "seed": [0, 1, 0, 1], "miou": [0.2, 0.4, 0.5, 0.7]})
    summary = summarize(grid, by=["optimizer", "scheduler"], metrics=["miou"])
    ax = plot_grid_bars(summary, grid, ["sgd", "adam"], ["none"], "Optimizer × schedule")
    heights = sorted(patch.get_height() for patch in ax.patches)
    assert heights == pytest.approx([0.3, 0.6])  # the means
    dots = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert dots and all(line.get_markerfacecolor() == "white" for line in dots)  # hollow: told apart from the caps
    centres = sorted(patch.get_x() + patch.get_width() / 2 for patch in ax.patches)
    assert all(min(abs(x - centre) for centre in centres) > 0.05 for line in dots for x in line.get_xdata())
    assert ax.get_title() == "Optimizer × schedule" and ax.get_xlabel() == "learning-rate schedule"
    assert ax.get_ylabel() == "mIoU on the pseudo-test split"
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["one seed", "SGD (mean ± std)",
                                                                        "ADAM (mean ± std)"]
    ax.plot([0, 1], [1, 1], label="plateau")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside the axes, as the plotting helpers put it
    dash_line(ax, "plateau")
    assert [line.get_linestyle() for line in ax.get_lines() if line.get_label() == "plateau"] == ["--"]
    legend = ax.get_legend()
    assert legend.get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1e-6  # the legend stayed where it was
    assert [handle.get_linestyle() for handle, text in zip(legend.legend_handles, legend.get_texts())
            if text.get_text() == "plateau"] == ["--"]
    ax.set_yscale("log")
    ax.set_ylim(0.2, 0.8)
    label_log_ticks(ax)
    assert ax.yaxis.get_minor_formatter()(0.3) == "0.3"  # less than a decade: the minor ticks are labelled
    assert ax.yaxis.get_major_formatter()(0.5) == "0.5"
    matplotlib.pyplot.close("all")


def test_plot_epoch_curves_uses_a_log_axis_only_over_a_wide_range():
    import matplotlib
    from matplotlib.ticker import MaxNLocator

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, (wide_ax, narrow_ax) = plt.subplots(1, 2)
    wide = {"none": pd.Series([3.0, 1.0, 0.5], index=[1, 2, 3]), "cosine": pd.Series([2.0, 0.9, float("nan")])}
    assert plot_epoch_curves(wide, "loss", "SGD: pseudo-test loss", ax=wide_ax) is True  # 3.0 / 0.5 > 2
    assert wide_ax.get_yscale() == "log" and wide_ax.get_title() == "SGD: pseudo-test loss (log scale, values 0.50–3.00)"
    assert [line.get_marker() for line in wide_ax.get_lines()] == ["o", "o"]
    assert isinstance(wide_ax.xaxis.get_major_locator(), MaxNLocator) and wide_ax.get_xlabel() == "epoch"
    narrow = {"none": pd.Series([1.0, 0.8, 0.6])}  # 1.0 / 0.6 < 2
    assert plot_epoch_curves(narrow, "loss", "ADAM: pseudo-test loss", ax=narrow_ax) is False
    assert narrow_ax.get_yscale() == "linear" and narrow_ax.get_title() == "ADAM: pseudo-test loss (values 0.60–1.00)"
    plt.close("all")


def test_gap_and_interval_texts_follow_the_sign_and_zero():
    assert gap_text(0.0123) == "ahead (+0.012)" and gap_text(-0.004) == "behind (-0.004)" and gap_text(0.0) == "level (+0.000)"
    assert interval_text({"low": 0.01, "high": 0.05, "groups": 4}).endswith("these frames show a difference")
    assert interval_text({"low": -0.05, "high": -0.01, "groups": 4}).endswith("these frames show a difference")
    assert interval_text({"low": -0.01, "high": 0.05, "groups": 4}) == (
        "95 % interval [-0.010, +0.050] over 4 resampled sequences: not shown to be a difference by these frames")


def test_range_test_evidence_reads_the_lowest_loss_and_the_best_accuracy():
    evidence = range_test_evidence(0.0356, {"lr": [0.2, 1.0, 2.0], "pixel_accuracy": [0.5, 0.61, 0.73]})
    assert evidence == pytest.approx({"lowest_loss_lr": 0.356, "best_accuracy": 0.73, "best_accuracy_lr": 2.0})
    assert range_test_evidence(None, None) == {}


def test_describe_rate_check_says_what_rows_measure_in_each_outcome():
    evidence = {"lowest_loss_lr": 0.356, "best_accuracy": 0.73, "best_accuracy_lr": 2.0}
    trained = describe_rate_check("adam", 2.24e-3, 0.55, 0.25, evidence)
    assert trained == ("ADAM trained at 2.24e-03: its training loss kept 55% of its start (this check's cut-off: a run "
                       "that keeps more than 2/3 barely trained).")
    far = describe_rate_check("sgd", 2.28e-3, 0.78, 0.25, evidence)
    assert far.startswith("SGD barely trained at 2.28e-03 (0.25 × notebook 05's valley): its training loss kept 78% of "
                          "its start, more than this check's cut-off of 2/3: it fell, but by less than 1/3.")
    assert "more than this check's cut-off of 72%: it fell, but by less than 28%" in describe_rate_check(
        "sgd", 2.28e-3, 0.78, 0.25, evidence, barely=0.72)
    assert "kept 102% of its start, more than this check's cut-off of 2/3: it did not fall." in describe_rate_check(
        "sgd", 2.28e-3, 1.02, 0.25, evidence)
    assert "lowest at 3.56e-01 (156 × this rate)" in far and "accuracy 0.73 at 2.00e+00 (877 × this rate)" in far
    assert "do not compare SGD with the other optimizer" in far and "a second look retrains SGD at higher rates" in far
    unknown = describe_rate_check("sgd", 2.28e-3, 0.78, 0.25, {})
    assert "(DEFAULT_LRS)" in describe_rate_check("sgd", 2e-2, 0.9, None, {})
    assert "no SGD reading far above this rate" in unknown and "notebook 05's SGD tests" not in unknown.lower()


def test_probe_rates_keeps_notebook_05s_readings_above_the_grid_rate():
    assert probe_rates(2.28e-3, 9.1e-3, 3.56e-2) == pytest.approx(
        {"notebook 05's valley": 9.1e-3, "05's lowest loss ÷ 10": 3.56e-2, "05's lowest loss": 0.356})
    assert probe_rates(2.28e-3, 9.1e-3, 2.5e-3) == {"notebook 05's valley": 9.1e-3}  # 2.5e-3: not 1.5 × higher
    assert probe_rates(2.28e-3, 0.5, 3.56e-2) == {"notebook 05's valley": 0.5, "05's lowest loss ÷ 10": 3.56e-2}
    assert probe_rates(0.02, None, None) == {"4 × the grid's rate": 0.08, "16 × the grid's rate": 0.32}
    assert probe_rates(0.02, float("nan"), 0.01) == {"4 × the grid's rate": 0.08, "16 × the grid's rate": 0.32}


def test_describe_rate_probe_reads_each_outcome():
    probes = {"notebook 05's valley": (9.1e-3, 0.122), "05's lowest loss ÷ 10": (3.56e-2, 0.126)}
    rose = {"difference": 0.036, "standard_error": 0.005, "within_noise": False}
    apart = {"difference": 0.082, "standard_error": 0.01, "within_noise": False}
    behind = describe_rate_probe("sgd", 0.090, probes, "ADAM + none", 0.208, rose, apart, 6)
    assert "in the grid: 0.090; at 9.10e-03 (notebook 05's valley): 0.122, 3.56e-02 (05's lowest loss ÷ 10): 0.126" in behind
    assert "lifts SGD by +0.036 ± 0.005 (SE) (best at 3.56e-02)" in behind and "stays 0.082 ahead" in behind
    assert "(2 × 0.010), even with the best of 2 rates kept, picked and scored on the same split" in behind
    assert "still rising at the highest rate tried (3.56e-02): not settled" in behind
    assert "a higher one may let it catch up" in behind
    assert "stands" not in behind and "holds only for the rates tried" in behind
    fell = describe_rate_probe("sgd", 0.090, {**probes, "05's lowest loss": (0.356, 0.101)}, "ADAM + none", 0.208,
                               rose, apart, 6)
    assert "so, for the rates tried, the ranking of the optimizers stands" in fell and "not settled" not in fell
    diverged = describe_rate_probe("sgd", 0.090, {**probes, "05's lowest loss": (0.356, float("nan"))}, "ADAM + none",
                                   0.208, rose, apart, 6)
    assert "0.356" not in diverged and "3.56e-01 (05's lowest loss): failed" in diverged and "stands" in diverged
    assert "not settled" not in diverged  # the highest rate tried failed: the best lies below it
    failed = describe_rate_probe("sgd", 0.090, {"v": (9.1e-3, float("nan"))}, "ADAM + none", 0.208, {}, {}, 6)
    assert "9.10e-03 (v): failed" in failed and "Every higher rate failed" in failed and "not settled" not in failed


def test_describe_rate_probe_no_gain_says_not_settled_only_at_the_highest_rate():
    close = {"difference": 0.008, "standard_error": 0.01, "within_noise": True}
    worse = describe_rate_probe("sgd", 0.090, {"v": (9.1e-3, 0.08), "m": (3.6e-2, 0.07)}, "ADAM + none", 0.208,
                                {"difference": -0.010, "standard_error": 0.004, "within_noise": True}, close, 6)
    assert "No higher rate did better than the grid's beyond the noise (best -0.010 ± 0.004 (SE), at 9.10e-03)" in worse
    assert "stands" not in worse and "not settled" not in worse
    noisy = describe_rate_probe("sgd", 0.0398, {"v": (1e-2, 0.030), "m": (6.2e-2, 0.0399)}, "ADAM + none", 0.0398,
                                close, close, 2)
    assert "No higher rate did better" in noisy and "came from" not in noisy
    assert "SGD's mean was still rising at the highest rate tried (6.20e-02): not settled" in noisy
    assert "a higher one may still do better" in noisy


def test_describe_rate_probe_within_the_noise_of_the_winner_is_not_level():
    rose = {"difference": 0.076, "standard_error": 0.012, "within_noise": False}
    near = {"difference": 0.042, "standard_error": 0.025, "within_noise": True}
    probes = {"notebook 05's valley": (9.1e-3, 0.098), "05's lowest loss ÷ 10": (3.56e-2, 0.118),
              "05's lowest loss": (0.356, 0.166)}
    top = describe_rate_probe("sgd", 0.090, probes, "ADAM + none", 0.208, rose, near, 6)
    assert ("At 3.56e-01 SGD reached 0.166, +0.076 ± 0.012 (SE) over the grid's rate; the winner ADAM + none (0.208) "
            "is 0.042 ± 0.025 ahead, within two standard errors (2 × 0.025): these runs no longer show ADAM + none "
            "ahead of SGD. Most of the grid's gap (0.118 → 0.042, 64% of it) came from SGD's rate.") in top
    assert "Within the noise means not shown, not level: SGD's mean is still 0.042 below the winner's." in top
    assert "The best of 3 rates tried was kept, picked and scored on the same pseudo-test split" in top
    assert "SGD's mean was still rising at the highest rate tried (3.56e-01): not settled" in top
    assert "a higher one may close the rest of the gap" in top and "stays the grid's winner" in top
    assert "not from SGD" not in top
    inside = describe_rate_probe("sgd", 0.090, {**probes, "05's lowest loss": (0.356, 0.101)}, "ADAM + none", 0.138,
                                 rose, {"difference": 0.020, "standard_error": 0.015, "within_noise": True}, 6)
    assert "Most of the grid's gap (0.048 → 0.020, 58% of it) came from SGD's rate" in inside
    assert "not settled" not in inside and "The best of 3 rates" in inside
    part = describe_rate_probe("sgd", 0.090, {"v": (9.1e-3, 0.120)}, "ADAM + none", 0.208, rose, near, 6)
    assert "Part of the grid's gap (0.118 → 0.088, 25% of it)" in part
    assert "The best of" not in part and "not settled" in part  # one rate: nothing picked; it is the highest tried


def test_describe_rate_probe_caught_up_and_ahead():
    rose = {"difference": 0.140, "standard_error": 0.005, "within_noise": False}
    caught = describe_rate_probe("sgd", 0.090, {"v": (9.1e-3, 0.230), "m": (3.6e-2, 0.2)}, "ADAM + none", 0.208,
                                 rose, {"difference": -0.022, "standard_error": 0.005, "within_noise": False}, 6)
    assert ("At 9.10e-03 SGD reached 0.230, +0.140 ± 0.005 (SE) over the grid's rate, and 0.022 ± 0.005 above the "
            "winner ADAM + none (0.208), beyond two standard errors: these runs show SGD ahead of ADAM + none, so the "
            "grid's gap (0.118) came from SGD's rate, not from SGD.") in caught
    assert "stays the grid's winner" in caught and "not settled" not in caught and "The best of 2 rates" in caught
    level = describe_rate_probe("sgd", 0.090, {"v": (9.1e-3, 0.212)}, "ADAM + none", 0.208, rose,
                                {"difference": -0.004, "standard_error": 0.01, "within_noise": True}, 6)
    assert "0.004 ± 0.010 above the winner ADAM + none (0.208), within two standard errors (2 × 0.010)" in level
    assert "no longer show ADAM + none ahead of SGD; the grid's gap (0.118) closed at this rate" in level
    assert "not shown either way, not level" in level and "a higher one may do better still" in level


def test_describe_rate_probe_of_the_winners_own_optimizer_compares_rates():
    rose = {"difference": 0.05, "standard_error": 0.005, "within_noise": False}
    own = describe_rate_probe("adam", 0.15, {"v": (9e-3, 0.2)}, "ADAM + none", 0.15, rose,
                              {"difference": -0.05, "standard_error": 0.01, "within_noise": False}, 6,
                              winners_optimizer=True)
    assert "ADAM is the winner's own optimizer" in own
    assert "it beat the winner ADAM + none (0.200 against 0.150; +0.050 ± 0.010 (SE))" in own
    assert "came from" not in own and "may serve it better still" in own
    lower = describe_rate_probe("adam", 0.15, {"v": (9e-3, 0.2), "m": (3e-2, 0.1)}, "ADAM + none", 0.15, rose,
                                {"difference": -0.05, "standard_error": 0.01, "within_noise": False}, 6,
                                winners_optimizer=True)
    assert "not settled" not in lower and "The best of 2 rates tried was kept" in lower


def test_rate_probe_verdicts_pair_the_best_probe_with_the_grid_rate_and_the_winner():
    grid = pd.DataFrame({"optimizer": ["adam"] * 3 + ["sgd"] * 3, "scheduler": ["none"] * 6, "seed": [0, 1, 2] * 2,
                         "miou": [0.20, 0.22, 0.21, 0.08, 0.10, 0.09]})
    runs = pd.DataFrame({"optimizer": "sgd", "scheduler": "none", "seed": [0, 1, 2, 0, 1, 2],
                         "rule": ["v"] * 3 + ["m"] * 3, "probe_lr": [0.01] * 3 + [0.04] * 3,
                         "miou": [0.10, 0.12, 0.11, 0.13, 0.16, 0.14]})
    probes, gain, versus = rate_probe_verdicts(grid, runs, ("adam", "none"), "sgd")
    assert probes["m"] == pytest.approx((0.04, 0.143333), abs=1e-6)
    assert gain["difference"] == pytest.approx(0.143333 - 0.09, abs=1e-6) and gain["seeds"] == [0, 1, 2]
    assert versus["difference"] == pytest.approx(0.21 - 0.143333, abs=1e-6) and not versus["within_noise"]
    failed = runs.assign(miou=float("nan"))
    assert rate_probe_verdicts(grid, failed, ("adam", "none"), "sgd")[1:] == ({}, {})


def test_probe_means_averages_each_rule_and_marks_a_failed_rule():
    runs = pd.DataFrame({"rule": ["valley", "valley", "min", "min"], "probe_lr": [0.01, 0.01, 0.04, 0.04],
                         "miou": [0.1, 0.2, 0.3, float("nan")]})
    means = probe_means(runs)
    assert list(means) == ["valley", "min"] and means["valley"] == pytest.approx((0.01, 0.15))
    assert means["min"][0] == 0.04 and math.isnan(means["min"][1])
    assert math.isnan(probe_means(runs.drop(columns="miou"))["valley"][1])


def test_describe_why_winner_follows_the_end_of_the_loss():
    short = describe_why_winner("ADAM + none", False, 0.08, 6, 50)
    assert short.startswith("In this short grid the loss was still falling at the end (the training loss fell a "
                            "median 8% over the last of 6 epochs)")
    assert "why ADAM + none won here" in short and "trains this winner for 50 epochs" in short
    # a run of 07 not yet seen: a hypothesis, and the recipe stays the winner by the rule
    assert "may no longer hold" in short and "no longer holds" not in short and "reaches its floor" not in short
    assert "still the grid's winner, by the rule fixed in advance" in short
    noisy = describe_why_winner("ADAM + none", False, 0.08, 6, 50, noisy_low_enders=["ADAM + onecycle", "ADAM + cosine"])
    assert ("which would explain why ADAM + none leads; but its lead over ADAM + onecycle and ADAM + cosine is "
            "within the noise" in noisy) and "won here" not in noisy
    assert "for 50 epochs" not in describe_why_winner("ADAM + none", False, 0.08, 6, 6)
    assert "yet ADAM + cosine, which ends at a low rate, won" in describe_why_winner("ADAM + cosine", True, 0.08, 6, 50)
    assert "levelled off" in describe_why_winner("ADAM + cosine", True, 0.01, 6, 50)
    assert "did not help" in describe_why_winner("ADAM + none", False, 0.01, 6, 50)
    assert "no last-epoch fall" in describe_why_winner("ADAM + none", False, math.nan, 1, 50)


def test_verdict_lines_give_one_line_per_recipe():
    lines = verdict_lines("ADAM + none", {
        "ADAM + cyclic": {"difference": 0.023, "standard_error": 0.005, "within_noise": False},
        "ADAM + cosine": {"difference": 0.030, "standard_error": 0.02, "within_noise": True},
        "SGD + none": {"difference": 0.1, "standard_error": math.nan, "within_noise": False}})
    assert lines == ["ADAM + none − ADAM + cyclic: +0.023 ± 0.005 (SE) → within noise: no",
                     "ADAM + none − ADAM + cosine: +0.030 ± 0.020 (SE) → within noise: yes",
                     "ADAM + none − SGD + none: +0.100 ± nan (SE) → within noise: no standard error (one seed)"]
    beside = verdict_lines("ADAM + none", {
        "ADAM + cosine": {"difference": 0.030, "standard_error": 0.027, "unpaired_standard_error": 0.021,
                          "correlation": -0.78, "within_noise": True},
        "ADAM + cyclic": {"difference": 0.023, "standard_error": 0.011, "unpaired_standard_error": 0.021,
                          "correlation": math.nan, "within_noise": False}})
    assert beside == ["ADAM + none − ADAM + cosine: +0.030 ± 0.027 (SE) (unpaired 0.021, seed correlation -0.78) "
                      "→ within noise: yes",
                      "ADAM + none − ADAM + cyclic: +0.023 ± 0.011 (SE) (unpaired 0.021) → within noise: no"]


def test_describe_cyclic_run_names_the_highest_batch_and_where_the_top_lies():
    between = describe_cyclic_run("SGD", [5.69e-4, 2.24e-3, 6.45e-4] * 30, 2, 2.28e-3)
    assert between.startswith("SGD + cyclic: 2 whole cycle(s) of 45 batches; first batch at 5.69e-04 (the base), "
                              "highest batch at 2.24e-03 (the top of the triangle, 2.28e-03, falls between two "
                              "batches: half a cycle is 22.5 batches)")
    assert "peak" not in between and between.endswith("last batch at 6.45e-04, one step above the base it returns to")
    on_top = describe_cyclic_run("ADAM", [0.25, 0.625, 1.0, 0.625], 1, 1.0)
    assert "highest batch at 1.00e+00, the top of the triangle," in on_top and "between" not in on_top


def test_describe_loss_comparison_names_the_loss_ahead_and_the_confound():
    mse_ahead = describe_loss_comparison({"sgd": {"difference": -0.05, "within_noise": False},
                                          "adam": {"difference": -0.01, "within_noise": True}})
    assert mse_ahead.startswith("With SGD, MSE ahead of BCE by 0.050 mIoU (more than two standard errors); with ADAM, "
                                "MSE ahead of BCE by 0.010 mIoU (within the noise): the textbook case for BCE was not "
                                "borne out here.")
    assert "with SGD, BCE's larger gradients take larger steps" in mse_ahead
    assert "for Adam the comparison is nearly free of that confound" in mse_ahead
    assert "Adam" not in describe_loss_comparison({"sgd": {"difference": 0.05, "within_noise": True}})
    bce = describe_loss_comparison({"sgd": {"difference": 0.05, "within_noise": False}})
    assert "borne out with every optimizer" in bce
    noise = describe_loss_comparison({"sgd": {"difference": 0.05, "within_noise": True}})
    assert "do not show BCE's textbook advantage" in noise


def test_describe_shared_rate_flags_readings_within_a_factor_of_two():
    same = describe_shared_rate({"sgd": 9.10e-3, "adam": 8.96e-3})
    assert "SGD's 9.10e-03 and ADAM's 8.96e-03, lie within a factor of 2" in same and "nearly the same rate" in same
    assert same.endswith("in effect gave both one rate, and one rate suits one optimizer more than another.")
    assert describe_shared_rate({"sgd": 0.05, "adam": 8.96e-3}) == ""
    assert describe_shared_rate({"sgd": None, "adam": 8.96e-3}) == ""


def test_describe_shared_rate_names_the_optimizer_the_shared_rate_suits():
    rates = {"sgd": 9.10e-3, "adam": 8.96e-3}
    one = describe_shared_rate(rates, {"sgd": 0.78, "adam": 0.53})
    assert one.endswith("which suits ADAM here: SGD barely trained at it, above (training loss kept: SGD 78%, ADAM 53%).")
    both = describe_shared_rate(rates, {"sgd": 0.4, "adam": 0.5})
    assert "and both trained at it (training loss kept: SGD 40%, ADAM 50%)" in both and "suits" not in both.split(":")[-1]
    neither = describe_shared_rate(rates, {"sgd": 0.9, "adam": 0.95})
    assert "which suits neither here: both barely trained at it" in neither
    assert describe_shared_rate(rates, {"sgd": 0.78}).endswith("suits one optimizer more than another.")


def _verdict(difference, standard_error, unpaired, within_noise):
    return {"difference": difference, "standard_error": standard_error, "unpaired_standard_error": unpaired,
            "within_noise": within_noise, "runs": [3, 3]}


def test_describe_verdict_caveats_flags_an_inverted_pair_and_marginal_verdicts():
    text = describe_verdict_caveats({"ADAM + onecycle": _verdict(0.011, 0.024, 0.021, True),
                                     "ADAM + cyclic": _verdict(0.023, 0.0108, 0.021, False),
                                     "ADAM + cosine": _verdict(0.030, 0.027, 0.021, True)})
    first, second = text.split("\n")
    assert first.startswith("ADAM + cosine is further behind the winner (0.030) than ADAM + cyclic (0.023), yet it is "
                            "within the noise and ADAM + cyclic is not")
    assert first.endswith("so the verdicts do not say that ADAM + cyclic is worse than ADAM + cosine.")
    assert second == ("The verdict on ADAM + cyclic is marginal: the winner's lead is 2.1 standard errors, just past "
                      "the line of 2, on 3 seeds; without pairing it would be within the noise (0.023 < 2 × 0.021).")


def test_describe_verdict_caveats_branches():
    clear = {"A": _verdict(0.10, 0.01, 0.01, False), "B": _verdict(0.01, 0.02, 0.02, True)}
    assert describe_verdict_caveats(clear) == ""  # the recipe further behind is the one shown worse: nothing to add
    marginal_only = describe_verdict_caveats({"A": _verdict(0.046, 0.02, 0.02, False)})
    assert marginal_only == ("The verdict on A is marginal: the winner's lead is 2.3 standard errors, just past the "
                             "line of 2, on 3 seeds.")
    flip_to_shown = describe_verdict_caveats({"A": _verdict(0.03, 0.02, 0.01, True)})
    assert flip_to_shown == ("The verdict on A rests on the pairing: without pairing it would not be within the noise "
                             "(0.030 ≥ 2 × 0.010).")
    flip_to_noise = describe_verdict_caveats({"A": _verdict(0.03, 0.005, 0.02, False)})
    assert flip_to_noise == ("The verdict on A rests on the pairing: without pairing it would be within the noise "
                             "(0.030 < 2 × 0.020).")
    assert describe_verdict_caveats({"A": _verdict(0.03, math.nan, math.nan, False)}) == ""


def test_describe_forest_cost_gives_clock_and_cpu_time_per_run_and_batch():
    busy = describe_forest_cost(Timing(174, 39.6), 12, 108, Timing(154, 237), 30, 90)
    assert busy.startswith("Per run: forest 14.5 s on the clock, 3.3 s of CPU time (108 training batches, 31 ms of CPU "
                           "per training batch, validation included); street grid 5.1 s on the clock, 7.9 s of CPU "
                           "time (90 training batches, 88 ms of CPU per training batch, validation included).")
    assert ("0.42 × a street run in CPU time but 2.82 × on the clock: on the clock the forest runs took 4.39 × their "
            "CPU time, the street grid's runs 0.65 ×, so the forest runs waited more") in busy
    assert "The CPU time is the fair comparison" in busy
    assert busy.endswith("Per training batch (validation included) the forest took 0.35 × the street's CPU time.")
    more = describe_forest_cost(Timing(174, 39.6), 12, 108, Timing(154, 237), 30, 90, conv_share=0.17)
    assert more.endswith("the forest took 0.35 × the street's CPU time, against 0.17 × its convolution multiply-adds "
                         "per frame: more than its share of the convolution work (on tensors this small, the fixed "
                         "cost of each layer and the work around the convolutions weigh more).")
    about = describe_forest_cost(Timing(174, 39.6), 12, 108, Timing(154, 237), 30, 90, conv_share=0.32)
    assert about.endswith("against 0.32 × its convolution multiply-adds per frame: about its share of the convolution "
                          "work.")
    less = describe_forest_cost(Timing(174, 39.6), 12, 108, Timing(154, 237), 30, 90, conv_share=0.5)
    assert less.endswith("less than its share of the convolution work.")
    quiet_forest = describe_forest_cost(Timing(40, 39.6), 12, 108, Timing(400, 237), 30, 90)
    assert "the street grid's runs waited more" in quiet_forest
    even = describe_forest_cost(Timing(43, 39.6), 12, 108, Timing(250, 237), 30, 90)
    assert ("0.42 × a street run in CPU time and 0.43 × on the clock: on the clock the forest runs took 1.09 × their "
            "CPU time, the street grid's runs 1.05 ×, within 15% of each other, so the machine's load was about even") in even
    assert "fair" not in even
    # this run's times: 1.00 against 1.37 is uneven, though the two per-run ratios differ by less than 1.5
    street_waited = describe_forest_cost(Timing(38.4, 38.4), 12, 108, Timing(386.2, 282.0), 30, 90)
    assert "the street grid's runs 1.37 ×, so the street grid's runs waited more" in street_waited
    threaded = describe_forest_cost(Timing(38.4, 60.0), 12, 108, Timing(386.2, 700.0), 30, 90, threads=2)
    assert ("the street grid's runs 0.55 ×; with 2 threads, CPU time adds up over the threads, so these also measure "
            "how well each section's work spreads over them, not only the machine's load") in threaded
    assert "busier" not in threaded and "about even" not in threaded


def test_conv_multiply_adds_counts_convolutions_and_transposed_ones():
    convolution = torch.nn.Conv2d(3, 5, 3, padding=1)
    assert conv_multiply_adds(convolution, 4, 6) == 5 * 4 * 6 * 3 * 9  # each output value: 3 channels × 3×3
    transposed = torch.nn.ConvTranspose2d(4, 2, 2, stride=2)
    assert conv_multiply_adds(transposed, 3, 5, channels=4) == 4 * 3 * 5 * 2 * 4  # each input value meets 2 × 2×2
    model = torch.nn.Sequential(convolution, torch.nn.ReLU(), torch.nn.Conv2d(5, 2, 1)).train()
    assert conv_multiply_adds(model, 4, 6) == 5 * 4 * 6 * 27 + 2 * 4 * 6 * 5 and model.training
    assert not any(layer._forward_hooks for layer in model)  # the counting hooks are removed
    half = conv_multiply_adds(UNet(base=8, depth=3), 64, 64) / conv_multiply_adds(UNet(base=16, depth=4), 60, 80)
    assert 0.15 < half < 0.25  # half the width, 4096 pixels against 4800, one level fewer


def test_share_text_writes_simple_fractions_as_fractions():
    assert (share_text(2 / 3), share_text(1 / 3), share_text(0.25), share_text(0.6)) == ("2/3", "1/3", "1/4", "3/5")
    assert share_text(0.637) == "64%"


def test_timed_measures_clock_and_cpu_time():
    with timed() as idle:
        time.sleep(0.05)
    assert idle.wall >= 0.05 and idle.cpu < 0.04  # sleeping takes clock time, not CPU time
    with timed() as busy:
        sum(range(2_000_000))
    assert busy.cpu > 0 and busy.wall > 0


def test_describe_widest_spread_names_the_scattered_setting_and_its_worst_seed():
    grid = pd.DataFrame({"loss": ["bce"] * 3 + ["mse"] * 3, "optimizer": "sgd", "seed": [0, 1, 2] * 2,
                         "miou": [0.97, 0.765, 0.97, 0.96, 0.965, 0.964]})
    summary = summarize(grid, by=["loss", "optimizer"], metrics=["miou"])
    wide = describe_widest_spread(summary, grid, ["loss", "optimizer"])
    assert wide.startswith("BCE + SGD scatters most over the seeds: standard deviation 0.118")
    assert "its worst seed, 1, ended at 0.765 mIoU against a mean of 0.902" in wide
    calm = grid.assign(miou=[0.96, 0.95, 0.97, 0.961, 0.95, 0.968])
    assert describe_widest_spread(summarize(calm, by=["loss", "optimizer"], metrics=["miou"]), calm,
                                  ["loss", "optimizer"]).startswith("The settings scatter alike")


def test_describe_near_line_flags_a_verdict_on_the_line_or_one_that_pairing_decided():
    on_line = {"difference": 0.042349, "standard_error": 0.021225, "within_noise": True,
               "unpaired_standard_error": 0.020216, "correlation": -0.11}
    assert describe_near_line(on_line, "the gap") == (
        "The gap is 1.995 standard errors, just inside the line of 2; without pairing (unpaired SE 0.020, r -0.11) it "
        "would not be within the noise: these seeds do not settle it.")
    past = dict(on_line, difference=0.046, within_noise=False, unpaired_standard_error=0.01)
    assert describe_near_line(past, "the gap") == (
        "The gap is 2.17 standard errors, just past the line of 2: these seeds do not settle it.")
    far = dict(on_line, difference=0.1, within_noise=False, unpaired_standard_error=0.01)
    assert describe_near_line(far, "the gap") == ""
    pairing_only = dict(on_line, difference=0.03, unpaired_standard_error=0.01, correlation=float("nan"))
    assert describe_near_line(pairing_only, "the gap") == (
        "The gap is 1.41 standard errors; without pairing (unpaired SE 0.010) it would not be within the noise: "
        "these seeds do not settle it.")
    assert describe_near_line({"difference": 0.1, "standard_error": float("nan")}, "the gap") == ""


def test_describe_rate_probe_qualifies_a_verdict_on_the_line_right_after_it():
    probes = {"valley": (0.0356, 0.098), "min_div_10": (0.0356 * 3, 0.118), "10 × min_div_10": (0.356, 0.166)}
    gain = {"difference": 0.076, "standard_error": 0.010, "within_noise": False, "unpaired_standard_error": 0.02}
    versus = {"difference": 0.042349, "standard_error": 0.021225, "within_noise": True,
              "unpaired_standard_error": 0.020216, "correlation": -0.11}
    text = describe_rate_probe("sgd", 0.090, probes, "ADAM + none", 0.208, gain, versus, 6)
    flagged = ("The gap between ADAM + none and SGD at 3.56e-01 is 1.995 standard errors, just inside the line of 2; "
               "without pairing (unpaired SE 0.020, r -0.11) it would not be within the noise: these seeds do not "
               "settle it.")
    assert flagged in text and text.index("within two standard errors") < text.index(flagged)
    assert text.index("not level") < text.index(flagged) < text.index("The best of 3 rates tried was kept")
    assert "The best rate's lead" not in text  # 7.6 standard errors: nothing to flag
