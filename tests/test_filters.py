"""helpers.filters: the numpy teaching filters give what OpenCV gives."""

import cv2
import numpy as np
import pytest
import torch

from helpers import filters


@pytest.fixture
def noise_image() -> np.ndarray:
    return np.random.default_rng(0).random((23, 31)).astype(np.float32)


def step_edge(height: int = 20, width: int = 24, column: int = 12) -> np.ndarray:
    """Dark left half, bright right half: a vertical edge at `column`."""
    image = np.zeros((height, width), dtype=np.float32)
    image[:, column:] = 1.0
    return image


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.7, 3.0])
def test_kernel1d_is_normalised_sized_and_matches_opencv(sigma):
    kernel = filters.gaussian_kernel1d(sigma)
    radius = int(np.ceil(3 * sigma))
    assert kernel.shape == (2 * radius + 1,)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-12)
    assert kernel.argmax() == radius
    np.testing.assert_allclose(kernel, kernel[::-1])
    np.testing.assert_allclose(kernel, cv2.getGaussianKernel(2 * radius + 1, sigma).ravel(), atol=1e-7)


def test_kernel1d_explicit_radius_and_bad_sigma():
    assert filters.gaussian_kernel1d(2.0, radius=2).shape == (5,)
    with pytest.raises(ValueError, match="sigma"):
        filters.gaussian_kernel1d(0.0)


def test_kernel2d_is_outer_product_of_1d_kernels():
    kernel1d = filters.gaussian_kernel1d(1.3)
    kernel2d = filters.gaussian_kernel2d(1.3)
    np.testing.assert_allclose(kernel2d, np.outer(kernel1d, kernel1d))
    assert kernel2d.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(kernel2d, kernel2d.T)


@pytest.mark.parametrize("sigma", [0.8, 1.5, 2.5])
def test_gaussian_blur_matches_opencv(noise_image, sigma):
    size = 2 * int(np.ceil(3 * sigma)) + 1
    expected = cv2.GaussianBlur(noise_image, (size, size), sigma, borderType=cv2.BORDER_REFLECT_101)
    blurred = filters.gaussian_blur(noise_image, sigma)
    assert blurred.dtype == np.float32 and blurred.shape == noise_image.shape
    np.testing.assert_allclose(blurred, expected, atol=1e-5)


def test_gaussian_blur_colour_image_per_channel():
    image = np.random.default_rng(1).random((15, 18, 3)).astype(np.float32)
    expected = cv2.GaussianBlur(image, (7, 7), 1.0, borderType=cv2.BORDER_REFLECT_101)
    np.testing.assert_allclose(filters.gaussian_blur(image, 1.0), expected, atol=1e-5)


def test_separable_blur_equals_2d_convolution(noise_image):
    two_d = filters.convolve2d(noise_image, filters.gaussian_kernel2d(2.0))
    np.testing.assert_allclose(filters.separable_blur(noise_image, 2.0), two_d, atol=1e-6)


def test_convolve2d_is_correlation_with_reflect101_border(noise_image):
    kernel = np.random.default_rng(2).normal(size=(3, 5))  # asymmetric: flipping would show
    expected = cv2.filter2D(noise_image, cv2.CV_32F, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT_101)
    np.testing.assert_allclose(filters.convolve2d(noise_image, kernel), expected, atol=1e-5)


def test_convolve2d_rejects_even_kernels(noise_image):
    with pytest.raises(ValueError, match="odd"):
        filters.convolve2d(noise_image, np.ones((2, 2)))


def test_blur_keeps_the_mean_of_a_constant_image():
    image = np.full((9, 11), 0.25, dtype=np.float32)
    np.testing.assert_allclose(filters.gaussian_blur(image, 1.5), image, atol=1e-7)


def test_derivative_kernels_values():
    kx, ky = filters.central_difference_kernels()
    np.testing.assert_array_equal(kx, [[-0.5, 0.0, 0.5]])
    np.testing.assert_array_equal(ky, [[-0.5], [0.0], [0.5]])
    sx, sy = filters.sobel_kernels()
    np.testing.assert_array_equal(sx, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(sy, sx.T)


def test_central_difference_of_a_ramp_is_its_slope():
    ramp = np.tile(3.0 * np.arange(10, dtype=np.float32), (6, 1))  # intensity 3·x
    kx, ky = filters.central_difference_kernels()
    np.testing.assert_allclose(filters.convolve2d(ramp, kx)[:, 1:-1], 3.0)
    np.testing.assert_allclose(filters.convolve2d(ramp, ky), 0.0)


def test_sobel_matches_opencv(noise_image):
    gx, gy = filters.sobel(noise_image)
    np.testing.assert_allclose(gx, cv2.Sobel(noise_image, cv2.CV_32F, 1, 0, ksize=3), atol=1e-5)
    np.testing.assert_allclose(gy, cv2.Sobel(noise_image, cv2.CV_32F, 0, 1, ksize=3), atol=1e-5)


def test_gradient_of_vertical_step_edge_points_along_x():
    image = step_edge(column=12)
    magnitude = filters.gradient_magnitude(image)
    direction = filters.gradient_direction(image)
    strongest_columns = np.unique(magnitude.argmax(axis=1))
    assert set(strongest_columns.tolist()) <= {11, 12}
    assert magnitude[:, 11:13].min() == pytest.approx(4.0)  # Sobel weights 1 + 2 + 1 times a step of 1
    np.testing.assert_allclose(magnitude[:, :10], 0.0)
    np.testing.assert_allclose(direction[:, 11:13], 0.0, atol=1e-7)  # brighter to the right


def test_gradient_of_horizontal_edge_points_down():
    image = step_edge().T.copy()  # bright bottom half
    direction = filters.gradient_direction(image, operator="central")
    np.testing.assert_allclose(direction[11:13, :], np.pi / 2)


def test_smoothing_reduces_gradient_noise():
    noise = np.random.default_rng(3).normal(0.5, 0.1, (40, 40)).astype(np.float32)
    raw = filters.gradient_magnitude(noise).mean()
    smoothed = filters.gradient_magnitude(noise, sigma=2.0).mean()
    assert smoothed < 0.3 * raw


def test_gradient_of_colour_image_uses_grey():
    colour = np.random.default_rng(4).random((12, 14, 3)).astype(np.float32)
    np.testing.assert_allclose(filters.gradient_magnitude(colour),
                               filters.gradient_magnitude(filters.to_gray(colour)), atol=1e-6)


def test_to_gray_matches_opencv_and_accepts_tensors():
    rgb = np.random.default_rng(5).random((8, 9, 3)).astype(np.float32)
    expected = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    np.testing.assert_allclose(filters.to_gray(rgb), expected, atol=1e-6)
    np.testing.assert_allclose(filters.to_gray(torch.from_numpy(rgb).permute(2, 0, 1)), expected, atol=1e-6)
    np.testing.assert_allclose(filters.to_gray(np.round(rgb * 255).astype(np.uint8)), expected, atol=3e-3)


def test_as_conv2d_matches_numpy_per_channel():
    image = np.random.default_rng(6).random((14, 17, 3)).astype(np.float32)
    kernel = filters.gaussian_kernel2d(1.0)
    conv = filters.as_conv2d(kernel, channels=3)
    assert not conv.weight.requires_grad and conv.groups == 3
    with torch.no_grad():
        out = conv(torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0))[0].permute(1, 2, 0).numpy()
    expected = filters.convolve2d(image, kernel)
    np.testing.assert_allclose(out[3:-3, 3:-3], expected[3:-3, 3:-3], atol=1e-5)
    np.testing.assert_allclose(out, expected, atol=1e-5)  # reflect padding: borders match as well


def test_as_conv2d_stacks_several_kernels():
    image = np.random.default_rng(7).random((10, 12)).astype(np.float32)
    conv = filters.as_conv2d(np.stack(filters.sobel_kernels()))
    with torch.no_grad():
        out = conv(torch.from_numpy(image)[None, None])[0].numpy()
    gx, gy = filters.sobel(image)
    assert out.shape == (2, 10, 12)
    np.testing.assert_allclose(out[0], gx, atol=1e-5)
    np.testing.assert_allclose(out[1], gy, atol=1e-5)


def test_first_layer_and_how_far_it_moved():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1))
    assert filters.first_layer(net) is net[0]
    start = np.ones((4, 3, 3, 3))
    assert filters.moved_share(start * 1.5, start) == pytest.approx(0.5)
    assert filters.moved_share(start, start) == 0.0
    assert filters.moved_share(np.ones((2, 3, 3, 3)), start) is None


def test_turned_degrees_ignores_scale_and_sign_but_not_shape():
    start = np.random.default_rng(0).normal(size=(4, 3, 3, 3))
    assert filters.turned_degrees(start * 3.0, start) == pytest.approx(0.0, abs=1e-5)  # moved_share: 200 %
    assert filters.turned_degrees(-start, start) == pytest.approx(0.0, abs=1e-5)
    orthogonal = start.copy()
    orthogonal[0] = 0.0
    orthogonal[0, 0, 0, 0] = 1.0
    start_one = np.zeros_like(start)
    start_one[0, 0, 0, 1] = 1.0
    turned = filters.turned_degrees(np.concatenate([orthogonal[:1], start[1:]]), np.concatenate([start_one[:1], start[1:]]))
    assert turned == pytest.approx(90.0 / 4)  # one filter of four turned to a right angle, three unchanged
    assert filters.turned_degrees(np.ones((2, 3, 3, 3)), start) is None


def test_describe_reference_filters_says_above_or_not_and_further_or_not():
    facts = {"epochs": 40, "moved": 0.8, "turned": 30.0, "best_cosine": 0.91}
    first = ("reference model, 40 epochs: its first layer moved by 80% of its initial size and turned by 30.0°; "
             "best |cos| with Sobel 0.91, {} the luckiest 5 % of random kernels (0.85)")
    assert filters.describe_reference_filters(facts, 0.85) == first.format("above")
    assert filters.describe_reference_filters(facts, 0.95) == first.replace("0.85", "0.95").format("not above")
    assert filters.describe_reference_filters(facts, 0.85, this_run=(0.2, 10.0)) == (
        first.format("above") + "\nagainst this run's layer: by size further (80% against 20%), by shape further "
        "(30.0° against 10.0°)")
    assert filters.describe_reference_filters(facts, 0.85, this_run=(0.9, 45.0)).endswith(
        "\nagainst this run's layer: by size not further (80% against 90%), by shape not further "
        "(30.0° against 45.0°)")


RECIPE = {"optimizer": "adam", "lr": 0.003, "schedule": "onecycle", "schedule_args": {}, "loss": "ce+dice",
          "class_weights": None, "batch_size": 8, "epochs": 20, "weight_decay": 0.0, "momentum": 0.9}


def test_epoch_learning_rates_follow_the_recorded_schedule():
    constant = filters.epoch_learning_rates(dict(RECIPE, schedule="none", epochs=5))
    np.testing.assert_allclose(constant, [0.003] * 5)
    onecycle = filters.epoch_learning_rates(RECIPE)
    assert len(onecycle) == 20 and onecycle.argmax() in (5, 6) and onecycle[-1] < 1e-4  # warm-up, then annealing
    assert filters.epoch_learning_rates(dict(RECIPE, schedule="plateau")) is None  # set by the run's scores


def test_describe_reference_filters_names_both_schedules_where_the_longer_run_moved_less():
    facts = {"epochs": 20, "moved": 0.5, "turned": 20.0, "best_cosine": 0.8}
    short = dict(RECIPE, schedule="none", lr=0.002, epochs=10)
    text = filters.describe_reference_filters(facts, 0.9, this_run=(0.6, 25.0), recipes=(RECIPE, short))
    assert text.splitlines()[-1] == (
        "the reference ran 20 epochs at lr 3.00e-03 under the 'onecycle' schedule (warms up to the maximum, then "
        "anneals far below the start), this run 10 epochs at lr 2.00e-03 under the 'none' schedule (keeps the learning "
        f"rate constant); summed over the epochs, its learning rate is the larger "
        f"({filters.epoch_learning_rates(RECIPE).sum():.3f} against 0.020), yet its layer ended nearer its start: the "
        "distance from the start is not the length of the path (steps that go back and forth cancel), and the "
        f"reference ended at a rate of {filters.epoch_learning_rates(RECIPE)[-1]:.1e} against 2.0e-03: its last "
        "epochs hardly moved the weights")
    smaller = filters.describe_reference_filters(facts, 0.9, this_run=(0.6, 10.0), recipes=(RECIPE, dict(short, epochs=40)))
    assert smaller.endswith("its learning rate is the smaller (0.030 against 0.080): how far weights move follows "
                            "the summed step sizes, not the epoch count")
    assert "not known from the recipe" in filters.describe_reference_filters(
        facts, 0.9, this_run=(0.6, 25.0), recipes=(RECIPE, dict(short, schedule="plateau")))
    further = filters.describe_reference_filters(facts, 0.9, this_run=(0.4, 10.0), recipes=(RECIPE, short))
    unknown = filters.describe_reference_filters(facts, 0.9, this_run=(0.6, 25.0), recipes=(RECIPE, None))
    assert len(further.splitlines()) == len(unknown.splitlines()) == 2  # moved further, or no recipe: no schedule line


@pytest.mark.parametrize(("best", "verdict"), [
    (0.95, "the trained layer's best match, |cos| 0.95, is above what 95 % of random draws reach (0.90): training "
           "made some of its kernels Sobel-like."),
    (0.82, "the trained layer's best match, |cos| 0.82, is within what random kernels reach (0.79 on average, 0.90 "
           "for the luckiest 5 %); training turned its filters by 26.1° on average: whatever this layer learned, it "
           "is not a Sobel shape. Exercise 5 tries a longer run."),
    (0.70, "the trained layer's best match, |cos| 0.70, is below what random kernels reach on average (0.79; 0.90 "
           "for the luckiest 5 %): its kernels are less Sobel-like than random ones; training turned its filters by "
           "26.1° on average: whatever this layer learned, it is not a Sobel shape. Exercise 5 tries a longer run."),
])
def test_describe_best_match_reads_the_best_cosine_against_random_kernels(best, verdict):
    assert filters.describe_best_match(best, 0.79, 0.90, turned=26.1) == verdict


def test_describe_best_match_of_an_untrained_layer_says_random():
    text = filters.describe_best_match(0.8, 0.79, 0.90, trained=False)
    assert text.startswith("an untrained layer: best |cos| 0.80 against 0.79 for random kernels on average")
    assert "turned" not in filters.describe_best_match(0.8, 0.79, 0.90)


def test_chance_best_cosines_takes_the_best_of_every_reference():
    sobel_x, sobel_y = filters.sobel_kernels()
    both = filters.chance_best_cosines(16, [sobel_x, sobel_y], draws=50, seed=0)
    only_x = filters.chance_best_cosines(16, [sobel_x], draws=50, seed=0)
    only_y = filters.chance_best_cosines(16, [sobel_y], draws=50, seed=0)
    np.testing.assert_allclose(both, np.maximum(only_x, only_y))
    assert both.mean() > only_x.mean()
    draw = np.random.default_rng(0).normal(size=(50, 16, 9))[0]
    expected = max(filters.cosine(kernel, sobel_x) for kernel in draw)
    assert only_x[0] == pytest.approx(expected)


def test_kernels_of_lists_each_channel_then_each_filters_sum():
    weights = np.arange(2 * 3 * 9, dtype=float).reshape(2, 3, 3, 3)
    kernels = filters.kernels_of(weights)
    assert kernels.shape == (2 * 3 + 2, 9)
    np.testing.assert_array_equal(kernels[4], weights[1, 1].ravel())
    np.testing.assert_array_equal(kernels[7], weights[1].sum(axis=0).ravel())
    names = filters.kernel_names(2, 3)
    assert len(names) == len(kernels) and names[4] == "filter 1, G" and names[7] == "filter 1, sum over RGB"
    assert filters.kernel_names(1, 2)[:2] == ["filter 0, 0", "filter 0, 1"]


def test_direction_picture_hides_weak_gradients():
    picture = filters.direction_picture(np.array([0.0, np.pi / 2]), np.array([0.5, 0.05]))
    assert picture[0] == 0.0 and np.isnan(picture[1])
    assert np.isnan(filters.direction_picture(np.array([np.pi]), np.array([0.2]), weakest=0.3)[0])
    assert filters.direction_picture(np.array([np.pi]), np.array([0.2]))[0] == pytest.approx(180.0)


def test_gradient_figure_has_titles_axes_and_shared_scale():
    import matplotlib

    matplotlib.use("Agg")
    image = np.zeros((16, 16), dtype=np.float32)
    image[:, 8:] = 1.0
    rows = [("no smoothing", image, filters.gradient_magnitude(image), filters.gradient_direction(image)),
            ("σ = 1 first", image, filters.gradient_magnitude(image, sigma=1.0), filters.gradient_direction(image, 1.0))]
    fig = filters.plot_gradient_rows(rows, "Sobel gradients", top=2.0)
    assert fig._suptitle.get_text() == "Sobel gradients"
    titles = [ax.get_title() for ax in fig.axes]
    assert "gradient magnitude, σ = 1 first" in titles and "direction where magnitude ≥ 0.1, no smoothing" in titles
    magnitudes = [ax.images[0] for ax in fig.axes if ax.get_title().startswith("gradient magnitude")]
    assert [image.get_clim() for image in magnitudes] == [(0.0, 2.0), (0.0, 2.0)]
    assert all(ax.get_xlabel() == "x (pixels)" for ax in fig.axes if ax.get_title())
    matplotlib.pyplot.close("all")


def test_cosine_ignores_scale_and_sign():
    sobel_x, sobel_y = filters.sobel_kernels()
    assert filters.cosine(-3 * sobel_x, sobel_x) == pytest.approx(1.0)
    assert filters.cosine(sobel_x, sobel_y) == pytest.approx(0.0)
    assert filters.cosine(np.zeros((3, 3)), sobel_x) == 0.0


def test_learn_kernel_finds_sobel_on_noise():
    noise = np.random.default_rng(0).random((40, 50)).astype(np.float32)
    sobel_x, _ = filters.sobel_kernels()
    fit = filters.learn_kernel(noise, sobel_x, steps=600, lr=0.1, seed=0)
    assert fit["step"][0] == 0 and fit["step"][-1] == 600 and len(fit["kernel"]) == len(fit["cosine"])
    assert fit["cosine"][0] < 0.5  # a random start
    assert fit["cosine"][-1] > 0.999 and fit["loss"][-1] < 1e-6 < fit["loss"][0]
    np.testing.assert_allclose(fit["kernel"][-1], sobel_x, atol=1e-3)  # the same kernel, scale included


def test_learn_kernel_moves_only_what_the_image_exercises():
    """A constant image only sees a kernel's sum: training changes all nine weights by the same amount."""
    sobel_x, _ = filters.sobel_kernels()
    fit = filters.learn_kernel(np.full((20, 20), 0.5, np.float32), sobel_x, steps=100, lr=0.1, seed=0)
    change = fit["kernel"][-1] - fit["kernel"][0]
    assert np.abs(change).max() > 1e-3
    np.testing.assert_allclose(change, np.full((3, 3), change.mean()), atol=1e-5)
    assert abs(fit["kernel"][-1].sum()) < 1e-2  # Sobel's sum is 0: that part is learned
    with pytest.raises(ValueError, match="grey"):
        filters.learn_kernel(np.zeros((4, 4, 3)), sobel_x)


def test_describe_speedup_follows_the_measurement():
    assert "about the 9.5× the tap count alone predicts" in filters.describe_speedup(9.3, 9.5)
    assert "more than the 9.5×" in filters.describe_speedup(14.0, 9.5)
    assert "less than the 9.5×" in filters.describe_speedup(5.0, 9.5)
    assert filters.describe_speedup(9.3, 9.5).startswith("separable speed-up: 9.3× — ")


def test_label_offset_axes_names_the_offsets_of_each_kernel_panel():
    import matplotlib

    matplotlib.use("Agg")
    from helpers.viz import show_image_grid

    fig = show_image_grid([np.ones((3, 3)), np.zeros((48, 48))], titles=["k", "disc"], colorbar=True)
    filters.label_offset_axes(fig)
    kernel, disc = [ax for ax in fig.axes if ax.images]
    assert kernel.axison and kernel.get_xlabel() == "x offset (px)" and kernel.get_ylabel() == "y offset (px)"
    assert [t.get_text() for t in kernel.get_xticklabels()] == ["-1", "0", "1"]
    assert [t.get_text() for t in disc.get_yticklabels()] == ["-24", "0", "23"]
    matplotlib.pyplot.close("all")
