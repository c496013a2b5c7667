"""Exercise checks: compare a learner's code with the workbook's reference and say what differs.

Each check prints a one-line verdict and returns True, or raises AssertionError with a hint,
so a notebook cell fails loudly when the exercise is not solved yet.
"""

from __future__ import annotations

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
