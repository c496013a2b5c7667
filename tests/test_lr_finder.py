"""Learning-rate range test: schedules, smoothing, suggestions, divergence stop, state restore."""

import copy
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from helpers.lr_finder import (
    LRFinderResult,
    _rise_bounds,
    _valley_index,
    accuracy_shape,
    base_is_upper_bound,
    compare_valleys,
    describe_against_report,
    describe_agreement,
    describe_base,
    describe_handed_on_lag,
    describe_late_fall,
    describe_linear_test,
    describe_lr_source,
    describe_smith_pair,
    describe_smoothing_lag,
    describe_steadiest,
    describe_step_growth,
    describe_turn,
    describe_valley_shift,
    loss_rose_after,
    loss_turned,
    lr_range_test,
    lr_schedule,
    mark_above_axis,
    max_is_clean,
    plot_linear_test,
    plot_relative_steps,
    plot_smoothed_losses,
    range_test_size,
    rate_text,
    relative_step_growth,
    resmooth,
    smooth_losses,
    suggest,
)
from helpers.optim import make_optimizer
from helpers.train import fit

matplotlib.use("Agg")

SIZE = 12


def toy_loader(count: int = 32, seed: int = 0, shuffle: bool = True) -> DataLoader:
    """Each pixel's class is its brightest channel: a 1×1 convolution can learn it exactly."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(count, 3, SIZE, SIZE, generator=generator)
    return DataLoader(TensorDataset(images, images.argmax(dim=1)), batch_size=4, shuffle=shuffle,
                      generator=torch.Generator().manual_seed(seed))


def linear_net() -> nn.Module:
    return nn.Conv2d(3, 3, 1)


def bn_net() -> nn.Module:
    """With batch norm, so running statistics (buffers) must be restored as well."""
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 3, 1))


def reference_valley(losses) -> int:
    """fastai 2.5's valley(), written out as published, for comparison."""
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return max_start + int(sections) + int(sections / 2)


def test_lr_schedules():
    exp = lr_schedule(1e-4, 1.0, 5, "exp")
    np.testing.assert_allclose(exp, [1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    linear = lr_schedule(0.1, 0.5, 5, "linear")
    np.testing.assert_allclose(linear, [0.1, 0.2, 0.3, 0.4, 0.5])
    with pytest.raises(ValueError, match="mode"):
        lr_schedule(0.1, 1.0, 5, "cosine")
    with pytest.raises(ValueError, match="start_lr < end_lr"):
        lr_schedule(1.0, 0.1, 5)


def test_smoothing_is_bias_corrected():
    smoothed = smooth_losses([2.0, 2.0, 2.0], beta=0.9)
    assert smoothed == pytest.approx([2.0, 2.0, 2.0])  # without the correction it would start at 0.2
    assert smooth_losses([1.0, 3.0], beta=0.5) == pytest.approx([1.0, (0.25 + 1.5) / 0.75])


def test_valley_matches_fastai():
    rng = np.random.default_rng(0)
    for _ in range(20):
        losses = np.cumsum(rng.normal(-0.05, 0.2, size=40)) + 5
        assert _valley_index(losses) == reference_valley(list(losses))


def test_smith_bounds_on_an_accuracy_curve():
    lrs = np.arange(1.0, 11.0)
    accuracy = np.array([0.1, 0.1, 0.1, 0.2, 0.5, 0.8, 0.9, 0.9, 0.85, 0.3])
    # total rise 0.8: 10 % reached at 0.2 (lr 4), 90 % at 0.9 (lr 7)
    assert _rise_bounds(lrs, accuracy) == (4.0, 7.0)
    loss = np.concatenate([np.linspace(2.0, 0.5, 8), [0.8, 3.0]])  # falls, then turns
    suggestions, notes = suggest(lrs, loss, lrs, accuracy)
    assert (suggestions["smith_base"], suggestions["smith_max"]) == (4.0, 7.0)
    assert notes == []


def test_smith_max_needs_the_accuracy_to_flatten():
    """An accuracy still rising at the last rate gives no maximum: 90 % of a rise that never ends is not one."""
    lrs = np.arange(1.0, 11.0)
    still_rising = np.linspace(0.1, 0.9, 10)
    loss = np.concatenate([np.linspace(2.0, 0.5, 8), [0.8, 3.0]])
    suggestions, notes = suggest(lrs, loss, lrs, still_rising)
    assert suggestions["smith_max"] is None and suggestions["smith_base"] == 2.0
    assert notes == ["smith_max: no reading — the curve had not turned by the last learning rate read (1.00e+01); "
                     "raise end_lr"]
    flattened = np.array([0.1, 0.3, 0.6, 0.85, 0.9, 0.9, 0.91, 0.9, 0.92, 0.92])  # flat from lr 4 on
    suggestions, notes = suggest(lrs, loss, lrs, flattened)
    assert suggestions["smith_max"] == 4.0 and notes == []


def test_a_loss_that_never_turns_gives_no_reading():
    """A sweep that ends while the loss still falls says nothing about where it would stop falling."""
    lrs = np.geomspace(1e-4, 1e-1, 30)
    still_falling = np.linspace(2.0, 0.5, 30)
    suggestions, notes = suggest(lrs, still_falling)
    assert suggestions["min_div_10"] is None and suggestions["valley"] is None
    assert suggestions["smith_max"] is None
    assert any(note.startswith("min_div_10: no reading") and note.endswith("raise end_lr") for note in notes)
    flat_then_rising = np.concatenate([np.full(3, 2.0), np.linspace(2.0, 6.0, 27)])  # never fell
    suggestions, notes = suggest(lrs, flat_then_rising)
    assert suggestions["min_div_10"] is None
    assert any(note.startswith("min_div_10: no reading") and note.endswith("lower start_lr") for note in notes)


def test_rebound_measures_how_far_the_loss_came_back():
    result = LRFinderResult(lrs=[1, 2, 3, 4], losses=[], smoothed=[2.0, 1.0, 0.0, 1.0])
    assert result.rebound == pytest.approx(0.5)
    assert LRFinderResult(lrs=[1, 2], losses=[], smoothed=[2.0, 1.0]).rebound == 0.0
    assert math.isnan(LRFinderResult(lrs=[1, 2], losses=[], smoothed=[1.0, 2.0]).rebound)


def test_suggestions_from_the_loss_alone():
    lrs = np.geomspace(1e-4, 1.0, 30)
    loss = np.concatenate([np.full(10, 2.0), np.linspace(2.0, 0.5, 12), np.linspace(0.7, 4.0, 8)])
    suggestions, notes = suggest(lrs, loss)
    assert suggestions["min_div_10"] == pytest.approx(lrs[21] / 10)
    assert lrs[10] <= suggestions["steepest"] <= lrs[21]  # inside the falling stretch
    assert lrs[9] <= suggestions["valley"] <= lrs[21]
    assert lrs[10] <= suggestions["smith_base"] < suggestions["smith_max"] <= lrs[21]
    assert notes == ["no validation accuracy: smith_base/smith_max were read off the loss curve "
                     "(where it starts and stops falling)"]


def test_range_test_finds_a_rate_that_trains():
    torch.manual_seed(0)
    model = linear_net()
    optimizer = make_optimizer("adam", model, lr=1e-3)
    steps = []
    result = lr_range_test(model, toy_loader(), optimizer, 1e-5, 1e2, 100, mode="exp",
                           val_loader=toy_loader(8, seed=1, shuffle=False), val_every=10, progress=False,
                           on_step=lambda step, lr, net: steps.append((step, lr, net is model)))
    assert steps == [(i, pytest.approx(lr), True) for i, lr in enumerate(result.lrs)]
    assert len(result.lrs) == len(result.losses) == len(result.smoothed) == 100
    assert result.smoothed == pytest.approx(smooth_losses(result.losses, 0.98))
    assert result.val_lrs == pytest.approx(result.lrs[9::10])
    assert max(result.val_accuracy) > result.val_accuracy[0] + 0.3  # accuracy rises along the test
    assert set(result.suggestions) == {"steepest", "valley", "min_div_10", "smith_base", "smith_max"}
    assert all(1e-5 <= lr <= 1e2 for lr in result.suggestions.values()), result.notes  # the loss turned: a reading of each
    assert result.suggestions["smith_base"] < result.suggestions["smith_max"]

    def train(lr: float) -> list[float]:
        torch.manual_seed(1)
        fresh = linear_net()
        history = fit(fresh, toy_loader(), None, nn.CrossEntropyLoss(), make_optimizer("adam", fresh, lr=lr),
                      epochs=3, progress=False)
        return [row["train_loss"] for row in history.epochs]

    suggested = train(result.suggestions["min_div_10"])
    too_small = train(1e-5)
    assert suggested[-1] < 0.5 * suggested[0]
    assert suggested[-1] < 0.5 * too_small[-1]


def test_linear_mode_and_divergence_stop():
    torch.manual_seed(0)
    model = linear_net()
    optimizer = make_optimizer("sgd", model, lr=0.1)
    linear = lr_range_test(model, toy_loader(), optimizer, 0.01, 1.0, 20, mode="linear", progress=False)
    np.testing.assert_allclose(np.diff(linear.lrs), (1.0 - 0.01) / 19)
    assert not linear.diverged and linear.val_accuracy == []
    exploding = lr_range_test(model, toy_loader(), optimizer, 1e-3, 1e6, 100, mode="exp", progress=False)
    assert exploding.diverged and len(exploding.lrs) < 100
    finite = np.asarray(exploding.smoothed)
    assert exploding.notes or finite[-1] > 4 * finite.min()


def test_state_is_restored_exactly():
    torch.manual_seed(0)
    model = bn_net()
    optimizer = make_optimizer("adam", model, lr=1e-3)
    fit(model, toy_loader(8), None, nn.CrossEntropyLoss(), optimizer, epochs=1, progress=False)  # optimizer has state
    model.eval()
    weights = copy.deepcopy(model.state_dict())
    optimizer_state = copy.deepcopy(optimizer.state_dict())
    rng = torch.get_rng_state()
    lr_range_test(model, toy_loader(), optimizer, 1e-4, 1.0, 30, val_loader=toy_loader(8, seed=1), progress=False)
    _assert_restored(model, optimizer, weights, optimizer_state)
    assert not model.training
    assert torch.equal(torch.get_rng_state(), rng)


class FailingLoader:
    """Yields the batches of `loader`, then fails, as a broken disk would."""

    def __init__(self, loader, fail_after: int):
        self.loader, self.fail_after = loader, fail_after

    def __iter__(self):
        for i, batch in enumerate(self.loader):
            if i == self.fail_after:
                raise OSError("read error on frame 00042.png")
            yield batch


def test_state_is_restored_after_an_exception():
    torch.manual_seed(0)
    model = bn_net()
    optimizer = make_optimizer("sgd", model, lr=0.01)
    weights = copy.deepcopy(model.state_dict())
    optimizer_state = copy.deepcopy(optimizer.state_dict())
    with pytest.raises(OSError, match="00042"):
        lr_range_test(model, FailingLoader(toy_loader(), 5), optimizer, 1e-3, 1.0, 30, progress=False)
    _assert_restored(model, optimizer, weights, optimizer_state)
    assert model.training
    assert optimizer.state_dict()["state"] == {}  # no momentum buffers left behind


def _assert_restored(model, optimizer, weights, optimizer_state):
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key]), key
    after = optimizer.state_dict()
    assert after["param_groups"] == optimizer_state["param_groups"]
    assert after["state"].keys() == optimizer_state["state"].keys()
    for index, state in after["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(optimizer_state["state"][index][name]))


def test_plot_has_title_axes_and_legend():
    torch.manual_seed(0)
    model = linear_net()
    result = lr_range_test(model, toy_loader(), make_optimizer("adam", model, lr=1e-3), 1e-4, 1.0, 30,
                           val_loader=toy_loader(8, seed=1), val_every=10, progress=False)
    ax = result.plot()
    assert ax.get_title().startswith("Learning-rate range test")
    assert ax.get_xlabel().startswith("learning rate") and ax.get_ylabel() == "training loss"
    assert ax.get_xscale() == "log"
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "loss (smoothed)" in labels and "val pixel accuracy" in labels
    assert any(label.startswith("min_div_10") for label in labels)
    for name, lr in result.suggestions.items():  # up to lr 1 the loss of this toy still falls: no minimum
        assert (f"{name}: no reading" in labels) == (lr is None)
    assert result.suggestions["min_div_10"] is None
    assert len(result.to_frame()) == len(result.lrs)


def test_valley_is_read_before_the_loss_minimum():
    """fastai's longest decreasing subsequence can skip the minimum and run on where the loss rises again."""
    lrs = np.geomspace(1e-4, 1e2, 40)
    loss = np.concatenate([np.linspace(3.0, 2.6, 8), [2.0, 1.2, 0.6, 0.5],  # a sharp fall to the minimum …
                           np.linspace(2.55, 2.0, 23), np.linspace(2.5, 4.0, 5)])  # … then a long slow slope above it
    assert _valley_index(loss[4:35]) + 4 > 11  # fastai's rule alone lands past the minimum (index 11)
    suggestions, _ = suggest(lrs, loss)
    assert suggestions["valley"] is not None and suggestions["valley"] <= lrs[11]


def test_rate_text_names_a_missing_reading():
    assert rate_text(None) == "no reading" and rate_text(float("nan")) == "no reading"
    assert rate_text(0.00123) == "1.23e-03"


def test_describe_lr_source_names_the_fraction_of_the_valley_or_the_default():
    assert describe_lr_source("adam", 2.5e-4, 0.25, 1e-3) == "adam: learning rate 2.50e-04 (0.25 × notebook 05's 1.00e-03)"
    assert describe_lr_source("sgd", 0.01, 0.25, None) == (
        "sgd: learning rate 1.00e-02 (DEFAULT_LRS: notebook 05 has not recorded a rate in this run folder)")


def test_range_test_size_halves_on_a_cpu_only():
    assert range_test_size((160, 120), on_gpu=False) == (80, 60)
    assert range_test_size((96, 64), on_gpu=False) == (64, 48)  # never below 64×48
    assert range_test_size((400, 300), on_gpu=True) == (400, 300)
    assert range_test_size((400, 300), on_gpu=False, override=[100, 80]) == (100, 80)


def test_resmooth_redoes_the_suggestions_and_keeps_the_stop_note():
    lrs = list(np.geomspace(1e-4, 1.0, 30))
    losses = list(np.concatenate([np.full(10, 2.0), np.linspace(2.0, 0.5, 12), np.linspace(0.7, 4.0, 8)]))
    result = LRFinderResult(lrs=lrs, losses=losses, smoothed=smooth_losses(losses, 0.98),
                            notes=["stopped at lr 1.00e+00: the loss was nan", "an old note"])
    resmooth(result, 0.5)
    assert result.smoothed == pytest.approx(smooth_losses(losses, 0.5))
    assert result.suggestions == suggest(lrs, result.smoothed)[0]
    assert result.notes[0].startswith("stopped") and "an old note" not in result.notes
    assert result.smooth_beta == 0.5


def test_resmooth_keeps_the_accuracy_reading_of_a_linear_test():
    lrs = list(np.linspace(0.01, 1.0, 30))
    losses = list(np.linspace(2.0, 0.5, 30))
    result = LRFinderResult(lrs=lrs, losses=losses, smoothed=smooth_losses(losses), mode="linear",
                            val_lrs=lrs[2::3], val_accuracy=[0.1, 0.2, 0.5, 0.7, 0.8, 0.8, 0.6, 0.5, 0.4, 0.4])
    resmooth(result, 0.95)
    assert result.suggestions == suggest(lrs, result.smoothed, result.val_lrs, result.val_accuracy)[0]
    assert result.suggestions["smith_max"] == pytest.approx(lrs[14])  # off the accuracy, not the loss


def turning(smoothed, diverged=False) -> LRFinderResult:
    return LRFinderResult(lrs=list(np.geomspace(1e-3, 1.0, len(smoothed))), losses=list(smoothed),
                          smoothed=list(smoothed), diverged=diverged)


def test_describe_turn_has_a_branch_for_each_curve():
    assert not loss_turned(turning([2.0, 1.5, 1.0, 0.9]))
    assert describe_turn(turning([2.0, 1.5, 1.0, 0.9])).startswith("the loss was still falling")
    assert loss_turned(turning([2.0, 1.0, 0.5, 3.0]))
    assert describe_turn(turning([2.0, 1.0, 0.5, 3.0])).startswith("the loss turned: lowest at lr 1.00e-01")
    assert "back above its starting value" in describe_turn(turning([2.0, 1.0, 0.5, 3.0]))
    assert "come back up by 20%" in describe_turn(turning([2.0, 1.0, 0.5, 0.8]))
    assert describe_turn(turning([2.0, 2.5, 3.0], diverged=True)).startswith("the loss exploded")
    assert describe_turn(turning([2.0, 2.5, 3.0])).startswith("the smoothed loss never fell")


def test_describe_linear_test_reads_the_accuracy_curve():
    result = turning([2.0, 1.5, 1.0, 0.9])
    result.val_lrs, result.val_accuracy = [0.1, 0.2, 0.3, 0.4], [0.1, 0.3, 0.2, 0.5]
    result.suggestions = {"smith_max": None}
    lines = describe_linear_test(result)
    assert "highest 0.500 at lr 4.00e-01" in lines[0] and "found no maximum" in lines[1]
    assert "0.200 at lr 3.00e-01" in lines[2]  # the dip
    assert lines[3] == "training loss: still falling at the last rate (2.000 → 0.900 smoothed): no rate of this sweep made it rise"
    result.val_accuracy, result.suggestions = [0.1, 0.6, 0.5, 0.5], {"smith_max": 0.2}
    assert describe_linear_test(result)[1] == "→ it stopped rising inside the range: Smith's maximum 2.00e-01"
    result.val_accuracy = [0.5, 0.4, 0.3, 0.3]
    assert "never rose above its first value" in describe_linear_test(result)[1]


def test_describe_linear_test_never_says_no_rate_too_large_when_the_accuracy_fell():
    result = turning([2.0, 1.5, 1.0, 0.9, 0.8])
    result.val_lrs, result.val_accuracy = [0.1, 0.2, 0.3, 0.4, 0.5], [0.1, 0.6, 0.7, 0.4, 0.45]
    result.suggestions = {"smith_max": 0.3}
    text = "\n".join(describe_linear_test(result))
    assert "no rate of this sweep made it rise" not in text
    assert "after its peak the accuracy fell (down to 0.400, 0.450 at the last rate)" in text
    assert "did not show the fall of the accuracy" in text and "were too large" not in text
    result.val_accuracy = [0.1, 0.6, 0.7, 0.68, 0.69]  # flattens: no fall
    assert "no rate of this sweep made it rise" in "\n".join(describe_linear_test(result))


def test_describe_linear_test_tells_a_flat_loss_from_a_falling_one():
    result = turning([2.0, 1.0, 0.7, 0.62, 0.61, 0.605])  # the last fifth fell 0.005 of 1.395
    result.val_lrs, result.val_accuracy, result.suggestions = [0.1, 0.2], [0.1, 0.5], {"smith_max": None}
    assert describe_linear_test(result)[-1] == (
        "training loss: flat by the end (it fell only 0.005 over the last fifth of the sweep, 0% of its fall "
        "2.000 → 0.605 smoothed), without rising again: no rate of this sweep made it rise")
    result.smoothed = [2.0, 1.5, 1.2, 1.0, 0.8, 0.6]
    assert describe_linear_test(result)[-1].startswith("training loss: still falling at the last rate (2.000 → 0.600")


def test_describe_smoothing_lag_states_the_lag_in_decades_and_flags_min_div_10():
    lrs = list(np.geomspace(1e-5, 100.0, 50))  # 7 decades in 49 steps
    losses = [2.0 - 0.03 * i for i in range(25)] + [1.3 + 0.1 * i for i in range(25)]  # lowest raw at index 24
    result = LRFinderResult(lrs=lrs, losses=losses, smoothed=smooth_losses(losses, 0.9), smooth_beta=0.9)
    result.suggestions = {"min_div_10": lrs[int(np.argmin(result.smoothed))] / 10}
    lines = describe_smoothing_lag(result)
    assert "about 10 batches × 0.143 decades per batch = 1.43 decades" in lines[0]
    apart = np.log10(lrs[int(np.argmin(result.smoothed))] / lrs[24])
    assert f"{apart:+.2f} decades" in lines[1] and 0 < apart < 1.43
    assert lines[2].startswith("→ the smoothed minimum lies within the lag")  # min ÷ 10 left of the raw minimum
    result.suggestions = {"min_div_10": lrs[30]}
    assert "lies right of the lowest raw loss" in describe_smoothing_lag(result)[2]
    result.smooth_beta, result.smoothed = 0.5, [1.0] * 40 + [0.5] + [1.0] * 9  # 2.3 decades right, lag 0.29
    assert "by more than the lag" in describe_smoothing_lag(result)[2]


def test_relative_step_growth_compares_the_ends_of_the_sweep():
    rates = np.linspace(0.1, 1.0, 10)
    growth = relative_step_growth([(rate, 0.01) for rate in rates])  # a step that never grows
    assert growth["rate"] == pytest.approx(rates[-2:].mean() / rates[:2].mean())
    assert growth["late_rate"] == pytest.approx(rates[-2:].mean() / rates[4:7].mean())
    assert growth["step"] == pytest.approx(1.0) and growth["last_step"] == pytest.approx(0.01)
    assert relative_step_growth([(rate, rate) for rate in rates])["step"] == pytest.approx(rates[-2:].mean() / rates[:2].mean())


def test_describe_step_growth_has_three_outcomes():
    assert describe_step_growth({"rate": 10.0, "step": 2.0}).startswith("the step grew far more slowly")
    assert describe_step_growth({"rate": 10.0, "step": 5.0}).startswith("the step grew more slowly")
    assert describe_step_growth({"rate": 10.0, "step": 12.0}).startswith("the step grew as fast")


def test_compare_valleys_says_where_sgd_sits():
    assert compare_valleys(1e-3, 1e-2)[0] == pytest.approx(10.0)
    assert "far above Adam's" in compare_valleys(1e-3, 1e-2)[1]
    assert "far below Adam's" in compare_valleys(1e-2, 1e-3)[1]
    assert "within a factor of 3" in compare_valleys(1e-3, 2e-3)[1]
    assert compare_valleys(None, 1e-3) == (None, "no ratio: one of the two tests gave no valley reading")


def test_describe_steadiest_names_the_rule_with_the_smallest_spread():
    spread = pd.DataFrame({"largest ÷ smallest": [1.5, 1.2, float("nan")]}, index=["valley", "steepest", "min_div_10"])
    assert describe_steadiest(spread) == ("steadiest over the seeds in this run: steepest (largest ÷ smallest 1.20); "
                                          "valley's spread is 1.50×")
    spread.loc["valley", "largest ÷ smallest"] = 1.2
    assert describe_steadiest(spread).endswith("valley and steepest (largest ÷ smallest 1.20)")
    assert describe_steadiest(spread.iloc[2:]).startswith("no rule gave a reading")


def test_describe_steadiest_counts_the_spread_in_grid_steps():
    spread = pd.DataFrame({"largest ÷ smallest": [1.93, 5.18]}, index=["valley", "steepest"])
    text = describe_steadiest(spread, grid_step=1.39)
    assert "×1.39 from one to the next; spreads in grid steps: valley 2.0, steepest 5.0" in text
    assert ("→ valley more than one grid step apart: a small real disagreement (the seeds' rates differ by more than "
            "×1.39), within the factor of 3 that training forgives") in text  # two steps: more than rounding explains
    assert "at most one grid step" not in text and "resolution" not in text
    assert text.endswith("→ steepest more than 3× apart: the seeds disagree by more than training forgives")
    one_step = describe_steadiest(pd.DataFrame({"largest ÷ smallest": [1.39]}, index=["valley"]), grid_step=1.39)
    assert one_step.endswith("→ valley at most one grid step apart: the resolution of the test (rounding to the grid "
                             "alone can put two nearly equal rates one step apart): the seeds agree as far as the test can tell")


def legend_labels(ax) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_range_test_figures_have_titles_axes_and_legends():
    result = turning([2.0, 1.0, 0.5, 3.0])
    result.val_lrs, result.val_accuracy = [0.1, 1.0], [0.2, 0.6]
    result.suggestions = {"smith_base": 0.1, "smith_max": None, "valley": 0.01}
    loss_ax, accuracy_ax = plot_linear_test(result, "Adam").axes
    assert accuracy_ax.get_title() == "Adam: validation accuracy" and accuracy_ax.get_ylabel() == "pixel accuracy"
    assert {"base lr 1.00e-01", "max lr no reading", "10% of the rise", "90% of the rise"} <= set(legend_labels(accuracy_ax))
    assert loss_ax.get_xlabel() == "learning rate (linear axis)"
    ax = plot_smoothed_losses({"adam": result, "sgd": turning([2.0, 1.0, 1.5])}, "Adam against SGD")
    assert ax.get_title() == "Adam against SGD" and ax.get_xscale() == "log" and ax.get_ylabel() == "smoothed training loss"
    assert legend_labels(ax) == ["adam: smoothed loss", "adam: valley 1.0e-02", "sgd: smoothed loss",
                                 "sgd: valley no reading",  # and the ▲ last: 3.0 > 1.3 × 2.0 is off the axis
                                 "adam: smoothed loss above the axis from lr 1.00e+00"]
    ax = plot_relative_steps([(0.1, 0.01), (0.2, 0.015)])
    assert ax.get_title().startswith("SGD range test") and ax.get_xlabel().startswith("learning rate")
    assert legend_labels(ax) == ["median ‖Δw‖ / ‖w‖ per step"]
    matplotlib.pyplot.close("all")



def test_plot_smoothed_losses_marks_a_curve_that_leaves_the_axis_and_only_then():
    def marks(ax):
        return [line for line in ax.get_lines() if line.get_marker() == "^"]

    below = {"seed 0": turning([2.0, 1.0, 1.5]), "seed 1": turning([1.8, 0.9, 2.5])}  # the axis ends at 1.3 × 2.0
    ax = plot_smoothed_losses(below, "below")
    assert ax.get_ylim()[1] == pytest.approx(2.6)
    assert not marks(ax) and not any("above the axis" in label for label in legend_labels(ax))
    rising = turning([1.8, 0.9, 1.2, 2.5, 6.5, 9.0])  # leaves the axis at its fifth rate
    for leaving in (rising, turning([1.8, 0.9, float("inf")]), turning([1.8, 0.9, float("nan")])):
        ax = plot_smoothed_losses({"seed 0": below["seed 0"], "seed 2": leaving}, "one leaves")
        (mark,) = marks(ax)
        curve = next(line for line in ax.get_lines() if line.get_label() == "seed 2: smoothed loss")
        first_out = next(lr for lr, value in zip(leaving.lrs, leaving.smoothed) if not value <= 2.6)
        assert mark.get_xdata()[0] == first_out and mark.get_ydata()[0] == pytest.approx(ax.get_ylim()[1])
        assert mark.get_color() == curve.get_color() and not mark.get_clip_on()
        assert [label for label in legend_labels(ax) if "above the axis" in label] == [
            f"seed 2: smoothed loss above the axis from lr {first_out:.2e}"]
    matplotlib.pyplot.close("all")

def test_markers_that_would_overlap_are_staggered_and_equal_valleys_both_show():
    def shown_at(ax, mark):  # where the ▲ is drawn, in pixels
        return mark.get_transform().transform((mark.get_xdata()[0], mark.get_ydata()[0]))

    _, ax = matplotlib.pyplot.subplots()
    ax.set_xscale("log")
    ax.plot([1e-3, 100.0], [1.0, 2.0])
    mark_above_axis(ax, [(72.0, "C0", "adam"), (75.4, "C1", "sgd"), (1e-2, "C2", "far")], top=2.0)
    adam, sgd, far = (line for line in ax.get_lines() if line.get_marker() == "^")
    assert shown_at(ax, adam)[0] == pytest.approx(shown_at(ax, sgd)[0], abs=5)  # the same place across
    assert shown_at(ax, sgd)[1] < shown_at(ax, adam)[1] - 8  # but one below the other
    assert shown_at(ax, far)[1] == pytest.approx(shown_at(ax, adam)[1])  # one far from the others stays on the edge
    seeds = {f"seed {seed}": turning([2.0, 1.0, 1.5]) for seed in range(3)}
    for seed, valley in zip(seeds, (0.02, 0.01, 0.01)):
        seeds[seed].suggestions = {"valley": valley}
    ax = plot_smoothed_losses(seeds, "three seeds")
    assert legend_labels(ax)[1::2] == ["seed 0: valley 2.0e-02", "seed 1: valley 1.0e-02",
                                       "seed 2: valley 1.0e-02 (same as seed 1)"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    one, two = lines["seed 1: valley 1.0e-02"], lines["seed 2: valley 1.0e-02 (same as seed 1)"]
    assert one._unscaled_dash_pattern != two._unscaled_dash_pattern  # interleaved dashes (no public getter)
    assert one.get_color() != two.get_color()
    matplotlib.pyplot.close("all")


# a peak, a fall and a recovery at the last point: SGD's curve (highest at the end) and Adam's (highest inside)
SGD_LRS = list(np.linspace(0.183, 2.0, 10))
SGD_ACCURACY = [0.512, 0.174, 0.40, 0.50, 0.55, 0.65, 0.713, 0.582, 0.499, 0.728]
ADAM_LRS = list(np.linspace(9.1e-3, 0.1, 10))
ADAM_ACCURACY = [0.326, 0.45, 0.65, 0.582, 0.68, 0.70, 0.72, 0.753, 0.645, 0.726]


def linear_result(lrs, accuracy) -> LRFinderResult:
    result = turning([2.0, 1.5, 1.0, 0.8, 0.7, 0.68, 0.67, 0.665, 0.662, 0.66])
    result.val_lrs, result.val_accuracy = list(lrs), list(accuracy)
    result.suggestions, result.notes = suggest(result.lrs, result.smoothed, lrs, accuracy)
    return result


def test_a_peak_fall_and_recovery_reads_ragged_for_both_optimizers():
    assert accuracy_shape(SGD_ACCURACY)["kind"] == accuracy_shape(ADAM_ACCURACY)["kind"] == "ragged"
    sgd = "\n".join(describe_linear_test(linear_result(SGD_LRS, SGD_ACCURACY)))
    assert "had not stopped rising" not in sgd and "did not reach a rate that is too large" not in sgd
    assert ("→ ragged: the accuracy reached 0.713 at lr 1.39e+00 (within 0.05 of its highest), fell to 0.499 at lr "
            "1.80e+00, and came back to its highest, 0.728, at the last rate: no clean reading of the "
            "maximum (Smith's rule: no reading)") in sgd
    adam = "\n".join(describe_linear_test(linear_result(ADAM_LRS, ADAM_ACCURACY)))
    assert ("→ ragged: the accuracy reached its highest, 0.753, at lr 7.98e-02, fell to 0.645 at lr 8.99e-02, and came "
            "back to 0.726 at the last rate, within 0.05 of its highest: no clean reading") in adam
    assert "the rates past 7.98e-02 may have been too large for it, or the fall was noise" in adam
    assert "were too large for it" not in adam and "did not show the fall of the accuracy" in adam


def test_a_fall_at_the_end_is_judged_against_the_falls_the_curve_recovered_from():
    lrs = list(np.linspace(0.2, 2.0, 10))
    # this run's SGD curve: its fall after the peak (0.297) is deeper than any it recovered from (0.512 → 0.297)
    deeper = [0.512, 0.297, 0.593, 0.511, 0.429, 0.689, 0.658, 0.712, 0.415, 0.467]
    assert describe_late_fall(deeper, lrs) == (
        "were probably too large for it: it fell by 0.297 from its peak, deeper than any earlier fall this curve "
        "recovered from (the deepest: 0.512 → 0.297 at lr 4.00e-01, a fall of 0.215); one seed, though")
    as_deep = [0.3, 0.5, 0.6, 0.35, 0.65, 0.7, 0.68, 0.72, 0.5, 0.47]  # 0.6 → 0.35 before, 0.72 → 0.47 at the end
    assert describe_late_fall(as_deep, lrs) == (
        "may have been too large for it, or the fall was noise: it fell by 0.250 from its peak, but this curve fell "
        "about as deep before and recovered (0.600 → 0.350 at lr 8.00e-01, a fall of 0.250), so one seed cannot tell")
    smooth = [0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.68, 0.7, 0.55, 0.5]
    assert describe_late_fall(smooth, lrs).startswith(
        "were probably too large for it: it fell by 0.200 from its peak, and no earlier fall of this curve went deeper")
    lines = describe_linear_test(linear_result(lrs, as_deep))
    assert lines[2] == ("→ after its peak the accuracy fell (down to 0.470, 0.470 at the last rate) and had not come "
                        "back by the end: the rates past 1.60e+00 " + describe_late_fall(as_deep, lrs))
    assert not any("were too large" in line for line in lines)
    assert any(line.endswith("the training loss alone did not show the fall of the accuracy") for line in lines)
    report = describe_against_report(linear_result(lrs, as_deep))
    assert "however slowly the step grew, the rates past the peak may have been too large" in report


def test_a_deeper_late_fall_reads_probably_only_when_the_training_loss_rose_too():
    lrs = list(np.linspace(0.2, 2.0, 10))
    deeper = [0.512, 0.297, 0.593, 0.511, 0.429, 0.689, 0.658, 0.712, 0.415, 0.467]
    quiet = describe_late_fall(deeper, lrs, loss_rose=False)
    assert quiet == ("may have been too large for it: it fell by 0.297 from its peak, deeper than any earlier fall this "
                     "curve recovered from (the deepest: 0.512 → 0.297 at lr 4.00e-01, a fall of 0.215), but the "
                     "training loss did not rise past the peak, so only the validation frames show it (one seed)")
    assert describe_late_fall(deeper, lrs, loss_rose=True).startswith("were probably too large for it")
    # the loss of `linear_result` falls to the end: the accuracy's fall is read as the validation frames' alone
    falling = linear_result(lrs, deeper)
    falling.lrs = lrs  # the loss read at the same rates as the accuracy: 2.0 … 0.66, falling throughout
    assert not loss_rose_after(falling, lrs[7])
    assert "only the validation frames show it" in describe_linear_test(falling)[2]
    assert "only the validation frames show it" in describe_against_report(falling)
    rising = linear_result(lrs, deeper)
    rising.lrs, rising.smoothed = lrs, [2.0, 1.5, 1.0, 0.8, 0.7, 0.68, 0.67, 0.665, 0.9, 1.0]  # up after lr 1.6
    assert loss_rose_after(rising, lrs[7]) and "were probably too large" in describe_linear_test(rising)[2]
    raw_only = linear_result(lrs, deeper)  # the smoothed loss lags behind; the raw losses past the peak rose
    raw_only.lrs, raw_only.smoothed = lrs, [2.0, 1.5, 1.0, 0.8, 0.7, 0.68, 0.67, 0.665, 0.664, 0.663]
    raw_only.losses = [2.0, 1.4, 0.9, 0.75, 0.65, 0.66, 0.64, 0.66, 0.9, 1.1]
    assert loss_rose_after(raw_only, lrs[7]) and not loss_rose_after(raw_only, lrs[9])


def test_accuracy_shape_has_a_kind_for_each_outcome():
    assert accuracy_shape([0.5, 0.4, 0.3])["kind"] == "never rose"
    assert accuracy_shape([0.1, 0.3, 0.2, 0.5])["kind"] == "rising"  # the dip lies far below the top
    fell = accuracy_shape([0.1, 0.6, 0.7, 0.4, 0.45])
    assert (fell["kind"], fell["top"], fell["trough"]) == ("fell", 2, 3)
    assert accuracy_shape([0.1, 0.6, 0.7, 0.68, 0.69])["kind"] == "flattened"
    assert accuracy_shape([0.5, 0.2, 0.6, 0.7])["low"] == 1


def test_describe_against_report_says_what_this_runs_sweep_did():
    text = describe_against_report(linear_result(SGD_LRS, SGD_ACCURACY))
    assert text.startswith("this run's sweep did not reproduce the report's steadily rising curve: past lr 1.39e+00")
    assert text.endswith("It also fell first, from 0.512 to 0.174 at lr 3.85e-01, before it rose")
    rising = linear_result(SGD_LRS, np.linspace(0.2, 0.7, 10))
    assert describe_against_report(rising) == ("this run's sweep went as the report's did: the accuracy was still "
                                               "rising at the last rate (2), so there is no maximum to read — sweep further")
    assert "ended at 0.400" in describe_against_report(linear_result(SGD_LRS, SGD_ACCURACY[:-1] + [0.4]))
    assert "stayed level" in describe_against_report(linear_result(SGD_LRS, SGD_ACCURACY[:6] + [0.713, 0.7, 0.71, 0.7]))
    assert "never rose" in describe_against_report(linear_result(SGD_LRS, [0.5] + [0.4] * 9))


def test_smith_base_is_read_from_the_lowest_point_when_the_accuracy_fell_first():
    suggestions, notes = suggest(SGD_LRS, [2.0 - 0.1 * i for i in range(10)], SGD_LRS, SGD_ACCURACY)
    assert suggestions["smith_base"] == SGD_LRS[2]  # 10 % of the rise 0.174 → 0.728, not of 0.512 → 0.728 (lr 0.99)
    assert notes[0] == ("the validation accuracy fell before it rose (lowest 0.174 at lr 3.85e-01, first 0.512): "
                        "smith_base/smith_max measure the rise from that lowest point")


def test_describe_base_calls_the_first_point_after_the_lowest_an_upper_bound():
    result = linear_result(ADAM_LRS, ADAM_ACCURACY)
    assert result.suggestions["smith_base"] == ADAM_LRS[1]
    text = describe_base(result, suggested_lr=ADAM_LRS[1] / 2)
    assert text.startswith("base_lr 1.92e-02 is accuracy point 2 of 10, 2.00× suggested_lr: the first point after "
                           "the lowest, so only an upper bound — the rise had begun by 1.92e-02")
    assert "maybe even before the first point (lr 9.10e-03)" in text and text.endswith("this sweep cannot show")
    assert describe_base(result, ADAM_LRS[1] * 2).endswith("it began at or below the rate handed on")
    sgd = describe_base(result, ADAM_LRS[1] / 2, names=("SGD's base", "suggested_lr_sgd"))
    assert sgd.startswith("SGD's base 1.92e-02 is accuracy point 2 of 10, 2.00× suggested_lr_sgd: the first point")
    result.suggestions["smith_base"] = ADAM_LRS[3]
    assert describe_base(result, ADAM_LRS[1]).endswith("suggested_lr (above the rate handed on)")
    result.suggestions["smith_base"] = 0.05
    assert "(read off the loss)" in describe_base(result, 0.1)
    result.suggestions["smith_base"] = None
    assert describe_base(result, 0.1) == "base_lr: no reading"


def test_describe_base_reads_a_rise_after_a_fall_as_a_recovery_that_does_not_place_learning():
    result = linear_result(SGD_LRS, SGD_ACCURACY)  # the accuracy fell first: lowest at lr 3.85e-01, base the next point
    base = result.suggestions["smith_base"]
    assert base == SGD_LRS[2] and base_is_upper_bound(result)
    text = describe_base(result, suggested_lr=9.1e-3, names=("SGD's base", "suggested_lr_sgd"))
    assert text == (
        "SGD's base 5.87e-01 is accuracy point 3 of 10, 64.48× suggested_lr_sgd: the first point after the lowest, so "
        "only an upper bound of where the rise from the lowest point began. But the accuracy fell before it rose "
        "(0.512 at the first point, lr 1.83e-01, down to 0.174 at lr 3.85e-01): that rise is a recovery from the "
        "fall, and does not place where learning started; the accuracy was already 0.512 at the first point, above "
        "this curve's 10 % level (0.229), so learning started before the first point, where this sweep cannot place "
        "it; whether it began below the rate handed on, this sweep cannot show (3 of its 10 batches ran below it)")
    assert "began above" not in text
    assert describe_base(result, suggested_lr=0.15).endswith("this sweep cannot show (7 of its 10 batches ran below it)")
    # learning started before the first point, whose batches all ran at or below its rate
    assert describe_base(result, suggested_lr=SGD_LRS[0]).endswith("it began at or below the rate handed on")
    assert describe_base(result, suggested_lr=0.5).endswith("it began at or below the rate handed on")
    assert describe_base(result, suggested_lr=SGD_LRS[2]).endswith("it began at or below the rate handed on")


def test_describe_base_after_a_small_dip_below_the_10_percent_level_places_nothing_before_the_first_point():
    dipped = linear_result(SGD_LRS, [0.30, 0.28, 0.5, 0.6, 0.7, 0.75, 0.8, 0.82, 0.85, 0.84])  # level 0.337
    text = describe_base(dipped, suggested_lr=0.1)
    assert "(0.300 at the first point, lr 1.83e-01, down to 0.280 at lr 3.85e-01): that rise is a recovery" in text
    assert "already" not in text and text.endswith("this sweep cannot show (6 of its 10 batches ran below it)")
    assert describe_base(dipped, suggested_lr=1.0).endswith("it began at or below the rate handed on")
    clean = linear_result(SGD_LRS, [0.30, 0.28, 0.30, 0.5, 0.6, 0.7, 0.8, 0.82, 0.85, 0.84])  # base two points on
    assert not base_is_upper_bound(clean)
    assert describe_base(clean, suggested_lr=0.1).startswith(
        "base_lr 7.89e-01 is accuracy point 4 of 10, 7.89× suggested_lr (above the rate handed on). But the accuracy "
        "fell before it rose")


def test_describe_smith_pair_flags_an_upper_bound_base_and_a_ragged_maximum():
    ragged = linear_result(ADAM_LRS, ADAM_ACCURACY)
    assert not max_is_clean(ragged)
    assert describe_smith_pair(ragged) == (
        f"base ≤ {ADAM_LRS[1]:.2e} (an upper bound: the first point after the lowest), max "
        f"{ragged.suggestions['smith_max']:.2e} (the 90 % rule's number; the curve is ragged, so it is not a clean reading)")
    clean = linear_result(ADAM_LRS, [0.3, 0.3, 0.31, 0.45, 0.6, 0.72, 0.75, 0.76, 0.76, 0.755])
    assert max_is_clean(clean) and not base_is_upper_bound(clean)
    base, top = clean.suggestions["smith_base"], clean.suggestions["smith_max"]
    assert describe_smith_pair(clean) == f"base {base:.2e} (where it starts to improve), max {top:.2e} (where it stops improving)"
    clean.suggestions["smith_base"] = clean.suggestions["smith_max"] = None
    assert describe_smith_pair(clean) == "base no reading, max no reading" and not max_is_clean(clean)


def test_describe_valley_shift_measures_how_far_the_smoothing_moves_the_valley():
    lrs = list(np.geomspace(1e-5, 100.0, 50))
    losses = [2.5] * 10 + [2.5 - 0.1 * i for i in range(1, 21)] + [0.5 + 0.3 * i for i in range(1, 21)]
    result = LRFinderResult(lrs=lrs, losses=losses, smoothed=smooth_losses(losses, 0.9), smooth_beta=0.9)
    result.suggestions, _ = suggest(lrs, result.smoothed)
    faster = suggest(lrs, smooth_losses(losses, 0.5))[0]["valley"]
    lines = describe_valley_shift(result)
    assert lines[0] == (f"valley at β = 0.90: {rate_text(result.suggestions['valley'])}; the same losses smoothed "
                        f"with β = 0.5 (a lag of about 2 batches): {rate_text(faster)}")
    moved = math.log10(result.suggestions["valley"] / faster)
    lowest_moved = math.log10(lrs[int(np.argmin(result.smoothed))] / lrs[int(np.argmin(smooth_losses(losses, 0.5)))])
    assert lines[1] == (f"→ the slower average moved the valley {moved:+.2f} decades and the lowest smoothed loss "
                        f"{lowest_moved:+.2f}: in this run the valley moved less than the minimum")
    assert 0 < moved < lowest_moved
    same = LRFinderResult(lrs=lrs, losses=losses, smoothed=smooth_losses(losses, 0.5), smooth_beta=0.5)
    same.suggestions, _ = suggest(lrs, same.smoothed)
    assert describe_valley_shift(same)[1].endswith("in this run neither moved: both curves give the same readings")
    result.suggestions = {"valley": None}
    assert describe_valley_shift(result)[1] == "→ no comparison: one of the two curves gave no valley reading"


def test_the_exponential_plot_marks_a_raw_loss_above_the_axis_and_draws_smiths_pair_dotted():
    lrs = list(np.geomspace(1e-3, 10.0, 20))
    losses = [2.0 - 0.08 * i for i in range(15)] + [3.0, 5.0, 9.0, 20.0, 40.0]
    result = LRFinderResult(lrs=lrs, losses=losses, smoothed=smooth_losses(losses, 0.5), smooth_beta=0.5)
    result.suggestions = {"valley": lrs[5], "min_div_10": lrs[3], "smith_base": lrs[2], "smith_max": lrs[8]}
    ax = result.plot()
    labels = legend_labels(ax)
    assert any(label.startswith("raw loss above the axis from lr") for label in labels)
    top = ax.get_ylim()[1]
    leaves = next(lr for lr, value in zip(lrs, result.smoothed) if value > top)  # the smoothed curve leaves too
    assert f"smoothed loss above the axis from lr {leaves:.2e}" in labels
    (mark,) = [line for line in ax.get_lines() if line.get_label().startswith("smoothed loss above")]
    assert mark.get_marker() == "^" and mark.get_color() == "C0" and not mark.get_clip_on()
    assert mark.get_xdata()[0] == leaves and mark.get_ydata()[0] == pytest.approx(top)
    below = LRFinderResult(lrs=lrs[:12], losses=losses[:12], smoothed=smooth_losses(losses[:12], 0.5))
    assert not any("above the axis" in label for label in legend_labels(below.plot()))
    lines = {line.get_label().split(":")[0]: line for line in ax.get_lines()}
    assert lines["smith_base"].get_linestyle() == lines["smith_max"].get_linestyle() == ":"
    assert lines["min_div_10"].get_linestyle() == "--"
    colours = [lines[name].get_color() for name in ("valley", "min_div_10", "smith_base", "smith_max")]
    assert len(set(colours)) == 4 and lines["smith_max"].get_color() != "C5"  # C5 (brown) is too close to C3 (red)
    matplotlib.pyplot.close("all")


def test_describe_turn_calls_a_slow_fall_slow_as_the_linear_test_does():
    slow = turning([2.0, 1.5, 1.0, 0.80, 0.70, 0.66, 0.655, 0.652, 0.651, 0.650])  # the last fifth: 0.5% of the fall
    text = describe_turn(slow)
    assert text.startswith("the loss was still falling at the last rate, but only slowly (0% of its fall")
    assert text.endswith("it had not turned, so the range ends too early to show where it stops")
    fast = turning([2.0, 1.8, 1.6, 1.4, 1.2, 1.0, 0.8, 0.6, 0.4, 0.2])
    assert describe_turn(fast) == "the loss was still falling at the last rate: the range ends too early to show where it stops"


def test_plot_linear_test_labels_an_upper_bound_base():
    result = linear_result(ADAM_LRS, ADAM_ACCURACY)
    assert base_is_upper_bound(result)
    fig = plot_linear_test(result, "toy")
    labels = fig.axes[1].get_legend_handles_labels()[1]
    assert "base lr ≤ 1.92e-02" in labels
    result.suggestions["smith_base"] = ADAM_LRS[3]
    assert not base_is_upper_bound(result)
    assert "base lr 3.94e-02" in plot_linear_test(result, "toy").axes[1].get_legend_handles_labels()[1]
    matplotlib.pyplot.close("all")


def test_describe_agreement_gives_a_verdict_for_each_case():
    result = linear_result(ADAM_LRS, ADAM_ACCURACY)  # base an upper bound, a ragged maximum
    assert describe_agreement(result, 8.96e-3) == (
        "verdict: the base is only an upper bound and the maximum no clean reading, so the comparison is "
        "inconclusive: treat 8.96e-03 as a first guess and watch the first epochs of the real run")
    clean = linear_result(ADAM_LRS, [0.1, 0.11, 0.12, 0.4, 0.6, 0.75, 0.76, 0.76, 0.6, 0.5])  # rises, peaks, falls
    base, top = clean.suggestions["smith_base"], clean.suggestions["smith_max"]
    assert not base_is_upper_bound(clean) and base < top
    assert describe_agreement(clean, (base * top) ** 0.5).startswith("verdict: the rate handed on lies within a factor "
                                                                      "of 3 of Smith's range (1.0×): the two tests agree")
    assert describe_agreement(clean, base / 2).startswith("verdict: the rate handed on lies within a factor of 3 of "
                                                          "Smith's range (2.0×)")
    assert describe_agreement(clean, base / 10).startswith("verdict: the rate handed on lies 10.0× outside Smith's range")
    clean.suggestions["smith_max"] = None
    assert describe_agreement(clean, base).startswith("verdict: Smith's pair is incomplete")


def test_describe_handed_on_lag_sets_the_trained_rate_against_the_short_memory_valley():
    lrs = list(np.geomspace(1e-5, 100.0, 50))
    losses = [2.5] * 10 + [2.5 - 0.1 * i for i in range(1, 21)] + [0.5 + 0.3 * i for i in range(1, 21)]
    result = LRFinderResult(lrs=lrs, losses=losses, smoothed=smooth_losses(losses, 0.9), smooth_beta=0.9)
    valley = suggest(lrs, smooth_losses(losses, 0.5))[0]["valley"]
    assert describe_handed_on_lag(4 * valley, result, 0.25).endswith(
        f"({valley:.2e}): within a factor of 2 of it: the fraction takes back most of the lag")
    assert describe_handed_on_lag(40 * valley, result, 0.25).endswith("10.0× it: still right of it, the fraction takes "
                                                                      "back only part of the lag")
    assert describe_handed_on_lag(valley, result, 0.25).endswith("0.25× it: left of it, on the cautious side of both "
                                                                 "readings")
    result.suggestions = {"valley": 8 * valley}  # the first seed's own reading, where suggested_lr pools several seeds
    assert describe_handed_on_lag(4 * valley, result, 0.25).endswith(
        f"(suggested_lr pools the seeds; like with like, 0.25 × the first seed's own valley {8 * valley:.2e} is 2.00× it)")
    assert describe_handed_on_lag(8 * valley, result, 0.25).endswith("takes back most of the lag")  # its own: no aside
    flat = LRFinderResult(lrs=lrs, losses=[2.0] * 50, smoothed=[2.0] * 50)
    assert describe_handed_on_lag(1e-3, flat, 0.25).endswith("gave no valley to set it against")
