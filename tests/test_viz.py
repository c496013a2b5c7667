"""helpers.viz: overlays, legends, grids, curves and the browsers' static fallbacks."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from helpers import viz  # noqa: E402
from helpers.classes import CITYSCAPES, GTA9  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def make_frames(count: int = 4, height: int = 12, width: int = 16) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    return [(torch.rand(3, height, width, generator=generator),
             torch.randint(0, 9, (height, width), generator=generator)) for _ in range(count)]


def legend_labels(legend) -> list[str]:
    return [text.get_text() for text in legend.get_texts()]


def test_overlay_alpha_zero_is_image_and_alpha_one_is_display_colours():
    image, target = make_frames(1)[0]
    expected_image = np.round(image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    np.testing.assert_array_equal(viz.overlay(image, target, GTA9, alpha=0.0), expected_image)
    expected_colours = np.array(GTA9.display_colours, dtype=np.uint8)[target.numpy()]
    np.testing.assert_array_equal(viz.overlay(image, target, GTA9, alpha=1.0), expected_colours)


def test_overlay_blends_and_leaves_hidden_and_ignored_pixels():
    image = np.full((2, 2, 3), 100, dtype=np.uint8)
    target = np.array([[2, 3], [255, 3]])
    result = viz.overlay(image, target, CITYSCAPES, alpha=0.5, hidden=[3])
    road = np.array(CITYSCAPES.class_colours[2])
    np.testing.assert_array_equal(result[0, 0], np.round(0.5 * 100 + 0.5 * road))
    np.testing.assert_array_equal(result[0, 1], [100, 100, 100])  # hidden class
    np.testing.assert_array_equal(result[1, 0], [100, 100, 100])  # ignored pixel


def test_overlay_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match="must match"):
        viz.overlay(np.zeros((4, 5, 3)), np.zeros((4, 4), dtype=int), GTA9)


def test_legend_handles_names_and_colours_match_gta9():
    handles = viz.legend_handles(GTA9)
    assert [h.get_label() for h in handles] == [f"{i} {name}" for i, name in enumerate(GTA9.class_names)]
    for handle, colour in zip(handles, GTA9.display_colours):
        assert handle.get_facecolor()[:3] == pytest.approx(np.array(colour) / 255)
    assert [h.get_label() for h in viz.legend_handles(GTA9, classes=[2, 6])] == ["2 road", "6 humans"]
    assert viz.legend_handles(CITYSCAPES, include_ignore=True)[-1].get_label() == "255 ignored"


def test_error_map_marks_wrong_pixels_red_over_grey():
    image = torch.rand(3, 6, 7)
    target = torch.zeros(6, 7, dtype=torch.long)
    pred = target.clone()
    pred[2, 3] = 4
    errors = viz.error_map(image, target, pred)
    np.testing.assert_array_equal(errors[2, 3], viz.ERROR_COLOUR)
    others = np.delete(errors.reshape(-1, 3), 2 * 7 + 3, axis=0)
    assert (others[:, 0] == others[:, 1]).all() and (others[:, 1] == others[:, 2]).all()


def test_show_samples_grid_titles_and_legend():
    frames = make_frames(5)
    images = torch.stack([image for image, _ in frames])
    targets = torch.stack([target for _, target in frames])
    preds = targets.clone()
    preds[:, 0, :] = (preds[:, 0, :] + 1) % 9  # one row of 16 pixels wrong out of 192
    fig = viz.show_samples(images, targets, preds, GTA9, titles=[f"f{i}" for i in range(5)], max_rows=3)
    assert isinstance(fig, Figure) and len(fig.axes) == 3 * 4
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:4] == ["f0", "target", "prediction · 91.7% correct", "errors · 8.3% wrong"]
    assert all(titles) and fig.get_suptitle()
    assert len(fig.legends) == 1
    assert legend_labels(fig.legends[0]) == [f"{i} {n}" for i, n in enumerate(GTA9.class_names)] + ["wrong pixel"]
    assert all(ax.axison and ax.get_xlabel() == "x (pixels)" and ax.get_ylabel() == "y (pixels)" for ax in fig.axes)


def test_show_samples_without_predictions_has_three_columns():
    frames = make_frames(2)
    fig = viz.show_samples([f[0] for f in frames], [f[1] for f in frames], class_map="gta9")
    assert len(fig.axes) == 2 * 3
    assert [ax.get_title() for ax in fig.axes[:3]] == ["image 0", "target", "target over image"]


def test_normalize_rows_and_plot_confusion():
    matrix = np.array([[8, 2, 0], [1, 1, 2], [0, 0, 0]])
    normalised = viz.normalize_rows(matrix)
    np.testing.assert_allclose(normalised[:2].sum(axis=1), 1.0)
    assert np.isnan(normalised[2]).all()
    fig = viz.plot_confusion(torch.as_tensor(matrix), ["a", "b", "c"])
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(np.nansum(shown, axis=1), [1.0, 1.0, 0.0])
    assert len(fig.axes) == 2  # the matrix and its colour bar
    assert fig.axes[0].get_xlabel() == "predicted class" and fig.axes[0].get_ylabel() == "true class"
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts[:3] == ["0.80", "0.20", "0.00"] and texts[-1] == "–"


def test_plot_confusion_counts_and_size_check():
    fig = viz.plot_confusion(np.eye(9, dtype=int) * 5, GTA9, normalize=False)
    assert fig.axes[0].texts[0].get_text() == "5"
    with pytest.raises(ValueError, match="class names"):
        viz.plot_confusion(np.eye(3), GTA9)


def test_plot_per_class_bars_coloured_by_class_and_absent():
    values = np.linspace(0.1, 0.9, 9)
    values[5] = np.nan
    fig = viz.plot_per_class(values, GTA9, "IoU per class", "IoU")
    ax = fig.axes[0]
    assert len(ax.patches) == 9
    for bar, colour in zip(ax.patches, GTA9.display_colours):
        assert bar.get_facecolor()[:3] == pytest.approx(np.array(colour) / 255)
    bar_texts = [t.get_text() for t in ax.texts]
    assert bar_texts[5] == "absent" and bar_texts[0] == "0.10"
    assert ax.get_title() == "IoU per class" and ax.get_ylabel() == "IoU"
    assert [t.get_text() for t in ax.get_xticklabels()] == list(GTA9.class_names)


def test_plot_per_class_grouped_and_length_check():
    fig = viz.plot_per_class({"a": np.ones(9) * 0.5, "b": np.ones(9) * 0.4}, GTA9)
    assert len(fig.axes[0].patches) == 18
    assert legend_labels(fig.axes[0].get_legend()) == ["a", "b"]
    with pytest.raises(ValueError, match="9 classes"):
        viz.plot_per_class(np.ones(4), GTA9)


class FakeHistory:
    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.7, 0.6]})


@pytest.mark.parametrize("history", [FakeHistory(), FakeHistory().to_frame(),
                                     FakeHistory().to_frame().to_dict("records")])
def test_plot_history_accepts_history_frame_and_records(history):
    fig = viz.plot_history(history)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["train loss", "val loss"]
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), [1.1, 0.7, 0.6])
    np.testing.assert_array_equal(ax.get_lines()[1].get_xdata(), [1, 2, 3])
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss" and ax.get_title()


def test_plot_history_names_missing_columns():
    with pytest.raises(ValueError, match="miou"):
        viz.plot_history(FakeHistory(), keys=("miou",))


def test_plot_curves_mean_and_std_band_and_lr_schedule():
    runs = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]])
    fig = viz.plot_curves({"sgd": runs, "adam": ([1, 10, 100], [0.1, 0.2, 0.3])}, "step", "loss", "Runs", logx=True)
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), [2.0, 3.0, 4.0])
    assert len(ax.collections) == 1  # the ±std band
    assert ax.get_xscale() == "log"
    assert legend_labels(ax.get_legend()) == ["sgd (mean ± std)", "adam"]
    lr_fig = viz.plot_lr_schedule([0.1, 0.05, 0.01], title="Step decay")
    assert lr_fig.axes[0].get_ylabel() == "learning rate" and lr_fig.axes[0].get_title() == "Step decay"


def test_show_image_grid_titles_and_symmetric_limits():
    signed = np.array([[-2.0, 1.0], [0.5, 0.0]])
    fig = viz.show_image_grid([signed, torch.rand(3, 2, 2), np.zeros((2, 2))], ["gx", "rgb", "zero"], "Grid",
                              ncols=2, symmetric=True)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["gx", "rgb", "zero", ""] and fig.get_suptitle() == "Grid"
    assert fig.axes[0].images[0].get_clim() == (-2.0, 2.0)


def test_is_interactive_false_outside_a_kernel_and_when_quiet(monkeypatch):
    assert viz.is_interactive() is False
    monkeypatch.setenv("WORKBOOK_QUIET", "1")
    assert viz.is_interactive() is False


def test_dataset_browser_static_fallback_returns_figure(monkeypatch):
    monkeypatch.setenv("CI", "1")
    fig = viz.dataset_browser(make_frames(5), class_map=GTA9, static_frames=3)
    assert isinstance(fig, Figure) and len(fig.axes) == 3 * 3
    assert [ax.get_title() for ax in fig.axes[::3]] == ["frame 1", "frame 3", "frame 5"]  # counted from 1
    assert fig.axes[1].get_title() == "colour label" and fig.axes[2].get_title().startswith("overlay")
    assert legend_labels(fig.legends[0]) == [f"{i} {n}" for i, n in enumerate(GTA9.class_names)]


def test_dataset_browser_uses_class_map_attribute_and_needs_one():
    class Frames(list):
        class_map = GTA9
        frames = ["00007", "00008"]

    fig = viz.dataset_browser(Frames(make_frames(2)), interactive=False)
    assert fig.axes[0].get_title() == "frame 00007"
    with pytest.raises(ValueError, match="class_map"):
        viz.dataset_browser(make_frames(2), interactive=False)


def test_dataset_browser_titles_carry_scene_and_weather_and_panels_have_pixel_axes():
    import pandas as pd

    class Frames(list):
        class_map = GTA9
        frames = ["00007", "00008"]
        manifest = pd.DataFrame({"frame": frames, "scene": ["city", "highway"], "weather": ["rain", "clear"]})

    fig = viz.dataset_browser(Frames(make_frames(2)), interactive=False, static_frames=2)
    assert [ax.get_title() for ax in fig.axes[::3]] == ["frame 00007 · city, rain", "frame 00008 · highway, clear"]
    assert all(ax.get_xlabel() == "x (pixels)" and ax.get_ylabel() == "y (pixels)" for ax in fig.axes)


def test_dataset_browser_static_figure_shows_one_frame_per_scene_type():
    import pandas as pd

    class Frames(list):
        class_map = GTA9
        frames = ["00001", "00002", "00003", "00004", "00005"]
        manifest = pd.DataFrame({"frame": frames, "scene": ["town", "town", "city", "town", "highway"]})

    fig = viz.dataset_browser(Frames(make_frames(5)), interactive=False, one_per="scene")
    assert [ax.get_title() for ax in fig.axes[::3]] == ["frame 00001 · town", "frame 00003 · city",
                                                         "frame 00005 · highway"]
    assert fig.get_suptitle() == "Data set browser: one per scene"
    fig = viz.dataset_browser(Frames(make_frames(5)), interactive=False, one_per="scene", max_frames=2)
    assert [ax.get_title() for ax in fig.axes[::3]] == ["frame 00001 · town"]  # within the browsed frames
    fig = viz.dataset_browser(make_frames(5), GTA9, interactive=False, one_per="scene", static_frames=2)
    assert [ax.get_title() for ax in fig.axes[::3]] == ["frame 1", "frame 5"]  # no manifest: spread as before
    # where the manifest records the weather, each scene type shows its first clear frame
    Frames.manifest = Frames.manifest.assign(weather=["fog", "clear", "rain", "clear", "fog"])
    fig = viz.dataset_browser(Frames(make_frames(5)), interactive=False, one_per="scene")
    assert [ax.get_title() for ax in fig.axes[::3]] == ["frame 00002 · town, clear", "frame 00003 · city, rain",
                                                         "frame 00005 · highway, fog"]


def test_review_browser_panels_have_pixel_axes():
    image, label = np.zeros((6, 8, 3), np.uint8), np.zeros((6, 8), np.uint8)
    fig = viz.review_browser([("a", image, label)], class_map=GTA9, interactive=False)
    assert all(ax.get_xlabel() == "x (pixels)" and ax.get_ylabel() == "y (pixels)" and ax.axison for ax in fig.axes)


def test_review_legend_names_every_colour_and_the_rgb_of_look_alikes():
    label = np.zeros((4, 20), np.uint8)  # ids: unlabeled 0 …
    label[:, 2:] = 7  # road, the most pixels
    for column, label_id in enumerate((26, 27, 28, 31, 20, 21, 22, 23, 24, 25, 17, 8, 11), start=2):
        label[0, column] = label_id  # 13 classes of one pixel each: bus 28 and train 31 among them
    fig = viz.review_browser([("ids", np.zeros((4, 20, 3), np.uint8), label)], interactive=False)
    names = legend_labels(fig.legends[0])
    assert len(names) == 15 and names[0] == "road"
    assert "bus (0, 60, 100)" in names and "train (0, 80, 100)" in names and "car" in names


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_dataset_browser_widget_has_slider_and_class_toggles(monkeypatch):
    drawn = []
    original = viz._browser_figure

    def spy(dataset, indices, class_map, hidden=(), alpha=0.5, suptitle=""):
        drawn.append((list(indices), list(hidden)))
        return original(dataset, indices, class_map, hidden, alpha, suptitle)

    monkeypatch.setattr(viz, "_browser_figure", spy)
    browser = viz.dataset_browser(make_frames(4), GTA9, max_frames=3, interactive=True)
    slider = browser.children[0].children[0]
    toggles = [cell.children[1] for cell in browser.children[1].children]
    assert (slider.min, slider.max, slider.value) == (1, 3, 1)  # frames counted from 1, as in the titles
    assert [box.description for box in toggles] == list(GTA9.class_names)
    slider.value = 3
    toggles[3].value = False
    assert drawn == [([0], []), ([2], []), ([2], [3])]


def test_review_legend_names_the_black_ids_present_the_bonnet_among_them():
    label = np.zeros((4, 20), np.uint8)  # unlabeled 0
    label[3, :] = 1  # ego vehicle: the bonnet
    label[:2, :] = 7  # road
    fig = viz.review_browser([("ids", np.zeros((4, 20, 3), np.uint8), label)], interactive=False)
    assert set(legend_labels(fig.legends[0])) == {"road", "unlabeled / ego vehicle (bonnet)"}
    colours = np.zeros((4, 20, 3), np.uint8)
    fig = viz.review_browser([("ids", colours, label), ("colours", colours, colours)], interactive=False)
    assert "unlabeled / ego vehicle (bonnet) / void" in legend_labels(fig.legends[0])


def test_review_browser_static_fallback_handles_bad_frames():
    image = np.zeros((6, 8, 3), dtype=np.uint8)
    label = np.zeros((6, 8, 3), dtype=np.uint8)
    label[:3] = (128, 64, 128)
    frames = [("ok", image, label), ("small label", image, label[:4]), ("unreadable", None, label),
              ("ids", image, np.full((6, 8), 26, dtype=np.uint8))]
    fig = viz.review_browser(frames, interactive=False, static_frames=3)
    assert isinstance(fig, Figure) and len(fig.axes) == 3 * 3
    assert fig.get_suptitle() == "Flagged frames: 3 of 4"
    notes = [text.get_text() for ax in fig.axes for text in ax.texts]
    assert "sizes differ: image 8×6, label 8×4" in notes and "unreadable" in notes
    assert set(legend_labels(fig.legends[0])) == {"road", "unlabeled / void"}


def test_slider_widget_static_renders_spread_values():
    seen = []

    def draw(sigma, mode):
        seen.append((sigma, mode))
        fig, ax = plt.subplots()
        ax.set_title(f"sigma {sigma}")
        return fig

    figures = viz.slider_widget(draw, interactive=False, sigma=(0.5, 4.5, 0.5), mode=["a", "b"])
    assert seen == [(0.5, "a"), (2.5, "a"), (4.5, "a")]
    assert [fig.get_suptitle() for fig in figures] == ["sigma = 0.5", "sigma = 2.5", "sigma = 4.5"]


def test_slider_widget_live_controls():
    box = viz.slider_widget(lambda size, mode: None, interactive=True, size=(1, 9, 2), mode=["x", "y"])
    slider, dropdown = box.children[0].children
    assert (slider.min, slider.max, slider.step, slider.value) == (1, 9, 2, 5)
    assert list(dropdown.options) == ["x", "y"]


def test_to_uint8_rgb_layouts():
    tensor = torch.zeros(3, 2, 5)
    tensor[0] = 1.0
    picture = viz.to_uint8_rgb(tensor)
    assert picture.shape == (2, 5, 3) and (picture[..., 0] == 255).all() and (picture[..., 1] == 0).all()
    assert viz.to_uint8_rgb(np.ones((2, 5))).shape == (2, 5, 3)
    assert to_rgb("red") == pytest.approx(np.array(viz.ERROR_COLOUR) / 255)


def figure_alt_texts(shown: list) -> list[str]:
    """The alt texts of the pictures among displayed objects (raw mime bundles)."""
    import re

    return [re.search(r'alt="([^"]*)"', item["text/html"]).group(1) for item in shown
            if isinstance(item, dict) and "<img" in item.get("text/html", "")]


def test_browser_figures_carry_their_title_as_alt_text_and_count_from_one(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objects, **options: shown.extend(objects))
    browser = viz.dataset_browser(make_frames(4), GTA9, interactive=True)
    browser.children[0].children[0].value = 4
    frames = [(f"flagged {i}", np.full((6, 8, 3), 40 * i, np.uint8), np.zeros((6, 8, 3), np.uint8)) for i in range(3)]
    review = viz.review_browser(frames, interactive=True)
    review.children[0].value = 3
    assert review.children[0].min == 1
    assert figure_alt_texts(shown) == ["Frame 1 of 4", "Frame 4 of 4", "Flagged frames: 1 of 3", "Flagged frames: 3 of 3"]
    pictures = [item["text/html"] for item in shown if isinstance(item, dict)]
    assert len(set(pictures)) == 4  # every move drew a new picture
    assert plt.get_fignums() == []  # shown once, as the picture in the widget, then closed


def test_every_widget_leaves_a_reload_hint_under_it(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objects, **options: shown.extend(objects))
    viz.slider_widget(lambda sigma: None, interactive=True, sigma=(1, 3, 1))
    viz.dataset_browser(make_frames(2), GTA9, interactive=True)
    viz.review_browser([("a", np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8))], interactive=True)
    widgets = [index for index, item in enumerate(shown) if hasattr(item, "children")]
    hints = [index for index, item in enumerate(shown) if isinstance(item, viz._ReloadHint)]
    assert len(widgets) == 3 and hints == [index + 1 for index in widgets]  # right under each widget
    for hint in (shown[index] for index in hints):
        bundle = hint._repr_mimebundle_()
        assert "run this cell again" in bundle["text/plain"].lower() and "reload" in bundle["text/html"]


def test_plot_per_class_on_a_log_axis_for_frequencies():
    shares = np.array([0.55, 0.027, 0.24, 0.039, 0.049, 0.0077, 0.027, 0.037, 0.02])
    ax = viz.plot_per_class(shares, GTA9, "Pixel share", "share of pixels", log=True).axes[0]
    assert ax.get_yscale() == "log"
    low, high = ax.get_ylim()
    assert low <= shares.min() and high >= shares.max()  # the rarest and the commonest class both visible
    assert [t.get_text() for t in ax.texts][5] == "0.0077"


def test_legends_sit_beside_the_axes():
    ax = viz.plot_per_class({"a": np.ones(9) * 0.5, "b": np.ones(9) * 0.4}, GTA9).axes[0]
    assert ax.get_legend()._loc == 2 and ax.get_legend().get_bbox_to_anchor().x0 > ax.bbox.x1  # upper left, outside
    curves = viz.plot_curves({"loss": [3.0, 2.0, 1.0]}, "step", "loss", "Loss").axes[0]
    assert curves.get_legend().get_bbox_to_anchor().x0 > curves.bbox.x1
def test_review_browser_shows_another_data_sets_labels_in_its_class_colours():
    from helpers.classes import ADE150

    image = np.zeros((6, 8, 3), dtype=np.uint8)
    values = np.zeros((6, 8), dtype=np.uint8)  # ADE20K values: 0 is "other" (ignored), 7 is road
    values[:3] = 7
    fig = viz.review_browser([("ade", image, values)], class_map=ADE150, interactive=False)
    label_picture = fig.axes[1].get_images()[0].get_array()
    assert tuple(label_picture[0, 0]) == ADE150.display_colours[6]  # road, not Cityscapes' labelId 7 colour
    assert tuple(label_picture[5, 0]) == (255, 255, 255)  # ignored
    assert "6 road" in legend_labels(fig.legends[0])


def test_plots_of_a_map_of_many_classes_keep_to_the_classes_that_matter():
    from helpers.classes import ADE150
    from helpers.encoding import index_to_rgb

    fig, ax = plt.subplots()
    ax.imshow(index_to_rgb(np.array([[0, 6], [12, 6]]), ADE150))
    legend = viz.add_legend(fig, ADE150)
    assert legend_labels(legend) == ["0 wall", "6 road", "12 person"]
    assert legend.get_title().get_text() == "classes shown (3 of 150)"
    counts = np.zeros((150, 150), dtype=np.int64)
    counts[np.arange(30), np.arange(30)] = np.arange(30, 0, -1)  # classes 0–29 present, 0 the most pixels
    confusion = viz.plot_confusion(counts, ADE150)
    assert confusion.axes[0].get_images()[0].get_array().shape == (20, 20)
    assert "20 classes with the most pixels, of 150" in confusion.axes[0].get_title()
    assert [t.get_text() for t in confusion.axes[0].get_yticklabels()][:2] == ["0 wall", "1 building"]
    few = np.zeros((150, 150), dtype=np.int64)
    few[[3, 7], [3, 9]] = 5  # two classes with pixels: only they are drawn
    assert viz.plot_confusion(few, ADE150).axes[0].get_images()[0].get_array().shape == (3, 3)
    iou = np.full(150, np.nan)
    iou[[2, 6, 20]] = [0.5, 0.0, 0.1]  # present (road never right); the others absent
    bars = viz.plot_per_class(iou, ADE150).axes[0]
    assert [t.get_text() for t in bars.get_xticklabels()] == ["sky", "road", "car"]
    shares = np.zeros(150)
    shares[[0, 3]] = [0.7, 0.3]  # pixel shares: 0 = absent
    assert [t.get_text() for t in viz.plot_per_class(shares, ADE150).axes[0].get_xticklabels()] == ["wall", "floor"]
    plt.close("all")


def test_alignment_fit_figure_shows_the_check_statistics_with_labelled_axes():
    from helpers.cleaning import STATIC_IDS, Thresholds, fit_map, label_boundaries

    image = np.full((40, 60, 3), 40, np.uint8)
    image[10:30, 20:45] = 220
    label = np.full((40, 60), 7, np.uint8)
    label[12:32, 20:45] = 26  # 2 px too low
    thresholds = Thresholds(max_shift=4, search_width=60)
    fig = viz.plot_alignment_fits([("frame a", image, label, 1.7), ("frame b", image, label, 0.9)], thresholds)
    top, bottom = fig.axes[0], fig.axes[2]
    assert fig.get_suptitle() == "Label boundaries against image edges"
    assert [top.get_title(), bottom.get_title()] == ["frame a", "fit map: sharpness at 0 = 1.70"]
    assert np.array_equal(bottom.get_images()[0].get_array(), fit_map(image, label, thresholds)[0])
    ys, xs = np.nonzero(label_boundaries(label, STATIC_IDS))
    assert len(xs) > 0 and np.array_equal(top.collections[0].get_offsets(), np.column_stack([xs, ys]))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["label boundaries", "shift (0, 0)"]
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes[:4])


def test_logits_figure_bars_are_the_pixels_logits_and_probabilities_with_a_class_legend():
    logits = torch.randn(9, 12, 16, generator=torch.Generator().manual_seed(0))
    image = torch.rand(3, 12, 16)
    fig = viz.plot_logits_and_probabilities(image, logits, GTA9, pixel=(3, 5), title="untrained")
    bars = fig.axes[3].patches
    heights = np.array([bar.get_height() for bar in bars])
    assert np.allclose(heights[:9], logits[:, 3, 5].numpy(), atol=1e-6)
    assert np.allclose(heights[9:], logits[:, 3, 5].softmax(0).numpy(), atol=1e-6)
    assert [to_rgb(bar.get_facecolor()) for bar in bars[:9]] == [to_rgb(np.array(c) / 255) for c in GTA9.display_colours]
    class_legend = fig.legends[0]
    assert [t.get_text() for t in class_legend.get_texts()] == [f"{i} {n}" for i, n in enumerate(GTA9.class_names)]
    assert np.array_equal(fig.axes[1].get_images()[0].get_array(),
                          viz.index_to_rgb(logits.argmax(0).numpy(), GTA9))
    assert fig.get_suptitle() == "untrained" and all(ax.get_title() and ax.get_xlabel() for ax in fig.axes[:4])


def test_plot_history_writes_miou_as_miou_in_the_legend():
    history = pd.DataFrame({"epoch": [1, 2], "pixel_accuracy": [0.5, 0.6], "miou": [0.2, 0.3]})
    fig = viz.plot_history(history, ["pixel_accuracy", "miou"])
    labels = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert labels == ["pixel accuracy", "mIoU"]
    plt.close(fig)


def test_plot_per_class_leaves_room_above_the_tallest_bar_for_its_value():
    fig = viz.plot_per_class(np.array([0.07, 1.4, 4.84, 1.0, 0.8, 0.5, 1.2, 1.0, 1.9]), GTA9, ylabel="weight")
    assert fig.axes[0].get_ylim()[1] >= 1.1 * 4.84


def test_loss_label_spells_out_registry_names():
    from helpers.viz import loss_label

    assert loss_label("ce+dice") == "cross-entropy + Dice loss"
    assert loss_label("bce") == "binary cross-entropy loss" and loss_label("mse") == "mean squared error loss"


def test_review_legend_sums_up_the_unknown_colours_of_a_blurred_label():
    rng = np.random.default_rng(0)
    label = np.zeros((40, 50, 3), np.uint8)
    label[:, :25] = (128, 64, 128)  # road
    label[:, 25:] = rng.integers(0, 256, (40, 25, 3))  # a thousand colours outside the table
    handles = viz._colour_handles([label])
    names = [handle.get_label() for handle in handles]
    assert names[0] == "road" and len(names) == 5
    assert sum(name.startswith("unknown colour (") for name in names) == 3
    assert names[-1].startswith("997 more unknown colours (997 px)")
