"""The real-data scripts end to end, offline, on archives built in the real layouts from the generators.

GTA5: NN_images.zip / NN_labels.zip (with and without the top folder), code/read_mapping.zip
holding mapping/split.mat, a label of the wrong size and a blank label, served by a loopback
HTTP server or taken from a folder. Forest: the Kaggle zip, nested and flattened, JPEG masks.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import scipy.io
from PIL import Image

import helpers.dataset_registry
from data_scripts import get_forest, get_gta5, prepare_gta5
from helpers.classes import CITYSCAPES, GTA9, cityscapes_palette
from helpers.config import get_profile
from helpers.datasets import (
    LABEL_NEAREST,
    DatasetMissingError,
    build_manifest,
    dataset_dir,
    load_dataset,
    read_manifest,
)
from helpers.synthetic import generate_forest, generate_streets, shift_label
from tests.fixtures import png_bytes, zip_bytes
from tests.test_download import LoopbackServer

REPO = Path(__file__).resolve().parents[1]
SIZE = (80, 48)  # W×H of the generated street frames
FRAMES = 12  # 3 sequences × 4 frames; part 01 = frames 1–6, part 02 = frames 7–12
MISMATCHED, BLANK = "00003", "00005"
SPLIT_IDS = {"trainIds": [1, 2, 3, 4, 5, 6], "valIds": [7, 8, 9], "testIds": [10, 11, 12]}


# --------------------------------------------------------------------------------------------
# Archives in the real layouts
# --------------------------------------------------------------------------------------------

def jpeg_bytes(array: np.ndarray, quality: int = 75) -> bytes:
    ok, data = cv2.imencode(".jpg", array, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def label_ids(path: Path) -> np.ndarray:
    with Image.open(path) as label:
        assert label.mode == "P"
        return np.asarray(label).copy()


@pytest.fixture(scope="module")
def streets(tmp_path_factory) -> Path:
    """12 clean generated frames: the source of the GTA5 archives."""
    root = tmp_path_factory.mktemp("source") / "streets"
    generate_streets(root, sequences=3, frames_per_sequence=4, size=SIZE, seed=1, defect_rate=0.0,
                     weather_rate=0.0, progress=False)
    return root


@pytest.fixture(scope="module")
def gta_archives(streets) -> dict[str, bytes]:
    """{archive name: bytes} exactly as on the Playing for Data site (two parts and read_mapping.zip)."""
    members: dict[str, dict[str, bytes]] = {name: {} for name in get_gta5.archive_names([1, 2])}
    for number in range(1, FRAMES + 1):
        stem = f"{number:05d}"
        part = 1 if number <= 6 else 2
        label = label_ids(streets / "labels" / f"{stem}.png")
        if stem == MISMATCHED:  # as ~60 real frames: the label is a few pixels off the image's size
            label = cv2.resize(label, (SIZE[0] - 4, SIZE[1] + 2), interpolation=cv2.INTER_NEAREST)
        if stem == BLANK:
            label = np.zeros_like(label)
        top = "" if part == 2 else "{kind}/"  # part 01 with the top folder, part 02 without
        members[f"{part:02d}_images.zip"][top.format(kind="images") + f"{stem}.png"] = \
            (streets / "images" / f"{stem}.png").read_bytes()
        members[f"{part:02d}_labels.zip"][top.format(kind="labels") + f"{stem}.png"] = \
            png_bytes(label, cityscapes_palette())
    split = io.BytesIO()
    scipy.io.savemat(split, {key: np.array(ids, dtype=np.float64)[:, None] for key, ids in SPLIT_IDS.items()})
    archives = {name: zip_bytes(files) for name, files in members.items()}
    archives["read_mapping.zip"] = zip_bytes({"mapping/split.mat": split.getvalue(),
                                              "mapping/cityscapes.csv": b"id,name\n", "readme.txt": b"read me"})
    return archives


def serve(archives: dict[str, bytes]) -> LoopbackServer:
    return LoopbackServer({"/" + get_gta5.archive_url("", name).lstrip("/"): data for name, data in archives.items()})


@pytest.fixture(scope="module")
def gta_data(tmp_path_factory, gta_archives) -> Path:
    """Both parts downloaded (the first transfer cut halfway and resumed) and extracted."""
    out = tmp_path_factory.mktemp("data") / "gta5"
    with serve(gta_archives) as server:
        server.cut["/data/01_images.zip"] = 1
        assert get_gta5.main(["--parts", "1,2", "--out", str(out), "--base-url", server.url, "--quiet",
                              "--retry-pause", "0"]) == 0
        assert server.gets("/data/01_images.zip")[1][1] == 206  # resumed, not restarted
    return out


def copy_tree(source: Path, target: Path) -> Path:
    """A fresh copy of the extracted data (each prepare test writes its own manifest)."""
    for path in source.rglob("*"):
        if path.is_file() and "downloads" not in path.parts:
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(path.read_bytes())
    return target


# --------------------------------------------------------------------------------------------
# get_gta5.py
# --------------------------------------------------------------------------------------------

def test_parse_parts():
    assert get_gta5.parse_parts("1") == [1]
    assert get_gta5.parse_parts("01, 3") == [1, 3]
    assert get_gta5.parse_parts("2-4") == [2, 3, 4]
    assert get_gta5.parse_parts("all") == list(range(1, 11))
    for wrong in ("0", "11", "a", "1,,2"):
        with pytest.raises(ValueError, match="--parts"):
            get_gta5.parse_parts(wrong)


def test_help_states_the_size_of_part_01(capsys):
    with pytest.raises(SystemExit):
        get_gta5.parse_args(["--help"])
    assert "Part 01 alone is about 5.8 GB" in " ".join(capsys.readouterr().out.split())


def test_get_gta5_downloads_resumes_and_extracts_the_playing_for_data_layout(gta_data, gta_archives, streets):
    images = sorted(p.name for p in (gta_data / "images").iterdir())
    labels = sorted(p.name for p in (gta_data / "labels").iterdir())
    assert images == labels == [f"{n:05d}.png" for n in range(1, FRAMES + 1)]
    assert (gta_data / "images" / "00008.png").read_bytes() == (streets / "images" / "00008.png").read_bytes()
    assert label_ids(gta_data / "labels" / "00002.png").tolist() == label_ids(streets / "labels" / "00002.png").tolist()
    split = scipy.io.loadmat(gta_data / "split.mat")
    assert np.ravel(split["testIds"]).tolist() == SPLIT_IDS["testIds"]
    assert sorted(p.name for p in gta_data.iterdir()) == ["downloads", "images", "labels", "split.mat"]
    checksums = json.loads((gta_data / "downloads" / "checksums.json").read_text())
    assert sorted(checksums) == sorted(gta_archives)
    assert not list((gta_data / "downloads").glob("*.part"))
    assert [p.name for p in gta_data.parent.iterdir()] == ["gta5"]  # no temporary folder left


def test_get_gta5_deletes_archives_on_request_and_skips_what_is_extracted(tmp_path, gta_archives, capsys):
    out = tmp_path / "gta5"
    arguments = ["--parts", "1", "--out", str(out), "--quiet", "--no-split", "--retry-pause", "0"]
    with serve(gta_archives) as server:
        assert get_gta5.main(arguments + ["--base-url", server.url, "--delete-zips"]) == 0
        assert sorted(p.name for p in (out / "downloads").iterdir()) == ["checksums.json", "extracted.json"]
        requests = len(server.log)
        assert get_gta5.main(arguments + ["--base-url", server.url]) == 0
        assert len(server.log) == requests  # nothing fetched again
    assert "01_labels.zip: already extracted" in capsys.readouterr().out
    assert len(list((out / "images").iterdir())) == 6


def downloaded_by_hand(folder: Path, gta_archives: dict[str, bytes]) -> Path:
    """A folder holding part 01's two archives, as a learner downloads them."""
    folder.mkdir()
    for name in ("01_images.zip", "01_labels.zip"):
        (folder / name).write_bytes(gta_archives[name])
    return folder


def test_get_gta5_from_a_folder_of_archives_downloaded_by_hand(tmp_path, gta_archives, capsys):
    folder = downloaded_by_hand(tmp_path / "Downloads", gta_archives)
    out = tmp_path / "gta5"
    assert get_gta5.main(["--parts", "1", "--from", str(folder), "--out", str(out), "--quiet"]) == 0
    assert len(list((out / "labels").glob("*.png"))) == 6
    assert "no read_mapping.zip" in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r"(?s)missing in .*02_images.zip, 02_labels.zip.*from_games/data/02_images.zip"):
        get_gta5.main(["--parts", "1,2", "--from", str(folder), "--out", str(out), "--quiet"])


def test_get_gta5_stops_at_a_damaged_archive_and_leaves_nothing_half_written(tmp_path, gta_archives):
    damaged = dict(gta_archives)
    data = bytearray(damaged["02_labels.zip"])
    data[len(data) // 3: len(data) // 3 + 64] = bytes(64)  # inside a compressed member
    damaged["02_labels.zip"] = bytes(data)
    out = tmp_path / "data" / "gta5"
    with serve(damaged) as server:
        with pytest.raises(SystemExit, match=r"02_labels.zip.*(damaged|not a complete).*Delete 02_labels.zip and "
                                             r"download it again"):
            get_gta5.main(["--parts", "1,2", "--out", str(out), "--base-url", server.url, "--quiet", "--no-split"])
    assert len(list((out / "labels").iterdir())) == 6  # part 01 only: nothing of the damaged archive
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["gta5"]
    assert "02_labels.zip" not in json.loads((out / "downloads" / "checksums.json").read_text())


def test_get_gta5_refuses_when_the_disk_is_too_small(tmp_path, gta_archives, monkeypatch):
    monkeypatch.setattr(get_gta5, "free_bytes", lambda folder: 1000)
    with serve(gta_archives) as server:
        with pytest.raises(SystemExit, match="not enough free disk space.*--parts 1"):
            get_gta5.main(["--parts", "1", "--out", str(tmp_path / "gta5"), "--base-url", server.url, "--quiet"])
    assert not (tmp_path / "gta5" / "images").exists()


# --------------------------------------------------------------------------------------------
# prepare_gta5.py
# --------------------------------------------------------------------------------------------

def test_prepare_fixes_sizes_drops_blanks_and_keeps_the_official_split(gta_data, tmp_path, capsys):
    data = copy_tree(gta_data, tmp_path / "gta5")
    assert prepare_gta5.main(["--data", str(data), "--sequences", "blocks", "--block-size", "4", "--quiet"]) == 0
    summary = capsys.readouterr().out
    assert "label size differs from the image (policy resize): 1 (0 dropped, 1 kept)" in summary
    assert "blank label (drop): 1 (1 dropped, 0 kept)" in summary
    manifest = read_manifest(data / "manifest.csv")
    assert list(manifest.columns[:5]) == ["frame", "image", "label", "sequence", "split"]
    assert BLANK not in set(manifest["frame"]) and len(manifest) == FRAMES - 1
    fixed = manifest.set_index("frame").loc[MISMATCHED]
    assert fixed["label"] == f"prepared/labelids-full/labels/{MISMATCHED}.png"
    assert label_ids(data / fixed["label"]).shape == (SIZE[1], SIZE[0])  # resized to the image
    assert manifest.set_index("frame").loc["00001", "label"] == "labels/00001.png"  # untouched
    assert manifest["sequence"].tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    splits = manifest.set_index("frame")["split"]
    assert set(splits[[f"{n:05d}" for n in SPLIT_IDS["trainIds"] if n != 5]]) == {"train"}
    assert set(splits[[f"{n:05d}" for n in SPLIT_IDS["testIds"]]]) == {"test"}
    held_out = splits[["00007", "00008", "00009"]]  # official val: sequences 1 and 2 → one becomes pseudo_test
    assert sorted(set(held_out)) == ["pseudo_test", "val"]
    official_val = manifest[manifest["split"].isin(["val", "pseudo_test"])]
    assert official_val.groupby("sequence")["split"].nunique().eq(1).all()  # carved out by sequence
    report = pd.read_csv(data / "prepare_report.csv", dtype={"frame": str})
    assert report.set_index("frame")["problem"].to_dict() == {MISMATCHED: "size_mismatch", BLANK: "blank"}


def test_prepared_gta9_copies_load_with_the_expected_class_ids(gta_data, streets, tmp_path):
    data = copy_tree(gta_data, tmp_path / "gta5")
    assert prepare_gta5.main(["--data", str(data), "--classes", "gta9", "--profile", "smoke",
                              "--blank", "flag", "--policy", "drop", "--quiet"]) == 0
    manifest = read_manifest(data / "manifest.csv")
    assert MISMATCHED not in set(manifest["frame"]) and BLANK in set(manifest["frame"])
    assert manifest.set_index("frame")["blank"].to_dict()[BLANK]
    assert manifest["image"].str.startswith("prepared/gta9-64x48/images/").all()
    with Image.open(data / manifest["label"].iloc[0]) as label:
        assert label.size == (64, 48) and label.info[helpers.dataset_registry.PREPARED_CLASSES_KEY] == "gta9"
    dataset = load_dataset("gta5", root=data, classes="gta9", profile="smoke", split=None)
    assert dataset.frames == manifest["frame"].tolist()
    for position in (0, 5):
        frame = dataset.frames[position]
        expected = cv2.resize(GTA9.id_lut()[label_ids(streets / "labels" / f"{frame}.png")], (64, 48),
                              interpolation=LABEL_NEAREST)
        image, target = dataset[position]
        assert image.shape == (3, 48, 64)
        assert np.array_equal(target.numpy(), expected)
    assert set(np.unique(expected)) >= {0, 2}  # road is there
    with pytest.raises(ValueError, match="prepared with --classes gta9.*classes='gta9'"):
        load_dataset("gta5", root=data, classes="cityscapes19", profile="smoke", split=None)


def test_source_labels_load_as_cityscapes_train_ids_and_honour_the_split(gta_data, streets, tmp_path):
    data = copy_tree(gta_data, tmp_path / "gta5")
    prepare_gta5.main(["--data", str(data), "--sequences", "blocks", "--block-size", "4", "--quiet"])
    size = (SIZE[0], SIZE[1])
    profile = get_profile("smoke", image_size=size)
    test = load_dataset("gta5", root=data, classes="cityscapes19", profile=profile, split="test",
                        manifest=data / "manifest.csv")
    assert test.frames == ["00010", "00011", "00012"]
    _image, target = test[0]
    expected = CITYSCAPES.id_lut()[label_ids(streets / "labels" / "00010.png")]
    assert np.array_equal(target.numpy(), expected)
    assert 0 in np.unique(expected) and 255 in np.unique(expected)  # road = trainId 0, void = ignore


def test_prepare_without_split_mat_uses_a_sequence_aware_split(gta_data, tmp_path):
    data = copy_tree(gta_data, tmp_path / "gta5")
    (data / "split.mat").unlink()
    prepare_gta5.main(["--data", str(data), "--sequences", "blocks", "--block-size", "2", "--quiet"])
    manifest = read_manifest(data / "manifest.csv")
    assert set(manifest["split"]) == {"train", "val", "pseudo_test", "test"}
    assert manifest.groupby("sequence")["split"].nunique().eq(1).all()


def test_prepare_finds_sequences_by_frame_similarity(gta_data, tmp_path, capsys):
    data = copy_tree(gta_data, tmp_path / "gta5")
    prepare_gta5.main(["--data", str(data), "--sequences", "similarity", "--blank", "flag", "--quiet"])
    assert "cut where consecutive frames stop looking alike" in capsys.readouterr().out
    sequences = read_manifest(data / "manifest.csv")["sequence"].to_numpy()
    assert np.all(np.diff(sequences) >= 0) and sequences[0] == 0
    assert sequences[4] != sequences[3] and sequences[8] != sequences[7]  # the generator's sequence cuts


def test_prepare_cli_in_a_subprocess(gta_data, tmp_path):
    data = copy_tree(gta_data, tmp_path / "gta5")
    result = subprocess.run([sys.executable, str(REPO / "data_scripts" / "prepare_gta5.py"), "--data", str(data),
                             "--size", "40x24", "--classes", "cityscapes19", "--quiet"],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "cityscapes19 pixel share: road" in result.stdout
    manifest = read_manifest(data / "manifest.csv")
    with Image.open(data / manifest["label"].iloc[0]) as label:
        assert label.size == (40, 24)


def test_unprepared_gta5_loads_with_block_sequences_and_a_warning(gta_data):
    with pytest.warns(UserWarning, match="no manifest.csv.*prepare_gta5.py"):
        manifest = build_manifest("gta5", root=gta_data)
    assert manifest["frame"].tolist() == [f"{n:05d}" for n in range(1, FRAMES + 1)]
    assert set(manifest["sequence"]) == {0}  # frames 1–100 form the first block


def test_missing_gta5_names_the_commands(tmp_path):
    with pytest.raises(DatasetMissingError, match=r"(?s)get_gta5.py --parts 1 --out .*prepare_gta5.py"):
        dataset_dir("gta5", tmp_path / "nothing")
    with pytest.raises(DatasetMissingError, match=r"(?s)get_forest.py --out .*--from FILE.zip"):
        load_dataset("forest", root=tmp_path / "nothing")


# --------------------------------------------------------------------------------------------
# get_forest.py
# --------------------------------------------------------------------------------------------

FOREST_SIZE = 96


@pytest.fixture(scope="module")
def forest(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("source") / "forest"
    generate_forest(root, count=8, size=FOREST_SIZE, seed=4, progress=False)
    return root / "Forest Segmented"


def pick_misaligned(forest: Path) -> str:
    """A mask with forest edges in it (neither empty nor full), to shift."""
    meta = pd.read_csv(forest / "meta_data.csv")
    for name in meta["mask"]:
        fraction = thresholded(forest / "masks" / name).mean()
        if 0.2 < fraction < 0.8:
            return name
    raise AssertionError("no mixed mask generated")


def forest_zip(forest: Path, prefix: str, with_meta: bool = True, shifted: str | None = None,
               drop_mask: str | None = None) -> bytes:
    members = {}
    for path in sorted(forest.rglob("*")):
        if path.is_dir() or (path.name == "meta_data.csv" and not with_meta) or path.name == drop_mask:
            continue
        data = path.read_bytes()
        if path.name == shifted:
            mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            data = jpeg_bytes(shift_label(mask, 7, 5))
        members[prefix + path.relative_to(forest).as_posix()] = data
    return zip_bytes(members)


def thresholded(path: Path) -> np.ndarray:
    """A JPEG mask as the loaders read it (PIL, grey), thresholded at 128 → 0/1."""
    with Image.open(path) as mask:
        return (np.asarray(mask.convert("L")) >= 128).astype(np.uint8)


def test_get_forest_normalises_the_nested_layout_and_reports_misaligned_masks(forest, tmp_path, capsys):
    shifted = pick_misaligned(forest)
    meta = pd.read_csv(forest / "meta_data.csv")
    dropped = meta["mask"].iloc[-1]
    archive = tmp_path / "archive.zip"
    archive.write_bytes(forest_zip(forest, "Forest Segmented/Forest Segmented/", shifted=shifted, drop_mask=dropped))
    out = tmp_path / "data" / "forest"
    assert get_forest.main(["--from", str(archive), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    inner = out / "Forest Segmented"
    assert sorted(p.name for p in inner.iterdir()) == ["images", "masks", "meta_data.csv"]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["forest"]  # no temporary folder left
    written = pd.read_csv(inner / "meta_data.csv")
    assert len(written) == len(meta) - 1  # the pair without a mask is left out
    assert written["mask"].str.endswith(".png").all()
    for row in written.itertuples():
        mask = cv2.imread(str(inner / "masks" / row.mask), cv2.IMREAD_GRAYSCALE)
        assert set(np.unique(mask)) <= {0, 255}
        source = Path(row.mask).with_suffix(".jpg").name
        if source != shifted:
            assert np.array_equal(mask // 255, thresholded(forest / "masks" / source))
    report = pd.read_csv(out / "forest_report.csv").set_index("mask")
    assert report.loc[dropped, "problem"] == "missing"
    assert report.loc[Path(shifted).with_suffix(".png").name, "problem"] == "misaligned"
    assert (report["problem"] == "misaligned").sum() == 1
    assert "misaligned masks by the label/image edge agreement of helpers.cleaning: 1" in printed


def test_forest_from_the_flattened_layout_loads_with_the_expected_class_ids(forest, tmp_path):
    archive = tmp_path / "flat.zip"
    archive.write_bytes(forest_zip(forest, "", with_meta=False))
    out = tmp_path / "forest"
    get_forest.main(["--from", str(archive), "--out", str(out), "--quiet"])
    profile = get_profile("smoke", image_size=(FOREST_SIZE, FOREST_SIZE))
    dataset = load_dataset("forest", root=out, profile=profile, split=None)
    meta = pd.read_csv(forest / "meta_data.csv").sort_values("image")
    assert len(dataset) == len(meta)
    for position in (0, 3):
        _image, target = dataset[position]
        expected = thresholded(forest / "masks" / meta["mask"].iloc[position])
        assert np.array_equal(target.numpy(), expected)


def test_get_forest_from_an_unzipped_folder_and_a_rerun_replaces_the_data(forest, tmp_path):
    out = tmp_path / "forest"
    get_forest.main(["--from", str(forest.parent), "--out", str(out), "--quiet"])
    first = sorted(p.name for p in (out / "Forest Segmented" / "masks").iterdir())
    assert first == sorted(Path(m).with_suffix(".png").name for m in pd.read_csv(forest / "meta_data.csv")["mask"])
    (out / "Forest Segmented" / "masks" / "stale.png").write_bytes(b"old")
    get_forest.main(["--from", str(forest.parent), "--out", str(out), "--quiet"])
    assert sorted(p.name for p in (out / "Forest Segmented" / "masks").iterdir()) == first
    assert sorted(p.name for p in out.iterdir()) == ["Forest Segmented", "forest_report.csv"]


def test_get_forest_uses_the_kaggle_command_when_credentials_exist(forest, tmp_path, monkeypatch):
    archive = tmp_path / "served.zip"
    archive.write_bytes(forest_zip(forest, "Forest Segmented/Forest Segmented/"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "kaggle"  # stands in for the kaggle CLI: copies the zip where -p says
    fake.write_text(f"#!{sys.executable}\nimport shutil, sys\n"
                    f"args = sys.argv[1:]\nassert args[:3] == ['datasets', 'download', '-d'], args\n"
                    f"shutil.copy({str(archive)!r}, args[args.index('-p') + 1] + '/' + args[3].split('/')[-1] + '.zip')\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setitem(sys.modules, "kaggle", None)  # the command, not the package, whatever is installed
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("KAGGLE_USERNAME", "learner")
    monkeypatch.setenv("KAGGLE_KEY", "not-a-real-key")
    out = tmp_path / "forest"
    assert get_forest.main(["--out", str(out), "--quiet"]) == 0
    assert (out / "downloads" / "augmented-forest-segmentation.zip").is_file()
    assert len(pd.read_csv(out / "Forest Segmented" / "meta_data.csv")) == len(pd.read_csv(forest / "meta_data.csv"))


def test_get_forest_without_credentials_explains_both_ways(tmp_path, monkeypatch):
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(SystemExit, match=r"(?s)no Kaggle credentials.*kaggle.json.*--from"):
        get_forest.main(["--out", str(tmp_path / "forest"), "--quiet"])
    assert not (tmp_path / "forest" / "Forest Segmented").exists()


# --------------------------------------------------------------------------------------------
# What killed runs leave behind, and masks and labels outside the usual values
# --------------------------------------------------------------------------------------------

def ended_process_id() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def leftover(parent: Path, name: str) -> Path:
    """A hidden work folder with some data in it, as a killed extraction leaves it."""
    folder = parent / name
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "00001.png").write_bytes(bytes(5000))
    return folder


def test_get_gta5_removes_what_a_killed_run_left_and_says_so(tmp_path, gta_archives, capsys):
    folder = downloaded_by_hand(tmp_path / "Downloads", gta_archives)
    data = tmp_path / "data"
    killed = leftover(data, f".gta5.extracting-{ended_process_id()}-0a1b2c3d")
    older = leftover(data, ".gta5.extracting-k2j3h4g5")  # named by an earlier version, without a process id
    running = leftover(data, f".gta5.extracting-{os.getppid()}-0a1b2c3d")  # another run, still going
    assert get_gta5.main(["--parts", "1", "--from", str(folder), "--out", str(data / "gta5"), "--quiet"]) == 0
    assert not killed.exists() and not older.exists() and running.exists()
    said = capsys.readouterr().err
    assert f"removed {killed} (5.0 kB), left by an interrupted run" in said and str(older) in said


def test_get_forest_removes_what_a_killed_run_left_and_says_so(forest, tmp_path, capsys):
    data = tmp_path / "data"
    killed = leftover(data, f".forest.preparing-{ended_process_id()}-0a1b2c3d")
    older = leftover(data, ".forest-preparing-x8y7z6w5")  # named by an earlier version
    assert get_forest.main(["--from", str(forest.parent), "--out", str(data / "forest"), "--quiet"]) == 0
    assert sorted(p.name for p in data.iterdir()) == ["forest"]
    said = capsys.readouterr().err
    assert str(killed) in said and str(older) in said and "left by an interrupted run" in said


def test_get_forest_reads_zero_one_masks_as_such(forest, tmp_path):
    source = tmp_path / "zero-one" / "Forest Segmented"
    shutil.copytree(forest, source)
    for mask in (source / "masks").iterdir():  # the same masks stored as 0/1 (PNG bytes, .jpg name)
        mask.write_bytes(png_bytes(thresholded(mask)))
    out = tmp_path / "forest"
    assert get_forest.main(["--from", str(source.parent), "--out", str(out), "--quiet"]) == 0
    written = pd.read_csv(out / "Forest Segmented" / "meta_data.csv")
    forest_pixels = 0
    for row in written.itertuples():
        mask = cv2.imread(str(out / "Forest Segmented" / "masks" / row.mask), cv2.IMREAD_GRAYSCALE)
        expected = thresholded(forest / "masks" / Path(row.mask).with_suffix(".jpg").name)
        assert np.array_equal(mask // 255, expected)
        forest_pixels += int(expected.sum())
    assert forest_pixels > 0


def test_prepare_reports_label_ids_outside_the_cityscapes_table(gta_data, tmp_path, capsys):
    data = copy_tree(gta_data, tmp_path / "gta5")
    path = data / "labels" / "00002.png"
    ids = label_ids(path)
    ids[:3, :4] = 200
    path.write_bytes(png_bytes(ids, cityscapes_palette()))
    assert prepare_gta5.main(["--data", str(data), "--sequences", "blocks", "--quiet"]) == 0
    assert "label ids outside the Cityscapes table (mapped to the unknown class): 1 (0 dropped, 1 kept)" in \
        capsys.readouterr().out
    report = pd.read_csv(data / "prepare_report.csv", dtype={"frame": str}).set_index("frame")
    assert "label ids not in the Cityscapes table: 200×12" in report.loc["00002", "note"]


def test_prepare_leaves_out_frames_missing_from_split_mat(gta_data, tmp_path, capsys):
    data = copy_tree(gta_data, tmp_path / "gta5")
    partial = {key: [i for i in ids if i != 12] for key, ids in SPLIT_IDS.items()}
    scipy.io.savemat(data / "split.mat", {key: np.array(ids, dtype=np.float64)[:, None] for key, ids in partial.items()})
    assert prepare_gta5.main(["--data", str(data), "--sequences", "blocks", "--blank", "flag", "--quiet"]) == 0
    assert "1 frame(s) not in split.mat left out" in capsys.readouterr().out
    manifest = read_manifest(data / "manifest.csv")  # every row has a split: loading accepts it
    assert "00012" not in set(manifest["frame"]) and (manifest["split"] != "").all()
    assert len(load_dataset("gta5", data, profile="smoke", split="test")) == 2
