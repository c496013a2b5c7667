"""Oxford-IIIT Pet and Pascal VOC 2012 through torchvision, offline, on folders in torchvision's on-disk layout."""

from __future__ import annotations

import numpy as np
import pytest
import torchvision.datasets

from data_scripts import get_torchvision_data
from helpers.classes import PET, VOC21, voc_palette
from helpers.config import get_profile
from helpers.datasets import DatasetMissingError, build_manifest, load_dataset
from tests.conftest import STREETS_SIZE
from tests.fixtures import (
    PET_IDS,
    VOC_OF_CITYSCAPES,
    border,
    clean_frames,
    oxford_pet_folder,
    street_frame,
    table,
    voc_folder,
)


@pytest.fixture(scope="module")
def stems(streets_root) -> list[str]:
    return clean_frames(streets_root)[:14]


@pytest.fixture(scope="module")
def pets(tmp_path_factory, streets_root, stems):
    return oxford_pet_folder(tmp_path_factory.mktemp("data") / "oxford-pet", streets_root, stems[:10], stems[10:])


@pytest.fixture(scope="module")
def voc(tmp_path_factory, streets_root, stems):
    return voc_folder(tmp_path_factory.mktemp("data") / "voc", streets_root, stems[:10], stems[10:])


def test_the_folders_are_what_torchvision_reads(pets, voc):
    pet = torchvision.datasets.OxfordIIITPet(str(pets), split="test", target_types="segmentation")
    assert len(pet) == 4 and pet[0][1].size == pet[0][0].size
    segmentation = torchvision.datasets.VOCSegmentation(str(voc), year="2012", image_set="train")
    assert len(segmentation) == 10 and segmentation[0][1].mode == "P"


def test_pet_manifest_keeps_torchvisions_test_split(pets, stems):
    manifest = build_manifest("oxford-pet", pets)
    assert len(manifest) == 14 and manifest["sequence"].is_unique
    test = manifest[manifest["split"] == "test"]
    assert sorted(test["frame"].str.rsplit("_", n=1).str[1]) == sorted(str(int(s)) for s in stems[10:])
    assert manifest["image"].str.startswith("oxford-iiit-pet/images/").all()
    assert manifest["label"].str.startswith("oxford-iiit-pet/annotations/trimaps/").all()
    assert set(manifest["split"]) == {"train", "val", "pseudo_test", "test"}


def test_pet_trimaps_load_as_pet_and_background_with_the_border_ignored(pets, streets_root, stems):
    profile = get_profile("smoke", image_size=STREETS_SIZE)
    data = load_dataset("pets", pets, profile=profile, split="test", progress=False, cache=False)
    assert data.class_map is PET and PET.class_names == ("background", "pet") and PET.ignore_index == 255
    frame = data.frames[0]
    ids = street_frame(streets_root, f"{int(frame.rsplit('_', 1)[1]):05d}")[1]
    pet = np.isin(ids, PET_IDS)
    expected = np.where(border(pet), 255, pet.astype(int))
    assert np.array_equal(data[0][1].numpy(), expected)


def test_voc_labels_are_read_by_palette_index_with_255_ignored(voc, streets_root, stems):
    profile = get_profile("smoke", image_size=STREETS_SIZE)
    data = load_dataset("voc", voc, profile=profile, split="test", progress=False, cache=False)
    assert data.class_map is VOC21 and VOC21.num_classes == 21 and VOC21.class_names[15] == "person"
    assert data.frames == [f"2007_{int(s):06d}" for s in stems[10:]]
    ids = street_frame(streets_root, stems[10])[1]
    classes = table(VOC_OF_CITYSCAPES)[ids]
    classes[border(classes > 0)] = 255
    assert np.array_equal(data[0][1].numpy(), classes)
    assert VOC21.class_colours[15] == tuple(voc_palette()[45:48]) == (192, 128, 128)
    assert build_manifest("voc", voc).query("split == 'test'")["frame"].tolist() == data.frames


def test_the_script_finds_what_is_in_place_without_downloading(pets, voc, monkeypatch, capsys):
    def no_network(*args, **kwargs):
        raise AssertionError("nothing may be downloaded")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", no_network)
    assert get_torchvision_data.main(["oxford-pet", "--out", str(pets)]) == 0
    assert get_torchvision_data.main(["voc", "--out", str(voc)]) == 0
    printed = capsys.readouterr().out
    assert "oxford-pet: already in" in printed and "14 images with a mask" in printed and "test 4" in printed
    assert 'DATASET = "voc" (CLASSES = None: voc21)' in printed


def test_a_failed_download_says_how_to_get_the_archives_by_hand(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.datasets.voc, "download_and_extract_archive", offline)
    with pytest.raises(SystemExit, match=r"VOCtrainval_11-May-2012.tar by hand.*--from FOLDER"):
        get_torchvision_data.main(["voc", "--out", str(tmp_path / "voc")])
    with pytest.raises(SystemExit, match="images.tar.gz not found; download it from https://www.robots.ox.ac.uk"):
        get_torchvision_data.main(["oxford-pet", "--out", str(tmp_path / "pets"), "--from", str(tmp_path)])


def test_missing_folders_name_the_command(tmp_path):
    with pytest.raises(DatasetMissingError, match="get_torchvision_data.py oxford-pet"):
        build_manifest("oxford-pet", tmp_path)
    (tmp_path / "voc" / "VOCdevkit").mkdir(parents=True)  # there, but not torchvision's layout
    with pytest.raises(DatasetMissingError, match="does not hold torchvision's VOCSegmentation layout"):
        build_manifest("voc", tmp_path / "voc")
