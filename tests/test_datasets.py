"""Data pipeline: registry, manifests, splits, joint transforms, cache, bad input and loaders."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from helpers import datasets
from helpers.classes import CITYSCAPES, GTA9, LABEL_ID
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
    with pytest.raises(ValueError, match="registered"):
        build_manifest("no-such-data", streets_root)
    with pytest.raises(ValueError, match="forest2"):
        load_dataset("synthetic-streets", streets_root, classes="forest2")


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


def test_one_hot_targets(streets_root):
    dataset = streets_dataset(streets_root, one_hot=True)
    image, target = dataset[0]
    assert target.shape == (GTA9.num_classes, SMALL[1], SMALL[0])
    assert torch.equal(target.sum(0), torch.ones(SMALL[1], SMALL[0]))


# ---- cache ----------------------------------------------------------------------------------

def count_decodes(monkeypatch) -> dict:
    counter = {"image": 0}
    original = datasets.read_image

    def counting(path):
        counter["image"] += 1
        return original(path)

    monkeypatch.setattr(datasets, "read_image", counting)
    monkeypatch.setattr(datasets.DATASETS["synthetic-streets"], "read_image", counting, raising=False)
    return counter


def test_cache_is_reused_without_decoding(streets_copy):
    manifest = build_manifest("synthetic-streets", streets_copy)
    first = streets_dataset(streets_copy, manifest, size=(40, 24))
    images = torch.stack([first[i][0] for i in range(len(first))])
    shutil.rmtree(streets_copy / "images")  # nothing left to decode
    shutil.rmtree(streets_copy / "labels")
    second = streets_dataset(streets_copy, manifest, size=(40, 24))
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
