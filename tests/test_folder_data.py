"""A folder of your own images and masks as a data set: colour masks with classes.csv, index, palette and binary masks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers.classes import GTA9
from helpers.config import get_profile
from helpers.dataset_registry import DATASETS, register_folder
from helpers.datasets import DatasetMissingError, build_manifest, load_dataset
from helpers.folder_data import FolderLayoutError, folder_class_map, inspect_folder
from tests.conftest import STREETS_SIZE
from tests.fixtures import clean_frames, own_folder, png_bytes, street_frame

PROFILE = get_profile("smoke", image_size=STREETS_SIZE)


@pytest.fixture(scope="module")
def stems(streets_root) -> list[str]:
    return clean_frames(streets_root)[:10]


@pytest.mark.parametrize("masks", ["colour", "index", "palette"])
def test_every_mask_format_loads_as_the_same_classes(tmp_path, streets_root, stems, masks):
    folder = own_folder(tmp_path / "mine", streets_root, stems, masks=masks)
    data = load_dataset(f"folder:{folder}", profile=PROFILE, split=None, progress=False, cache=False)
    assert data.class_map.class_names == GTA9.class_names and data.class_map.ignore_index == 255
    assert len(data) == 10 and data.frames[0] == f"street_{stems[0]}"
    expected = GTA9.id_lut()[street_frame(streets_root, stems[0])[1]]
    assert np.array_equal(data[0][1].numpy(), expected)
    assert data.spec.sequences is False and data.problems == []


def test_without_classes_csv_the_classes_are_the_values_found(tmp_path, streets_root, stems):
    index = own_folder(tmp_path / "index", streets_root, stems, masks="index", classes_csv=False)
    class_map = folder_class_map(index)
    found = set(np.unique(np.concatenate([GTA9.id_lut()[street_frame(streets_root, s)[1]].ravel() for s in stems])))
    assert class_map.class_names == tuple(f"class {i}" for i in range(max(found) + 1))
    palette = own_folder(tmp_path / "palette", streets_root, stems, masks="palette", classes_csv=False)
    assert folder_class_map(palette).class_colours[2] == GTA9.class_colours[2]  # the PNG's own palette
    binary = own_folder(tmp_path / "binary", streets_root, stems, masks="binary", classes_csv=False)
    data = load_dataset(f"folder:{binary}", profile=PROFILE, split=None, progress=False, cache=False)
    assert data.class_map.class_names == ("background", "foreground") and data.class_map.ignore_index is None
    assert set(np.unique(data[0][1].numpy())) == {0, 1}  # 255 in the mask is the road, class 1


def test_colour_masks_without_classes_csv_get_a_report_and_a_template(tmp_path, streets_root, stems):
    folder = own_folder(tmp_path / "mine", streets_root, stems, masks="colour", classes_csv=False)
    report = inspect_folder(folder, progress=False)
    assert report.class_map is None
    text = str(report)
    assert "10 image(s) with a mask" in text and "masks: 10 colour" in text
    assert "write a classes.csv" in text and "name,r,g,b\nclass_0," in text
    with pytest.raises(FolderLayoutError, match="classes.csv"):
        load_dataset(f"folder:{folder}", profile=PROFILE, progress=False)


def test_inspect_folder_reports_pairs_classes_and_the_file_checks(tmp_path, streets_root, stems):
    folder = own_folder(tmp_path / "mine", streets_root, stems, masks="colour")
    (folder / "images" / "lonely.jpg").write_bytes((folder / "images" / f"street_{stems[0]}.jpg").read_bytes())
    (folder / "masks" / "orphan.png").write_bytes((folder / "masks" / f"street_{stems[0]}.png").read_bytes())
    rgb = np.asarray(Image.open(folder / "masks" / f"street_{stems[1]}.png")).copy()
    (folder / "masks" / f"street_{stems[2]}.png").write_bytes(png_bytes(rgb[:-6]))  # smaller than its image
    rgb[:4, :4] = (1, 2, 3)  # a colour classes.csv does not list
    (folder / "masks" / f"street_{stems[1]}.png").write_bytes(png_bytes(rgb))
    (folder / "masks" / f"street_{stems[3]}.png").write_bytes(png_bytes(np.zeros_like(rgb)))  # all one class
    (folder / "images" / f"street_{stems[4]}.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut")  # truncated JPEG
    report = inspect_folder(folder, progress=False)
    assert (report.pairs, report.images_without_mask, report.masks_without_image) == (10, ["lonely"], ["orphan"])
    flagged = report.flagged.set_index("frame")
    assert flagged.loc[f"street_{stems[1]}", "unknown_colours"]
    assert "16 pixels of label values not in the classes of mine" in flagged.loc[f"street_{stems[1]}", "reason"]
    assert flagged.loc[f"street_{stems[2]}", "size_mismatch"] and flagged.loc[f"street_{stems[3]}", "empty_label"]
    assert flagged.loc[f"street_{stems[4]}", "unreadable"]
    text = str(report)
    assert "1 images without a mask (left out): lonely" in text
    assert "checks: unreadable 1, size_mismatch 1, unknown_colours 1, empty_label 1" in text
    assert "6 frame(s) pass every check" in text and "classes (classes.csv): 0 everything else (0, 0, 0)" in text
    with pytest.warns(UserWarning, match="3 problem"):
        data = load_dataset(f"folder:{folder}", profile=PROFILE, split=None, progress=False, cache=False)
    assert len(data) == 9  # the unreadable image is skipped; the others are read (unknown colours ignored)
    assert [problem.action for problem in data.problems] == ["mapped to class 255", "label resized (nearest)", "skipped"]
    unknown = data[data.frames.index(f"street_{stems[1]}")][1]
    assert (unknown[:4, :4] == 255).all()


def test_classes_csv_mistakes_name_the_line(tmp_path, streets_root, stems):
    folder = own_folder(tmp_path / "mine", streets_root, stems[:2], masks="colour")
    (folder / "classes.csv").write_text("name,r,g,b\nroad,128,64,128\nsky,70,130\n")
    with pytest.raises(FolderLayoutError, match=r"classes.csv, line 3: 'sky,70,130' is not name,r,g,b"):
        load_dataset(f"folder:{folder}", profile=PROFILE, progress=False)
    (folder / "classes.csv").write_text("road,128,64,128\n")
    with pytest.raises(FolderLayoutError, match="must start with the header line name,r,g,b"):
        folder_class_map(folder)


def test_relative_paths_are_inside_the_data_folder_and_names_can_be_registered(tmp_path, streets_root, stems,
                                                                             monkeypatch):
    own_folder(tmp_path / "cells", streets_root, stems, masks="index")
    monkeypatch.setenv("WORKBOOK_DATA", str(tmp_path))
    assert len(build_manifest("folder:cells")) == 10
    spec = register_folder("my-cells", tmp_path / "cells")
    try:
        data = load_dataset("my-cells", profile=PROFILE, split="train", progress=False, cache=False)
        assert data.spec is spec and len(data) == 6  # 60 % of 10 frames, split at random
    finally:
        DATASETS.pop("my-cells")
    with pytest.raises(DatasetMissingError, match=r"(?s)folder:.*nowhere.*put your images into .*nowhere/images"):
        build_manifest("folder:nowhere")
