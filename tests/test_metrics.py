"""Tests of helpers.metrics against torchmetrics where the definitions agree, and by hand where not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score, MulticlassJaccardIndex

from helpers.metrics import ConfusionMatrix, boundary_iou, boundary_mask, per_image_accuracy

IGNORE = 255


def random_maps(num_classes=5, shape=(3, 20, 30), seed=0):
    generator = torch.Generator().manual_seed(seed)
    target = torch.randint(0, num_classes, shape, generator=generator)
    pred = torch.where(torch.rand(shape, generator=generator) < 0.6, target,
                       torch.randint(0, num_classes, shape, generator=generator))
    return pred, target


def test_matrix_rows_are_targets_and_columns_predictions():
    confusion = ConfusionMatrix(3)
    confusion.update(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 0, 1, 2]))
    assert confusion.matrix.dtype == torch.int64
    assert confusion.matrix.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    confusion.reset()
    assert confusion.matrix.sum().item() == 0


def test_metrics_match_torchmetrics_when_every_class_is_present():
    pred, target = random_maps()
    confusion = ConfusionMatrix(5)
    confusion.update(pred, target)
    result = confusion.compute()
    iou = MulticlassJaccardIndex(5, average=None)(pred, target).numpy()
    np.testing.assert_allclose(result["iou"], iou, rtol=1e-5)
    assert result["miou"] == pytest.approx(MulticlassJaccardIndex(5, average="macro")(pred, target).item(), rel=1e-5)
    assert result["pixel_accuracy"] == pytest.approx(MulticlassAccuracy(5, average="micro")(pred, target).item(),
                                                     rel=1e-6)
    np.testing.assert_allclose(result["class_accuracy"], MulticlassAccuracy(5, average=None)(pred, target).numpy(),
                               rtol=1e-5)
    np.testing.assert_allclose(result["dice"], MulticlassF1Score(5, average=None)(pred, target).numpy(), rtol=1e-5)


def test_ignore_index_matches_torchmetrics():
    pred, target = random_maps()
    target[:, :5] = IGNORE
    confusion = ConfusionMatrix(5, ignore_index=IGNORE)
    confusion.update(pred, target)
    result = confusion.compute()
    assert confusion.matrix.sum().item() == (target != IGNORE).sum().item()
    iou = MulticlassJaccardIndex(5, average=None, ignore_index=IGNORE)(pred, target).numpy()
    np.testing.assert_allclose(result["iou"], iou, rtol=1e-5)
    accuracy = MulticlassAccuracy(5, average="micro", ignore_index=IGNORE)(pred, target).item()
    assert result["pixel_accuracy"] == pytest.approx(accuracy, rel=1e-6)


def test_targets_outside_the_classes_are_dropped_and_bad_predictions_rejected():
    confusion = ConfusionMatrix(2)
    confusion.update(torch.tensor([0, 1, 1, 0]), torch.tensor([0, 1, 7, -1]))
    assert confusion.matrix.tolist() == [[1, 0], [0, 1]]
    with pytest.raises(ValueError, match="outside"):
        confusion.update(torch.tensor([0, 5]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="same shape"):
        confusion.update(torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, 4))


def test_absent_class_is_nan_here_but_zero_in_torchmetrics():
    # class 0 is neither in the target nor predicted; class 2 is predicted once but absent
    target = torch.tensor([[1, 1], [1, 1]])
    pred = torch.tensor([[1, 1], [1, 2]])
    confusion = ConfusionMatrix(3)
    confusion.update(pred, target)
    result = confusion.compute()
    assert np.isnan(result["iou"][0])
    assert result["iou"][1:].tolist() == [0.75, 0.0]
    assert result["miou"] == pytest.approx((0.75 + 0.0) / 2)
    assert np.isnan(result["dice"][0]) and result["dice"][1] == pytest.approx(6 / 7)
    assert np.isnan(result["class_accuracy"][0]) and np.isnan(result["class_accuracy"][2])
    torchmetrics_iou = MulticlassJaccardIndex(3, average=None)(pred, target)
    assert torchmetrics_iou[0].item() == 0.0  # zero_division=0: an absent class scores 0
    perfect = ConfusionMatrix(3)
    perfect.update(target, target)
    assert perfect.compute()["miou"] == 1.0  # absent classes do not drag the mean down


def test_accumulated_miou_is_not_the_mean_of_per_image_mious():
    image_a = (torch.tensor([0, 0, 0, 0]), torch.tensor([0, 0, 0, 1]))  # class 1 missed: IoU 0.75, 0
    image_b = (torch.tensor([1, 1, 1, 1]), torch.tensor([1, 1, 1, 1]))  # class 0 absent: IoU NaN, 1
    per_image = []
    accumulated = ConfusionMatrix(2)
    for pred, target in (image_a, image_b):
        single = ConfusionMatrix(2)
        single.update(pred, target)
        per_image.append(single.compute()["miou"])
        accumulated.update(pred, target)
    assert per_image == [0.375, 1.0]
    assert np.mean(per_image) == pytest.approx(0.6875)
    # accumulated counts: class 0 TP 3, FP 1 → 3/4; class 1 TP 4, FN 1 → 4/5
    assert accumulated.compute()["miou"] == pytest.approx((0.75 + 0.8) / 2)


def test_empty_matrix_gives_nan_not_an_error():
    result = ConfusionMatrix(3).compute()
    assert np.isnan(result["pixel_accuracy"]) and np.isnan(result["miou"])
    assert np.isnan(result["iou"]).all()


def test_per_image_accuracy():
    target = torch.tensor([[[0, 1], [1, 1]], [[2, 2], [IGNORE, IGNORE]], [[IGNORE, IGNORE], [IGNORE, IGNORE]]])
    pred = torch.tensor([[[0, 1], [0, 0]], [[2, 0], [1, 1]], [[0, 0], [0, 0]]])
    accuracy = per_image_accuracy(pred, target, ignore_index=IGNORE)
    assert accuracy.shape == (3,)
    assert accuracy[:2].tolist() == [0.5, 0.5]
    assert torch.isnan(accuracy[2])
    assert per_image_accuracy(pred[:1], target[:1]).tolist() == [0.5]


def test_boundary_mask_marks_a_band_around_edges():
    target = torch.zeros(10, 12, dtype=torch.long)
    target[:, 6:] = 1  # one vertical edge between columns 5 and 6
    band = boundary_mask(target, width=2)
    assert band.dtype == torch.bool and band.shape == (10, 12)
    columns = band.any(dim=0).nonzero().flatten().tolist()
    assert columns == [4, 5, 6, 7]  # two pixels either side
    assert band[:, 4:8].all()
    assert boundary_mask(torch.zeros(2, 5, 5, dtype=torch.long), width=3).sum().item() == 0
    assert boundary_mask(target.unsqueeze(0), width=1).shape == (1, 10, 12)
    with pytest.raises(ValueError, match="width"):
        boundary_mask(target, width=0)


def test_boundary_iou_rewards_sharp_edges():
    target = torch.zeros(1, 32, 32, dtype=torch.long)
    target[:, :, 16:] = 1
    blurred = torch.zeros_like(target)
    blurred[:, :, 19:] = 1  # edge three pixels off
    sharp = boundary_iou(target, target, num_classes=2, width=3)
    assert sharp["miou"] == 1.0 and sharp["iou"].tolist() == [1.0, 1.0]
    shifted = boundary_iou(blurred, target, num_classes=2, width=3)
    # band: columns 13‥21 (union of both edges' bands), 9 columns; class 0 true 13‥15, predicted 13‥18
    assert shifted["iou"][0] == pytest.approx(3 / 6)
    assert shifted["iou"][1] == pytest.approx(3 / 6)
    whole = ConfusionMatrix(2)
    whole.update(blurred, target)
    assert shifted["miou"] < whole.compute()["miou"]


def test_confusion_matrix_from_counts_scores_a_sum_of_frames():
    first, second = ConfusionMatrix(3), ConfusionMatrix(3)
    first.update(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 2]))
    second.update(torch.tensor([2, 2]), torch.tensor([2, 0]))
    both = ConfusionMatrix(3)
    both.update(torch.tensor([0, 1, 1, 2, 2]), torch.tensor([0, 1, 2, 2, 0]))
    pooled = ConfusionMatrix.from_counts(first.matrix.numpy() + second.matrix.numpy()).compute()
    assert pooled["miou"] == pytest.approx(both.compute()["miou"])
    np.testing.assert_allclose(pooled["iou"], both.compute()["iou"])
    with pytest.raises(ValueError, match="square"):
        ConfusionMatrix.from_counts(np.zeros((2, 3)))


def test_bootstrap_miou_difference_brackets_the_observed_gap_and_widens_with_fewer_groups():
    from helpers.metrics import bootstrap_miou_difference

    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, 3, (24, 8, 8), generator=generator)
    good = torch.where(torch.rand(24, 8, 8, generator=generator) < 0.9, target, (target + 1) % 3)
    noisy = torch.where(torch.rand(24, 8, 8, generator=generator) < 0.6, target, (target + 1) % 3)
    by_frame = bootstrap_miou_difference(good, noisy, target, 3, rounds=500)
    exact = ConfusionMatrix(3)
    exact.update(good, target)
    other = ConfusionMatrix(3)
    other.update(noisy, target)
    assert by_frame["difference"] == pytest.approx(exact.compute()["miou"] - other.compute()["miou"])
    assert 0 < by_frame["low"] < by_frame["difference"] < by_frame["high"]  # a real gap: the interval excludes 0
    same = bootstrap_miou_difference(good, good, target, 3, rounds=200)
    assert same["difference"] == same["low"] == same["high"] == 0.0
    one_sequence = bootstrap_miou_difference(good, noisy, target, 3, groups=np.zeros(24), rounds=200)
    assert one_sequence["groups"] == 1  # whole groups are drawn: one group can only be drawn whole
    assert one_sequence["low"] == pytest.approx(by_frame["difference"]) == one_sequence["high"]
    with pytest.raises(ValueError, match="same frames"):
        bootstrap_miou_difference(good, noisy[:3], target, 3)


def test_confusion_per_group_sums_each_groups_frames_like_the_confusion_matrix():
    from helpers.metrics import ConfusionMatrix, confusion_per_group

    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, 4, (5, 6, 7), generator=generator)
    target[0, 0, :3] = 255  # ignored pixels are left out
    pred = torch.randint(0, 3, (5, 6, 7), generator=generator)
    groups = ["b", "a", "b", "c", "a"]
    per_group = confusion_per_group(pred, target, 3, groups, ignore_index=255)  # class 3 lies outside: left out
    assert per_group.shape == (3, 3, 3)
    for row, name in enumerate(["a", "b", "c"]):
        frames = [i for i, group in enumerate(groups) if group == name]
        expected = ConfusionMatrix(3, ignore_index=255)
        expected.update(pred[frames].clamp(max=2), torch.where(target[frames] == 3, 255, target[frames]))
        assert (per_group[row] == expected.matrix.numpy()).all()
    each_frame = confusion_per_group(pred, target, 3, ignore_index=255)
    assert each_frame.shape == (5, 3, 3) and (each_frame.sum(0) == per_group.sum(0)).all()
