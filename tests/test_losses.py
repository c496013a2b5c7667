"""Tests of helpers.losses: agreement with PyTorch, ignore index, class weights, extreme inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.losses import LabelledPixels, class_weights, make_loss

IGNORE = 255


def random_batch(num_classes=4, seed=0, ignore_fraction=0.2):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, num_classes, 6, 7, generator=generator)
    target = torch.randint(0, num_classes, (2, 6, 7), generator=generator)
    ignored = torch.rand(2, 6, 7, generator=generator) < ignore_fraction
    target[ignored] = IGNORE
    return logits, target


def test_cross_entropy_matches_pytorch_with_weights_and_ignore_index():
    logits, target = random_batch()
    weights = torch.tensor([0.5, 1.0, 2.0, 4.0])
    loss = make_loss("ce", num_classes=4, class_weights=weights, ignore_index=IGNORE)
    expected = F.cross_entropy(logits, target, weight=weights, ignore_index=IGNORE)
    assert loss(logits, target).item() == pytest.approx(expected.item(), rel=1e-6)
    plain = make_loss("ce")
    valid_logits, valid_target = random_batch(ignore_fraction=0.0)
    assert plain(valid_logits, valid_target).item() == pytest.approx(
        F.cross_entropy(valid_logits, valid_target).item(), rel=1e-6)


@pytest.mark.parametrize("name", ["ce", "mse", "dice"])
def test_ignored_pixels_do_not_change_the_loss(name):
    logits, target = random_batch()
    loss = make_loss(name, num_classes=4, ignore_index=IGNORE)
    changed_logits = logits.clone()
    mask = (target == IGNORE).unsqueeze(1).expand_as(logits)
    changed_logits[mask] = 100.0
    assert loss(changed_logits, target).item() == pytest.approx(loss(logits, target).item(), rel=1e-6)


def test_mse_is_softmax_against_one_hot():
    logits, target = random_batch(ignore_fraction=0.0)
    expected = F.mse_loss(logits.softmax(1), F.one_hot(target, 4).permute(0, 3, 1, 2).float())
    assert make_loss("mse", num_classes=4)(logits, target).item() == pytest.approx(expected.item(), rel=1e-6)


def test_mse_class_weights_weight_pixels_like_cross_entropy():
    logits, target = random_batch(ignore_fraction=0.0)
    weights = torch.tensor([1.0, 0.0, 0.0, 0.0])  # only pixels of class 0 count
    keep = target == 0
    per_pixel = (logits.softmax(1) - F.one_hot(target, 4).permute(0, 3, 1, 2)).pow(2).mean(1)
    loss = make_loss("mse", num_classes=4, class_weights=weights)
    assert loss(logits, target).item() == pytest.approx(per_pixel[keep].mean().item(), rel=1e-6)


def test_bce_accepts_each_logit_layout_and_matches_pytorch():
    generator = torch.Generator().manual_seed(0)
    logit = torch.randn(2, 5, 5, generator=generator)
    target = torch.randint(0, 2, (2, 5, 5), generator=generator)
    expected = F.binary_cross_entropy_with_logits(logit, target.float()).item()
    loss = make_loss("bce")
    assert loss(logit, target).item() == pytest.approx(expected, rel=1e-6)
    assert loss(logit.unsqueeze(1), target).item() == pytest.approx(expected, rel=1e-6)
    two_channels = torch.stack([torch.zeros_like(logit), logit], dim=1)
    assert loss(two_channels, target).item() == pytest.approx(expected, rel=1e-6)
    masked = target.clone()
    masked[0] = IGNORE
    only_second = F.binary_cross_entropy_with_logits(logit[1], target[1].float()).item()
    assert make_loss("bce", ignore_index=IGNORE)(logit, masked).item() == pytest.approx(only_second, rel=1e-6)
    with pytest.raises(ValueError, match="binary target"):
        loss(logit, target * 255)


def test_dice_by_hand_and_zero_for_a_perfect_prediction():
    target = torch.tensor([[[0, 0, 1, 1]]])
    logits = torch.zeros(1, 2, 1, 4)  # softmax 0.5 everywhere
    # per class: intersection 1, sizes 2 + 2 → (2·1 + 1) / (4 + 1) = 0.6 → loss 0.4
    assert make_loss("dice")(logits, target).item() == pytest.approx(0.4, abs=1e-6)
    perfect = F.one_hot(target, 3).permute(0, 3, 1, 2).float() * 2e4 - 1e4
    assert make_loss("dice", num_classes=3)(perfect, target).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("name", ["ce", "mse", "bce", "dice"])
def test_losses_stay_finite_on_extreme_logits_and_empty_targets(name):
    num_classes = 2
    target = torch.randint(0, 2, (2, 8, 8), generator=torch.Generator().manual_seed(0))
    confident_right = F.one_hot(target, 2).permute(0, 3, 1, 2).float() * 2e4 - 1e4
    cases = {
        "confident and right": (confident_right, target),
        "confident and wrong": (-confident_right, target),
        "all background": (torch.randn(2, 2, 8, 8), torch.zeros_like(target)),
        "all ignored": (torch.randn(2, 2, 8, 8), torch.full_like(target, IGNORE)),
    }
    loss = make_loss(name, num_classes=num_classes, ignore_index=IGNORE,
                     class_weights=torch.tensor([1.0, 3.0]))
    for case, (logits, case_target) in cases.items():
        logits = logits.clone().requires_grad_(True)
        value = loss(logits, case_target)
        value.backward()
        assert torch.isfinite(value), f"{name} is not finite for {case}"
        assert torch.isfinite(logits.grad).all(), f"{name} gradient is not finite for {case}"
    assert loss(torch.randn(2, 2, 8, 8), torch.full_like(target, IGNORE)).item() == 0.0
    assert loss(-confident_right, target).item() > loss(confident_right, target).item()


def test_unknown_loss_and_wrong_class_count_are_reported():
    with pytest.raises(ValueError, match="unknown loss"):
        make_loss("focal")
    logits, target = random_batch()
    with pytest.raises(ValueError, match="channels"):
        make_loss("ce", num_classes=9)(logits, target)
    with pytest.raises(ValueError, match="outside"):
        make_loss("dice", num_classes=4)(logits, torch.full_like(target, 7))


def test_class_weights_median_frequency_and_inverse():
    counts = np.array([600, 300, 100, 0])
    median = class_weights(counts, "median_frequency")
    assert median.dtype == torch.float32
    # frequencies 0.6, 0.3, 0.1; median 0.3 → 0.5, 1, 3; absent class → 0
    assert torch.allclose(median, torch.tensor([0.5, 1.0, 3.0, 0.0]))
    inverse = class_weights(counts, "inverse")
    # 1000 / (3 classes · count)
    assert torch.allclose(inverse, torch.tensor([1000 / 1800, 1000 / 900, 1000 / 300, 0.0]))
    milder = class_weights(counts, "sqrt_median_frequency")
    assert torch.allclose(milder, torch.tensor([0.5 ** 0.5, 1.0, 3.0 ** 0.5, 0.0]))
    even = class_weights([10, 20, 30, 40])  # median of 4 values: mean of the middle two
    assert even[0].item() == pytest.approx(0.25 / 0.1)


def test_class_weights_reject_bad_input():
    with pytest.raises(ValueError, match="unknown method"):
        class_weights([1, 2], "sqrt")
    with pytest.raises(ValueError, match="zero"):
        class_weights([0, 0])
    with pytest.raises(ValueError, match="non-negative"):
        class_weights([1, -2])


def test_weights_from_class_weights_plug_into_make_loss():
    weights = class_weights([900, 100])
    loss = make_loss("ce", num_classes=2, class_weights=weights)
    logits = torch.zeros(1, 2, 2, 2)
    target = torch.tensor([[[0, 0], [0, 1]]])
    assert loss(logits, target).item() == pytest.approx(np.log(2), rel=1e-6)


def test_labelled_pixels_applies_a_row_loss_to_the_labelled_pixels_only():
    logits, target = random_batch()
    loss = LabelledPixels(F.cross_entropy, ignore_index=IGNORE)
    assert loss.ignore_index == IGNORE  # what fit reads to accept ignored targets
    assert loss(logits, target).item() == pytest.approx(F.cross_entropy(logits, target, ignore_index=IGNORE).item(), rel=1e-6)
    seen = []
    LabelledPixels(lambda rows, labels: seen.append((rows, labels)) or rows.sum(), IGNORE)(logits, target)
    rows, labels = seen[0]
    assert rows.shape == (int((target != IGNORE).sum()), 4) and (labels != IGNORE).all()
    # the rows are the logits of each labelled pixel, in order
    assert torch.equal(rows[0], logits.movedim(1, -1)[target != IGNORE][0])
