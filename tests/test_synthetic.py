"""Synthetic street scenes and forest patches: determinism, layout, encodings, defects, weather, sequences."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers.classes import GTA9, LABEL_ID, cityscapes_palette
from helpers.encoding import palette_to_index, rgb_to_index
from helpers.synthetic import (
    DEFECT_KINDS,
    META_COLUMNS,
    SCENES,
    generate_forest,
    generate_streets,
    render_street_frame,
    scene_for_sequence,
    shift_label,
    street_plan,
)

REPO = Path(__file__).resolve().parent.parent
SIZE = (96, 64)


def folder_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def read_label_ids(path: Path) -> np.ndarray:
    return np.array(Image.open(path))


@pytest.fixture(scope="module")
def streets(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """5 sequences × 10 frames with a high defect rate and half the sequences in bad weather."""
    out = tmp_path_factory.mktemp("streets")
    meta = generate_streets(out, sequences=5, frames_per_sequence=10, size=SIZE, seed=3, defect_rate=0.2,
                            weather_rate=0.4, progress=False)
    return out, meta


def test_same_arguments_give_identical_bytes_and_another_seed_differs(tmp_path):
    args = dict(sequences=2, frames_per_sequence=3, size=SIZE, defect_rate=0.5, weather_rate=0.5, progress=False)
    generate_streets(tmp_path / "a", seed=1, **args)
    generate_streets(tmp_path / "b", seed=1, **args)
    generate_streets(tmp_path / "c", seed=2, **args)
    first, second, other = (folder_digest(tmp_path / name) for name in "abc")
    assert len(first) == 2 * 6 + 1
    assert first == second
    assert sum(first[name] != other.get(name) for name in first if name.startswith("images")) == 6


def test_layout_palette_png_and_meta(streets):
    out, meta = streets
    assert list(pd.read_csv(out / "meta.csv").columns) == META_COLUMNS
    assert meta["frame"].tolist() == list(range(1, 51))
    assert meta["sequence"].tolist() == [s for s in range(5) for _ in range(10)]
    assert set(meta["scene"]) <= set(SCENES) and set(meta["weather"]) <= {"clear", "rain", "fog"}
    assert set(meta["defect"]) <= {"none", *DEFECT_KINDS}
    assert sorted(p.name for p in (out / "images").iterdir()) == [f"{f:05d}.png" for f in range(1, 51)]
    assert sorted(p.name for p in (out / "labels").iterdir()) == [f"{f:05d}.png" for f in range(1, 51)]
    valid_ids = set(LABEL_ID.values())
    for frame in (1, 17, 42):
        label = Image.open(out / "labels" / f"{frame:05d}.png")
        assert label.mode == "P"
        palette = label.getpalette()
        assert palette == cityscapes_palette()[: len(palette)] and len(palette) >= 34 * 3
        assert set(np.unique(np.array(label)).tolist()) <= valid_ids
    image = Image.open(out / "images" / "00001.png")
    assert image.mode == "RGB" and image.size == SIZE


def test_scenes_are_balanced_in_blocks_of_four():
    for seed in (0, 5):
        scenes = [scene_for_sequence(seed, s) for s in range(12)]
        for block in range(3):
            assert sorted(scenes[4 * block: 4 * block + 4]) == sorted(SCENES)
    assert [scene_for_sequence(0, s) for s in range(8)] != [scene_for_sequence(1, s) for s in range(8)]


def test_palette_and_rgb_routes_give_the_same_classes(streets):
    out, meta = streets
    clean = meta[meta["defect"] == "none"]["frame"].tolist()[:6]
    wrong_fractions = []
    for frame in clean:
        path = out / "labels" / f"{frame:05d}.png"
        by_palette = palette_to_index(read_label_ids(path), GTA9)
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        by_colour = rgb_to_index(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), GTA9)
        np.testing.assert_array_equal(by_palette, by_colour)
        # the classic pitfall: OpenCV gives BGR; read as RGB, most vehicle and curb colours are unknown
        pitfall = rgb_to_index(bgr, GTA9)
        affected = ~np.isin(by_palette, [0, 2])  # black and road (128, 64, 128) read the same either way
        if affected.any():
            wrong_fractions.append(float((pitfall[affected] != by_palette[affected]).mean()))
    assert wrong_fractions and min(wrong_fractions) == 1.0


def test_defects_at_the_requested_rate_and_each_is_what_it_says(streets):
    out, meta = streets
    counts = meta["defect"].value_counts()
    assert counts["none"] == 40
    assert all(counts[kind] == 2 for kind in DEFECT_KINDS)  # 0.2 × 50 = 10 frames, 2 of each kind
    sequences = int(meta["sequence"].max()) + 1
    for row in meta.itertuples():
        step = (row.frame - 1) % 10
        rendered_image, rendered = render_street_frame(3, row.sequence, step, SIZE, row.scene, row.weather)
        image_path, label_path = out / "images" / f"{row.frame:05d}.png", out / "labels" / f"{row.frame:05d}.png"
        label = read_label_ids(label_path)
        if row.defect == "truncated":
            assert cv2.imread(str(image_path)) is None
            with pytest.raises(OSError):
                Image.open(image_path).load()
            np.testing.assert_array_equal(label, rendered)
            continue
        np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(str(image_path)), cv2.COLOR_BGR2RGB), rendered_image)
        if row.defect == "none":
            np.testing.assert_array_equal(label, rendered)
        elif row.defect == "empty_label":
            assert label.shape == rendered.shape and not label.any()
        elif row.defect == "size_mismatch":
            dh, dw = abs(label.shape[0] - SIZE[1]), abs(label.shape[1] - SIZE[0])
            assert 1 <= dh <= 8 and 1 <= dw <= 8
        elif row.defect == "misaligned":
            shifts = [(dx, dy) for dx in range(-10, 11) for dy in range(-10, 11)
                      if np.array_equal(shift_label(rendered, dx, dy), label)]
            assert shifts and all(5 <= max(abs(dx), abs(dy)) <= 10 for dx, dy in shifts)
            assert not np.array_equal(label, rendered)
        elif row.defect == "swapped":
            sources = [(s, t) for s in range(sequences) if s != row.sequence for t in range(10)
                       if np.array_equal(render_street_frame(3, s, t, SIZE)[1], label)]
            assert sources, f"frame {row.frame}: the swapped label matches no frame of another sequence"


def test_weather_at_the_requested_rate_and_visible(streets):
    _, meta = streets
    per_sequence = meta.drop_duplicates("sequence")["weather"].value_counts()
    assert per_sequence.get("clear", 0) == 3 and per_sequence.get("rain", 0) == 1 and per_sequence.get("fog", 0) == 1
    plan = street_plan(sequences=20, frames_per_sequence=1, weather_rate=0.3)
    assert plan["weather"].value_counts().to_dict() == {"clear": 14, "rain": 3, "fog": 3}
    clear, clear_label = render_street_frame(0, 2, 4, (160, 88), weather="clear")
    rain, rain_label = render_street_frame(0, 2, 4, (160, 88), weather="rain")
    fog, fog_label = render_street_frame(0, 2, 4, (160, 88), weather="fog")
    np.testing.assert_array_equal(clear_label, rain_label)
    np.testing.assert_array_equal(clear_label, fog_label)
    assert rain.mean() < 0.9 * clear.mean()  # darker
    above_bonnet = slice(0, 70)
    assert fog[above_bonnet].std() < 0.85 * clear[above_bonnet].std()  # contrast fades


def test_neighbouring_frames_are_near_duplicates_unlike_other_sequences():
    size = (160, 88)
    frames = [render_street_frame(0, 1, step, size)[0].astype(np.float32) for step in range(4)]
    others = [render_street_frame(0, s, 0, size)[0].astype(np.float32) for s in (2, 3, 4, 5)]
    within = np.mean([np.abs(a - b).mean() for a, b in zip(frames, frames[1:])])
    across = np.mean([np.abs(frames[0] - other).mean() for other in others])
    assert within < 0.5 * across
    assert within > 0.5  # the camera moves


def test_every_gta9_class_occurs_in_a_default_size_sample():
    pixels = np.zeros(GTA9.num_classes, np.int64)
    for sequence in range(20):
        for step in (0, 10):
            _, label = render_street_frame(0, sequence, step, (480, 264))
            pixels += np.bincount(palette_to_index(label, GTA9).ravel(), minlength=GTA9.num_classes)
    share = pixels / pixels.sum()
    assert (share > 0.002).all(), dict(zip(GTA9.class_names, share.round(4)))


def test_render_rejects_bad_arguments():
    with pytest.raises(ValueError, match="weather"):
        render_street_frame(0, 0, 0, SIZE, weather="snow")
    with pytest.raises(ValueError, match="scene"):
        render_street_frame(0, 0, 0, SIZE, scene="desert")
    with pytest.raises(ValueError, match="defect_rate"):
        street_plan(defect_rate=1.5)


def test_refuses_a_foreign_folder_but_overwrites_an_earlier_output(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="--force"):
        generate_streets(foreign, sequences=1, frames_per_sequence=1, size=SIZE, progress=False)
    assert (foreign / "notes.txt").read_text() == "keep me"
    earlier = tmp_path / "earlier"
    generate_streets(earlier, sequences=1, frames_per_sequence=3, size=SIZE, progress=False)
    generate_streets(earlier, sequences=1, frames_per_sequence=2, size=SIZE, progress=False)
    assert sorted(p.name for p in (earlier / "images").iterdir()) == ["00001.png", "00002.png"]


def load_script(name: str):
    """Import a data script as a module, so its main() runs in this process."""
    spec = importlib.util.spec_from_file_location(name, REPO / "data_scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_streets_command_line_prints_what_it_wrote(tmp_path, capsys):
    script = load_script("make_synthetic_streets")
    out = tmp_path / "cli"
    assert script.main(["--out", str(out), "--sequences", "4", "--frames-per-sequence", "2", "--size", "64x48",
                        "--defect-rate", "0.25", "--weather-rate", "0.5", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "wrote 8 frames (4 sequences × 2) at 64x48" in printed
    assert "city 1, countryside 1, highway 1, suburb 1" in printed
    assert "clear 2, fog 1, rain 1" in printed
    assert "none 6" in printed and "misaligned 1" in printed and "swapped 1" in printed
    assert len(list((out / "images").iterdir())) == 8
    assert script.main(["--out", str(tmp_path), "--quiet"]) == 2  # not empty, not an earlier output
    assert "--force" in capsys.readouterr().err


def test_forest_layout_jpeg_masks_and_determinism(tmp_path):
    generate_forest(tmp_path / "a", count=8, size=64, seed=1, progress=False)
    table = generate_forest(tmp_path / "b", count=8, size=64, seed=1, progress=False)
    assert folder_digest(tmp_path / "a") == folder_digest(tmp_path / "b")
    root = tmp_path / "b" / "Forest Segmented"
    assert sorted(p.name for p in root.iterdir()) == ["images", "masks", "meta_data.csv"]
    meta = pd.read_csv(root / "meta_data.csv", dtype=str)
    assert list(meta.columns) == ["image", "mask"] and meta.equals(table) and len(meta) == 8
    assert meta["image"].str.fullmatch(r"\d+_sat_\d\d\.jpg").all()
    assert (meta["mask"] == meta["image"].str.replace("_sat_", "_mask_")).all()
    assert meta["image"].str.split("_").str[0].nunique() < 8  # several patches per source image
    fractions = []
    for image_name, mask_name in meta.itertuples(index=False):
        image_bytes = (root / "images" / image_name).read_bytes()
        assert image_bytes[:2] == b"\xff\xd8"  # JPEG
        image = cv2.imread(str(root / "images" / image_name))
        mask = cv2.imread(str(root / "masks" / mask_name), cv2.IMREAD_GRAYSCALE)
        assert image.shape == (64, 64, 3) and mask.shape == (64, 64)
        assert ((mask > 40) & (mask < 215)).mean() < 0.05  # near 0/255, with JPEG artefacts
        fractions.append((mask >= 128).mean())
    assert min(fractions) < 0.5 < max(fractions)


def test_forest_command_line(tmp_path, capsys):
    script = load_script("make_synthetic_forest")
    assert script.main(["--out", str(tmp_path / "forest"), "--count", "3", "--size", "32", "--quiet"]) == 0
    assert "wrote 3 patches" in capsys.readouterr().out
    assert len(list((tmp_path / "forest" / "Forest Segmented" / "masks").iterdir())) == 3


def test_a_killed_generator_leaves_the_earlier_data_set_and_the_next_run_cleans_up(tmp_path, capfd):
    out = tmp_path / "streets"
    generate_streets(out, sequences=1, frames_per_sequence=3, size=(48, 32), progress=False)
    before = folder_digest(out)
    process = subprocess.Popen([sys.executable, str(REPO / "data_scripts" / "make_synthetic_streets.py"),
                                "--out", str(out), "--sequences", "40", "--frames-per-sequence", "20",
                                "--size", "48x32", "--quiet"])
    staged, deadline = [], time.monotonic() + 120
    while len(staged) < 5 and process.poll() is None and time.monotonic() < deadline:
        staged = list(tmp_path.glob(".streets.generating-*/images/*.png"))
        time.sleep(0.02)
    process.kill()
    process.wait()
    assert 5 <= len(staged) < 800  # killed mid-way through the 800 frames
    assert folder_digest(out) == before  # the earlier data set, meta.csv included, as it was
    assert list(tmp_path.glob(".streets.generating-*"))
    capfd.readouterr()
    generate_streets(out, sequences=1, frames_per_sequence=2, size=(48, 32), progress=False)
    assert "left by an interrupted run" in capfd.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["streets"]
    assert sorted(p.name for p in (out / "images").iterdir()) == ["00001.png", "00002.png"]


def test_a_failing_forest_generator_keeps_the_earlier_patches(tmp_path, monkeypatch):
    import helpers.synthetic.forest as forest_module

    out = tmp_path / "forest"
    generate_forest(out, count=3, size=32, progress=False)
    before = folder_digest(out)
    calls = {"count": 0}
    original = forest_module.render_forest_patch

    def fails_on_the_third(*args, **kwargs):
        calls["count"] += 1
        if calls["count"] == 3:
            raise MemoryError("out of memory on purpose")
        return original(*args, **kwargs)

    monkeypatch.setattr(forest_module, "render_forest_patch", fails_on_the_third)
    with pytest.raises(MemoryError):
        generate_forest(out, count=6, size=32, seed=4, progress=False)
    assert folder_digest(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["forest"]


def test_shift_label_moves_colour_labels_like_id_labels():
    ids = np.arange(20, dtype=np.uint8).reshape(4, 5)
    colours = np.stack([ids, ids + 1, ids + 2], axis=-1)
    moved = shift_label(colours, dx=2, dy=-1)
    assert moved.shape == colours.shape
    assert np.array_equal(moved[..., 0], shift_label(ids, dx=2, dy=-1))
