"""Exercise checks: each passes the right answer and fails the course reports' mistake with a useful hint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import checks, filters, models
from helpers.checks import check_cross_entropy


def test_check_close_and_check_function():
    assert checks.check_close("x", [1.0, 2.0], np.array([1.0, 2.0]))
    with pytest.raises(AssertionError, match="shape"):
        checks.check_close("x", [1.0], [1.0, 2.0])
    with pytest.raises(AssertionError, match="largest difference 0.5"):
        checks.check_function("double", lambda v: v * 2.5, lambda v: v * 2, [(1.0,)])


def test_bgr_slice_of_the_report_is_caught():
    assert checks.check_bgr_to_rgb(lambda image: image[:, :, ::-1])
    with pytest.raises(AssertionError, match="a channel went missing"):
        checks.check_bgr_to_rgb(lambda image: image[:, :, :-1])  # the report's slice: drops R
    with pytest.raises(AssertionError, match="order they went in"):
        checks.check_bgr_to_rgb(lambda image: image)


def test_gaussian_normalising_constant_is_caught():
    def report_kernel(sigma):  # σ where σ² belongs: right at σ = 1 only
        r = filters.gaussian_radius(sigma)
        y, x = np.mgrid[-r:r + 1, -r:r + 1]
        return np.exp(-(x**2 + y**2) / (2 * sigma**2)) / (2 * np.pi * sigma)

    def continuous_constant(sigma):  # the right density, but a cut-off, sampled kernel does not sum to 1
        r = filters.gaussian_radius(sigma)
        y, x = np.mgrid[-r:r + 1, -r:r + 1]
        return np.exp(-(x**2 + y**2) / (2 * sigma**2)) / (2 * np.pi * sigma**2)

    def normalised(sigma):
        kernel = continuous_constant(sigma)
        return kernel / kernel.sum()

    assert checks.check_gaussian_kernel(normalised)
    with pytest.raises(AssertionError, match=r"σ = 0.8: the weights sum to 0.80"):
        checks.check_gaussian_kernel(report_kernel)
    with pytest.raises(AssertionError, match="not 1"):
        checks.check_gaussian_kernel(continuous_constant)


def test_swapped_sobel_kernels_are_caught():
    sobel_x, sobel_y = filters.sobel_kernels()
    assert checks.check_image_gradients(filters.sobel)
    with pytest.raises(AssertionError, match="your gx is 0"):
        checks.check_image_gradients(lambda g: (filters.convolve2d(g, sobel_y), filters.convolve2d(g, sobel_x)))


def test_miou_with_epsilon_of_the_report_is_caught():
    def with_epsilon(matrix):  # the ADE20K report: absent classes become IoU 0
        tp = np.diag(matrix)
        return float((tp / (matrix.sum(0) + matrix.sum(1) - tp + 1e-10)).mean())

    def nan_aware(matrix):
        tp = np.diag(matrix).astype(float)
        union = matrix.sum(0) + matrix.sum(1) - tp
        return float(np.nanmean(np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)))

    assert checks.check_miou_from_confusion(nan_aware)
    with pytest.raises(AssertionError, match="absent class counted as an IoU of 0"):
        checks.check_miou_from_confusion(with_epsilon)
    with pytest.raises(AssertionError, match="class only predicted"):  # skipping every zero is wrong too
        checks.check_miou_from_confusion(lambda m: nan_aware(m) if m[0, 2] == 0 else float(np.mean([5 / 9, 4 / 7])))


class ResidualUp(nn.Module):
    """The decoder block with the skip added, as a ResNet would: not a U-Net's skip."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = models.DoubleConv(in_channels // 2, out_channels)

    def forward(self, x, skip):
        return self.conv(models.pad_to(self.up(x), skip.shape[-2:]) + skip)


class ConcatenatedUp(ResidualUp):
    def __init__(self, in_channels, out_channels):
        super().__init__(in_channels, out_channels)
        self.conv = models.DoubleConv(in_channels, out_channels)

    def forward(self, x, skip):
        return self.conv(torch.cat([skip, models.pad_to(self.up(x), skip.shape[-2:])], dim=1))


def test_residual_connection_in_place_of_a_skip_is_caught():
    assert checks.check_up_block(ConcatenatedUp)
    with pytest.raises(AssertionError, match="combined into one set of channels by adding them. A U-Net concatenates"):
        checks.check_up_block(ResidualUp)


def cross_entropy_by_hand(logits, target, ignore_index=None):
    """Log-sum-exp by hand: log p = x − m − log Σ exp(x − m), m the largest logit of each pixel."""
    largest = logits.max(dim=1, keepdim=True).values
    log_probabilities = logits - largest - (logits - largest).exp().sum(dim=1, keepdim=True).log()
    counted = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    picked = log_probabilities.gather(1, torch.where(counted, target, 0).unsqueeze(1)).squeeze(1)
    return -(picked * counted).sum() / counted.sum()


def test_a_correct_hand_written_cross_entropy_passes(capsys):
    assert check_cross_entropy(cross_entropy_by_hand)
    assert check_cross_entropy(lambda x, t: cross_entropy_by_hand(x, t, 255), ignore_index=255)
    assert check_cross_entropy(F.cross_entropy)
    assert "✓ cross-entropy" in capsys.readouterr().out


def test_log_of_softmax_is_caught_with_the_reason():
    def on_softmax(logits, target):
        return -torch.log(torch.softmax(logits, dim=1)).gather(1, target.unsqueeze(1)).mean()

    with pytest.raises(AssertionError, match="confident logits.*inf.*underflowed"):
        check_cross_entropy(on_softmax)


def test_exp_without_the_shift_is_caught_as_overflow():
    def unshifted(logits, target):
        log_probabilities = logits - logits.exp().sum(dim=1, keepdim=True).log()
        return -log_probabilities.gather(1, target.unsqueeze(1)).mean()

    with pytest.raises(AssertionError, match="NaN.*overflowed"):
        check_cross_entropy(unshifted)


def test_a_log_sum_exp_without_its_maximum_added_back_is_caught():
    def half_done(logits, target):
        largest = logits.max(dim=1, keepdim=True).values
        log_probabilities = logits - (logits - largest).exp().sum(dim=1, keepdim=True).log()
        return -log_probabilities.gather(1, target.unsqueeze(1)).mean()

    with pytest.raises(AssertionError, match="ordinary logits.*m \\+ log"):
        check_cross_entropy(half_done)


def test_ignored_pixels_must_count_nowhere():
    with pytest.raises(AssertionError, match="labelled 255 count nowhere"):
        check_cross_entropy(lambda x, t: cross_entropy_by_hand(x, t.clamp_max(4)), ignore_index=255)


def test_bonnet_exercise_checks_count_and_classes_without_giving_them_away(capsys):
    label_ids = np.full((6, 8), 7, np.uint8)  # road …
    label_ids[4:, 2:6] = 1  # … and 8 pixels of bonnet
    assert checks.check_bonnet(label_ids, 8, "everything else", "ignored")
    assert checks.check_bonnet(label_ids, 8, 0, 255)
    assert "8 pixels" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="too low") as wrong_count:
        checks.check_bonnet(label_ids, 7, 0, 255)
    assert "8" not in str(wrong_count.value)  # the hint does not print the answer
    with pytest.raises(AssertionError, match="bonnet in gta9"):
        checks.check_bonnet(label_ids, 8, "road", 255)
    with pytest.raises(AssertionError, match="bonnet in cityscapes19"):
        checks.check_bonnet(label_ids, 8, 0, 0)
