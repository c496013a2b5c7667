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



# ---------------------------------------------------------------- exercises whose answer comes from the data

def check_bonnet(label_ids: np.ndarray, pixels: int, gta9_class: int | str, cityscapes_class: int | str) -> bool:
    """Exercise (notebook 00): the pixels of *ego vehicle* (label id 1) in `label_ids`, and its class in each map.

    The classes may be given as an index or a name; Cityscapes-19 answers 255 or "ignored". The
    reference is computed here, so the exercise cell does not print the answer.
    """
    from .classes import CITYSCAPES, GTA9, LABEL_ID
    from .encoding import palette_to_index

    bonnet = LABEL_ID["ego vehicle"]
    count = int((np.asarray(label_ids) == bonnet).sum())
    if int(pixels) != count:
        raise AssertionError(f"bonnet pixels: {int(pixels)} is too {'high' if int(pixels) > count else 'low'}; "
                             "count the pixels whose label id is 1")
    for class_map, answer in ((GTA9, gta9_class), (CITYSCAPES, cityscapes_class)):
        index = int(palette_to_index(np.array([[bonnet]], np.uint8), class_map)[0, 0])
        names = {str(index)} | ({class_map.class_names[index]} if index < class_map.num_classes else {"ignored"})
        if str(answer).strip().lower() not in {name.lower() for name in names}:
            raise AssertionError(f"bonnet in {class_map.name}: not {answer!r}; look the label id up in the class "
                                 "table of section 5")
    print(f"✓ bonnet: {count} pixels, and its class in both maps: right")
    return True

# ---------------------------------------------------------------- spot the bug: the course reports' own mistakes

def check_bgr_to_rgb(to_rgb: Callable[[np.ndarray], np.ndarray]) -> bool:
    """Spot the bug (notebook 02): `to_rgb(image)` turns an H×W×3 image as OpenCV reads it (BGR) into RGB."""
    bgr = np.random.default_rng(0).integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
    result = np.asarray(to_rgb(bgr.copy()))
    if result.shape != bgr.shape:
        raise AssertionError(f"to_rgb: the result has shape {result.shape}, the image {bgr.shape}: a channel went "
                             "missing. Which channels does your slice keep, and in which order?")
    if np.array_equal(result, bgr):
        raise AssertionError("to_rgb: the channels come back in the order they went in (B, G, R)")
    return check_close("to_rgb", result, bgr[:, :, ::-1])


def check_gaussian_kernel(kernel2d: Callable[[float], np.ndarray]) -> bool:
    """Spot the bug (notebook 09): `kernel2d(sigma)` is the sampled 2-D Gaussian, radius ⌈3σ⌉, weights summing to 1."""
    from .filters import gaussian_kernel2d

    for sigma in (0.8, 1.0, 2.0, 3.0):
        kernel, reference = np.asarray(kernel2d(sigma), dtype=float), gaussian_kernel2d(sigma)
        if kernel.shape != reference.shape:
            raise AssertionError(f"σ = {sigma}: a {kernel.shape} kernel, expected {reference.shape} (radius ⌈3σ⌉)")
        total = kernel.sum()
        if not np.isclose(total, 1.0, atol=1e-6):
            raise AssertionError(f"σ = {sigma}: the weights sum to {total:.4f}, not 1, so a blur with this kernel makes "
                                 f"the image {total:.2f}× as bright. Check the constant in front of the exponential "
                                 "for every σ, and whether any constant makes a sampled, cut-off kernel sum to 1")
        check_close(f"Gaussian kernel, σ = {sigma}", kernel, reference)
    return True


def check_image_gradients(gradients: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]) -> bool:
    """Spot the bug (notebook 09): `gradients(gray)` → (gx, gy): gx the change along x (to the right), gy along y (down)."""
    from .filters import sobel

    ramp = np.tile(np.arange(8, dtype=np.float32), (6, 1))  # brighter to the right: a gradient along x only
    gx, gy = (np.asarray(g, dtype=float) for g in gradients(ramp))
    inside = (slice(1, -1), slice(1, -1))
    if np.allclose(gx[inside], 0) and not np.allclose(gy[inside], 0):
        raise AssertionError("gradients: on an image that gets brighter to the right, your gx is 0 and your gy is "
                             "not. Which way does each kernel take its difference?")
    image = np.random.default_rng(0).random((9, 11)).astype(np.float32)
    expected_x, expected_y = sobel(image)
    mine_x, mine_y = gradients(image)
    return check_close("gx", mine_x, expected_x, atol=1e-5) and check_close("gy", mine_y, expected_y, atol=1e-5)


def check_miou_from_confusion(miou: Callable[[np.ndarray], float]) -> bool:
    """Spot the bug (notebook 07): mIoU from a confusion matrix (rows = true class); a class absent from both
    target and prediction has no IoU and is left out, a class only predicted has IoU 0."""
    absent = np.array([[5, 1, 0], [2, 4, 0], [0, 0, 0]])  # class 2: in neither target nor prediction
    only_predicted = np.array([[5, 1, 1], [2, 4, 0], [0, 0, 0]])  # class 2: predicted once, never true
    iou = np.array([5 / 8, 4 / 7])
    result = float(miou(absent))
    if np.isclose(result, iou.sum() / 3, atol=1e-6):
        raise AssertionError(f"mIoU: {result:.4f} on a matrix where class 2 never occurs, the mean of its two real "
                             f"IoUs is {iou.mean():.4f}: the absent class counted as an IoU of 0. What is 0 / (0 + ε)?")
    check_close("mIoU with an absent class", result, iou.mean())
    return check_close("mIoU with a class only predicted", float(miou(only_predicted)),
                       np.mean([5 / 9, 4 / 7, 0.0]))


def check_up_block(up_class: Callable[[int, int], nn.Module]) -> bool:
    """Spot the bug (notebook 08): `up_class(in_channels, out_channels)` is a U-Net decoder block: up-sample,
    pad, then put the skip *beside* the up-sampled features (concatenate) before its DoubleConv."""
    from .models import Up

    class SkipProbe(nn.Module):
        def __init__(self, block: nn.Module, skip: torch.Tensor):
            super().__init__()
            self.block = block
            self.register_buffer("skip", skip)

        def forward(self, x):
            return self.block(x, self.skip)

    skip = torch.randn(2, 16, 9, 12, generator=torch.Generator().manual_seed(1))
    student, reference = up_class(32, 16), Up(32, 16)
    convs = [m for m in student.modules() if isinstance(m, nn.Conv2d)]
    if convs and convs[0].in_channels == 16:
        raise AssertionError("Up: the first convolution after the skip reads 16 channels, as many as the skip alone: "
                             "the skip and the up-sampled features were combined into one set of channels by adding "
                             "them. A U-Net concatenates them: the skip's channels beside the up-sampled ones.")
    return check_module("Up", SkipProbe(student, skip), SkipProbe(reference, skip), input_shape=(2, 32, 4, 6))
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
