"""Colorization helpers: grey conversion, the CIELAB colour error and a colorizer that learns a toy task."""

import cv2
import numpy as np
import pytest
import torch

from helpers.colorize import (
    colorize,
    colour_errors,
    delta_e,
    delta_e_map,
    describe_lightness,
    grey_baseline_delta_e,
    make_colorizer,
    to_grey,
    to_lab,
    train_colorizer,
)

RED = (0.9, 0.1, 0.1)
BLUE = (0.1, 0.2, 0.9)
GREEN = (0.2, 0.8, 0.2)


def toy_images(count: int = 12, size: int = 16, seed: int = 0) -> torch.Tensor:
    """Blue background with a red and a green rectangle: each colour has its own grey level."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.tensor(BLUE).view(1, 3, 1, 1).repeat(count, 1, size, size)
    for index in range(count):
        for colour in (RED, GREEN):
            top, left = torch.randint(0, size - 6, (2,), generator=generator).tolist()
            images[index, :, top: top + 6, left: left + 6] = torch.tensor(colour).view(3, 1, 1)
    return images


def test_to_grey_matches_opencv():
    images = torch.rand(2, 3, 8, 10, generator=torch.Generator().manual_seed(1))
    grey = to_grey(images)
    assert grey.shape == (2, 1, 8, 10)
    picture = images[0].permute(1, 2, 0).numpy().astype(np.float32)
    expected = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)
    np.testing.assert_allclose(grey[0, 0].numpy(), expected, atol=1e-5)


def test_lab_of_black_white_and_red():
    pixels = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]).T.reshape(1, 3, 1, 3)
    lab = to_lab(pixels)[0, 0]
    np.testing.assert_allclose(lab[0], [0, 0, 0], atol=1e-3)
    np.testing.assert_allclose(lab[1], [100, 0, 0], atol=1e-2)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.1)  # the standard sRGB red


def test_delta_e_is_zero_for_equal_images_and_100_from_black_to_white():
    images = torch.rand(2, 3, 5, 5, generator=torch.Generator().manual_seed(2))
    assert delta_e(images, images) == pytest.approx(0.0, abs=1e-4)
    black, white = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    assert delta_e(black, white) == pytest.approx(100.0, abs=0.01)
    assert delta_e_map(black, white).shape == (1, 4, 4)


def test_colour_errors_split_lightness_from_colour():
    grey = torch.full((1, 3, 2, 2), 0.5)
    darker = torch.full((1, 3, 2, 2), 0.4)
    tinted = grey.clone()
    tinted[:, 0] = 0.6  # redder, nearly the same lightness
    shade = colour_errors(darker, grey)
    assert shade["lightness"] > 5 and shade["colour"] < 0.1  # OpenCV greys carry a and b of a few hundredths
    assert shade["delta_e"] == pytest.approx(shade["lightness"], abs=0.01)
    tint = colour_errors(tinted, grey)
    assert tint["colour"] > 2 * tint["lightness"] > 0
    assert tint["delta_e"] == pytest.approx(delta_e(tinted, grey), rel=1e-6)


def test_delta_e_rejects_mismatched_shapes_and_grey_input():
    with pytest.raises(ValueError, match="same shape"):
        delta_e(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5))
    with pytest.raises(ValueError, match="RGB"):
        delta_e(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))


def test_grey_baseline_is_zero_for_grey_images_and_large_for_saturated_ones():
    grey_images = torch.full((1, 3, 4, 4), 0.5)
    assert grey_baseline_delta_e(grey_images) < 1.0
    assert grey_baseline_delta_e(toy_images(2)) > 30


def test_colorizer_shapes_and_range():
    model = make_colorizer(base=4, depth=2)
    assert model.config["in_channels"] == 1 and model.config["num_classes"] == 3
    colours = colorize(model, to_grey(torch.rand(3, 3, 12, 20)))
    assert colours.shape == (3, 3, 12, 20)
    assert float(colours.min()) >= 0.0 and float(colours.max()) <= 1.0
    with pytest.raises(ValueError, match="N×1×H×W"):
        colorize(model, torch.rand(2, 3, 8, 8))


def test_training_learns_the_toy_colours():
    images = toy_images()
    torch.manual_seed(0)
    model = make_colorizer(base=4, depth=2)
    before = delta_e(colorize(model, to_grey(images)), images)
    log = train_colorizer(model, images, steps=60, batch_size=4, lr=1e-2, seed=0)
    after = delta_e(colorize(model, to_grey(images)), images)
    assert len(log["losses"]) == 60 and log["images_seen"] == 240
    assert np.mean(log["losses"][-10:]) < 0.5 * np.mean(log["losses"][:5])
    assert after < 0.5 * before
    assert after < 0.5 * grey_baseline_delta_e(images)  # better than leaving the image grey


def test_training_is_seeded():
    images = toy_images(count=6)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        runs.append(train_colorizer(make_colorizer(base=4, depth=2), images, steps=4, batch_size=4, seed=3)["losses"])
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-5)


def test_train_colorizer_checks_its_arguments():
    model = make_colorizer(base=4, depth=1)
    with pytest.raises(ValueError, match="steps"):
        train_colorizer(model, torch.rand(2, 3, 8, 8), steps=0)
    with pytest.raises(ValueError, match="RGB"):
        train_colorizer(model, torch.rand(2, 1, 8, 8), steps=1)
    with pytest.raises(ValueError, match="loss"):
        train_colorizer(model, torch.rand(2, 3, 8, 8), steps=1, loss="huber")


def test_mse_loss_trains_too():
    images = toy_images(count=4)
    log = train_colorizer(make_colorizer(base=4, depth=1), images, steps=3, batch_size=2, loss="mse", seed=1)
    assert len(log["losses"]) == 3 and all(0.0 < value < 1.0 for value in log["losses"])


def test_colorization_figure_has_titles_a_colour_scale_and_a_legend():
    import matplotlib

    matplotlib.use("Agg")
    from helpers.colorize import plot_colorization

    target = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    grey = to_grey(target).expand(-1, 3, -1, -1)
    fig = plot_colorization({"grey input": grey, "with skips": target}, target, {"grey input": 12.5},
                            {"with skips": [0.3, 0.2], "without skips": [0.3, 0.25]}, "Colorization")
    assert fig._suptitle.get_text() == "Colorization"
    titles = [ax.get_title() for ax in fig.axes]
    assert "grey input · ΔE 12.5" in titles and "original" in titles and "ΔE per pixel: with skips" in titles
    # one colour scale for the error maps, drawn under them, not beside the loss panel
    assert any(ax.get_xlabel() == "ΔE (CIE76)" for ax in fig.axes)
    losses = next(ax for ax in fig.axes if ax.get_title() == "Colorization training")
    assert losses.get_ylabel() == "L1 loss on the RGB values"
    assert losses.get_xlabel() == "batch" and [t.get_text() for t in losses.get_legend().get_texts()] == [
        "with skips", "without skips"]
    perfect = next(ax for ax in fig.axes if ax.get_title() == "ΔE per pixel: with skips").images[0].get_array()
    assert float(np.abs(perfect).max()) == pytest.approx(0.0, abs=1e-6)  # the target against itself: no error
    mse = plot_colorization({"grey input": grey}, target, {}, {"mse": [0.1]}, "Colorization", loss="mse")
    assert next(ax for ax in mse.axes if ax.get_title() == "Colorization training").get_ylabel() == (
        "MSE loss on the RGB values")
    matplotlib.pyplot.close("all")


def test_luma_is_close_to_but_not_cielab_lightness():
    # why the grey input's own |ΔL| is not 0: BT.601 luma of sRGB values is not L*, except on greys
    colourful = toy_images(count=2)
    assert colour_errors(to_grey(colourful).expand(-1, 3, -1, -1), colourful)["lightness"] > 1.0
    greys = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(2)).expand(-1, 3, -1, -1)
    assert colour_errors(to_grey(greys).expand(-1, 3, -1, -1), greys)["lightness"] < 0.05


def test_describe_lightness_reads_each_colorizer_against_the_grey_input():
    # the quick run: 2.78 with skips, 11.16 without, 1.15 for the grey input
    lines = describe_lightness({"with skips": 2.78, "without skips": 11.16, "grey input": 1.15}).split("\n")
    assert lines[0] == ("colorizer with skips: |ΔL| 2.78 against the grey input's 1.15 — above it (2.4× as large): the "
                        "colorizer loses lightness that the input holds, not only the luma-to-L* difference")
    assert lines[1].startswith("colorizer without skips: |ΔL| 11.16 against the grey input's 1.15 — above it (9.7×")
    assert len(lines) == 2
    same = describe_lightness({"grey input": 1.15, "with skips": 1.5})
    assert same.endswith("about the same (within 0.5): the lightness passes through about as the input holds it")
    below = describe_lightness({"grey input": 1.15, "with skips": 0.4})
    assert below.endswith("below it: the colorizer corrects part of the difference between luma and L*")
