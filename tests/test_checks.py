"""helpers.checks: the exercise checks say what is wrong, and pass what is right."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from helpers.checks import check_cross_entropy


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
