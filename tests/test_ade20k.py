"""ADE20K end to end, offline: get_ade20k.py on ADEChallengeData2016.zip built in the official layout, then loading."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from data_scripts import get_ade20k
from helpers.classes import ADE20K_NAMES, ADE100, ADE150
from helpers.cleaning import run_checks
from helpers.config import get_profile
from helpers.datasets import DatasetMissingError, build_manifest, dataset_dir, load_dataset
from tests.conftest import STREETS_SIZE
from tests.fixtures import ADE_OF_CITYSCAPES, ade20k_members, clean_frames, street_frame, table, zip_bytes
from tests.test_download import LoopbackServer

TRAIN, VAL = 12, 4


@pytest.fixture(scope="module")
def frames(streets_root) -> dict[str, list[str]]:
    stems = clean_frames(streets_root)
    return {"train": stems[:TRAIN], "val": stems[TRAIN: TRAIN + VAL]}


@pytest.fixture(scope="module")
def archive(streets_root, frames) -> bytes:
    """ADEChallengeData2016.zip of 12 training and 4 validation frames; the third training annotation holds 200s."""
    return zip_bytes(ade20k_members(streets_root, frames["train"], frames["val"], high_value=frames["train"][2]))


@pytest.fixture(scope="module")
def ade_data(tmp_path_factory, archive) -> tuple:
    """Downloaded from a loopback server (the first transfer cut halfway and resumed) and extracted."""
    out = tmp_path_factory.mktemp("data") / "ade20k"
    with LoopbackServer({"/ADEChallengeData2016.zip": archive}) as server:
        server.cut["/ADEChallengeData2016.zip"] = 1
        assert get_ade20k.main(["--out", str(out), "--url", f"{server.url}/ADEChallengeData2016.zip", "--quiet",
                                "--retry-pause", "0"]) == 0
        assert server.gets("/ADEChallengeData2016.zip")[1][1] == 206  # resumed, not restarted
    return out


def test_get_ade20k_downloads_resumes_and_extracts_the_official_layout(ade_data, archive, streets_root, frames):
    root = ade_data / "ADEChallengeData2016"
    assert sorted(p.name for p in root.iterdir()) == ["annotations", "images", "objectInfo150.csv", "sceneCategories.txt"]
    assert sorted(p.name for p in (root / "images" / "training").iterdir())[:2] == ["ADE_train_00000001.jpg",
                                                                                  "ADE_train_00000002.jpg"]
    assert len(list((root / "annotations" / "validation").iterdir())) == VAL
    assert not (ade_data / "__MACOSX").exists()
    with Image.open(root / "annotations" / "training" / "ADE_train_00000001.png") as label:
        expected = table(ADE_OF_CITYSCAPES)[street_frame(streets_root, frames["train"][0])[1]]
        assert label.mode == "L" and np.array_equal(np.asarray(label), expected)
    assert (ade_data / "downloads" / "checksums.json").is_file()
    assert [p.name for p in ade_data.parent.iterdir()] == ["ade20k"]  # no temporary folder left


def test_the_manifest_keeps_the_official_validation_images_as_test(ade_data):
    manifest = build_manifest("ade20k", ade_data)
    assert list(manifest.columns[:5]) == ["frame", "image", "label", "sequence", "split"]
    test = manifest[manifest["split"] == "test"]
    assert sorted(test["frame"]) == [f"ADE_val_{n:08d}" for n in range(1, VAL + 1)]
    training = manifest[manifest["split"] != "test"]
    assert training["frame"].str.startswith("ADE_train_").all() and len(training) == TRAIN
    assert training["split"].value_counts().to_dict() == {"train": 9, "val": 2, "pseudo_test": 1}  # 0.6 : 0.15 : 0.1
    assert manifest["sequence"].is_unique  # no sequences: every image its own
    assert manifest.equals(build_manifest("ade20k", ade_data))  # seeded: the same split every time


@pytest.mark.parametrize("classes", ["ade150", "ade100"])
def test_labels_load_as_the_benchmark_classes_with_other_ignored(ade_data, streets_root, frames, classes):
    profile = get_profile("smoke", image_size=STREETS_SIZE)  # the frames' own size: labels compared pixel for pixel
    data = load_dataset("ade20k", ade_data, classes=classes, profile=profile, split="test", max_images=VAL,
                        progress=False, cache=False)
    _image, target = data[0]
    values = table(ADE_OF_CITYSCAPES)[street_frame(streets_root, frames["val"][0])[1]]
    class_map = ADE150 if classes == "ade150" else ADE100
    expected = np.where((values == 0) | (values > class_map.num_classes), 255, values.astype(int) - 1)
    assert data.class_map is class_map and np.array_equal(target.numpy(), expected)
    assert {2, 6, 255} <= set(np.unique(expected))  # sky, road and ignored ("other") are there


def test_class_maps_follow_object_info_150():
    assert ADE150.num_classes == 150 and ADE100.num_classes == 100
    assert ADE150.class_names[:3] == ("wall", "building", "sky") and ADE150.class_names[-1] == "flag"
    assert ADE100.class_names == ADE20K_NAMES[:100]
    lut = ADE100.id_lut()
    assert lut[0] == 255 and lut[1] == 0 and lut[100] == 99 and lut[101] == 255 and lut[150] == 255
    assert ADE150.id_lut()[150] == 149 and ADE150.id_lut()[0] == 255
    assert len(set(ADE150.class_colours)) == 150


def test_file_checks_find_values_above_150_and_skip_the_street_checks(ade_data):
    manifest = build_manifest("ade20k", ade_data)
    report = run_checks(ade_data, manifest, dataset="ade20k", progress=False)
    assert report.attrs["checks"] == ("unreadable", "size_mismatch", "unknown_colours", "empty_label")
    flagged = report[report["unknown_colours"]]
    assert flagged["frame"].tolist() == ["ADE_train_00000003"]
    assert "15 pixels of label values not in the classes of ade150" in flagged["reason"].iloc[0]
    assert not report[["fog", "rain", "misaligned", "swapped"]].any().any()


def test_get_ade20k_from_a_downloaded_zip_checks_the_labels(tmp_path, archive, capsys):
    downloaded = tmp_path / "Downloads" / "ADEChallengeData2016.zip"
    downloaded.parent.mkdir()
    downloaded.write_bytes(archive)
    out = tmp_path / "ade20k"
    assert get_ade20k.main(["--from", str(downloaded.parent), "--out", str(out), "--check-labels", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "training: 12 images with an annotation" in printed and "validation: 4 images" in printed
    assert "annotations/training/ADE_train_00000003.png: values above 150: 200×15" in printed
    assert not (out / "downloads").exists()  # nothing downloaded
    assert dataset_dir("ade20k", out) == out


def test_a_damaged_or_foreign_zip_writes_nothing(tmp_path, archive):
    damaged = tmp_path / "ADEChallengeData2016.zip"
    data = bytearray(archive)
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    damaged.write_bytes(bytes(data))
    with pytest.raises(SystemExit, match="download it again"):
        get_ade20k.main(["--from", str(damaged), "--out", str(tmp_path / "ade20k"), "--quiet"])
    assert not (tmp_path / "ade20k").exists()
    foreign = tmp_path / "other.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as other:
        other.writestr("README.txt", "not ADE20K")
    foreign.write_bytes(buffer.getvalue())
    with pytest.raises(SystemExit, match="scene-parsing archive"):
        get_ade20k.main(["--from", str(foreign), "--out", str(tmp_path / "ade20k"), "--quiet"])


def test_missing_ade20k_names_the_command(tmp_path):
    with pytest.raises(DatasetMissingError, match="python data_scripts/get_ade20k.py --out"):
        load_dataset("ade20k", tmp_path)
