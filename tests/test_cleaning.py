"""Cleaning checks: each injected defect and weather is found, boundaries too, and the clean manifest."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers.classes import cityscapes_palette
from helpers.cleaning import (
    CHECKS,
    DEFECT_CHECKS,
    Thresholds,
    alignment_curve,
    alignment_statistics,
    apply_thresholds,
    boundary_scores,
    clean_manifest,
    describe_detection,
    describe_fit_map,
    detection_scores,
    edge_strength,
    first_flagged,
    fit_map,
    fit_thresholds,
    frame_thumbnails,
    label_boundaries,
    nearest_train,
    peak_sharpness,
    plot_alignment_checks,
    read_frame,
    run_checks,
    sequence_boundaries,
    shift_grid,
    toy_file_checks,
    weather_statistics,
    write_toy_frame,
)
from helpers.datasets import build_manifest, read_image


@pytest.fixture(scope="module")
def streets_480(tmp_path_factory):
    """20 frames at the default size (the thresholds are tuned there): two of each defect, rain and fog."""
    from helpers.synthetic import generate_streets

    root = tmp_path_factory.mktemp("streets480") / "synthetic-streets"
    generate_streets(root, sequences=4, frames_per_sequence=5, size=(480, 264), seed=1, defect_rate=0.5,
                     weather_rate=0.5, progress=False)
    return root


@pytest.fixture(scope="module")
def report_480(streets_480):
    manifest = build_manifest("synthetic-streets", streets_480)
    return manifest, run_checks(streets_480, manifest, progress=False)


def frames_with(manifest: pd.DataFrame, column: str, value: str) -> set[str]:
    return set(manifest.loc[manifest[column] == value, "frame"])


def flagged_frames(report: pd.DataFrame, check: str) -> set[str]:
    return set(report.loc[report[check], "frame"])


# ---- the statistics behind the alignment checks ----------------------------------------------

def test_alignment_curve_peaks_at_the_offset_that_moves_the_label_back():
    image = np.full((60, 80, 3), 40, np.uint8)
    image[20:40, 30:55] = 220
    label = np.zeros((60, 80), np.uint8)
    label[23:43, 28:53] = 7  # drawn 3 px too low and 2 px too far left
    shifts = shift_grid(5)
    curve = alignment_curve(edge_strength(image), label_boundaries(label), shifts)
    assert tuple(shifts[int(np.argmax(curve))]) == (-3, 2)
    assert curve.max() > 3 * curve[len(curve) // 2]


def test_a_fitting_label_is_sharp_and_a_random_one_is_not():
    rng = np.random.default_rng(0)
    image = np.full((60, 80, 3), 40, np.uint8)
    image[20:40, 30:55] = 220
    image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
    label = np.zeros((60, 80), np.uint8)
    label[20:40, 30:55] = 7
    other = np.zeros((60, 80), np.uint8)
    other[5:50, 5:25] = 7
    strength = edge_strength(image)
    assert peak_sharpness(strength, label_boundaries(label))[1] > 1.5
    assert peak_sharpness(strength, label_boundaries(other))[1] < 1.2


def test_static_label_values_are_left_out_of_boundaries():
    label = np.zeros((10, 10), np.uint8)
    label[7:] = 1  # the bonnet
    label[2:5, 2:5] = 26
    assert label_boundaries(label)[6].any()
    assert not label_boundaries(label, exclude=(1,))[6].any()
    assert label_boundaries(label, exclude=(1,))[4, 3]


# ---- every check on the data ------------------------------------------------------------------

def test_every_check_finds_its_defect_at_the_default_size(report_480):
    manifest, report = report_480
    scores = detection_scores(report)
    expected = {"unreadable": "truncated", "size_mismatch": "size_mismatch", "empty_label": "empty_label",
                "misaligned": "misaligned", "swapped": "swapped"}
    readable = set(report.loc[~report["unreadable"], "frame"])
    for check, defect in expected.items():
        truth = frames_with(manifest, "defect", defect)
        assert len(truth) == 2
        assert flagged_frames(report, check) == truth, check
    for check in ("fog", "rain"):
        truth = frames_with(manifest, "weather", check) & readable
        assert len(truth) >= 4
        assert flagged_frames(report, check) == truth, check
    assert not report["unknown_colours"].any()
    assert (scores.loc[list(expected) + ["fog", "rain"], ["precision", "recall"]] == 1.0).all().all()
    assert np.isnan(scores.loc["unknown_colours", "recall"])



def test_default_fog_threshold_lies_between_the_haziest_clear_and_the_clearest_fog_frame(tmp_path):
    """The first five sequences of the default data (seed 0) hold its haziest clear frames (haze 0.23)."""
    from helpers.synthetic import generate_streets

    generate_streets(tmp_path, sequences=5, frames_per_sequence=20, size=(480, 264), seed=0, progress=False)
    manifest = build_manifest("synthetic-streets", tmp_path)
    manifest = manifest[manifest["defect"] != "truncated"]
    haze = np.array([weather_statistics(read_image(tmp_path / path))["haze"] for path in manifest["image"]])
    foggy = (manifest["weather"] == "fog").to_numpy()
    assert foggy.sum() >= 10 and (~foggy).sum() >= 50
    assert haze[~foggy].max() > 0.2  # the clear frames that the old threshold (0.17) called fog
    assert haze[~foggy].max() < Thresholds().haze < haze[foggy].min()

def test_reasons_say_what_is_wrong(report_480):
    manifest, report = report_480
    by_defect = dict(zip(report["defect"], report["reason"]))
    assert "truncated PNG" in by_defect["truncated"]
    assert "but image 480×264" in by_defect["size_mismatch"]
    assert "covers 100.0%" in by_defect["empty_label"]
    assert "fits better moved by" in by_defect["misaligned"]
    assert "fit no image edges" in by_defect["swapped"]
    clean = report[(report["defect"] == "none") & (report["weather"] == "clear")]
    assert (clean["reason"] == "").all()


def test_file_checks_on_the_small_fixture(streets_root, streets_meta):
    manifest = build_manifest("synthetic-streets", streets_root)
    report = run_checks(streets_root, manifest, progress=False)
    for check, defect in (("unreadable", "truncated"), ("size_mismatch", "size_mismatch"),
                          ("empty_label", "empty_label")):
        assert flagged_frames(report, check) == frames_with(manifest, "defect", defect)
    wrong_label = frames_with(manifest, "defect", "misaligned") | frames_with(manifest, "defect", "swapped")
    assert flagged_frames(report, "misaligned") | flagged_frames(report, "swapped") == wrong_label
    assert len(report) == len(streets_meta) and set(CHECKS) <= set(report.columns)


def test_unknown_label_values_are_flagged(streets_root, tmp_path):
    root = shutil.copytree(streets_root, tmp_path / "streets")
    palette_path, rgb_path = root / "labels" / "00001.png", root / "labels" / "00002.png"
    ids = np.array(Image.open(palette_path))
    ids[:4, :4] = 200  # not a Cityscapes labelId
    label = Image.fromarray(ids, mode="P")
    label.putpalette(cityscapes_palette())
    label.save(palette_path)
    colours = np.array(Image.open(rgb_path).convert("RGB"))
    colours[:2, :5] = (1, 2, 3)
    Image.fromarray(colours).save(rgb_path)
    manifest = build_manifest("synthetic-streets", root).iloc[:4]
    report = run_checks(root, manifest, progress=False)
    assert report["unknown_colours"].tolist()[:2] == [True, True]
    assert report["unknown_pixels"].tolist()[:2] == [16, 10]
    assert "16 pixels of label values not in the Cityscapes table" in report["reason"].iloc[0]


def test_thresholds_can_be_changed_without_reading_again(report_480):
    manifest, report = report_480
    everything_foggy = apply_thresholds(report, Thresholds(haze=0.0))
    assert everything_foggy.loc[~report["unreadable"], "fog"].all()
    fitted = fit_thresholds(report)
    fog = report.loc[~report["unreadable"] & (report["weather"] == "fog"), "haze"]
    clear = report.loc[~report["unreadable"] & (report["weather"] != "fog"), "haze"]
    assert clear.max() < fitted.haze < fog.min()
    assert fitted.misaligned_gain == Thresholds().misaligned_gain


# ---- the clean manifest -----------------------------------------------------------------------

def test_clean_manifest_drops_defects_and_keeps_weather(report_480):
    manifest, report = report_480
    clean = clean_manifest(manifest, report)
    assert set(clean["defect"]) == {"none"}
    assert len(clean) == (manifest["defect"] == "none").sum()
    assert clean["fog"].sum() == report.loc[report["defect"] == "none", "fog"].sum() > 0
    assert clean["rain"].any()
    assert not set(DEFECT_CHECKS) & set(clean.columns)
    from_report = clean_manifest(report)
    assert from_report["frame"].tolist() == clean["frame"].tolist()
    assert list(from_report.columns) == list(clean.columns)


# ---- sequence boundaries ----------------------------------------------------------------------

@pytest.mark.parametrize("which", ["small", "default_size"])
def test_sequence_boundaries_match_meta(which, streets_root, streets_480):
    root = streets_root if which == "small" else streets_480
    manifest = build_manifest("synthetic-streets", root)
    boundaries = sequence_boundaries(root, manifest, progress=False)
    scores = boundary_scores(boundaries, manifest)
    assert scores["actual"] == manifest["sequence"].nunique() - 1 or not boundaries["readable"].all()
    assert scores["precision"] == 1.0 and scores["recall"] == 1.0
    assert not boundaries.loc[~boundaries["readable"], "boundary"].any()


def test_forest_masks_get_only_the_checks_that_apply(forest_root):
    manifest = build_manifest("synthetic-forest", forest_root)
    report = run_checks(forest_root, manifest, dataset="synthetic-forest", progress=False)
    assert report.attrs["checks"] == ("unreadable", "size_mismatch")
    assert not report[[c for c in CHECKS if c not in ("unreadable", "size_mismatch")]].any().any()
    assert report["haze"].isna().all() and report["gain"].isna().all()  # street statistics not even measured
    assert clean_manifest(report)["frame"].tolist() == manifest["frame"].tolist()  # nothing dropped
    assert run_checks(forest_root, manifest, progress=False)["unknown_colours"].sum() >= 6  # read as Cityscapes ids


# ---- the helpers behind notebook 01's figures and tables ----------------------------------------

def box_frame() -> tuple[np.ndarray, np.ndarray]:
    """A bright box on a dark image, with a label that fits it (car id 26 on road id 7)."""
    image = np.full((60, 80, 3), 40, np.uint8)
    image[20:40, 30:55] = 220
    label = np.full((60, 80), 7, np.uint8)
    label[20:40, 30:55] = 26
    return image, label


def test_each_toy_file_defect_trips_exactly_its_own_check():
    image, label = box_frame()
    unknown = label.copy()
    unknown[:5, :5] = 200
    table = toy_file_checks({"fine": (image, label, 1.0), "truncated": (image, label, 0.5),
                             "too wide": (image, np.pad(label, ((0, 0), (0, 6)), mode="edge"), 1.0),
                             "unknown": (image, unknown, 1.0), "empty": (image, np.zeros_like(label), 1.0)})
    assert list(table.columns) == ["unreadable", "size_mismatch", "unknown_colours", "empty_label"]
    assert table.to_numpy().tolist() == np.eye(5, 4, k=-1, dtype=bool).tolist()  # "fine" flags nothing


def test_read_frame_gives_none_for_a_file_cut_short(tmp_path):
    image, label = box_frame()
    image_path, label_path = write_toy_frame(tmp_path, "cut", image, label, keep_bytes=0.5)
    read_image, read_label = read_frame(tmp_path, {"image": image_path.name, "label": label_path.name})
    assert read_image is None and np.array_equal(read_label, label)
    write_toy_frame(tmp_path, "whole", image, label)
    read_image, _ = read_frame(tmp_path, {"image": "whole_image.png", "label": "whole_label.png"})
    assert np.array_equal(read_image, image)


def test_fit_map_peaks_where_the_label_moves_back():
    image, label = box_frame()
    moved = np.roll(label, (3, -2), axis=(0, 1))  # drawn 3 px too low, 2 px too far left
    fit, reach = fit_map(image, moved, Thresholds(max_shift=5, search_width=80))
    assert fit.shape == (11, 11) and reach == 5.5
    assert np.unravel_index(int(np.argmax(fit)), fit.shape) == (5 - 3, 5 + 2)  # row dy = -3, column dx = +2
    small, small_reach = fit_map(image, label, Thresholds(max_shift=8, search_width=40))  # half size: 4 px reach
    assert small.shape == (9, 9) and small_reach == 9.0
    assert np.unravel_index(int(np.argmax(small)), small.shape) == (4, 4)


def test_describe_fit_map_gives_the_cell_size_and_span_the_fit_map_uses():
    image, label = box_frame()  # 80 px wide
    thresholds = Thresholds(max_shift=8, search_width=40)
    fit, _ = fit_map(image, label, thresholds)
    assert fit.shape == (9, 9)  # ±4 cells of 2 px
    assert describe_fit_map(80, thresholds) == ("each cell of a fit map is one pixel of the 40-wide copy, 2 px of the "
                                                "80-wide frame: the map spans ±8 px in steps of 2")
    assert describe_fit_map(480, Thresholds()) == ("each cell of a fit map is one pixel of the 240-wide copy, 2 px of "
                                                   "the 480-wide frame: the map spans ±12 px in steps of 2")
    assert describe_fit_map(60, Thresholds(max_shift=5, search_width=80)) == (
        "each cell of a fit map is one pixel of the 60-wide frame (at most search_width 80 wide, so searched at full "
        "size): the map spans ±5 px in steps of 1")
    assert describe_fit_map(640, Thresholds()).endswith("spans ±10.7 px (max_shift 12 in whole cells) in steps of 2.67")


def test_first_flagged_picks_the_first_flagged_row_or_the_first_clean_one():
    report = pd.DataFrame({check: False for check in CHECKS}, index=range(4))
    report.loc[2, "swapped"] = True
    report.loc[0, "fog"] = True
    assert first_flagged(report, "swapped").name == 2
    assert first_flagged(report, "ok").name == 1
    assert first_flagged(report, "misaligned") is None


def test_nearest_train_finds_the_neighbour_of_each_test_frame():
    thumbnails = np.array([[0.0, 0.0], [0.1, 0.1], [0.9, 0.9], [1.0, 0.8], [0.5, 0.5]])
    split = pd.DataFrame({"split": ["train", "test", "train", "test", "val"], "sequence": ["a", "a", "b", "c", "c"]})
    leak = nearest_train(thumbnails, split)
    assert leak["test_rows"].tolist() == [1, 3] and leak["nearest"].tolist() == [0, 2]
    assert np.allclose(leak["distance"], [0.1, 0.1])
    assert leak["same_sequence"].tolist() == [True, False]


def test_frame_thumbnails_refuses_an_unreadable_image(tmp_path):
    image, label = box_frame()
    good, _ = write_toy_frame(tmp_path, "good", image, label)
    assert frame_thumbnails([good], size=(8, 6)).shape == (1, 48)
    cut, _ = write_toy_frame(tmp_path, "cut", image, label, keep_bytes=0.3)
    with pytest.raises(OSError, match="cut_image.png"):
        frame_thumbnails([good, cut])


def test_gain_leaves_the_bonnet_out_as_the_fit_map_does():
    image, label = box_frame()
    image[50:] = 120  # the bonnet's edge in the image at row 50 …
    label[44:] = 1  # … but labelled from row 44 (ego vehicle): its boundary fits only when moved 6 px down
    thresholds = Thresholds(max_shift=6, search_width=80)
    statistics = alignment_statistics(image, label, thresholds)
    fit, _ = fit_map(image, label, thresholds)
    assert statistics["gain"] == pytest.approx(fit.max() - fit[6, 6])  # the number is what the figure shows
    assert statistics["gain"] == pytest.approx(0.0) and (statistics["best_dy"], statistics["best_dx"]) == (0, 0)


def test_plot_alignment_checks_offsets_the_numbers_of_close_points():
    import matplotlib.pyplot as plt

    report = pd.DataFrame({"gain": [0.0, 0.7, 0.701, 2.0], "sharpness": [1.5, 1.0, 1.001, 1.3],
                           "sharpness_moved": [1.5, 1.83, 1.81, 1.4], "misaligned": [False, True, True, True],
                           "swapped": [False] * 4})
    fig = plot_alignment_checks(report, Thresholds(), pd.Series("none", index=report.index))
    offsets = {text.get_text(): text.xyann for text in fig.axes[0].texts if hasattr(text, "xyann")}
    assert offsets["1.83"] != offsets["1.81"]  # two points on top of each other: one number above, one below
    assert offsets["1.40"] == offsets["1.83"]  # a point far from the others keeps the usual place
    plt.close(fig)


def test_plot_alignment_checks_colours_by_recorded_defect_rings_flags_and_labels_the_moved_fit():
    import matplotlib.pyplot as plt

    report = pd.DataFrame({"gain": [0.0, 0.1, 0.7, 0.8, np.nan], "sharpness": [1.5, 1.0, 1.0, 1.05, np.nan],
                           "sharpness_moved": [1.5, 1.0, 1.4, 1.02, np.nan],
                           "misaligned": [False, False, True, False, False],
                           "swapped": [False, True, False, False, False]})
    truth = pd.Series(["none", "swapped", "misaligned", "unknown", "none"])
    fig = plot_alignment_checks(report, Thresholds(), truth)
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels[:6] == ["none in meta.csv (1)", "misaligned in meta.csv (1)", "swapped in meta.csv (1)",
                          "unknown in meta.csv (1)", "flagged misaligned (1)", "flagged swapped (1)"]
    assert "gain 0.5: misaligned beyond, if sharp once moved" in labels
    assert "sharpness 1.16: swapped below (gain ≤ 0.5)" in labels
    assert [text.get_text() for text in ax.texts if text.get_fontsize() == 7][:2] == ["1.40", "1.02"]  # right of 0.5
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    plt.close(fig)
    only_clean = plot_alignment_checks(report.assign(misaligned=False, swapped=False), Thresholds(),
                                       pd.Series("none", index=report.index))
    assert only_clean.axes[0].get_legend_handles_labels()[1][0] == "none in meta.csv (4)"
    assert not any(label.startswith("flagged") for label in only_clean.axes[0].get_legend_handles_labels()[1])
    plt.close(only_clean)


def test_describe_detection_names_the_perfect_checks_and_what_the_others_got_wrong():
    manifest = pd.DataFrame({"frame": range(6), "defect": ["none", "none", "swapped", "none", "truncated", "none"],
                             "weather": ["clear", "rain", "clear", "fog", "clear", "clear"]})
    report = pd.DataFrame({check: False for check in CHECKS}, index=manifest.index)
    report.loc[4, "unreadable"] = True
    report.loc[2, "swapped"] = True
    report.loc[3, "fog"], report.loc[1, "rain"] = True, True
    text = describe_detection(detection_scores(report, manifest), report, manifest)
    assert text == "4 of 4 checks found every recorded case and raised no false alarm: unreadable, swapped, fog, rain"
    report.loc[[1, 3], "fog"] = [True, False]  # fog raised on the rain frame, the fog frame missed
    lines = describe_detection(detection_scores(report, manifest), report, manifest).split("\n")
    assert lines[0] == "3 of 4 checks found every recorded case and raised no false alarm: unreadable, swapped, rain"
    assert lines[1] == ("- fog: found 0 of 1 (recall 0.00); 1 false alarm(s) (precision 0.00), "
                        "on frames that are really rain (1)")
    assert lines[2].startswith("A false alarm on a weather check keeps the frame")
