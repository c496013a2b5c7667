"""helpers.diagnostics: activation statistics per layer, short runs that stop at a NaN, the class-prior loss."""

from __future__ import annotations

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from helpers.diagnostics import (
    activation_stats,
    agreement,
    claim_outcome,
    class_prior_loss,
    conv_layers,
    describe_activation_growth,
    describe_decay_pulls,
    describe_floor_crossing,
    describe_gap_closers,
    describe_gaps,
    describe_init_losses,
    describe_loss_comparison,
    describe_memorising,
    describe_rotation,
    describe_street_marks,
    describe_sweep,
    describe_sweep_claim,
    describe_without_norm,
    direction_is_clear,
    fit_report,
    label_interpolation_errors,
    learned_bounds,
    learned_is_clear,
    loss_summary,
    other_label_counts,
    other_labels_floor,
    other_labels_majority,
    plot_batch_losses,
    plot_label_rotation,
    plot_lr_sweep,
    score_short_run,
    sweep_outcome_text,
    sweep_verdict,
    train_steps,
    with_batch_statistics,
)
from helpers.models import UNet


def conv_stack(layers: int, init: str) -> nn.Sequential:
    """`layers` × (3×3 conv 64 → 64, no bias, no padding → ReLU), initialised by PyTorch ("default") or He ("kaiming")."""
    modules = []
    for _ in range(layers):
        conv = nn.Conv2d(64, 64, kernel_size=3, bias=False)  # no padding: no zeros at the border
        if init == "kaiming":
            nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
        modules += [conv, nn.ReLU()]
    return nn.Sequential(*modules)


def test_conv_layers_follow_the_unet_forward_path():
    names = [name for name, _ in conv_layers(UNet(3, 4, base=4, depth=2))]
    # inc 2, two downs × 2, two ups × (1 up-convolution + 2), the head
    assert len(names) == 13
    assert names[0] == "inc.double_conv.0" and names[-1] == "outc.conv"
    assert names.index("ups.0.up") == 6 and names.index("ups.1.up") == 9


def test_activation_stats_are_the_convolution_outputs_mean_and_std():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1))
    images = torch.rand(5, 3, 9, 9)
    stats = activation_stats(model, images)
    assert list(stats["name"]) == ["0", "3"] and list(stats["layer"]) == [0, 1]
    with torch.no_grad():
        first = model[0](images)
        second = model[3](model[2](F.batch_norm(first, None, None, training=True)))
    for row, output in zip(stats.itertuples(), (first, second)):
        assert row.mean == pytest.approx(output.mean().item(), abs=1e-6)
        assert row.std == pytest.approx(output.std().item(), rel=1e-5)
        assert row.rms == pytest.approx(output.pow(2).mean().sqrt().item(), rel=1e-5)
    # the model itself is untouched: its batch norm has not seen the batch
    assert torch.equal(model[1].running_mean, torch.zeros(4)) and int(model[1].num_batches_tracked) == 0


def test_default_init_shrinks_the_signal_by_sqrt6_per_layer_and_he_init_keeps_it():
    images = torch.randn(2, 64, 40, 40)
    ratios = {}
    for init in ("default", "kaiming"):
        torch.manual_seed(0)
        stds = activation_stats(conv_stack(8, init), images)["rms"].to_numpy()
        ratios[init] = stds[7] / stds[1]  # six layers apart, after the first ReLU
    assert ratios["default"] == pytest.approx((1 / math.sqrt(6)) ** 6, rel=0.5)  # ≈ 1/216
    assert 0.5 < ratios["kaiming"] < 2


def test_without_batch_norm_the_unet_default_init_loses_its_signal_at_the_bottleneck():
    images = torch.rand(4, 3, 32, 32)
    bottleneck = {}
    for norm in ("batch", "none"):
        for init in ("default", "kaiming"):
            torch.manual_seed(0)
            stats = activation_stats(UNet(3, 9, base=8, norm=norm, init=init), images)
            deepest = stats[stats["name"].str.startswith("downs.")].iloc[-1]
            bottleneck[norm, init] = deepest["std"] / stats["std"].iloc[0]
    assert bottleneck["none", "default"] < 0.15
    assert bottleneck["none", "default"] < 0.5 * bottleneck["none", "kaiming"]
    # with batch norm every layer starts from a normalised input: no shrinking from layer to layer
    assert bottleneck["batch", "default"] > 0.5 and bottleneck["batch", "kaiming"] > 0.5


def test_train_steps_cycles_through_the_loader_and_learns():
    torch.manual_seed(0)
    inputs = torch.randn(6, 2, 1, 1)
    targets = (inputs[:, 0, 0, 0] > inputs[:, 1, 0, 0]).long()[:, None, None].expand(6, 1, 1).contiguous()
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=3)  # two batches
    model = nn.Conv2d(2, 2, 1)
    losses = train_steps(model, loader, F.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.5), steps=7)
    assert len(losses) == 7 and all(math.isfinite(loss) for loss in losses)
    assert np.mean(losses[-2:]) < np.mean(losses[:2])


def test_train_steps_stops_at_the_first_non_finite_loss_without_stepping():
    loader = DataLoader(TensorDataset(torch.ones(4, 1, 1, 1), torch.zeros(4, 1, 1, dtype=torch.long)), batch_size=2)
    model = nn.Conv2d(1, 2, 1)
    calls = []

    def loss_that_breaks(logits, target):
        calls.append(1)
        loss = F.cross_entropy(logits, target)
        return loss * math.inf if len(calls) == 3 else loss

    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = train_steps(model, loader, loss_that_breaks, optimizer, steps=10)
    assert len(losses) == 3 and math.isinf(losses[-1]) and all(math.isfinite(v) for v in losses[:2])
    weights = model.weight.detach().clone()
    assert torch.isfinite(weights).all()  # the infinite loss was never back-propagated
    with pytest.raises(ValueError, match="at least 1"):
        train_steps(model, loader, F.cross_entropy, optimizer, steps=0)


def test_loss_summary():
    summary = loss_summary([2.0, 1.5, 1.0, 0.8, 0.6, 0.4], window=2)
    assert summary == {"first": 2.0, "final": 0.5, "peak": 2.0, "finite": True, "steps": 6}
    broken = loss_summary([2.0, 9.0, math.inf])
    assert broken["finite"] is False and math.isnan(broken["final"]) and broken["peak"] == 9.0


def test_class_prior_loss_is_the_cross_entropy_of_predicting_the_frequencies():
    assert class_prior_loss([5, 5, 5, 5, 5, 5, 5, 5, 5]) == pytest.approx(math.log(9))
    assert class_prior_loss([7, 0, 0]) == 0.0
    counts = torch.tensor([6, 3, 1, 0])
    target = torch.repeat_interleave(torch.arange(4), counts).view(1, 10, 1)
    frequencies = counts.float() / counts.sum()
    logits = torch.log(frequencies.clamp_min(1e-12)).view(1, 4, 1, 1).expand(1, 4, 10, 1)
    assert class_prior_loss(counts) == pytest.approx(F.cross_entropy(logits, target).item(), rel=1e-6)
    with pytest.raises(ValueError, match="non-negative"):
        class_prior_loss([0, 0])


def labels(*rows: list[int]) -> torch.Tensor:
    """Images of one row of pixels each, from their class ids."""
    return torch.tensor([[row] for row in rows])


def test_other_labels_floor_is_the_entropy_of_the_other_labels():
    targets = labels([0, 0], [0, 1], [1, 1])
    # image 0 meets {0, 1} and {1, 1}; image 1 {0, 1} twice; image 2 {0, 0} and {0, 1}: four pixels of ln 2 in six
    assert other_labels_floor(targets, 2) == pytest.approx(4 * math.log(2) / 6)
    # ignored pixels are labels no one is trained on: image 1's second pixel leaves 10 labels met, 6 of them ln 2
    targets[1, 0, 1] = 255
    assert other_labels_floor(targets, 2, ignore_index=255) == pytest.approx(6 * math.log(2) / 10)


def test_other_labels_floor_is_the_lowest_loss_a_network_blind_to_its_image_reaches():
    generator = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 3, (4, 5, 6), generator=generator)
    shares = other_label_counts(targets, 3).float() / 3  # the best prediction: the other labels' frequencies
    losses = [F.nll_loss(shares.clamp(min=1e-12).log(), targets[(torch.arange(4) + shift) % 4]) for shift in (1, 2, 3)]
    assert float(torch.stack(losses).mean()) == pytest.approx(other_labels_floor(targets, 3), rel=1e-5)
    # with two images each is always paired with the other: nothing is uncertain, the floor is 0
    assert other_labels_floor(targets[:2], 3) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="N ≥ 2"):
        other_labels_floor(targets[:1], 3)


def test_a_network_blind_to_its_image_scores_at_least_the_floor_against_the_true_labels():
    # its best prediction is the same at each pixel for every image: the shares of all the labels there, whose
    # entropy is at least the mean entropy of the leave-one-out shares (entropy is concave)
    for seed in range(5):
        targets = torch.randint(0, 4, (10, 3, 4), generator=torch.Generator().manual_seed(seed))
        shares = F.one_hot(targets, 4).float().mean(dim=0).movedim(-1, 0)  # (C, H, W), the same for every image
        blind_loss = F.nll_loss(shares.clamp(min=1e-12).log()[None].expand(10, -1, -1, -1), targets)
        assert float(blind_loss) >= other_labels_floor(targets, 4) - 1e-6


def test_other_labels_majority_leaves_each_image_its_own_label_out():
    # two images of class 0, two of class 1: each image's other labels hold more of the other class
    assert other_labels_majority(labels([0], [0], [1], [1]), 2)[:, 0, 0].tolist() == [1, 1, 0, 0]
    street = other_labels_majority(labels([0, 2], [0, 2], [0, 1], [3, 2]), 4)
    assert street[:, 0].tolist() == [[0, 2], [0, 2], [0, 2], [0, 2]]


def test_agreement_counts_the_labelled_pixels_only():
    prediction, target = torch.tensor([[0, 1, 2, 3]]), torch.tensor([[0, 1, 0, 255]])
    assert agreement(prediction, target) == pytest.approx(0.5)
    assert agreement(prediction, target, ignore_index=255) == pytest.approx(2 / 3)


def sweep_rows(learned: dict[str, list[float]], rates=(0.1, 1.0, 10.0)) -> pd.DataFrame:
    """A sweep table in which the rates listed per norm learned and every other run stayed finite, above the prior."""
    rows = [{"norm": norm, "lr": lr, "first": 2.0, "final": 1.0 - lr / 100 if lr in learned[norm] else 1.5,
             "finite": True, "learned": lr in learned[norm]} for norm in ("batch", "none") for lr in rates]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("learned", "outcome", "text"), [
    ({"batch": [0.1, 1.0], "none": [0.1]}, "larger",
     "batch norm allowed a LARGER learning rate, 10× the largest without it"),
    ({"batch": [0.1], "none": [0.1, 1.0]}, "smaller", "here batch norm needed a SMALLER learning rate"),
    ({"batch": [1.0], "none": [0.1, 1.0]}, "same",
     "the largest rate that learned is the same with and without batch norm"),
    ({"batch": [10.0], "none": []}, "only_with_norm",
     "only with batch norm did any of these rates learn beyond the class prior"),
    ({"batch": [], "none": [0.1]}, "only_without_norm",
     "only without batch norm did any of these rates learn beyond the class prior"),
    ({"batch": [], "none": []}, "none",
     "no run learned beyond the class prior, with or without batch norm: give more STEPS"),
])
def test_sweep_verdict_compares_the_largest_rate_that_learned_and_says_so(learned, outcome, text):
    facts = sweep_verdict(sweep_rows(learned))
    assert facts["outcome"] == outcome and sweep_outcome_text(facts) == text
    for norm in ("batch", "none"):
        assert facts["largest_learned"][norm] == (max(learned[norm]) if learned[norm] else None)
        assert facts["largest_finite"][norm] == 10.0


def test_sweep_verdict_best_rate_leaves_the_runs_that_blew_up_out():
    sweep = sweep_rows({"batch": [0.1, 1.0], "none": []})
    sweep.loc[(sweep.norm == "batch") & (sweep.lr == 1.0), ["final", "finite", "learned"]] = [np.nan, False, False]
    sweep.loc[sweep.norm == "none", ["final", "finite"]] = [np.nan, False]
    facts = sweep_verdict(sweep)
    assert facts["best_lr"] == {"batch": 0.1, "none": None} and facts["best_final"]["batch"] == pytest.approx(0.999)
    assert math.isnan(facts["best_final"]["none"]) and facts["largest_finite"] == {"batch": 10.0, "none": None}


def assert_readable(fig) -> None:
    """Every panel with pictures of data has a title, both axis labels and a legend."""
    for ax in fig.axes:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None


def assert_legends_beside_their_panels(fig) -> None:
    """Each legend lies right of or below its panel, so it hides none of the lines and markers."""
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    for ax in fig.axes:
        legend, panel = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
        assert legend.x0 >= panel.x1 or legend.y1 <= panel.y0, ax.get_title()


def test_sweep_verdict_names_the_runs_the_outcome_turns_on():
    sweep = sweep_rows({"batch": [0.1, 1.0], "none": [0.1]})
    sweep.loc[(sweep.norm == "none") & (sweep.lr == 1.0), ["final", "finite"]] = [np.nan, False]
    deciding = sweep_verdict(sweep)["deciding"]
    assert deciding["batch"] == {"last_learned": {"lr": 1.0, "final": pytest.approx(0.99), "finite": True},
                                 "next": {"lr": 10.0, "final": 1.5, "finite": True}}
    assert deciding["none"]["last_learned"]["lr"] == 0.1 and deciding["none"]["next"]["lr"] == 1.0
    assert deciding["none"]["next"]["finite"] is False and math.isnan(deciding["none"]["next"]["final"])
    nothing = sweep_verdict(sweep_rows({"batch": [10.0], "none": []}))["deciding"]
    assert nothing["batch"] == {"last_learned": {"lr": 10.0, "final": pytest.approx(0.9), "finite": True}, "next": None}
    assert nothing["none"]["last_learned"] is None and nothing["none"]["next"]["lr"] == 0.1


def test_describe_sweep_names_the_largest_rates_and_the_runs_the_verdict_turns_on():
    sweep = sweep_rows({"batch": [0.1, 1.0], "none": [0.1]})  # learned: final 1 − lr/100; the rest end at 1.5
    sweep.loc[(sweep.norm == "none") & (sweep.lr == 1.0), ["final", "finite"]] = [np.nan, False]
    lines = describe_sweep(sweep_verdict(sweep), prior_loss=1.2, margin=0.05, top_rate=10.0).split("\n")
    assert lines[0] == ("Largest rate whose run ended finite and 5% or more below the class-prior loss: with batch norm "
                        "1, without 0.1 → batch norm allowed a LARGER learning rate, 10× the largest without it.")
    assert lines[1].startswith("Largest rate whose run merely stayed finite: with batch norm 10 (the top of the range: "
                               "the limit lies higher), without 10 (the top of the range: the limit lies higher) (finite")
    assert lines[2:4] == ["", "The runs the verdict turns on (one seed each; the line: 5% below the class-prior loss 1.200):"]
    assert lines[4] == ("  with batch norm: the largest that learned, lr 1 ended at 0.990, 17.5% below the class-prior "
                        "loss; the next rate, lr 10 ended at 1.500, 25.0% above the class-prior loss")
    assert lines[5] == ("  without batch norm: the largest that learned, lr 0.1 ended at 0.999, 16.8% below the "
                        "class-prior loss; the next rate, lr 1 ended in NaN or inf")
    assert lines[6] == ("The nearest of them ended 0.141 from the line (the margin is 0.060): farther than the margin, "
                        "though with one run per rate that is no measurement of the noise between seeds.")
    assert len(lines) == 7


def test_describe_sweep_falls_back_on_the_closest_run_and_flags_a_run_near_the_line():
    sweep = sweep_rows({"batch": [10.0], "none": []})
    sweep.loc[(sweep.norm == "none") & (sweep.lr == 1.0), "final"] = 1.2  # the closest run without batch norm
    text = describe_sweep(sweep_verdict(sweep), prior_loss=1.0, margin=0.05, top_rate=100.0)
    assert ("with batch norm 10, without none of the rates → on this line alone, only with batch norm did any of these "
            "rates learn beyond the class prior — but a deciding run ended within the margin of it (last line), so "
            "another seed could change this reading.") in text
    assert ("  with batch norm: the largest that learned, lr 10 ended at 0.900, 10.0% below the class-prior loss; "
            "no larger rate was tried") in text.split("\n")
    assert ("  without batch norm: no rate learned; the closest, lr 1 ended at 1.200, 20.0% above the class-prior "
            "loss") in text.split("\n")
    assert text.endswith("The nearest of them ended 0.050 from the line (the margin is 0.050): closer than the margin, "
                         "so the verdict rests on a run that another seed could put on the other side.")
    assert "(the top of the range" not in text


def test_describe_decay_pulls_compares_the_pulls_on_small_and_large_gradients():
    small = {"reference": 1.0, "l2": 0.5, "adamw": 0.01}
    large = {"reference": 0.5, "l2": 0.001, "adamw": 0.005}
    assert describe_decay_pulls(small, large) == (
        "Adam + L2 pulled the weight with small gradients 0.5000 below its reference and the one with large gradients "
        "0.001: 500× less.\nAdamW took 1.000% and 1.000% of the two weights' reference values, the same share; "
        "1 − (1 − lr·λ)^100 = 0.995%.")
    text = describe_decay_pulls({**small, "l2": 0.0005}, {**large, "adamw": 0.05}, lr=0.1, decay=0.1, steps=10)
    assert ": no less.\n" in text and "different shares; 1 − (1 − lr·λ)^10 = 9.562%." in text


def test_plot_lr_sweep_draws_each_final_loss_and_marks_the_runs_that_blew_up():
    sweep = sweep_rows({"batch": [0.1, 1.0], "none": [0.1]})
    sweep.loc[5, ["final", "finite", "learned"]] = [np.nan, False, False]  # none, lr 10
    curves = [[2.0, 1.5, row.final] if row.finite else [2.0, np.inf] for row in sweep.itertuples()]
    fig = plot_lr_sweep(sweep, curves, prior_loss=1.2, optimizer_name="sgd", steps=3, learned_below=1.1)
    assert len(fig.axes) == 3
    assert_readable(fig)
    assert_legends_beside_their_panels(fig)
    assert fig.axes[0].get_ylabel() == "mean loss over the last 3 of 3 steps"
    finals = {line.get_label(): list(line.get_ydata()) for line in fig.axes[0].get_lines()}
    assert finals["with batch norm: final loss"] == list(sweep.final[:3])
    assert "without batch norm: NaN or inf (drawn at the top)" in [c.get_label() for c in fig.axes[0].collections]
    assert finals["learned: a final loss below this"] == [1.1, 1.1]
    labels = [line.get_label() for line in fig.axes[2].get_lines()]
    assert "lr 10, NaN/inf at step 2" in labels and "class-prior loss" in labels
    plt.close(fig)


def test_learned_is_clear_only_when_every_deciding_run_ended_a_margin_from_the_line():
    sweep = sweep_rows({"batch": [0.1, 1.0], "none": [0.1]})  # nearest run: 0.141 from the line, margin 0.060
    assert learned_is_clear(sweep_verdict(sweep), prior_loss=1.2, margin=0.05) is True
    near = sweep_rows({"batch": [0.1, 1.0], "none": [0.1]})
    near.loc[(near.norm == "batch") & (near.lr == 10.0), "final"] = 1.25  # the next rate above, 0.11 over the line 1.14
    assert learned_is_clear(sweep_verdict(near), prior_loss=1.2, margin=0.05) is True
    near.loc[(near.norm == "batch") & (near.lr == 10.0), "final"] = 1.15  # 0.01 over it: another seed could cross
    assert learned_is_clear(sweep_verdict(near), prior_loss=1.2, margin=0.05) is False


def test_describe_sweep_claim_rests_on_divergence_and_adds_learning_only_when_clear():
    sweep = sweep_rows({"batch": [0.1, 1.0], "none": [0.1]})
    sweep.loc[(sweep.norm == "none") & (sweep.lr >= 1.0), ["final", "finite"]] = [np.nan, False]
    facts = sweep_verdict(sweep)  # finite up to 10 with batch norm, up to 0.1 without
    first, second = describe_sweep_claim(facts, True, "sgd", 30, top_rate=10.0).split("\n")
    assert first == ("This sweep (sgd, 30 steps, one seed): the loss stayed finite up to lr 10 (the top of the range: "
                     "the limit lies higher) with batch norm and up to 0.1 without it; without batch norm lr 1 and 10 diverged. Batch norm "
                     "tolerated the larger learning rates: this does not support the course report's 'allows a smaller "
                     "learning rate' (the sweep shows larger rates allowed, and nothing that needs a smaller one) and "
                     "agrees with Ioffe and Szegedy.")
    assert second == ("Learning beyond the class prior, clear of the margin in every deciding run: batch norm allowed a "
                      "LARGER learning rate, 10× the largest without it.")
    unclear = describe_sweep_claim(facts, False, "sgd", 30, top_rate=10.0).split("\n")
    assert unclear[0] == first and unclear[1].startswith("Whether the runs learned beyond the class prior is not clear")
    swapped = sweep.assign(norm=sweep.norm.map({"batch": "none", "none": "batch"}))
    assert "this agrees with the course report's" in describe_sweep_claim(sweep_verdict(swapped), False, "sgd", 30, 10.0)
    finite = sweep_rows({"batch": [0.1], "none": [0.1]})
    assert "divergence does not separate the two here" in describe_sweep_claim(sweep_verdict(finite), False, "sgd", 30, 10.0)
    broken = finite.assign(final=np.nan, finite=False, learned=False)
    assert "every run ended in NaN or inf" in describe_sweep_claim(sweep_verdict(broken), False, "sgd", 30, 10.0)


def test_the_sweep_claim_names_the_runs_that_diverged_and_their_step():
    sweep = sweep_rows({"batch": [0.1, 1.0], "none": [0.1]}).assign(steps=30)
    sweep.loc[(sweep.norm == "none") & (sweep.lr >= 1.0), ["final", "finite", "steps"]] = [np.nan, False, 15]
    sweep.loc[(sweep.norm == "none") & (sweep.lr == 10.0), "steps"] = 4
    facts = sweep_verdict(sweep)
    assert facts["diverged"] == {"batch": [], "none": [{"lr": 1.0, "steps": 15}, {"lr": 10.0, "steps": 4}]}
    assert ("up to 0.1 without it; without batch norm lr 1 and 10 diverged (NaN or inf at steps 15 and 4). Batch norm"
            in describe_sweep_claim(facts, True, "sgd", 30, top_rate=10.0))
    finite = sweep_verdict(sweep.assign(final=1.0, finite=True))
    assert "; no run diverged" not in describe_sweep_claim(finite, True, "sgd", 30, 10.0)  # 'same': no divergence text


def test_learned_bounds_settle_the_direction_when_no_run_within_the_margin_can_flip_it():
    # a quick run (seed 0): the line 1.220 (margin 0.064); batch norm's lr 3 (1.163) and no-norm lr 0.03/0.1 within it
    sweep = pd.DataFrame({"norm": ["batch"] * 3 + ["none"] * 3, "lr": [0.3, 1.0, 3.0, 0.01, 0.03, 0.1],
                          "final": [0.52, 0.54, 1.163, 1.29, 1.253, 1.266], "finite": [True] * 6})
    sweep["learned"] = sweep["final"] < 0.95 * 1.284
    bounds = learned_bounds(sweep, prior_loss=1.284, margin=0.05)
    assert bounds == {"batch": {"at_least": 1.0, "at_most": 3.0}, "none": {"at_least": None, "at_most": 0.1}}
    assert direction_is_clear(bounds)
    facts = sweep_verdict(sweep)
    claim = describe_sweep_claim(facts, False, "sgd", 30, 3.0, bounds=bounds).split("\n")[1]
    assert claim == ("Learning beyond the class prior: a deciding run ended within the margin, so another seed could move "
                     "the exact rates, but not the direction: with batch norm a rate of 1 or more learned, without batch "
                     "norm at most 0.1 could have, even with every run within the margin put on the other side of the "
                     "line: batch norm allowed the larger learning rate.")
    text = describe_sweep(facts, 1.284, 0.05, 3.0, bounds=bounds)
    assert "but not the direction" in text and "another seed could change this reading" not in text
    assert text.endswith("(the exact rates, not the direction: see the first line).")
    sweep.loc[sweep.lr == 1.0, "final"] = 1.2  # now batch norm's lr 1 is within the margin too: 0.3 against 0.1, still clear
    assert direction_is_clear(learned_bounds(sweep, 1.284, 0.05))
    sweep.loc[sweep.lr == 0.3, "final"] = 1.2  # nothing clearly learned with batch norm: the direction could flip
    bounds = learned_bounds(sweep, 1.284, 0.05)
    assert not direction_is_clear(bounds)
    assert describe_sweep_claim(sweep_verdict(sweep), False, "sgd", 30, 3.0, bounds=bounds).split("\n")[1].startswith(
        "Whether the runs learned beyond the class prior is not clear of the margin")


def test_describe_memorising_branches_on_the_baseline_training_score():
    assert describe_memorising(0.92, 0.65, steps=210, frames=8) == (
        "In 210 steps the baseline got near memorising its 8 training frames (training mIoU 0.920) and scored 0.650 "
        "less on the held-out frames: a gap regularisation can try to close.")
    short = describe_memorising(0.17, 0.03, steps=30, frames=8)
    assert short.startswith("In 30 steps the baseline did not get near memorising its 8 training frames (training "
                            "mIoU 0.170, under 0.8; gap 0.030)") and short.endswith("Raise REGULARISATION_STEPS to see the rest.")


def test_label_interpolation_errors_tells_changed_invented_and_no_class_pixels_apart():
    nearest = np.array([[2, 2, 6, 6, 255], [0, 0, 0, 0, 0]], dtype=np.uint8)
    linear = np.array([[2, 6, 4, 6, 255], [0, 0, 0, 0, 128]], dtype=np.uint8)
    errors = label_interpolation_errors(nearest, linear, num_classes=9, ignore_index=255)
    # (0,1) became 6, a class next to it: changed; (0,2) became 4, which no neighbour has: invented; (1,4): no class
    assert np.argwhere(errors["changed"]).tolist() == [[0, 1], [0, 2], [1, 4]]
    assert np.argwhere(errors["invented"]).tolist() == [[0, 2]]
    assert np.argwhere(errors["no_class"]).tolist() == [[1, 4]]
    assert (errors["linear_changed"], errors["linear_invented"], errors["linear_no_class"]) == (3, 1, 1)
    assert errors["linear_no_class_border"] == 0  # (1,4) is labelled 0 in the nearest-neighbour label
    on_border = label_interpolation_errors(nearest, np.where(nearest == 255, 200, linear).astype(np.uint8), 9, 255)
    assert (on_border["linear_no_class"], on_border["linear_no_class_border"]) == (2, 1)
    assert errors["most_invented"] == 4
    assert label_interpolation_errors(nearest, nearest, 9, 255)["most_invented"] is None


def test_plot_label_rotation_titles_every_panel_and_adds_the_class_legend():
    picture = np.zeros((4, 5, 3), dtype=np.uint8)
    fig = plot_label_rotation([(picture, "the frame"), (picture, "label")], "gta9", title="Rotating")
    assert [ax.get_title() for ax in fig.axes] == ["the frame", "label"] and fig.get_suptitle() == "Rotating"
    assert fig.legends and "road" in " ".join(text.get_text() for text in fig.legends[0].get_texts())
    plt.close(fig)


def tiny_loader(seed: int, count: int = 4) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(TensorDataset(torch.rand(count, 3, 8, 8, generator=generator),
                                    torch.randint(0, 3, (count, 8, 8), generator=generator)), batch_size=2)


def test_score_short_run_trains_then_scores_train_and_held_out_frames():
    from helpers.train import evaluate

    torch.manual_seed(0)
    model = UNet(3, 3, base=4, depth=2)
    loaders = {"train": tiny_loader(0), "held_out": tiny_loader(1)}
    run = score_short_run(model, tiny_loader(0), F.cross_entropy, torch.optim.Adam(model.parameters(), lr=1e-2), 6,
                          loaders, 3)
    assert len(run["losses"]) == 6 and run["final_loss"] == pytest.approx(np.mean(run["losses"][-5:]))
    train, held_out = (evaluate(model, loaders[name], 3) for name in ("train", "held_out"))
    assert run["train_miou"] == pytest.approx(train["miou"]) and run["held_out_miou"] == pytest.approx(held_out["miou"])
    assert run["train_miou"] != pytest.approx(run["held_out_miou"])
    assert run["gap"] == pytest.approx(train["miou"] - held_out["miou"])
    assert run["held_out_accuracy"] == pytest.approx(held_out["pixel_accuracy"])
    assert run["train_miou_batch_statistics"] == pytest.approx(evaluate(with_batch_statistics(model), loaders["train"], 3)["miou"])


def test_with_batch_statistics_normalises_by_the_batch_in_evaluation_mode_and_leaves_the_model_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout2d(0.5)).eval()
    with torch.no_grad():
        model[1].running_mean.fill_(5.0)  # running statistics far from any batch's
    images = torch.rand(2, 3, 6, 6)
    copied = with_batch_statistics(model).eval()
    out = copied(images)
    assert out.mean(dim=(0, 2, 3)).abs().max() < 1e-5  # the batch's own mean, and dropout off (no zeroed channel)
    assert torch.allclose(out, copied(images)) and (out != 0).any(dim=(0, 2, 3)).all()
    assert model[1].running_mean.eq(5.0).all() and model(images).mean() < -1  # the model keeps its running statistics


class InfOnBatch(nn.Module):
    """Cross-entropy, but infinite on the batches whose first target pixel is `marker`."""

    def __init__(self, marker: int):
        super().__init__()
        self.marker = marker

    def forward(self, logits, target):
        loss = F.cross_entropy(logits, target)
        return loss * math.inf if int(target[0, 0, 0]) == self.marker else loss


def test_fit_report_counts_skipped_batches_and_reports_why_fit_stopped():
    images, targets = torch.rand(6, 3, 8, 8), torch.ones(6, 8, 8, dtype=torch.long)
    targets[2, 0, 0] = 2  # the second batch of two gives an infinite loss
    loader = DataLoader(TensorDataset(images, targets), batch_size=2)
    torch.manual_seed(0)
    model = UNet(3, 3, base=4, depth=2)
    run = fit_report(model, loader, InfOnBatch(2), torch.optim.Adam(model.parameters(), lr=1e-3), epochs=2)
    assert (run["stopped"], run["skipped"], run["batches"], run["weights_finite"]) == ("", 2, 6, True)
    assert [math.isfinite(loss) for loss in run["batch_losses"]] == [True, False, True] * 2
    assert len(run["epoch_losses"]) == 2 and all(math.isfinite(loss) for loss in run["epoch_losses"])
    assert run["largest_finite_batch_loss"] == max(run["batch_losses"][i] for i in (0, 2, 3, 5))
    stopped = fit_report(model, loader, InfOnBatch(2), torch.optim.Adam(model.parameters(), lr=1e-3), epochs=2,
                         max_bad_batches=1)
    assert stopped["stopped"].startswith("training stopped") and "skipped" not in stopped
    poisoned = UNet(3, 3, base=4, depth=2)
    next(m for m in poisoned.modules() if isinstance(m, nn.BatchNorm2d)).running_mean[0] = math.nan
    run_poisoned = fit_report(poisoned, loader, nn.CrossEntropyLoss(), torch.optim.Adam(poisoned.parameters()), epochs=1)
    assert run_poisoned["stopped"] == "" and run_poisoned["weights_finite"] is False  # a NaN running mean counts too
    fig = plot_batch_losses({"inf": run}, {"inf": "tab:red"}, batch_size=2, title="skipped")
    assert_readable(fig)
    assert_legends_beside_their_panels(fig)
    assert [c.get_label() for c in fig.axes[0].collections] == ["loss inf: not finite, batch skipped (drawn at the top)"]
    plt.close(fig)


def test_class_prior_loss_docstring_does_not_promise_that_the_image_is_used():
    words = " ".join(class_prior_loss.__doc__.split())
    assert "only a loss below it shows that the network uses what it sees" not in words
    assert "has learned at least the average street" not in words  # a loss below it does not show which it learned
    assert "learned more than a constant: at least some of where classes tend to lie or of what is in each image" in words


def test_describe_without_norm_says_which_run_stayed_finite():
    nan, inf = float("nan"), float("inf")
    text = describe_without_norm([2.5, 3e6, 575.0], [2.3, nan], 1000)
    assert "Without batch norm the same run at lr 1000 gave a loss of nan at step 2" in text
    assert "all 3 losses stayed finite: batch norm is what kept that run finite" in text
    text = describe_without_norm([2.5, 3e6, 575.0], [2.3, 40.0, 30.0], 1000)
    assert "stayed finite too (last loss 30)" in text and "does not show what batch norm adds" in text
    text = describe_without_norm([2.5, inf], [2.3, 40.0, 30.0], 1000)
    assert "non-finite loss at step 2" in text and "batch norm did not keep the run finite" in text
    text = describe_without_norm([2.5, 9.0, nan], [2.3, inf], 1000)
    assert "both runs overflowed: with batch norm at step 3, without it at step 2" in text


def test_describe_street_marks_calls_the_average_street_a_mark_not_a_bound():
    text = describe_street_marks(0.953, 0.767, 0.764)
    assert text.startswith("The healthy run beat the average street by 0.189, a clear margin (more than 0.05)")
    assert text.endswith("scored 0.003 above the average street: near it, where a network blind to its image lands "
                         "(the mark is no bound: such a network can end a little above it by chance).")
    assert "0.020 below the average street: near it" in describe_street_marks(0.953, 0.744, 0.764)
    assert "0.100 above the average street, more than 0.05" in describe_street_marks(0.953, 0.864, 0.764)
    assert "0.100 below the average street: it has not yet learned even the layout" in describe_street_marks(0.953, 0.664, 0.764)
    assert describe_street_marks(0.784, 0.767, 0.764).startswith("The healthy run is only 0.020 above the average street")
    assert describe_street_marks(0.700, 0.767, 0.764).startswith("The healthy run has not yet beaten the average street")


def test_describe_init_losses_reads_the_losses_against_the_class_prior():
    text = describe_init_losses("none", {"default": 1.356, "kaiming": 1.286}, 1.284, 30)
    assert text == ("Without batch norm, after 30 steps of Adam the loss is 1.356 (default) and 1.286 (He), against the "
                    "class-prior loss 1.284: neither clearly learned beyond the class prior, so which init is ahead says "
                    "nothing here (one seed).")
    assert describe_init_losses("none", {"default": 1.356, "kaiming": 1.2}, 1.284, 30).endswith(
        "only He init ended clearly below it (6.5% under it, more than the 5% margin; one seed).")
    assert describe_init_losses("batch", {"default": 0.775, "kaiming": 0.583}, 1.284, 30).endswith(
        "both ended clearly below it, and He init is ahead (one seed).")
    assert describe_init_losses("batch", {"default": 0.5, "kaiming": 0.583}, 1.284, 30).endswith(
        "both ended clearly below it, and PyTorch's default init is ahead (one seed).")


def test_describe_init_losses_does_not_count_a_loss_that_only_grazes_the_class_prior():
    grazing = describe_init_losses("none", {"default": 1.356, "kaiming": 1.243}, 1.284, 30, margin=0.05)
    assert grazing.endswith("He init ended 3.2% below it, within the 5% margin where another seed could land on either "
                            "side; neither clearly learned beyond the class prior, so which init is ahead says nothing "
                            "here (one seed).")
    assert "clearly below" not in grazing
    one_clear = describe_init_losses("none", {"default": 1.25, "kaiming": 1.1}, 1.284, 30, margin=0.05)
    assert "only He init ended clearly below it" in one_clear


def test_describe_activation_growth_names_a_rate_too_large_without_normalisation():
    before = {"default": [1.0, 1.0, 1.0], "kaiming": [0.1, 0.2, 0.4]}
    after = {"default": [1.2, 0.8, 1.1], "kaiming": [2.0, 4.0, 40.0]}
    text = describe_activation_growth("none", before, after, steps=30, lr=0.01)
    assert text.startswith("Without batch norm, 30 steps of Adam at lr 0.01 changed the convolutions' output std by a "
                           "median factor of 1.1× with PyTorch's default init (up to 1.2× at convolution 0) and 20× with "
                           "He init (up to 100× at convolution 2)")
    assert text.endswith("with He init the activations grew several times over in a few steps, which nothing "
                         "renormalises here: too large a rate for this network without normalisation (section 2 sweeps the "
                         "rate for SGD; exercise 3 does it for Adam).")
    assert describe_activation_growth("batch", before, after, 30, 0.01).endswith("so the growth does not compound.")
    assert describe_activation_growth("none", before, before, 30, 0.01).endswith("stayed within about 3× of where they started.")


def test_claim_outcome_is_the_divergence_verdict():
    facts = {"largest_finite": {"batch": 3.0, "none": 0.3}}
    assert claim_outcome(facts) == "larger"
    assert claim_outcome({"largest_finite": {"batch": 0.3, "none": 3.0}}) == "smaller"
    assert claim_outcome({"largest_finite": {"batch": 1.0, "none": 1.0}}) == "same"
    assert claim_outcome({"largest_finite": {"batch": None, "none": None}}) == "none"
    assert claim_outcome({"largest_finite": {"batch": 1.0, "none": None}}) == "larger"


def gap_frame(rows):
    return pd.DataFrame(rows, columns=["setting", "train_miou_mean"]).set_index("setting")


def test_describe_gap_closers_reads_each_collapse_through_its_mechanism():
    summary = gap_frame([("baseline", 0.922), ("Dropout2d", 0.293), ("AdamW", 0.910), ("rotation", 0.769)])
    mechanisms = {"Dropout2d": {"less": "whole channels of a narrow network"}}
    text = describe_gap_closers(summary, ["Dropout2d", "AdamW", "rotation"], memorised=True, helped=["rotation"],
                                mechanisms=mechanisms)
    lines = text.splitlines()
    assert lines[0] == ("Lowered the training mIoU by 0.1 or more without raising the held-out mIoU (training mIoU in "
                        "evaluation mode against the baseline's 0.922):")
    assert lines[1] == ("  Dropout2d: training mIoU 0.293; without its score with each batch's own statistics, training "
                        "less cannot be told from running statistics that do not match the weights")
    assert len(lines) == 3 and lines[2] == ("The baseline got near memorising its frames (training mIoU 0.8 or more), "
                                            "so the cause lies in these settings, not in the budget.")
    summary.loc["AdamW", "train_miou_mean"] = 0.5
    text = describe_gap_closers(summary, ["Dropout2d", "AdamW"], memorised=False, helped=[], mechanisms=mechanisms)
    assert "  AdamW: training mIoU 0.500; without" in text
    assert "The baseline did not get near memorising its frames (training mIoU under 0.8): slowing" in text
    summary.loc["rotation", "train_miou_mean"] = 0.9
    assert describe_gap_closers(summary, ["rotation"], memorised=True, helped=[], mechanisms={}).startswith(
        "No regulariser lowered the training mIoU by 0.1 or more")


GAP_CAUSES = {"Adam + L2": {"evaluation": "weights that move fast", "less": "weights pulled to 0"},
              "Dropout2d": {"evaluation": "a variance shift", "less": "channels dropped"}}


def closer_line(batch_statistics: dict[str, float], causes: dict = GAP_CAUSES) -> str:
    """The line `describe_gap_closers` prints for the one setting in `batch_statistics` besides the baseline."""
    summary = pd.DataFrame({"train_miou_mean": [0.922, 0.293, 0.128], "final_loss_mean": [0.039, 0.509, 0.317]},
                           index=pd.Index(["baseline", "Dropout2d", "Adam + L2"], name="setting"))
    summary["train_miou_batch_statistics_mean"] = [batch_statistics.get(name, math.nan) for name in summary.index]
    (name,) = set(batch_statistics) - {"baseline"}
    return describe_gap_closers(summary, [name], True, [], causes).splitlines()[1]


def test_describe_gap_closers_names_both_parts_when_a_setting_trained_less_and_lost_to_running_statistics():
    line = closer_line({"baseline": 0.955, "Adam + L2": 0.502})  # 0.453 below the baseline, then 0.374 lost
    assert line == ("  Adam + L2: trained less (training loss 0.317 against the baseline's 0.039; training mIoU 0.502 "
                    "against 0.955 even with each batch's own statistics), and evaluation mode lost a further 0.374 "
                    "(down to 0.128), as batch norm's running statistics do not match the weights; likely weights "
                    "pulled to 0, and weights that move fast")
    both = {"Adam + L2": {**GAP_CAUSES["Adam + L2"], "both": "weights that move fast and far"}}
    assert closer_line({"baseline": 0.955, "Adam + L2": 0.502}, both).endswith("; likely weights that move fast and far")
    assert "lost a further 0.112" in closer_line({"baseline": 0.955, "Adam + L2": 0.24})  # just over the margin of 0.1


def test_describe_gap_closers_names_only_training_less_when_evaluation_mode_kept_the_score():
    line = closer_line({"baseline": 0.955, "Dropout2d": 0.296})  # 0.003 above evaluation mode: within the margin
    assert line == ("  Dropout2d: trained less (training loss 0.509 against the baseline's 0.039; training mIoU 0.296 "
                    "against 0.955 with each batch's own statistics, 0.293 in evaluation mode); likely channels dropped")
    assert "evaluation mode lost" not in closer_line({"baseline": 0.955, "Dropout2d": 0.39})  # 0.097 < 0.1


def test_describe_gap_closers_names_only_running_statistics_when_batch_statistics_match_the_baseline():
    line = closer_line({"baseline": 0.93, "Adam + L2": 0.85})  # 0.08 below the baseline: within the margin
    assert line == ("  Adam + L2: training loss 0.317 against the baseline's 0.039; training mIoU 0.850 against 0.930 "
                    "with each batch's own statistics but 0.128 in evaluation mode: evaluation mode lost 0.722 of what "
                    "the weights fitted, as batch norm's running statistics do not match them; likely weights that "
                    "move fast")


def test_describe_gap_closers_says_when_neither_part_reaches_the_margin_alone():
    summary = pd.DataFrame({"train_miou_mean": [0.922, 0.80], "train_miou_batch_statistics_mean": [0.955, 0.86]},
                           index=pd.Index(["baseline", "AdamW"], name="setting"))
    line = describe_gap_closers(summary, ["AdamW"], True, [], GAP_CAUSES).splitlines()[1]
    assert line == ("  AdamW: a little of both (training mIoU 0.860 against 0.955 with each batch's own statistics, "
                    "0.800 in evaluation mode): neither part is 0.1 or more on its own")


def test_describe_gaps_gives_the_size_of_each_gap_change_and_when_only_pairing_shows_it():
    verdicts = {"Dropout2d": {"difference": -0.6, "standard_error": 0.02, "within_noise": False},
                "AdamW": {"difference": -0.012, "standard_error": 0.02, "within_noise": True},
                "rotation": {"difference": 0.01, "standard_error": 0.001, "within_noise": False}}
    assert describe_gaps(verdicts) == ("a smaller gap than the baseline's by more than two standard errors (the gap's "
                                       "change, mean per seed, and its standard error): Dropout2d -0.600 (SE 0.020); "
                                       "smaller, but not shown by these runs: AdamW -0.012 (SE 0.020)")
    assert describe_gaps({"AdamW": verdicts["AdamW"]}).startswith("a smaller gap than the baseline's by more than two "
                                                                  "standard errors (the gap's change, mean per seed, and "
                                                                  "its standard error): none;")
    paired = {"difference": -0.016, "standard_error": 0.005, "unpaired_standard_error": 0.037, "within_noise": False}
    assert describe_gaps({"AdamW": paired}).endswith(": AdamW -0.016 (SE 0.005, shown only with pairing: unpaired SE 0.037)")
    paired["unpaired_standard_error"] = 0.006  # 0.016 ≥ 2 × 0.006: the unpaired test shows it too
    assert describe_gaps({"AdamW": paired}).endswith(": AdamW -0.016 (SE 0.005)")


def narrower_lines(adamw: dict[str, float], gap: dict | None = None, **options) -> list[str]:
    """What `describe_gap_closers` prints for Dropout2d (a large fall) and AdamW (the given means) with gap verdicts."""
    summary = pd.DataFrame({"train_miou_mean": [0.935, 0.344, adamw["evaluation"]],
                            "train_miou_batch_statistics_mean": [0.955, 0.346, adamw.get("batch", math.nan)]},
                           index=pd.Index(["baseline", "Dropout2d", "AdamW"], name="setting"))
    gaps = {"Dropout2d": {"difference": -0.593, "standard_error": 0.041, "within_noise": False},
            "AdamW": gap or {"difference": -0.016, "standard_error": 0.005, "unpaired_standard_error": 0.037,
                             "within_noise": False}}
    options = {"memorised": True, "helped": [], "mechanisms": {}, **options}
    return describe_gap_closers(summary, ["Dropout2d", "AdamW"], gap_verdicts=gaps, **options).splitlines()


def test_describe_gap_closers_names_a_setting_that_narrowed_the_gap_with_a_fall_under_the_cut_off():
    lines = narrower_lines({"evaluation": 0.910, "batch": 0.958})  # as fitted as the baseline: evaluation mode's doing
    assert lines[0].startswith("Lowered the training mIoU by 0.1 or more") and lines[1].startswith("  Dropout2d: ")
    assert lines[2:4] == [
        "Narrowed the gap by more than two standard errors but lowered the training mIoU by less than 0.1, so not in a "
        "list above:",
        "  AdamW: gap -0.016 (SE 0.005, shown only with pairing: unpaired SE 0.037); training mIoU 0.910 against the "
        "baseline's 0.935 in evaluation mode, 0.958 against 0.955 with each batch's own statistics: it fitted its frames "
        "no less than the baseline, and evaluation mode lost 0.048 of that fit against the baseline's 0.020: the narrower "
        "gap comes from batch norm's running statistics, not from regularisation"]
    assert lines[4].startswith("The baseline got near memorising its frames") and len(lines) == 5


def test_describe_gap_closers_reads_a_small_fall_as_fitting_less_or_as_a_little_of_both():
    less = narrower_lines({"evaluation": 0.905, "batch": 0.925})[3]  # 0.030 less fitted, evaluation mode lost 0.020 as before
    assert less.endswith("0.925 against 0.955 with each batch's own statistics: it fitted its frames 0.030 less than the "
                         "baseline, and evaluation mode lost no more than the baseline's")
    both = narrower_lines({"evaluation": 0.895, "batch": 0.945})[3]  # 0.010 less fitted, then 0.050 lost against 0.020
    assert both.endswith(": a little of both: it fitted its frames 0.010 less than the baseline, and evaluation mode lost "
                         "0.030 more than the baseline's")
    held_out = narrower_lines({"evaluation": 0.940, "batch": 0.958})[3]
    assert held_out.endswith("0.940 against the baseline's 0.935 in evaluation mode: the training mIoU did not fall, so "
                             "the gap narrowed on the held-out side")
    unknown = narrower_lines({"evaluation": 0.910})[3]
    assert unknown.endswith("0.910 against the baseline's 0.935 in evaluation mode; without its score with each batch's "
                            "own statistics, fitting less cannot be told from running statistics that do not match the weights")


def test_describe_gap_closers_leaves_out_settings_the_gap_verdicts_do_not_show_or_the_held_out_score_raised():
    within = {"difference": -0.016, "standard_error": 0.01, "within_noise": True}
    assert not any("Narrowed" in line for line in narrower_lines({"evaluation": 0.910, "batch": 0.958}, within))
    assert not any("Narrowed" in line for line in narrower_lines({"evaluation": 0.910, "batch": 0.958}, helped=["AdamW"]))
    alone = narrower_lines({"evaluation": 0.910, "batch": 0.958}, helped=["Dropout2d"])  # no setting fell by 0.1 or more
    assert alone[0].startswith("No regulariser lowered the training mIoU by 0.1 or more") and alone[1].startswith("Narrowed")
    assert len(alone) == 3  # nothing fell far, so nothing for the baseline's memorising to explain


def test_plot_lr_sweep_gives_each_rate_its_own_colour_and_marker():
    rates = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
    sweep = sweep_rows({"batch": list(rates), "none": []}, rates=rates)
    curves = [[2.0, 1.5, 1.2, 1.0, row.final] for row in sweep.itertuples()]
    fig = plot_lr_sweep(sweep, curves, prior_loss=1.2, optimizer_name="sgd", steps=5)
    lines = [line for line in fig.axes[1].get_lines() if line.get_label().startswith("lr ")]
    assert len(lines) == sweep.lr[sweep.norm == "batch"].nunique() >= 6
    assert len({line.get_marker() for line in lines}) == len(lines) and "^" not in {line.get_marker() for line in lines}
    colours = np.array([matplotlib.colors.to_rgb(line.get_color()) for line in lines])
    distances = np.linalg.norm(colours[:, None] - colours[None], axis=-1)[np.triu_indices(len(lines), 1)]
    assert distances.min() > 0.25  # neighbouring rates on one gradient (viridis: 0.18) come out closer than this
    plt.close(fig)


def test_plot_batch_losses_leaves_no_empty_band_between_its_panels():
    run = {"batch_losses": [3.0, float("inf"), 2.0, 1.5], "epoch_losses": [2.5, 1.5], "largest_finite_batch_loss": 3.0}
    fig = plot_batch_losses({"by hand": run, "F.cross_entropy": run}, {"by hand": "tab:orange", "F.cross_entropy": "tab:blue"},
                            batch_size=2, title="two runs")
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    left, right = (ax.get_window_extent(renderer) for ax in fig.axes)
    assert right.x0 - left.x1 < 0.12 * fig.bbox.width  # room for the right panel's tick labels, no legend band
    plt.close(fig)


def test_plot_lr_sweep_cuts_diverging_curves_and_draws_reference_lines_behind():
    sweep = sweep_rows({"batch": [0.1, 1.0], "none": [0.1]})
    curves = [[2.0, 1.5, row.final] for row in sweep.itertuples()]
    curves[4] = [2.0, 500.0, 1e6]  # a finite run far off the scale
    fig = plot_lr_sweep(sweep, curves, prior_loss=1.2, optimizer_name="sgd", steps=3, learned_below=1.1)
    assert fig.axes[2].get_ylim()[1] <= 100.0 and fig.axes[2].get_ylabel() == "training loss (log scale, cut at 100)"
    assert fig.axes[1].get_ylabel() == "training loss (log scale)"  # nothing cut there
    labels = [line.get_label() for line in fig.axes[2].get_lines()]
    assert f"lr {sweep.lr[4]:g}, above 100 from step 2 (▲)" in labels
    reference = {line.get_label(): line.get_zorder() for line in fig.axes[0].get_lines()}
    assert reference["learned: a final loss below this"] < reference["with batch norm: final loss"]
    assert reference["class-prior loss"] < reference["with batch norm: final loss"]
    plt.close(fig)


ROTATION_FACTS = {"angle": 15.0, "ignored_share": 0.106, "nearest_keeps_classes": True, "linear_changed": 496,
                  "linear_invented": 405, "most_invented": "cars", "linear_no_class": 124, "linear_no_class_border": 60}


def test_describe_rotation_counts_what_linear_interpolation_got_wrong():
    lines = describe_rotation(ROTATION_FACTS, 255, 9).splitlines()
    assert lines[0] == "rotation by 15°: 10.6% of the label's pixels come from outside the frame and get 255 (ignored)"
    assert lines[2] == ("linear interpolation of the ids: 496 pixels differ from the nearest-neighbour label; 405 of them "
                        "got a class that none of their 3×3 neighbours has (most often 'cars'); another 60 pixels, on the "
                        "border where nearest neighbour gives 255, got a value that is no class at all (a mix with the "
                        "border's 255), as did 64 of the 496")
    two = describe_rotation({**ROTATION_FACTS, "most_invented": None, "linear_no_class": 60}, 255, 2).splitlines()
    assert "(most often" not in two[2] and two[2].endswith("(a mix with the border's 255)")
    assert len(lines) == 3 and two[3].startswith("with two classes no id lies between two others")


def loss_table(mse_std: float) -> pd.DataFrame:
    return pd.DataFrame({"train_miou_mean": [0.922, 0.737], "train_miou_std": [0.012, mse_std]},
                        index=pd.Index(["baseline", "MSE on softmax"], name="setting"))


def paired(difference: float, error: float) -> dict:
    return {"difference": difference, "standard_error": error, "within_noise": abs(difference) < 2 * error}


def test_describe_loss_comparison_branches_on_the_fit_and_the_held_out_score():
    slower, level = paired(-0.185, 0.05), paired(-0.001, 0.015)
    fit, kept = describe_loss_comparison(loss_table(0.175), slower, level).splitlines()
    assert fit == ("Training mIoU after the same steps: 0.737 ± 0.175 with MSE against 0.922 ± 0.012 with cross-entropy "
                   "(per seed -0.185, standard error 0.050): lower by more than two standard errors: MSE fitted its "
                   "frames more slowly, as its vanishing gradient predicts; and it varied 15× as much from seed to seed, "
                   "so how far a run got depended on its start.")
    assert kept == ("Held-out mIoU -0.001 against cross-entropy: not shown to differ, so in this budget the loss changed "
                    "how fast the training frames were fitted, not the score on frames never seen.")
    fit, kept = describe_loss_comparison(loss_table(0.02), paired(-0.185, 0.101), level).splitlines()
    assert "lower, but by less than two standard errors" in fit and "varied" not in fit
    assert kept.endswith("not shown to differ either.")
    assert "did not show in these runs" in describe_loss_comparison(loss_table(0.02), paired(0.01, 0.01), level)
    single = describe_loss_comparison(loss_table(0.02), paired(-0.1, math.nan), paired(-0.1, math.nan))
    assert "one seed, so no standard error" in single and "not shown to differ either" in single
    worse = describe_loss_comparison(loss_table(0.02), slower, paired(-0.1, 0.01)).splitlines()[1]
    assert worse.endswith("lower by more than two standard errors.")


def test_describe_floor_crossing_reads_the_mean_of_the_last_steps_not_one_dip():
    floor = 1.0
    crossed = describe_floor_crossing([2.0, 1.5, 0.9, 0.8, 0.7, 0.6, 0.5], [2.0] * 7, floor)
    assert "healthy 0.700" in crossed and "went below the floor at step 3 and ended 0.300 under it" in crossed
    assert "ended 1.000 above it, as expected" in crossed
    lucky = describe_floor_crossing([0.5] * 5, [0.9] * 5, floor)
    assert "ended 0.100 under it, by luck of the pairings drawn" in lucky
    dipped = describe_floor_crossing([2.0, 0.9, 1.2, 1.1, 1.0, 1.05], [2.0] * 6, floor)
    assert "dipped below the floor at step 2, but the mean of its last 5 steps is 0.050 above it" in dipped
    assert "went below" not in dipped
    barely = describe_floor_crossing([2.0, 0.99, 0.98, 0.97, 0.98, 0.98], [2.0] * 6, floor)
    assert "went below the floor at step 2, but ended only 0.020 under it, less than 5% of it" in barely
    assert "cannot do" not in barely
    never = describe_floor_crossing([2.0, 1.5, 1.2], [2.0] * 3, floor)
    assert "mean of the last 3 of 3 steps" in never and "did not get below the floor" in never
