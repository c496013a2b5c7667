"""Classic image filters written out in numpy: Gaussian blur, derivative kernels, Sobel, gradients.

These are the teaching versions of what OpenCV does in C++ (and what a U-Net's first layer
learns on its own): every filter is a small kernel slid over the image. Borders are filled by
reflection without repeating the edge pixel (OpenCV's default BORDER_REFLECT_101, numpy's
"reflect"), so the results match `cv2.GaussianBlur` and `cv2.Sobel` everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114])
"""RGB → grey weights (ITU-R BT.601), the same as cv2.cvtColor(..., cv2.COLOR_RGB2GRAY)."""


def gaussian_radius(sigma: float) -> int:
    """Default kernel radius ceil(3σ): the kernel then holds 99.7 % of the Gaussian's weight."""
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    return max(1, math.ceil(3 * sigma))


def gaussian_kernel1d(sigma: float, radius: int | None = None) -> np.ndarray:
    """Sampled 1-D Gaussian of 2·radius+1 taps (radius default ceil(3σ)), normalised to sum 1."""
    radius = gaussian_radius(sigma) if radius is None else int(radius)
    if radius < 0:
        raise ValueError(f"radius must be ≥ 0, got {radius}")
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-(offsets**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def gaussian_kernel2d(sigma: float, radius: int | None = None) -> np.ndarray:
    """2-D Gaussian as the outer product of two 1-D Gaussians: g(x, y) = g(x)·g(y)."""
    kernel1d = gaussian_kernel1d(sigma, radius)
    return np.outer(kernel1d, kernel1d)


def _as_float_image(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """numpy float view of an H×W or H×W×C image (integers → float32, values unchanged)."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"expected an H×W or H×W×C image, got shape {image.shape}")
    if not np.issubdtype(image.dtype, np.floating):
        image = image.astype(np.float32)
    return image


def convolve2d(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Slide `kernel` over an H×W (or H×W×C, per channel) image: 2-D correlation, same size out.

    Like cv2.filter2D the kernel is not flipped, and borders are reflected (reflect-101).
    Each output pixel is the sum of kernel × the window around it, computed for all pixels
    at once from a strided view of the padded image (no copy of the windows).
    """
    image = _as_float_image(image)
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise ValueError(f"kernel must be 2-D with odd height and width, got shape {kernel.shape}")
    pad_y, pad_x = kernel.shape[0] // 2, kernel.shape[1] // 2
    padding = [(pad_y, pad_y), (pad_x, pad_x)] + [(0, 0)] * (image.ndim - 2)
    padded = np.pad(image.astype(np.float64), padding, mode="reflect")
    windows = sliding_window_view(padded, kernel.shape, axis=(0, 1))  # H×W[×C]×kh×kw
    result = np.einsum("...ij,ij->...", windows, kernel)
    return result.astype(image.dtype)


def separable_blur(image: np.ndarray, sigma: float, radius: int | None = None) -> np.ndarray:
    """Gaussian blur as two 1-D passes (rows, then columns): 2·(2r+1) instead of (2r+1)² taps per pixel."""
    kernel1d = gaussian_kernel1d(sigma, radius)
    blurred_rows = convolve2d(image, kernel1d[np.newaxis, :])
    return convolve2d(blurred_rows, kernel1d[:, np.newaxis])


def gaussian_blur(image: np.ndarray, sigma: float, radius: int | None = None) -> np.ndarray:
    """Gaussian blur (separable). Matches cv2.GaussianBlur(image, (k, k), sigma) with k = 2·radius+1."""
    return separable_blur(image, sigma, radius)


def central_difference_kernels() -> tuple[np.ndarray, np.ndarray]:
    """Derivative kernels (I(x+1) − I(x−1)) / 2: kx is 1×3 [-0.5, 0, 0.5], ky its 3×1 transpose."""
    kx = np.array([[-0.5, 0.0, 0.5]])
    return kx, kx.T.copy()


def sobel_kernels() -> tuple[np.ndarray, np.ndarray]:
    """3×3 Sobel kernels: a central difference along one axis, a [1, 2, 1] smoothing along the other."""
    smooth = np.array([1.0, 2.0, 1.0])
    difference = np.array([-1.0, 0.0, 1.0])
    kx = np.outer(smooth, difference)
    return kx, kx.T.copy()


def to_gray(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """Grey float32 H×W from H×W×3 RGB (uint8 → [0, 1]), a torch 3×H×W tensor, or H×W (kept)."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
        if image.ndim == 3 and image.shape[0] in (1, 3):
            image = np.moveaxis(image, 0, -1)
    image = np.asarray(image)
    scale = 1 / 255 if image.dtype == np.uint8 else 1.0
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return (image * scale).astype(np.float32)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected H×W, H×W×3 or 3×H×W, got shape {image.shape}")
    return (image.astype(np.float64) @ GRAY_WEIGHTS * scale).astype(np.float32)


def _derivative_kernels(operator: str) -> tuple[np.ndarray, np.ndarray]:
    if operator == "sobel":
        return sobel_kernels()
    if operator == "central":
        return central_difference_kernels()
    raise ValueError(f"unknown derivative operator {operator!r}; use 'sobel' or 'central'")


def sobel(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical Sobel derivatives (gx, gy), as cv2.Sobel(img, cv2.CV_32F, 1, 0 / 0, 1, ksize=3)."""
    kx, ky = sobel_kernels()
    return convolve2d(image, kx), convolve2d(image, ky)


def image_gradients(image: np.ndarray, sigma: float | None = None,
                    operator: str = "sobel") -> tuple[np.ndarray, np.ndarray]:
    """(gx, gy) of the grey image, optionally Gaussian-smoothed first (smoothing tames noise)."""
    gray = to_gray(image)
    if sigma:
        gray = gaussian_blur(gray, sigma)
    kx, ky = _derivative_kernels(operator)
    return convolve2d(gray, kx), convolve2d(gray, ky)


def gradient_magnitude(image: np.ndarray, sigma: float | None = None, operator: str = "sobel") -> np.ndarray:
    """Edge strength sqrt(gx² + gy²) of the grey image; `sigma` smooths first, `operator` is sobel or central."""
    gx, gy = image_gradients(image, sigma, operator)
    return np.hypot(gx, gy)


def gradient_direction(image: np.ndarray, sigma: float | None = None, operator: str = "sobel") -> np.ndarray:
    """Gradient direction atan2(gy, gx) in radians, (−π, π]: 0 = brighter to the right, π/2 = brighter below."""
    gx, gy = image_gradients(image, sigma, operator)
    return np.arctan2(gy, gx)


def as_conv2d(kernel: np.ndarray, channels: int = 1, padding_mode: str = "reflect") -> torch.nn.Conv2d:
    """A fixed (not trained) Conv2d applying `kernel` to each of `channels` channels separately.

    `kernel` is kh×kw, or K×kh×kw for K kernels per channel (output channel c·K + k).
    groups=channels keeps channels apart; reflect padding gives the numpy `convolve2d` result.
    """
    weight = torch.as_tensor(np.asarray(kernel), dtype=torch.float32)
    if weight.ndim == 2:
        weight = weight.unsqueeze(0)
    if weight.ndim != 3 or weight.shape[1] % 2 == 0 or weight.shape[2] % 2 == 0:
        raise ValueError(f"kernel must be kh×kw or K×kh×kw with odd kh, kw; got shape {tuple(weight.shape)}")
    per_channel, height, width = weight.shape
    conv = torch.nn.Conv2d(channels, channels * per_channel, (height, width), padding=(height // 2, width // 2),
                           padding_mode=padding_mode, groups=channels, bias=False)
    with torch.no_grad():
        conv.weight.copy_(weight.repeat(channels, 1, 1).unsqueeze(1))
    conv.weight.requires_grad_(False)
    return conv


def cosine(kernel: np.ndarray, reference: np.ndarray) -> float:
    """|cosine similarity| of two kernels seen as vectors: 1 = the same shape up to scale and sign, 0 = unrelated."""
    kernel, reference = np.ravel(kernel).astype(np.float64), np.ravel(reference).astype(np.float64)
    norms = np.linalg.norm(kernel) * np.linalg.norm(reference)
    return float(abs(kernel @ reference) / norms) if norms > 0 else 0.0


def learn_kernel(image: np.ndarray, target_kernel: np.ndarray, steps: int = 600, lr: float = 0.1,
                 seed: int = 0, every: int = 10) -> dict[str, list]:
    """Train one bias-free, randomly started kh×kw convolution to reproduce `target_kernel`'s response on `image`.

    Gradient descent (Adam) on the mean squared difference between the layer's output and
    convolve2d(image, target_kernel); the layer starts from PyTorch's default initialisation
    under `seed`. Returns the steps it looked at (every `every` steps, and the last), the loss and
    the |cosine| with the target there, and the kernels: what a learned filter becomes when the
    loss asks for a known one.
    """
    image = _as_float_image(image)
    if image.ndim != 2:
        raise ValueError(f"expected a grey H×W image, got shape {image.shape}")
    target_kernel = np.asarray(target_kernel, dtype=np.float32)
    pixels = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    target = torch.from_numpy(convolve2d(image, target_kernel).astype(np.float32))[None, None]
    pad_y, pad_x = target_kernel.shape[0] // 2, target_kernel.shape[1] // 2
    padded = torch.nn.functional.pad(pixels, (pad_x, pad_x, pad_y, pad_y), mode="reflect")  # as convolve2d's border
    torch.manual_seed(seed)
    layer = torch.nn.Conv2d(1, 1, target_kernel.shape, bias=False)
    optimizer = torch.optim.Adam(layer.parameters(), lr=lr)
    fit = {"step": [], "loss": [], "cosine": [], "kernel": []}
    for step in range(steps + 1):
        loss = torch.nn.functional.mse_loss(layer(padded), target)
        if step % every == 0 or step == steps:
            kernel = layer.weight.detach()[0, 0].numpy().copy()
            for key, value in (("step", step), ("loss", loss.item()), ("kernel", kernel),
                               ("cosine", cosine(kernel, target_kernel))):
                fit[key].append(value)
        if step < steps:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return fit


def first_layer(net: torch.nn.Module) -> torch.nn.Conv2d:
    """The first convolution of `net`: the layer that sees the pixels, where edge detectors would appear."""
    return next(module for module in net.modules() if isinstance(module, torch.nn.Conv2d))


def moved_share(weights: np.ndarray, start: np.ndarray) -> float | None:
    """How far training moved `weights` from `start`, as a share of the start's size: ‖W − W₀‖ / ‖W₀‖ (None: shapes
    differ). It counts a pure rescaling too, which batch norm after the layer undoes: see `turned_degrees`."""
    if weights.shape != start.shape:
        return None
    return float(np.linalg.norm(weights - start) / np.linalg.norm(start))


def turned_degrees(weights: np.ndarray, start: np.ndarray) -> float | None:
    """How far training turned each filter (a row of `weights`, out × …) from its start, ignoring its scale:
    the angle between W and W₀ with |cos| (0° = the same shape up to scale and sign, 90° = unrelated),
    averaged over the filters. Batch norm after the layer undoes scale, so this is the change it sees
    (None: shapes differ)."""
    if weights.shape != start.shape:
        return None
    rows, start_rows = weights.reshape(len(weights), -1), start.reshape(len(start), -1)
    cosines = [cosine(row, start_row) for row, start_row in zip(rows, start_rows)]
    return float(np.degrees(np.arccos(np.clip(cosines, 0.0, 1.0))).mean())


def epoch_learning_rates(recipe: Mapping, steps_per_epoch: int = 10) -> np.ndarray | None:
    """Each epoch's mean learning rate under a recorded recipe's schedule (`Recipe.to_dict` form), found by stepping
    the schedule on a one-weight model; None for a schedule that reacts to a validation score (the run decided it)."""
    from helpers.recipe import Recipe

    optimizer, schedule = Recipe.from_dict(recipe).build(torch.nn.Linear(1, 1), steps_per_epoch)
    if schedule.step_on == "metric":
        return None
    rates = np.zeros(int(recipe["epochs"]))
    for epoch in range(len(rates)):
        for _ in range(steps_per_epoch):
            rates[epoch] += optimizer.param_groups[0]["lr"] / steps_per_epoch
            optimizer.step()
            schedule.step("batch")
        schedule.step("epoch")
    return rates


def describe_schedules(reference_recipe: Mapping, this_recipe: Mapping) -> str:
    """Why a run's first layer can end nearer its start than another's with more epochs or a larger summed rate: both
    recipes' schedules and epochs, and the learning rate each summed over its epochs (each epoch's mean rate), the
    budget of step sizes."""
    from helpers.optim import SCHEDULE_REGISTRY, schedule_name

    def words(recipe: Mapping) -> str:
        name = schedule_name(recipe["schedule"])
        return (f"{recipe['epochs']} epoch{'s' if recipe['epochs'] != 1 else ''} at lr {recipe['lr']:.2e} under the "
                f"'{name}' schedule ({SCHEDULE_REGISTRY[name].summary})")

    text = f"the reference ran {words(reference_recipe)}, this run {words(this_recipe)}"
    rates = epoch_learning_rates(reference_recipe), epoch_learning_rates(this_recipe)
    if rates[0] is None or rates[1] is None:
        return (text + ": how far weights move follows the step sizes summed over all steps, not the epoch count "
                "(here a schedule set by the validation score, so the sum is not known from the recipe)")
    (reference_sum, this_sum), (reference_last, this_last) = (float(r.sum()) for r in rates), (r[-1] for r in rates)
    sums = f"summed over the epochs, its learning rate is {{}} ({reference_sum:.3f} against {this_sum:.3f})"
    if reference_sum < this_sum:
        return (f"{text}; {sums.format('the smaller')}: how far weights move follows the summed step sizes, not "
                "the epoch count")
    return (f"{text}; {sums.format('the larger')}, yet its layer ended nearer its start: the distance from the start "
            "is not the length of the path (steps that go back and forth cancel), and the reference ended at a rate "
            f"of {reference_last:.1e} against {this_last:.1e}: its last epochs hardly moved the weights")


def describe_reference_filters(facts: Mapping[str, float], chance_95: float,
                               this_run: tuple[float, float] | None = None,
                               recipes: tuple[Mapping, Mapping] | None = None) -> str:
    """What training did to the reference model's first layer: how far it moved and turned, whether its best
    |cos| with Sobel beats the luckiest 5 % of random kernels (`chance_95`), and, given this run's
    (moved, turned), whether the reference's training took the layer further; where it did not, given both
    runs' recorded `recipes` (the reference's, this run's), a line on their schedules (`describe_schedules`).

    `facts` holds the reference's "epochs", "moved" (`moved_share`), "turned" (`turned_degrees`) and
    "best_cosine" (its best |cos| with either Sobel kernel).
    """
    beats = "above" if facts["best_cosine"] > chance_95 else "not above"
    text = (f"reference model, {facts['epochs']} epochs: its first layer moved by {facts['moved']:.0%} of its initial "
            f"size and turned by {facts['turned']:.1f}°; best |cos| with Sobel {facts['best_cosine']:.2f}, {beats} the "
            f"luckiest 5 % of random kernels ({chance_95:.2f})")
    if this_run is None:
        return text
    moved, turned = this_run

    def further(reference_value: float, this_value: float) -> str:
        return "further" if reference_value > this_value else "not further"

    text = (f"{text}\nagainst this run's layer: by size {further(facts['moved'], moved)} ({facts['moved']:.0%} "
            f"against {moved:.0%}), by shape {further(facts['turned'], turned)} ({facts['turned']:.1f}° against "
            f"{turned:.1f}°)")
    if recipes is None or None in recipes or (facts["moved"] > moved and facts["turned"] > turned):
        return text
    return f"{text}\n{describe_schedules(*recipes)}"


def describe_best_match(best: float, chance_level: float, chance_95: float, trained: bool = True,
                        turned: float | None = None) -> str:
    """The verdict on a first layer's best |cos| with Sobel (`best`) against the best of as many random kernels:
    `chance_level` on average, `chance_95` for the luckiest 5 % of draws; `turned` is how far training turned its
    filters (degrees), `trained` False for an untrained layer."""
    if not trained:
        return (f"an untrained layer: best |cos| {best:.2f} against {chance_level:.2f} for random kernels on average — "
                "random, as it should be. Run 07_final_training into this RUN_DIR to see trained filters.")
    text = f"the trained layer's best match, |cos| {best:.2f}, is "
    if best > chance_95:
        return (text + f"above what 95 % of random draws reach ({chance_95:.2f}): training made some of its kernels "
                "Sobel-like.")
    if best >= chance_level:
        text += (f"within what random kernels reach ({chance_level:.2f} on average, {chance_95:.2f} for the luckiest "
                 "5 %)")
    else:
        text += (f"below what random kernels reach on average ({chance_level:.2f}; {chance_95:.2f} for the luckiest "
                 "5 %): its kernels are less Sobel-like than random ones")
    turn = f"; training turned its filters by {turned:.1f}° on average" if turned is not None else ""
    return text + turn + ": whatever this layer learned, it is not a Sobel shape. Exercise 5 tries a longer run."


def chance_best_cosines(count: int, references: list[np.ndarray], draws: int = 200, seed: int = 0) -> np.ndarray:
    """For `draws` sets of `count` random Gaussian 3×3 kernels: the best |cos| any kernel of the set reaches
    with any of `references` — the chance level of "the best match to the best reference"."""
    random_kernels = np.random.default_rng(seed).normal(size=(draws, count, 9))
    unit_kernels = random_kernels / np.linalg.norm(random_kernels, axis=-1, keepdims=True)
    unit_references = np.stack([np.ravel(k) / np.linalg.norm(k) for k in references])  # R × 9
    return np.abs(unit_kernels @ unit_references.T).max(axis=(1, 2))


def kernels_of(weights: np.ndarray) -> np.ndarray:
    """The 3×3 kernels of a layer (out × in × 3 × 3) as rows of 9: each channel of each filter, then each filter's sum."""
    return np.concatenate([weights.reshape(-1, 9), weights.sum(axis=1).reshape(-1, 9)])


def kernel_names(out_channels: int, in_channels: int) -> list[str]:
    """Names of the rows of `kernels_of`: "filter 0, R" … then "filter 0, sum over RGB" …"""
    channel = (lambda c: "RGB"[c]) if in_channels == 3 else str
    return ([f"filter {o}, {channel(c)}" for o in range(out_channels) for c in range(in_channels)]
            + [f"filter {o}, sum over RGB" for o in range(out_channels)])


def direction_picture(direction: np.ndarray, magnitude: np.ndarray, weakest: float = 0.1) -> np.ndarray:
    """Gradient direction in degrees, NaN (drawn blank) where the magnitude is below `weakest`: noise has no direction."""
    return np.where(magnitude >= weakest, np.degrees(direction), np.nan)


def plot_gradient_rows(rows: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], title: str,
                       top: float | None = None, weakest: float = 0.1):
    """One row per (label, grey picture, gradient magnitude, direction): the picture, its magnitude, its direction.

    All magnitudes share one colour scale up to `top` (default: the 99th percentile of the first row's).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 3, figsize=(15, 3.5 * len(rows)), squeeze=False)
    top = float(np.percentile(rows[0][2], 99)) if top is None else top
    for row, (label, picture, magnitude, direction) in zip(axes, rows):
        row[0].imshow(picture, cmap="gray", vmin=0, vmax=1)
        row[0].set_title(f"noisy grey frame, {label}")
        shown = row[1].imshow(magnitude, cmap="inferno", vmin=0, vmax=top)
        row[1].set_title(f"gradient magnitude, {label}")
        fig.colorbar(shown, ax=row[1], label="√(gx² + gy²)")
        shown = row[2].imshow(direction_picture(direction, magnitude, weakest), cmap="hsv", vmin=-180, vmax=180)
        row[2].set_title(f"direction where magnitude ≥ {weakest:g}, {label}")
        fig.colorbar(shown, ax=row[2], label="atan2(gy, gx) in degrees")
    for ax in axes.flat:
        ax.set(xlabel="x (pixels)", ylabel="y (pixels)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def describe_speedup(measured: float, predicted: float, close: float = 0.1) -> str:
    """The measured separable speed-up against the tap count's prediction: about it (within `close`), more or less."""
    text = f"separable speed-up: {measured:.1f}× — "
    if abs(measured / predicted - 1) <= close:
        return text + f"about the {predicted:.1f}× the tap count alone predicts: here the taps are what costs"
    if measured > predicted:
        return (text + f"more than the {predicted:.1f}× the tap count alone predicts: here each tap of the 2-D "
                "loop costs more than a tap of the two 1-D passes")
    return (text + f"less than the {predicted:.1f}× the tap count alone predicts: here the second pass and its "
            "intermediate image cost more than their taps")


def label_offset_axes(fig) -> None:
    """Give each image panel of a `show_image_grid` figure its axes back: x and y offsets (px) from the centre."""
    for ax in [ax for ax in fig.axes if ax.images]:
        height, width = ax.images[0].get_array().shape[:2]
        ax.set_axis_on()
        for size, set_ticks, set_label, name in ((width, ax.set_xticks, ax.set_xlabel, "x"),
                                                 (height, ax.set_yticks, ax.set_ylabel, "y")):
            centre = size // 2
            positions = sorted({0, centre, size - 1})
            set_ticks(positions, [str(p - centre) for p in positions])
            set_label(f"{name} offset (px)")
