"""Exercise checks: compare a learner's code with the workbook's reference and say what differs.

Each check prints a one-line verdict and returns True, or raises AssertionError with a hint,
so a notebook cell fails loudly when the exercise is not solved yet.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def check_close(name: str, actual: Any, expected: Any, atol: float = 1e-6) -> bool:
    """Check that `actual` equals `expected` in shape and value (to `atol`)."""
    actual, expected = _as_array(actual), _as_array(expected)
    if actual.shape != expected.shape:
        raise AssertionError(f"{name}: shape {actual.shape}, expected {expected.shape}")
    if not np.allclose(actual, expected, atol=atol, equal_nan=True):
        worst = np.nanmax(np.abs(actual.astype(float) - expected.astype(float)))
        raise AssertionError(f"{name}: values differ (largest difference {worst:.3g}, allowed {atol})")
    print(f"✓ {name}: matches the reference")
    return True


def check_function(name: str, student: Callable, reference: Callable, inputs: Sequence[tuple],
                   atol: float = 1e-6) -> bool:
    """Call both functions on each input tuple and compare their results."""
    for number, args in enumerate(inputs):
        check_close(f"{name} (input {number})", student(*args), reference(*args), atol)
    return True


def check_module(name: str, student: nn.Module, reference: nn.Module, input_shape: Sequence[int],
                 atol: float = 1e-5, seed: int = 0) -> bool:
    """Check that a module has the reference's parameter count and, with its weights, its output.

    The reference's weights are copied into the student's module (same parameter order), so the
    outputs must match exactly when the layers do the same thing in the same order.
    """
    student_count = sum(p.numel() for p in student.parameters())
    reference_count = sum(p.numel() for p in reference.parameters())
    if student_count != reference_count:
        raise AssertionError(f"{name}: {student_count:,} parameters, expected {reference_count:,}")
    student_state, reference_state = student.state_dict(), reference.state_dict()
    if [v.shape for v in student_state.values()] != [v.shape for v in reference_state.values()]:
        raise AssertionError(f"{name}: the layers hold tensors of other shapes or in another order")
    student.load_state_dict(dict(zip(student_state, reference_state.values())))
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(*input_shape, generator=generator)
    student.eval(), reference.eval()
    with torch.no_grad():
        return check_close(name, student(inputs), reference(inputs), atol)


def check_cross_entropy(student: Callable, ignore_index: int | None = None) -> bool:
    """Check a hand-written cross-entropy(logits N×C×H×W, target N×H×W) against F.cross_entropy.

    It must agree on ordinary logits and on very confident ones (gaps of 1000 between logits,
    where −log(softmax) gives inf), and its gradient must agree and stay finite. With
    `ignore_index`, pixels of that label must count nowhere, as in F.cross_entropy.
    """
    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, 5, (2, 3, 4), generator=generator)
    if ignore_index is not None:
        target[0, 0] = ignore_index
    cases = {"ordinary logits": torch.randn(2, 5, 3, 4, generator=generator) * 2,
             "confident logits (gaps of 1000)": torch.randn(2, 5, 3, 4, generator=generator) * 1000}
    options = {} if ignore_index is None else {"ignore_index": ignore_index}
    for case, values in cases.items():
        logits = values.clone().requires_grad_(True)
        loss = student(logits, target)
        expected = F.cross_entropy(values, target, **options)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise AssertionError(f"cross-entropy: return one number (the mean over the pixels), got {loss!r}")
        value = float(loss.detach())
        if math.isinf(value):
            raise AssertionError(f"cross-entropy on {case}: inf, expected {float(expected):.4g}. A probability "
                                 "underflowed to 0 before its log: work with log-probabilities, "
                                 "x - logsumexp(x), never log(softmax(x))")
        if math.isnan(value):
            raise AssertionError(f"cross-entropy on {case}: NaN, expected {float(expected):.4g}. exp() of a large "
                                 "logit overflowed (inf / inf): subtract each pixel's largest logit before exp")
        if not math.isclose(value, float(expected), rel_tol=1e-4, abs_tol=1e-4):
            raise AssertionError(f"cross-entropy on {case}: {value:.6g}, expected {float(expected):.6g}. Check the "
                                 "log-sum-exp: log Σ exp(x) = m + log Σ exp(x − m), with m the largest logit"
                                 + (f", and that pixels labelled {ignore_index} count nowhere (not in the mean either)"
                                    if ignore_index is not None else ""))
        (gradient,) = torch.autograd.grad(loss, logits)
        reference = values.clone().requires_grad_(True)
        F.cross_entropy(reference, target, **options).backward()
        if not torch.isfinite(gradient).all():
            raise AssertionError(f"cross-entropy on {case}: the gradient holds NaN or inf; the loss must be "
                                 "computed from log-probabilities, so that no step divides by 0")
        if not torch.allclose(gradient, reference.grad, atol=1e-5):
            raise AssertionError(f"cross-entropy on {case}: the gradient differs from F.cross_entropy's "
                                 f"(largest difference {float((gradient - reference.grad).abs().max()):.3g})")
    print("✓ cross-entropy: matches F.cross_entropy, confident logits and gradients included")
    return True
