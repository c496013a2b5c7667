"""04b_training_that_works: initialisation, the batch-norm sweep, regularisation, loss numerics.

Each verdict the notebook prints is recomputed here from the runs it recorded, so a sentence
cannot drift from the numbers under it.
"""

from __future__ import annotations

import math
import statistics

import pytest

LEARNED_OUTCOMES = {"larger", "smaller", "same", "only_with_norm", "only_without_norm", "none"}


def check(results: dict) -> None:
    assert (results["classes"], results["num_classes"], results["ignore_index"]) == ("gta9", 9, None)  # the streets' map
    setup = results["setup"]
    steps, seeds = setup["steps"], setup["seeds"]
    assert steps >= 4 and len(seeds) >= 2 and setup["train_images"] >= 2 and setup["regularisation_steps"] >= steps
    check_initialisation(results, steps)
    check_sweep(results, setup)
    check_weight_decay(results)
    check_regularisation(results, len(seeds))
    check_numerics(results)
    check_skipped_batches(results)
    check_loss_comparison(results, len(seeds))
    assert results["seconds"] > 0


def check_initialisation(results: dict, steps: int) -> None:
    rows = {(row["norm"], row["init"]): row for row in results["init_stats"]}
    assert set(rows) == {("batch", "default"), ("batch", "kaiming"), ("none", "default"), ("none", "kaiming")}
    bottleneck = results["bottleneck_layer"]
    for (norm, init), row in rows.items():
        layers = results["init_layers"][f"{norm}/{init}"]
        assert len(layers["std_before"]) == len(layers["std_after"]) == 23  # depth 4: 2 + 8 + 4 × 3 + 1 convolutions
        assert row["first conv std"] == pytest.approx(layers["std_before"][0])
        assert row["bottleneck std"] == pytest.approx(layers["std_before"][bottleneck])
        assert row["bottleneck / first"] == pytest.approx(row["bottleneck std"] / row["first conv std"])
        assert all(value > 0 for value in layers["std_before"])
    assert bottleneck == 9  # inc 2 + four Down blocks × 2 − 1
    # without normalisation PyTorch's default init shrinks the signal on the way down; batch norm stops the compounding
    assert rows["none", "default"]["bottleneck / first"] < 0.5
    assert rows["batch", "default"]["bottleneck / first"] > 2 * rows["none", "default"]["bottleneck / first"]
    assert rows["batch", "kaiming"][f"loss after {steps} steps"] < rows["batch", "kaiming"]["first loss"]


def check_sweep(results: dict, setup: dict) -> None:
    prior = results["prior_loss"]
    assert 0 < prior < math.log(9)  # the street classes are far from equally frequent
    sweep = results["sweep"]
    assert len(sweep) == 2 * len(setup["sweep_lrs"])
    margin = setup["learned_margin"]
    assert 0 < margin < 0.5
    for row in sweep:
        assert row["finite"] == (row["final"] is not None)
        assert row["learned"] == (row["finite"] and row["final"] < (1 - margin) * prior)  # clearly below the prior
        assert row["steps"] == setup["steps"] if row["finite"] else row["steps"] <= setup["steps"]
    verdict = results["sweep_verdict"]
    for norm in ("batch", "none"):
        for column, key in (("learned", "largest_learned"), ("finite", "largest_finite")):
            rates = [row["lr"] for row in sweep if row["norm"] == norm and row[column]]
            assert verdict[key][norm] == (max(rates) if rates else None)
    with_norm, without_norm = verdict["largest_learned"]["batch"], verdict["largest_learned"]["none"]
    expected = ("none" if with_norm is None and without_norm is None else "only_with_norm" if without_norm is None
                else "only_without_norm" if with_norm is None else "larger" if with_norm > without_norm
                else "smaller" if with_norm < without_norm else "same")
    assert verdict["outcome"] == expected and expected in LEARNED_OUTCOMES
    for norm, largest in (("batch", with_norm), ("none", without_norm)):  # the runs the verdict turns on
        rates = sorted(row["lr"] for row in sweep if row["norm"] == norm)
        deciding = verdict["deciding"][norm]
        assert (deciding["last_learned"] or {}).get("lr") == largest
        above = [rate for rate in rates if largest is None or rate > largest]
        assert (deciding["next"] or {}).get("lr") == (above[0] if above else None)
    assert isinstance(verdict["verdict"], str) and verdict["verdict"]  # the sweep's own words, not a later verdict
    finite_with, finite_without = verdict["largest_finite"]["batch"], verdict["largest_finite"]["none"]
    claimed = ("none" if finite_with is None and finite_without is None else "same" if finite_with == finite_without
               else "larger" if finite_without is None or (finite_with is not None and finite_with > finite_without)
               else "smaller")
    assert verdict["claim_outcome"] == claimed  # the outcome of the printed verdict, which questionnaire 6 checks
    # the printed claim rests on divergence; learning beyond the prior joins it only when clear of the margin
    assert ("Learning beyond the class prior, clear of the margin" in verdict["claim"]) == verdict["learned_clear"]
    for norm in ("batch", "none"):  # the runs that diverged, and the largest learned rate however the margin falls
        assert [run["lr"] for run in verdict["diverged"][norm]] == sorted(
            row["lr"] for row in sweep if row["norm"] == norm and not row["finite"])
        width = margin * prior
        for key, below in (("at_least", (1 - margin) * prior - width), ("at_most", (1 - margin) * prior + width)):
            rates = [row["lr"] for row in sweep if row["norm"] == norm and row["finite"] and row["final"] < below]
            assert verdict["learned_bounds"][norm][key] == (max(rates) if rates else None)
    # the lesson of the section: with batch norm the U-Net learns at some rate, and needs no smaller one
    assert with_norm is not None
    assert without_norm is None or without_norm <= with_norm


def check_weight_decay(results: dict) -> None:
    """Adam + L2 barely pulls a weight with large gradients and pulls hard on one with small gradients; AdamW takes
    the same share of both, the share that 100 multiplications by (1 − lr·λ) take off."""
    small, large = results["weight_decay_pulls"]["0.001"], results["weight_decay_pulls"]["100"]
    assert small["l2"] > 100 * large["l2"] > 0
    for pulls in (small, large):
        assert pulls["adamw"] / pulls["reference"] == pytest.approx(1 - (1 - 1e-4) ** 100, rel=0.05)


def check_regularisation(results: dict, seed_count: int) -> None:
    runs = results["regularisation"]
    settings = ["baseline", "Dropout2d", "Adam + L2", "AdamW", "rotation"]
    assert [row["setting"] for row in runs] == [name for name in settings for _ in range(seed_count)]
    for row in runs:
        assert 0 <= row["held_out_miou"] <= 1 and 0 <= row["train_miou"] <= 1
        assert 0 <= row["train_miou_batch_statistics"] <= 1 and row["final_loss"] > 0  # scored both ways; training loss
        assert row["gap"] == pytest.approx(row["train_miou"] - row["held_out_miou"])
    baseline = [row["train_miou"] for row in runs if row["setting"] == "baseline"]
    assert results["baseline_memorised"] == (statistics.mean(baseline) >= 0.8)
    for name, verdict in results["regularisation_verdicts"].items():
        check_verdict(verdict, runs, name, "baseline", "the baseline")
    for name, verdict in results["regularisation_gap_verdicts"].items():  # the gaps, seed by seed
        difference, error = paired(runs, "gap", name, "baseline")
        assert (verdict["difference"], verdict["standard_error"]) == pytest.approx((difference, error), abs=1e-9)
        assert verdict["within_noise"] == (abs(difference) < 2 * error)
    rotation = results["rotation"]
    assert 0.02 < rotation["ignored_share"] < 0.4
    assert rotation["nearest_keeps_classes"] is True
    assert 0 < rotation["linear_invented"] <= rotation["linear_changed"]
    assert rotation["linear_no_class"] > 0  # mixes of a class id with the border's 255


def paired(runs: list[dict], metric: str, first: str, second: str) -> tuple[float, float]:
    """The mean of the per-seed differences (first − second) and its standard error sd(d)/√n: settings share seeds."""
    scores = {name: {row["seed"]: row[metric] for row in runs if row["setting"] == name} for name in (first, second)}
    differences = [scores[first][seed] - scores[second][seed] for seed in scores[first] if seed in scores[second]]
    return statistics.mean(differences), statistics.stdev(differences) / math.sqrt(len(differences))


def check_verdict(verdict: dict, runs: list[dict], first: str, second: str, second_words: str) -> None:
    """The verdict's difference, standard error (seed by seed, as `paired_within_noise`) and words, recomputed."""
    difference, error = paired(runs, "held_out_miou", first, second)
    assert verdict["difference"] == pytest.approx(difference, abs=1e-9)
    assert verdict["standard_error"] == pytest.approx(error, abs=1e-9)
    assert verdict["within_noise"] == (abs(difference) < 2 * error)
    if verdict["within_noise"]:
        assert verdict["verdict"].startswith("not shown by these runs")
    else:
        better = "better" if difference > 0 else "worse"
        assert verdict["verdict"] == f"{better} than {second_words} by more than two standard errors"


def check_numerics(results: dict) -> None:
    rows = {row["gap"]: row for row in results["numerics"]}
    assert sorted(rows) == [2.0, 20.0, 100.0, 120.0]
    for gap in (2.0, 20.0):
        assert rows[gap]["by_hand"] == pytest.approx(rows[gap]["library"], rel=1e-4)
        assert rows[gap]["by_hand_gradient_finite"] is True
    assert rows[100.0]["by_hand"] is not None and rows[100.0]["by_hand_gradient_finite"] is False  # finite loss, NaN grad
    assert rows[120.0]["by_hand"] is None and rows[120.0]["probability"] == 0.0  # inf is recorded as None
    for gap, row in rows.items():
        assert row["library"] == pytest.approx(gap + math.log(1 + 2 * math.exp(-gap)) if gap < 50 else gap, rel=1e-5)
        assert row["library_gradient_finite"] is True


def check_skipped_batches(results: dict) -> None:
    runs = results["skip_runs"]
    assert len(results["unscaled_frames"]) == 2
    library, hand = runs["none/F.cross_entropy"], runs["none/by hand"]
    assert library["stopped"] == "" and library["skipped"] == 0 and library["weights_finite"] is True
    # the loss on logits shows the unscaled frames: batch losses far above what batch norm lets through
    assert library["largest_finite_batch_loss"] > 2 * runs["batch/F.cross_entropy"]["largest_finite_batch_loss"]
    # the hand-written one either skipped them quietly or poisoned the weights through a finite loss's NaN gradient
    if hand["stopped"]:
        assert hand["weights_finite"] is False
    else:
        assert hand["skipped"] > 0 and max(hand["epoch_losses"]) < max(library["epoch_losses"])
    assert results["fail_fast_stopped"] is True


def check_loss_comparison(results: dict, seed_count: int) -> None:
    rows = results["loss_comparison"]
    assert [row["setting"] for row in rows] == ["baseline", "MSE on softmax"]
    assert all(row["runs"] == seed_count for row in rows)
    baseline = [row for row in results["regularisation"] if row["setting"] == "baseline"]
    assert rows[0]["held_out_miou_mean"] == pytest.approx(statistics.mean(row["held_out_miou"] for row in baseline))
    verdict = results["loss_verdict"]
    mse_mean, mse_std = rows[1]["held_out_miou_mean"], rows[1]["held_out_miou_std"]
    assert verdict["difference"] == pytest.approx(mse_mean - rows[0]["held_out_miou_mean"])
    # seed by seed: the per-seed MSE runs are not recorded, but sd(d) cannot exceed the two spreads added
    assert 0 <= verdict["standard_error"] <= (mse_std + rows[0]["held_out_miou_std"]) / math.sqrt(seed_count) + 1e-9
    assert verdict["within_noise"] == (abs(verdict["difference"]) < 2 * verdict["standard_error"])
    fit = results["loss_fit_verdict"]  # the training mIoU, seed by seed
    assert fit["difference"] == pytest.approx(rows[1]["train_miou_mean"] - rows[0]["train_miou_mean"])
    assert fit["within_noise"] == (abs(fit["difference"]) < 2 * fit["standard_error"])
    words = verdict["verdict"]
    assert words.startswith("not shown") if verdict["within_noise"] else words.endswith(
        "than cross-entropy by more than two standard errors")
