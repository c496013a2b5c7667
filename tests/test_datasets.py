"""Data pipeline: registry, manifests, splits, joint transforms, cache, bad input and loaders."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from helpers import datasets
from helpers.classes import CITYSCAPES, GTA9, LABEL_ID, cityscapes_palette
from helpers.datasets import (
    SPLITS,
    DatasetMissingError,
    SegmentationDataset,
    build_manifest,
    class_counts,
    dataset_dir,
    hflip_pair,
    load_dataset,
    make_loader,
    random_frame_split,
    read_manifest,
    resize_pair,
    rotate_pair,
    split_by_sequence,
    write_manifest,
)
from helpers.encoding import index_to_rgb

from .conftest import STREETS_FRAMES, STREETS_SEQUENCES, STREETS_SIZE

SMALL = (48, 32)


def streets_dataset(root, manifest=None, **kwargs) -> SegmentationDataset:
    manifest = build_manifest("synthetic-streets", root) if manifest is None else manifest
    with pytest.warns(UserWarning, match="problem"):
        return SegmentationDataset(manifest, root, "gta9", kwargs.pop("size", SMALL), **kwargs)


@pytest.fixture()
def streets_copy(streets_root, tmp_path):
    """A private copy of the street data set that a test may damage."""
    return shutil.copytree(streets_root, tmp_path / "synthetic-streets")


# ---- missing data ---------------------------------------------------------------------------

def test_missing_folder_names_folder_and_command(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_DATA", str(tmp_path))
    with pytest.raises(DatasetMissingError) as info:
        dataset_dir("synthetic-streets")
    message = str(info.value)
    assert str(tmp_path / "synthetic-streets") in message
    assert "make data" in message
    assert f"python data_scripts/make_synthetic_streets.py --out {tmp_path / 'synthetic-streets'}" in message
    with pytest.raises(FileNotFoundError, match="make_synthetic_forest.py"):
        load_dataset("synthetic-forest")


def test_dataset_dir_accepts_the_folder_or_its_parent(streets_root):
    assert dataset_dir("synthetic-streets", streets_root) == streets_root
    assert dataset_dir("synthetic-streets", streets_root.parent) == streets_root


def test_unknown_dataset_and_wrong_class_map(streets_root):
    with pytest.raises(ValueError, match=r"unknown data set 'no-such-data'.*synthetic-streets.*ade20k.*folder:PATH"):
        build_manifest("no-such-data", streets_root)
    with pytest.raises(ValueError, match="cannot be read as 'forest2'; set CLASSES to one of 'gta9', 'cityscapes19'"):
        load_dataset("synthetic-streets", streets_root, classes="forest2")
    assert len(load_dataset("Streets", streets_root, profile="smoke", max_images=2)) == 2  # an alias


# ---- manifest -------------------------------------------------------------------------------

def test_manifest_columns_and_paths(streets_root, streets_meta):
    manifest = build_manifest("synthetic-streets", streets_root)
    assert list(manifest.columns[:8]) == ["frame", "image", "label", "sequence", "scene", "weather", "defect", "split"]
    assert len(manifest) == STREETS_SEQUENCES * STREETS_FRAMES
    assert manifest["frame"].iloc[0] == "00001"
    assert manifest["image"].iloc[0] == "images/00001.png" and manifest["label"].iloc[0] == "labels/00001.png"
    assert (manifest["split"] == "").all()
    assert manifest["sequence"].tolist() == streets_meta["sequence"].tolist()
    assert manifest["defect"].tolist() == streets_meta["defect"].tolist()
    assert all((streets_root / path).is_file() for path in manifest["image"])


def test_manifest_csv_round_trip_keeps_frame_ids(streets_root, tmp_path):
    manifest = split_by_sequence(build_manifest("synthetic-streets", streets_root))
    path = write_manifest(manifest, tmp_path / "manifest.csv")
    back = read_manifest(path)
    assert back["frame"].tolist() == manifest["frame"].tolist()
    assert back["split"].tolist() == manifest["split"].tolist()
    assert back["sequence"].tolist() == manifest["sequence"].tolist()


# ---- splits ---------------------------------------------------------------------------------

def test_split_by_sequence_is_disjoint_complete_and_deterministic(streets_root):
    manifest = build_manifest("synthetic-streets", streets_root)
    split = split_by_sequence(manifest, seed=1)
    assert set(split["split"]) == set(SPLITS)
    assert split.groupby("sequence")["split"].nunique().max() == 1  # no sequence in two splits
    assert len(split) == len(manifest) and (split["split"] != "").all()
    assert split["split"].tolist() == split_by_sequence(manifest, seed=1)["split"].tolist()
    other_seeds = [split_by_sequence(manifest, seed=s)["split"].tolist() for s in range(2, 8)]
    assert any(other != split["split"].tolist() for other in other_seeds)


def test_split_sizes_follow_fractions_and_strata():
    manifest = pd.DataFrame({"frame": [f"{i:05d}" for i in range(400)], "sequence": np.arange(400) // 10,
                             "scene": np.array(["city", "suburb", "countryside", "highway"])[(np.arange(400) // 10) % 4]})
    split = split_by_sequence(manifest, seed=0)
    sequences = split.groupby("sequence").first()
    assert sequences["split"].value_counts().to_dict() == {"train": 24, "val": 6, "test": 6, "pseudo_test": 4}
    per_scene = pd.crosstab(sequences["scene"], sequences["split"])
    assert per_scene["train"].min() >= 5 and per_scene["val"].min() >= 1  # every scene in train and val


@pytest.mark.parametrize("sequences", [4, 5, 7])
def test_few_sequences_still_reach_every_split(sequences):
    manifest = pd.DataFrame({"frame": [f"{i:05d}" for i in range(3 * sequences)], "sequence": np.arange(3 * sequences) // 3})
    counts = split_by_sequence(manifest, seed=0).groupby("sequence").first()["split"].value_counts().to_dict()
    assert counts == {4: {"train": 1, "val": 1, "pseudo_test": 1, "test": 1},
                      5: {"train": 2, "val": 1, "pseudo_test": 1, "test": 1},
                      7: {"train": 4, "val": 1, "pseudo_test": 1, "test": 1}}[sequences]


def test_an_official_test_set_is_kept_and_the_rest_split_in_proportion():
    manifest = pd.DataFrame({"frame": [f"{i:05d}" for i in range(40)], "sequence": np.arange(40),
                             "split": ["test"] * 10 + [""] * 30})
    split = split_by_sequence(manifest, seed=0, keep_test=True)
    assert (split["split"][:10] == "test").all()
    assert split["split"][10:].value_counts().to_dict() == {"train": 21, "val": 5, "pseudo_test": 4}  # 0.6 : 0.15 : 0.1
    assert split_by_sequence(manifest, seed=0)["split"].value_counts()["test"] == 6  # without: split like the rest


@pytest.mark.parametrize("fractions, message", [
    ({"train": 0.5, "val": 0.2}, "sum to 1"),
    ({"train": 1.2, "val": -0.2}, "≥ 0"),
    ({"train": 0.5, "validation": 0.5}, "unknown split"),
    ((0.5, 0.5), "give 4 fractions"),
])
def test_bad_fractions_are_rejected(fractions, message):
    manifest = pd.DataFrame({"frame": ["1", "2"], "sequence": [0, 1]})
    with pytest.raises(ValueError, match=message):
        split_by_sequence(manifest, fractions)


def test_random_frame_split_leaks_sequences(streets_root):
    manifest = build_manifest("synthetic-streets", streets_root)
    split = random_frame_split(manifest, seed=0)
    assert split["split"].value_counts().sum() == len(manifest)
    assert split.groupby("sequence")["split"].nunique().max() > 1  # one sequence in several splits
    assert split["split"].tolist() == random_frame_split(manifest, seed=0)["split"].tolist()


# ---- transforms -----------------------------------------------------------------------------

def blocks_label() -> np.ndarray:
    label = np.zeros((37, 53), np.uint8)
    label[10:30, 5:20] = 2
    label[20:35, 30:50] = 7
    label[:, 50:] = 255
    return label


def test_resize_never_interpolates_labels():
    image = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    label = blocks_label()
    for size in [(24, 17), (101, 77), (53, 20)]:
        small_image, small_label = resize_pair(image, label, size)
        assert small_image.shape == (size[1], size[0], 3) and small_label.shape == (size[1], size[0])
        assert set(np.unique(small_label)) <= {0, 2, 7, 255}


def test_flip_flips_image_and_label_together():
    image = np.zeros((4, 6, 3), np.uint8)
    image[:, 0] = 200
    label = np.zeros((4, 6), np.uint8)
    label[:, 0] = 3
    flipped_image, flipped_label = hflip_pair(image, label)
    assert (flipped_image[:, -1] == 200).all() and (flipped_image[:, 0] == 0).all()
    assert (flipped_label[:, -1] == 3).all() and (flipped_label[:, 0] == 0).all()


def test_rotation_keeps_label_values_and_fills_border():
    image = np.full((37, 53, 3), 120, np.uint8)
    label = blocks_label()
    label[label == 255] = 1
    _, rotated = rotate_pair(image, label, 9.0, label_fill=255)
    assert set(np.unique(rotated)) <= {0, 1, 2, 7, 255}
    assert rotated[0, 0] == 255 and rotated[-1, -1] == 255  # corners come from outside
    assert rotated[18, 26] == label[18, 26]  # the centre stays


def test_augmented_items_keep_valid_classes(streets_root):
    dataset = streets_dataset(streets_root, augment=True)
    plain = streets_dataset(streets_root)
    changed = 0
    for index in range(8):
        image, target = dataset[index]
        assert image.dtype == torch.float32 and 0.0 <= image.min() and image.max() <= 1.0
        assert set(target.unique().tolist()) <= set(range(GTA9.num_classes))
        changed += int(not torch.equal(image, plain[index][0]))
    assert changed >= 6


def test_rotated_items_can_fill_the_border_with_an_ignore_label(streets_root):
    rotation = datasets.Augment(flip=0.0, degrees=30.0, jitter=0.0)
    default = streets_dataset(streets_root, augment=rotation)
    ignored = streets_dataset(streets_root, augment=rotation, label_fill=255)
    assert default.label_fill == 0 and ignored.label_fill == 255  # gta9 has no ignore index of its own
    _, filled_with_zero = default[0, 7]
    _, filled_with_ignore = ignored[0, 7]
    border = filled_with_ignore == 255
    assert 0.01 < border.float().mean() < 0.5  # the corners that came from outside the frame
    assert (filled_with_zero[border] == 0).all()
    assert torch.equal(filled_with_zero[~border], filled_with_ignore[~border])  # same angle, same labels inside


def test_one_hot_targets(streets_root):
    dataset = streets_dataset(streets_root, one_hot=True)
    image, target = dataset[0]
    assert target.shape == (GTA9.num_classes, SMALL[1], SMALL[0])
    assert torch.equal(target.sum(0), torch.ones(SMALL[1], SMALL[0]))


# ---- cache ----------------------------------------------------------------------------------

def count_decodes(monkeypatch) -> dict:
    """Count the frames decoded from their files from now on (in `counter["image"]`)."""
    counter = {"image": 0}
    original = datasets._decode_frame

    def counting(*args, **kwargs):
        counter["image"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(datasets, "_decode_frame", counting)
    return counter


def test_cache_is_reused_without_decoding(streets_copy, monkeypatch):
    manifest = build_manifest("synthetic-streets", streets_copy)
    first = streets_dataset(streets_copy, manifest, size=(40, 24))
    images = torch.stack([first[i][0] for i in range(len(first))])
    decodes = count_decodes(monkeypatch)
    second = streets_dataset(streets_copy, manifest, size=(40, 24))
    assert decodes["image"] == 0
    assert second.cache_files == first.cache_files and second.frames == first.frames
    assert torch.equal(torch.stack([second[i][0] for i in range(len(second))]), images)
    assert [p.reason for p in second.problems] == [p.reason for p in first.problems]


@pytest.mark.filterwarnings("ignore:.*problem")
def test_cache_rebuilt_when_size_or_frames_change(streets_root):
    first = streets_dataset(streets_root, size=(40, 24))
    resized = streets_dataset(streets_root, size=(32, 24))
    assert resized.cache_files != first.cache_files
    assert resized[0][0].shape == (3, 24, 32)
    manifest = build_manifest("synthetic-streets", streets_root).iloc[:20]
    fewer = SegmentationDataset(manifest, streets_root, "gta9", (40, 24))
    assert fewer.cache_files != first.cache_files and len(fewer) <= 20
    cityscapes = SegmentationDataset(manifest, streets_root, CITYSCAPES, (40, 24))
    assert cityscapes.cache_files != fewer.cache_files


def test_cache_files_are_complete_or_absent(streets_root, monkeypatch):
    dataset = streets_dataset(streets_root, size=(36, 20))
    images_path, labels_path = dataset.cache_files
    assert np.load(images_path).shape == (len(dataset), 20, 36, 3)
    assert np.load(labels_path).shape == (len(dataset), 20, 36)
    assert not list(images_path.parent.glob("*.tmp-*"))
    # an interrupted build (arrays written, index not) is not trusted: it is built again
    images_path.with_name(images_path.name.replace(".images.npy", ".json")).unlink()
    rebuilt = streets_dataset(streets_root, size=(36, 20))
    assert len(rebuilt) == len(dataset)


def test_no_cache_and_memory_cache_give_the_same_items(streets_root):
    on_disk = streets_dataset(streets_root)
    in_memory = streets_dataset(streets_root, cache="memory")
    from_files = streets_dataset(streets_root, cache=False)
    for index in (0, 7, 20):
        assert torch.equal(on_disk[index][0], in_memory[index][0])
        assert torch.equal(on_disk[index][1], from_files[index][1])
        assert torch.equal(on_disk[index][0], from_files[index][0])


@pytest.mark.filterwarnings("ignore:.*problem")
def test_unwritable_cache_falls_back_to_memory(streets_root, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("WORKBOOK_CACHE", str(blocker / "cache"))
    manifest = build_manifest("synthetic-streets", streets_root)
    with pytest.warns(UserWarning, match="cannot write the cache"):
        dataset = SegmentationDataset(manifest, streets_root, "gta9", (30, 20))
    assert dataset.cache_files is None and dataset[0][0].shape == (3, 20, 30)


# ---- bad input ------------------------------------------------------------------------------

def test_truncated_frames_are_skipped_and_reported(streets_root, streets_meta):
    truncated = {f"{f:05d}" for f in streets_meta.loc[streets_meta["defect"] == "truncated", "frame"]}
    assert truncated
    dataset = streets_dataset(streets_root)
    skipped = {p.frame for p in dataset.problems if p.action == "skipped"}
    assert skipped == truncated
    assert not truncated & set(dataset.frames)
    assert len(dataset) == len(streets_meta) - len(truncated)
    assert all(p.file.endswith(".png") and "truncated PNG" in p.reason for p in dataset.problems if p.action == "skipped")


def test_cached_problems_name_the_files_as_this_reader_reaches_them(streets_copy, tmp_path, monkeypatch):
    link = tmp_path / "linked-streets"
    link.symlink_to(streets_copy, target_is_directory=True)  # the same files (one cache key) by another path
    first = streets_dataset(link, size=(40, 24))
    decodes = count_decodes(monkeypatch)
    second = streets_dataset(streets_copy, size=(40, 24))
    assert decodes["image"] == 0 and second.cache_files == first.cache_files  # read from the cache
    assert first.problems and all(p.file.startswith(str(link)) for p in first.problems)
    assert all(p.file.startswith(str(streets_copy)) and str(link) not in p.reason for p in second.problems)
    assert [Path(p.file).name for p in second.problems] == [Path(p.file).name for p in first.problems]


def test_size_mismatch_is_resized_or_skipped(streets_root, streets_meta):
    mismatched = {f"{f:05d}" for f in streets_meta.loc[streets_meta["defect"] == "size_mismatch", "frame"]}
    assert mismatched
    resized = streets_dataset(streets_root)
    assert {p.frame for p in resized.problems if p.action == "label resized (nearest)"} == mismatched
    assert mismatched <= set(resized.frames)
    skipping = streets_dataset(streets_root, on_bad="skip")
    assert not mismatched & set(skipping.frames)
    with pytest.raises(datasets.BadInputError, match="on_bad"):
        SegmentationDataset(build_manifest("synthetic-streets", streets_root), streets_root, "gta9", SMALL,
                            on_bad="raise")


@pytest.mark.filterwarnings("ignore:.*problem")
def test_unknown_colours_in_rgb_labels_are_reported(streets_copy):
    label_path = streets_copy / "labels" / "00002.png"
    expected = GTA9.id_lut()[np.asarray(Image.open(label_path))]
    rgb = index_to_rgb(expected, GTA9, palette="label")  # the same label as colours
    rgb[:3, :3] = (1, 2, 3)  # a colour the class map does not know
    Image.fromarray(rgb).save(label_path)
    dataset = streets_dataset(streets_copy)
    (problem,) = [p for p in dataset.problems if p.frame == "00002"]
    assert "unknown colours (1, 2, 3)×9" in problem.reason and problem.action == "mapped to class 0"
    assert "00002" in dataset.frames
    one = SegmentationDataset(dataset.manifest[dataset.manifest["frame"] == "00002"], streets_copy, "gta9",
                              STREETS_SIZE)
    target = one[0][1].numpy()
    assert (target[3:, 3:] == expected[3:, 3:]).all() and (target[:3, :3] == 0).all()


def test_no_usable_frame_and_empty_split_are_clear_errors(streets_root, streets_meta):
    manifest = build_manifest("synthetic-streets", streets_root)
    truncated = manifest[manifest["defect"] == "truncated"]
    with pytest.raises(datasets.BadInputError, match="none of the 2 frames"):
        SegmentationDataset(truncated, streets_root, "gta9", SMALL)
    only_train = split_by_sequence(manifest, {"train": 1.0})
    with pytest.raises(ValueError, match="split 'val' has no frames"):
        load_dataset("synthetic-streets", streets_root, profile="smoke", split="val", manifest=only_train)


def test_bad_input_never_reaches_a_worker(streets_root):
    dataset = streets_dataset(streets_root)
    loader = make_loader(dataset, batch_size=8, shuffle=False, num_workers=1)
    seen = sum(len(images) for images, _ in loader)
    assert seen == len(dataset)


# ---- loading by name, loaders, statistics ------------------------------------------------------

def test_load_dataset_by_profile(streets_root):
    train = load_dataset("synthetic-streets", streets_root, profile="smoke", split="train", max_images=10)
    image, target = train[0]
    assert image.shape == (3, 48, 64) and target.shape == (48, 64) and target.dtype == torch.int64
    assert len(train) <= 10
    assert set(train.manifest["split"]) == {"train"}
    assert train.manifest["sequence"].nunique() >= 3  # the cap keeps frames spread over sequences


def test_load_dataset_honours_a_manifest_file(streets_root, tmp_path):
    manifest = split_by_sequence(build_manifest("synthetic-streets", streets_root), seed=5)
    manifest = manifest[manifest["defect"] == "none"]
    path = write_manifest(manifest, tmp_path / "clean.csv")
    val = load_dataset("synthetic-streets", streets_root, profile="smoke", split="val", manifest=path)
    assert set(val.frames) <= set(manifest.loc[manifest["split"] == "val", "frame"])
    assert not val.problems


def test_loaders_are_deterministic_for_a_seed(streets_root):
    dataset = streets_dataset(streets_root, augment=True)

    def first_batches(seed, num_workers=0):
        loader = make_loader(dataset, batch_size=4, shuffle=True, seed=seed, num_workers=num_workers)
        return [batch for _, batch in zip(range(3), loader)]

    one, again, other = first_batches(0), first_batches(0), first_batches(1)
    torch.manual_seed(123)  # the global RNG does not matter
    with_worker = first_batches(0, num_workers=1)
    for (images_a, targets_a), (images_b, targets_b), (images_c, _) in zip(one, again, with_worker):
        assert torch.equal(images_a, images_b) and torch.equal(targets_a, targets_b)
        assert torch.equal(images_a, images_c)
    assert not torch.equal(one[0][0], other[0][0])


def test_loader_settings(streets_root):
    dataset = streets_dataset(streets_root)
    loader = make_loader(dataset, batch_size=4, shuffle=False, num_workers=0, device="cpu")
    assert loader.num_workers == 0 and not loader.pin_memory and not loader.persistent_workers
    with_workers = make_loader(dataset, batch_size=4, shuffle=False, num_workers=1, device="cpu")
    assert with_workers.persistent_workers and with_workers.worker_init_fn is not None
    assert datasets.fit_num_workers(dataset) == 0  # cached, no augmentation: workers cost more than they save


def test_class_counts_cover_every_pixel(streets_root):
    dataset = streets_dataset(streets_root)
    counts = class_counts(dataset)
    assert counts.shape == (GTA9.num_classes,) and counts.sum() == len(dataset) * SMALL[0] * SMALL[1]
    assert counts[GTA9.class_names.index("road")] > 0
    _, target = dataset[3]
    single = SegmentationDataset(dataset.manifest.iloc[[3]], streets_root, "gta9", SMALL)
    assert class_counts(single).tolist() == np.bincount(target.numpy().ravel(), minlength=9).tolist()


def test_palette_ids_map_to_gta9(streets_root):
    manifest = build_manifest("synthetic-streets", streets_root)
    row = manifest[manifest["defect"] == "none"].iloc[0]
    ids = np.asarray(Image.open(streets_root / row["label"]))
    assert Image.open(streets_root / row["label"]).mode == "P"
    dataset = SegmentationDataset(manifest[manifest["frame"] == row["frame"]], streets_root, "gta9", STREETS_SIZE)
    target = dataset[0][1].numpy()
    assert (target[ids == LABEL_ID["road"]] == 2).all() and (target[ids == LABEL_ID["car"]] == 3).all()


# ---- forest ---------------------------------------------------------------------------------

def test_forest_loads_binary_masks(forest_root):
    manifest = build_manifest("synthetic-forest", forest_root)
    assert len(manifest) == 12
    assert manifest["image"].str.contains("_sat_").all() and manifest["label"].str.contains("_mask_").all()
    assert (manifest["sequence"] == manifest["frame"].str.split("_").str[0].astype(int)).all()
    dataset = load_dataset("synthetic-forest", forest_root, profile="smoke", split=None, max_images=12)
    values = torch.cat([dataset[i][1].flatten() for i in range(len(dataset))]).unique().tolist()
    assert values == [0, 1]
    assert dataset.class_map.name == "forest2"


def test_forest_nested_download_layout(forest_root, tmp_path):
    nested = tmp_path / "forest"
    shutil.copytree(forest_root / "Forest Segmented", nested / "Forest Segmented" / "Forest Segmented")
    manifest = build_manifest("synthetic-forest", nested)
    assert manifest["image"].iloc[0].startswith("Forest Segmented/Forest Segmented/images/")
    assert (nested / manifest["label"].iloc[0]).is_file()


# ---- faults: stale or damaged caches --------------------------------------------------------

def clean_frames(root, count: int) -> pd.DataFrame:
    manifest = build_manifest("synthetic-streets", root)
    return manifest[manifest["defect"] == "none"].iloc[:count]


def test_a_label_edited_after_caching_is_decoded_again(streets_copy):
    manifest = clean_frames(streets_copy, 4)
    first = SegmentationDataset(manifest, streets_copy, "gta9", SMALL)
    label_path = streets_copy / manifest["label"].iloc[1]
    ids = np.asarray(Image.open(label_path)).copy()
    ids[:] = LABEL_ID["road"]  # the label is corrected after the cache was built
    edited = Image.fromarray(ids, mode="P")
    edited.putpalette(Image.open(label_path).getpalette())
    edited.save(label_path)
    second = SegmentationDataset(manifest, streets_copy, "gta9", SMALL)
    assert second.cache_files != first.cache_files
    assert (second[1][1] == GTA9.class_names.index("road")).all()
    assert not (first[1][1] == GTA9.class_names.index("road")).all()


def test_a_repaired_frame_is_no_longer_called_truncated(streets_copy, streets_meta, tmp_path):
    frame = f"{int(streets_meta.loc[streets_meta['defect'] == 'truncated', 'frame'].iloc[0]):05d}"
    manifest = build_manifest("synthetic-streets", streets_copy)
    manifest = manifest[manifest["frame"].isin([frame, "00001"])]
    with pytest.warns(UserWarning, match="truncated PNG"):
        broken = SegmentationDataset(manifest, streets_copy, "gta9", SMALL)
    assert broken.frames == ["00001"]
    image, _ = broken.raw(0)  # any complete PNG repairs the file
    Image.fromarray(np.zeros((64, 96, 3), np.uint8)).save(streets_copy / "images" / f"{frame}.png")
    repaired = SegmentationDataset(manifest, streets_copy, "gta9", SMALL)
    assert repaired.frames == ["00001", frame] and not repaired.problems


def damage_truncate(images_path, labels_path, index_path):
    data = images_path.read_bytes()
    images_path.write_bytes(data[: len(data) // 2])


def damage_other_shape(images_path, labels_path, index_path):
    np.save(labels_path, np.zeros((2, 5, 7), np.uint8))


def damage_old_format(images_path, labels_path, index_path):
    info = json.loads(index_path.read_text())
    index_path.write_text(json.dumps({key: info[key] for key in ("kept", "problems")}))


def damage_garbage_index(images_path, labels_path, index_path):
    index_path.write_bytes(b"\x00\xffnot json")


@pytest.mark.parametrize("damage", [damage_truncate, damage_other_shape, damage_old_format, damage_garbage_index])
def test_damaged_or_old_cache_files_are_named_and_rebuilt(streets_root, damage):
    manifest = clean_frames(streets_root, 5)
    first = SegmentationDataset(manifest, streets_root, "gta9", (40, 24))
    expected = [first[i][1] for i in range(len(first))]
    images_path, labels_path = first.cache_files
    index_path = images_path.with_name(images_path.name.replace(".images.npy", ".json"))
    damage(images_path, labels_path, index_path)
    with pytest.warns(UserWarning, match=f"cache {images_path.parent} cannot be used.*Rebuilding") as caught:
        again = SegmentationDataset(manifest, streets_root, "gta9", (40, 24))
    assert any(path.name in str(w.message) for w in caught for path in (images_path, labels_path, index_path))
    assert len(again) == len(first) and all(torch.equal(again[i][1], expected[i]) for i in range(len(again)))
    assert np.load(labels_path).shape == (len(first), 24, 40)


def test_cache_key_follows_the_decoding_code(streets_root, monkeypatch):
    manifest = clean_frames(streets_root, 3)
    dataset = SegmentationDataset(manifest, streets_root, "gta9", (40, 24))
    key = dataset.cache_key(manifest)
    monkeypatch.setattr(datasets, "_source_digest", lambda *modules: "changed-code")
    assert dataset.cache_key(manifest) != key


# ---- faults: label values outside the class table ------------------------------------------------

def save_palette_label(path, ids):
    label = Image.fromarray(ids.astype(np.uint8), mode="P")
    label.putpalette(cityscapes_palette())
    label.save(path)


def test_palette_ids_outside_the_table_are_reported(streets_copy):
    manifest = clean_frames(streets_copy, 2)
    label_path = streets_copy / manifest["label"].iloc[0]
    ids = np.asarray(Image.open(label_path)).copy()
    ids[:4, :5] = 200
    save_palette_label(label_path, ids)
    with pytest.warns(UserWarning, match="label ids not in the Cityscapes table: 200×20"):
        dataset = SegmentationDataset(manifest, streets_copy, "gta9", STREETS_SIZE)
    (problem,) = dataset.problems
    assert problem.frame == manifest["frame"].iloc[0] and problem.action == "mapped to class 0"
    assert (dataset[0][1][:4, :5] == 0).all()


def test_sixteen_bit_labels_are_rejected_with_a_clear_error(streets_copy):
    manifest = clean_frames(streets_copy, 2)
    label_path = streets_copy / manifest["label"].iloc[0]
    ids = np.asarray(Image.open(label_path)).astype(np.uint16) + 300  # values a uint8 cannot hold
    Image.fromarray(ids).save(label_path)
    assert Image.open(label_path).mode.startswith("I")
    with pytest.raises(datasets.BadInputError, match=r"label .* has I;16 pixels \(16-bit integers\), not 8-bit ids"):
        SegmentationDataset(manifest, streets_copy, "gta9", STREETS_SIZE, on_bad="raise")
    with pytest.warns(UserWarning, match="not 8-bit"):
        kept = SegmentationDataset(manifest, streets_copy, "gta9", STREETS_SIZE)
    assert kept.frames == [manifest["frame"].iloc[1]]


def test_zero_one_forest_masks_are_read_as_such(forest_root, tmp_path):
    copy = shutil.copytree(forest_root, tmp_path / "forest")
    manifest = build_manifest("synthetic-forest", copy)
    mask_path = copy / manifest["label"].iloc[0]
    grey = np.asarray(Image.open(mask_path).convert("L"))
    forest = grey >= 128
    assert 0 < forest.mean() < 1
    Image.fromarray(forest.astype(np.uint8)).save(mask_path.with_suffix(".png"))  # a 0/1 mask, lossless
    mask_path.with_suffix(".png").rename(mask_path)  # under the name the manifest lists
    target, note = datasets.read_mask(mask_path, "forest2")
    assert note is None and np.array_equal(target, forest.astype(np.uint8))


# ---- faults: images ---------------------------------------------------------------------------

def test_trailing_bytes_after_a_complete_image_are_not_truncation(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    for suffix in (".png", ".jpg"):
        data = cv2.imencode(suffix, image)[1].tobytes()
        (tmp_path / f"trailing{suffix}").write_bytes(data + b"\x00" * 300)
        assert datasets.read_image(tmp_path / f"trailing{suffix}").shape == (12, 16, 3)
        (tmp_path / f"cut{suffix}").write_bytes(data[: len(data) * 2 // 3])
        with pytest.raises(OSError, match="truncated"):
            datasets.read_image(tmp_path / f"cut{suffix}")


def test_a_zero_in_the_image_size_is_a_clear_error(streets_root):
    with pytest.raises(ValueError, match=r"size must be two positive whole numbers .* got \(0, 24\)"):
        SegmentationDataset(clean_frames(streets_root, 2), streets_root, "gta9", (0, 24))


# ---- faults: manifests --------------------------------------------------------------------------

def split_manifest_file(root, tmp_path, edit=None) -> str:
    manifest = split_by_sequence(build_manifest("synthetic-streets", root))
    if edit is not None:
        manifest = edit(manifest)
    return str(write_manifest(manifest, tmp_path / "manifest.csv"))


def test_blank_split_cells_are_an_error_naming_the_lines(streets_root, tmp_path):
    def blank(manifest):
        manifest.loc[[3, 10], "split"] = ""
        return manifest

    path = split_manifest_file(streets_root, tmp_path, blank)
    with pytest.raises(ValueError, match=rf"manifest {path}: lines 5, 12 have no split"):
        load_dataset("synthetic-streets", streets_root, profile="smoke", manifest=path)


def test_a_frame_listed_twice_is_an_error_naming_the_lines(streets_root, tmp_path):
    def twice(manifest):
        extra = manifest[manifest["split"] == "val"].iloc[[0]].assign(split="train")
        return pd.concat([manifest, extra], ignore_index=True)

    path = split_manifest_file(streets_root, tmp_path, twice)
    with pytest.raises(ValueError, match=r"frame \d{5} is listed 2 times, on lines \d+, 50 \(splits 'val', 'train'\)"):
        load_dataset("synthetic-streets", streets_root, profile="smoke", manifest=path)


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"frame,sequence\n00001,0\n", "has no column image, label"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe binary", "not a readable CSV table"),
])
def test_unreadable_manifests_name_the_file(streets_root, tmp_path, content, message):
    path = tmp_path / "manifest.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"manifest {path} .*{message}|manifest {path} {message}"):
        load_dataset("synthetic-streets", streets_root, profile="smoke", manifest=path)


def test_blank_sequence_cells_are_an_error_naming_the_lines(streets_root, tmp_path):
    def no_sequence(manifest):
        manifest["split"] = ""
        manifest.loc[[0, 7], "sequence"] = np.nan
        return manifest

    path = split_manifest_file(streets_root, tmp_path, no_sequence)
    with pytest.raises(ValueError, match=rf"manifest {path}: lines 2, 9 have no sequence"):
        load_dataset("synthetic-streets", streets_root, profile="smoke", manifest=path)


@pytest.mark.filterwarnings("ignore:.*problem")
def test_a_stamped_manifest_is_refused_for_another_data_set(streets_root, tmp_path):
    manifest = split_by_sequence(build_manifest("synthetic-streets", streets_root))
    path = write_manifest(manifest, tmp_path / "manifest.csv", dataset="synthetic-streets", root=streets_root,
                          profile="smoke")
    assert json.loads(datasets.stamp_path(path).read_text())["dataset"] == "synthetic-streets"
    assert len(load_dataset("synthetic-streets", streets_root, profile="smoke", split="val", manifest=path)) > 0
    with pytest.raises(datasets.StaleManifestError, match="written for the data set 'synthetic-streets', but this "
                                                          "notebook loads 'gta5'.*DATASET"):
        load_dataset("gta5", streets_root, profile="smoke", manifest=path)  # the same layout, another data set


def test_a_stamped_manifest_is_refused_after_the_data_is_regenerated(tmp_path):
    from helpers.synthetic import generate_streets

    root = tmp_path / "synthetic-streets"
    generate_streets(root, sequences=3, frames_per_sequence=2, size=(48, 32), seed=0, progress=False)
    manifest = split_by_sequence(build_manifest("synthetic-streets", root))
    path = write_manifest(manifest, tmp_path / "run" / "manifest.csv", dataset="synthetic-streets", root=root)
    generate_streets(root, sequences=3, frames_per_sequence=2, size=(48, 32), seed=1, progress=False)
    with pytest.raises(datasets.StaleManifestError, match="has changed since.*Run 01_data_cleaning again"):
        load_dataset("synthetic-streets", root, profile="smoke", manifest=path)
    path.write_text(path.read_text().replace(",train", ",val"))  # edited by hand: no longer what was stamped
    with pytest.raises(datasets.StaleManifestError, match="does not match its stamp"):
        read_manifest(path)


def test_manifest_is_written_atomically(streets_root, tmp_path, monkeypatch):
    path = tmp_path / "manifest.csv"
    manifest = split_by_sequence(build_manifest("synthetic-streets", streets_root))
    write_manifest(manifest, path)
    before = path.read_bytes()

    def killed(*args):
        raise KeyboardInterrupt  # the process is stopped before the new file is in place

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_manifest(manifest.iloc[:5], path)
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["manifest.csv"]


# ---- faults: an interrupted copy of a data set ------------------------------------------------------

def test_a_data_set_without_its_meta_csv_is_refused_with_the_command(streets_copy):
    (streets_copy / "meta.csv").unlink()
    with pytest.raises(DatasetMissingError, match="(?s)not a complete 'synthetic-streets' data set: it has no "
                                                  "meta.csv.*make_synthetic_streets.py --out"):
        build_manifest("synthetic-streets", streets_copy)


def test_haze_fades_toward_grey_more_at_the_top_and_leaves_labels_alone(streets_root):
    image = np.zeros((40, 30, 3), np.uint8)  # black: any fade shows as brightness
    hazed = datasets.add_haze(image, np.random.default_rng(3), strength=0.8)
    rows = hazed.astype(float).mean(axis=(1, 2))
    assert rows[0] > rows[-1] > 0 and np.all(np.diff(rows) <= 0.5)  # thicker at the top, never zero
    assert rows[0] <= 0.8 * 240 and abs(rows[-1] / rows[0] - 0.3) < 0.05
    assert np.array_equal(datasets.add_haze(image, np.random.default_rng(3), 0.0), image)
    haze_only = datasets.Augment(flip=0.0, degrees=0.0, jitter=0.0, haze=0.8)
    plain, hazy = streets_dataset(streets_root), streets_dataset(streets_root, augment=haze_only)
    hazed_frames = 0
    for index in range(8):
        assert torch.equal(hazy[index, index][1], plain[index][1])
        hazed_frames += int(not torch.equal(hazy[index, index][0], plain[index][0]))
    assert 1 <= hazed_frames <= 7  # about half of them


def test_rain_darkens_greys_and_streaks_the_frame():
    image = np.zeros((60, 80, 3), np.uint8)
    image[..., 0] = 200  # saturated red
    rained = datasets.add_rain(image, np.random.default_rng(5), strength=0.3).astype(float)
    streaked = rained[..., 1] > 35  # a streak adds 0.18 × 255 to every channel; green is at most 18 without one
    assert 60 * 80 // 400 <= streaked.sum() <= 60 * 80 // 400 * 6  # one short line per 400 pixels
    plain = rained[~streaked]
    assert 0.7 * 0.7 * 200 <= plain[:, 0].min() and plain[:, 0].max() <= 0.7 * 200 + 0.3 * 0.299 * 200 + 1
    assert plain[:, 1].min() > 10  # colours moved toward grey: green and blue are no longer 0
    assert np.array_equal(datasets.add_rain(image, np.random.default_rng(5), 0.3), rained.astype(np.uint8))


def test_with_fog_and_rain_on_a_third_of_the_frames_get_each_and_a_third_stay_clear():
    image = np.full((20, 30, 3), (40, 120, 40), np.uint8)
    weather = datasets.Augment(flip=0.0, degrees=0.0, jitter=0.0, haze=0.8, rain=0.3)
    rng = np.random.default_rng(0)
    kinds = {"clear": 0, "fog": 0, "rain": 0}
    for _ in range(300):
        out = weather.add_weather(image, rng).astype(float)
        if np.array_equal(out, image):
            kinds["clear"] += 1
        elif out[0].mean() > image.mean() + 5:  # fog brightens toward a light grey, most at the top
            kinds["fog"] += 1
        else:
            kinds["rain"] += 1
    assert all(70 <= count <= 130 for count in kinds.values()), kinds
    assert datasets.Augment(haze=0.0, rain=0.0).add_weather(image, rng) is image


class _FramesByGroup:
    """A stand-in data set: two-class labels with a manifest column to group by."""

    class_map = GTA9

    def __init__(self, labels: list[np.ndarray], groups: list[str]):
        self.labels = labels
        self.manifest = pd.DataFrame({"scene": groups})

    def raw(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((*self.labels[index].shape, 3), np.uint8), self.labels[index]


def test_class_shares_by_adds_frames_of_a_group_and_skips_ignored_pixels():
    road, cars, ignored = GTA9.class_names.index("road"), GTA9.class_names.index("cars"), 255
    frames = [np.array([[road, road], [cars, ignored]], np.uint8),   # city: 2 road, 1 car
              np.array([[road, cars], [cars, cars]], np.uint8),      # city: 1 road, 3 cars
              np.array([[road, road], [road, road]], np.uint8)]      # highway: 4 road
    shares = datasets.class_shares_by(_FramesByGroup(frames, ["city", "city", "highway"]), "scene")
    assert list(shares.index) == ["city", "highway"]
    assert shares.loc["city", "road"] == pytest.approx(3 / 7) and shares.loc["city", "cars"] == pytest.approx(4 / 7)
    assert shares.loc["highway", "road"] == 1.0 and shares.loc["highway", "cars"] == 0.0
    assert np.allclose(shares.sum(axis=1), 1.0)
    text = datasets.describe_shares(shares[["road", "cars"]])
    assert text.splitlines() == [
        "- road: 100.0% of the pixels in highway (its largest share), 42.9% in city (its smallest)",
        "- cars: 57.1% of the pixels in city (its largest share), 0.0% in highway (its smallest); none at all in highway"]


def test_describe_shares_separates_shares_that_read_the_same_at_one_decimal():
    shares = pd.DataFrame({"trucks": [0.023, 0.040, 0.05636, 0.05582], "curb": [0.051, 0.023, 0.0, 0.0],
                           "busses": [0.01230, 0.01234, 0.02, 0.03]},
                          index=["city", "countryside", "highway", "suburb"])
    assert datasets.describe_shares(shares).splitlines() == [
        "- trucks: 5.64% of the pixels in highway (its largest share, just above suburb's 5.58%), "
        "2.3% in city (its smallest)",
        "- curb: 5.1% of the pixels in city (its largest share), 0.0% in highway (its smallest, tied with suburb); "
        "none at all in highway, suburb",
        "- busses: 3.0% of the pixels in suburb (its largest share), "
        "1.230% in city (its smallest, just below countryside's 1.234%)"]
