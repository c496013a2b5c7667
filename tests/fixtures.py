"""Data sets in the exact on-disk layouts of the real ones, built from generated street frames.

Real data sets are never downloaded by the tests. Their scripts and readers are tested on copies
in the same layout: ADE20K's ADEChallengeData2016.zip, torchvision's extracted Oxford-IIIT Pet
and VOC 2012 folders, a learner's folder of images and masks (colour, index, palette or binary
masks), and GTA5 as prepare_gta5.py leaves it. The street frames' Cityscapes labels are mapped
onto each data set's own label values, so every copy holds believable classes.

`notebook_data_root()` holds one small copy of each for the notebook runs (next to the smoke
streets and forest), built once and kept in .pytest_cache under a key of everything it depends on.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import scipy.io
from PIL import Image

from helpers.classes import ADE20K_NAMES, GTA9, LABEL_ID, voc_palette

REPO = Path(__file__).resolve().parents[1]

ADE_OF_CITYSCAPES = {"wall": 1, "building": 2, "sky": 3, "vegetation": 5, "road": 7, "terrain": 10,
                     "sidewalk": 12, "person": 13, "rider": 13, "ground": 14, "car": 21, "fence": 33,
                     "guard rail": 39, "traffic sign": 44, "bus": 81, "truck": 84, "pole": 94, "motorcycle": 117,
                     "traffic light": 137}
"""ADE20K label value of each Cityscapes class the street frames draw (the others are 0, "other")."""

VOC_OF_CITYSCAPES = {"bicycle": 2, "bus": 6, "car": 7, "truck": 7, "motorcycle": 14, "person": 15, "rider": 15,
                     "train": 19}
"""VOC class of the Cityscapes classes VOC has (everything else is background, 0)."""

PET_IDS = [LABEL_ID[name] for name in ("person", "rider", "car", "truck", "bus", "train", "motorcycle")]
"""Cityscapes classes that play the pet in the trimaps (the rest is background)."""


def table(mapping: dict[str, int], default: int = 0) -> np.ndarray:
    """256-entry lookup table: Cityscapes labelId → the value `mapping` gives its name."""
    lut = np.full(256, default, np.uint8)
    for name, value in mapping.items():
        lut[LABEL_ID[name]] = value
    return lut


def clean_frames(streets: Path) -> list[str]:
    """Stems of the generated frames without an injected defect, in order."""
    meta = pd.read_csv(streets / "meta.csv")
    return [f"{int(frame):05d}" for frame in meta.loc[meta["defect"] == "none", "frame"]]


def street_frame(streets: Path, stem: str) -> tuple[np.ndarray, np.ndarray]:
    """(RGB image, Cityscapes labelIds) of one generated frame."""
    with Image.open(streets / "images" / f"{stem}.png") as image, Image.open(streets / "labels" / f"{stem}.png") as label:
        return np.asarray(image.convert("RGB")), np.asarray(label).copy()


def jpeg_bytes(image: np.ndarray, quality: int = 90) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def png_bytes(array: np.ndarray, palette: list[int] | None = None) -> bytes:
    image = Image.fromarray(array)
    if palette is not None:
        image.putpalette(palette)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def border(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """Pixels within `width` of the edge of a boolean mask (both sides), as VOC and the trimaps mark them."""
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    grown = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
    shrunk = cv2.erode(mask.astype(np.uint8), kernel).astype(bool)
    return grown & ~shrunk


# --------------------------------------------------------------------------------------------
# ADE20K: ADEChallengeData2016.zip
# --------------------------------------------------------------------------------------------

def object_info_csv() -> bytes:
    """objectInfo150.csv as in the archive: Idx,Ratio,Train,Val,Name, most frequent class first."""
    ratios = np.geomspace(0.1576, 0.0002, len(ADE20K_NAMES))
    lines = ["Idx,Ratio,Train,Val,Name"] + [f"{i},{ratio:.4f},{1000 - 6 * i},{100 - i // 2},{name.replace(' ', ';')}"
                                             for i, (ratio, name) in enumerate(zip(ratios, ADE20K_NAMES), start=1)]
    return ("\n".join(lines) + "\n").encode()


def ade20k_members(streets: Path, train: list[str], val: list[str], high_value: str | None = None) -> dict[str, bytes]:
    """{member: bytes} of ADEChallengeData2016.zip made of these frames (`high_value`: one with values above 150)."""
    lut = table(ADE_OF_CITYSCAPES)
    members = {"ADEChallengeData2016/objectInfo150.csv": object_info_csv(),
               "ADEChallengeData2016/sceneCategories.txt": b"", "__MACOSX/._objectInfo150.csv": b"junk"}
    for subset, prefix, stems in (("training", "ADE_train", train), ("validation", "ADE_val", val)):
        for number, stem in enumerate(stems, start=1):
            image, ids = street_frame(streets, stem)
            values = lut[ids]
            if stem == high_value:
                values[:3, :5] = 200
            name = f"{prefix}_{number:08d}"
            members[f"ADEChallengeData2016/images/{subset}/{name}.jpg"] = jpeg_bytes(image)
            members[f"ADEChallengeData2016/annotations/{subset}/{name}.png"] = png_bytes(values)
    return members


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# Oxford-IIIT Pet and VOC 2012 as torchvision extracts them
# --------------------------------------------------------------------------------------------

def oxford_pet_folder(root: Path, streets: Path, trainval: list[str], test: list[str]) -> Path:
    """root/oxford-iiit-pet/images/<Breed>_<n>.jpg, annotations/trimaps/<id>.png (1 pet, 2 background, 3 border),
    annotations/trainval.txt and test.txt ("<id> <class> <species> <breed id>")."""
    base = root / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True)
    (base / "annotations" / "trimaps").mkdir(parents=True)
    breeds = ["Abyssinian", "beagle", "Bengal", "boxer"]
    for split, stems in (("trainval", trainval), ("test", test)):
        lines = []
        for stem in stems:
            image, ids = street_frame(streets, stem)
            pet = np.isin(ids, PET_IDS)
            trimap = np.where(pet, 1, 2).astype(np.uint8)
            trimap[border(pet)] = 3
            breed = breeds[int(stem) % len(breeds)]
            name = f"{breed}_{int(stem)}"
            (base / "images" / f"{name}.jpg").write_bytes(jpeg_bytes(image))
            (base / "annotations" / "trimaps" / f"{name}.png").write_bytes(png_bytes(trimap))
            (base / "annotations" / "trimaps" / f"._{name}.png").write_bytes(b"macOS resource fork")
            lines.append(f"{name} {breeds.index(breed) + 1} {1 if breed[0].isupper() else 2} 1")
        (base / "annotations" / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def voc_folder(root: Path, streets: Path, train: list[str], val: list[str]) -> Path:
    """root/VOCdevkit/VOC2012/JPEGImages/<id>.jpg, SegmentationClass/<id>.png (palette, 255 on object borders),
    ImageSets/Segmentation/train.txt, val.txt and trainval.txt."""
    base = root / "VOCdevkit" / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation", "Annotations"):
        (base / folder).mkdir(parents=True)
    lut = table(VOC_OF_CITYSCAPES)
    names = {}
    for split, stems in (("train", train), ("val", val)):
        names[split] = []
        for stem in stems:
            image, ids = street_frame(streets, stem)
            classes = lut[ids]
            classes[border(classes > 0)] = 255
            name = f"2007_{int(stem):06d}"
            (base / "JPEGImages" / f"{name}.jpg").write_bytes(jpeg_bytes(image))
            (base / "SegmentationClass" / f"{name}.png").write_bytes(png_bytes(classes, voc_palette()))
            names[split].append(name)
    names["trainval"] = names["train"] + names["val"]
    for split, listed in names.items():
        (base / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(listed) + "\n")
    return root


# --------------------------------------------------------------------------------------------
# A learner's folder of images and masks
# --------------------------------------------------------------------------------------------

def own_folder(root: Path, streets: Path, stems: list[str], masks: str = "colour", classes_csv: bool = True) -> Path:
    """root/images/<name>.jpg and root/masks/<name>.png of GTA9's classes, as "colour" (RGB, with classes.csv),
    "index" (grey class values), "palette" (mode P) or "binary" (0/255: road or not) masks."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    palette = [value for colour in GTA9.class_colours for value in colour]
    for stem in stems:
        image, ids = street_frame(streets, stem)
        classes = GTA9.id_lut()[ids]
        name = f"street_{stem}"
        (root / "images" / f"{name}.jpg").write_bytes(jpeg_bytes(image))
        if masks == "colour":
            mask = png_bytes(GTA9.colour_array("label")[classes])
        elif masks == "palette":
            mask = png_bytes(classes, palette)
        elif masks == "binary":
            mask = png_bytes(np.where(classes == 2, 255, 0).astype(np.uint8))
        else:
            mask = png_bytes(classes)
        (root / "masks" / f"{name}.png").write_bytes(mask)
    if classes_csv:
        rows = ["name,r,g,b"] + [f"{name},{r},{g},{b}" for name, (r, g, b) in zip(GTA9.class_names, GTA9.class_colours)]
        (root / "classes.csv").write_text("\n".join(rows) + "\n")
    return root


# --------------------------------------------------------------------------------------------
# GTA5 as prepare_gta5.py leaves it
# --------------------------------------------------------------------------------------------

def gta5_folder(root: Path, streets: Path, seed: int = 0) -> Path:
    """The generated frames as GTA5 parts extract (images/, labels/, split.mat: a random official split by
    frame number, as the real one), then prepared by prepare_gta5.py (checks, sequences, manifest.csv)."""
    from data_scripts import prepare_gta5

    for kind in ("images", "labels"):
        shutil.copytree(streets / kind, root / kind)
    frames = np.array(sorted(int(p.stem) for p in (root / "images").glob("*.png")))
    order = np.random.default_rng(seed).permutation(frames)
    cut = np.cumsum([int(0.6 * len(frames)), int(0.2 * len(frames))])
    parts = np.split(order, cut)
    scipy.io.savemat(root / "split.mat", {key: np.sort(ids).astype(np.float64)[:, None]
                                          for key, ids in zip(("trainIds", "valIds", "testIds"), parts)})
    assert prepare_gta5.main(["--data", str(root), "--quiet", "--sequences", "similarity"]) == 0
    return root


# --------------------------------------------------------------------------------------------
# The data folder of the notebook runs
# --------------------------------------------------------------------------------------------

NOTEBOOK_DATASETS = {"gta5": "gta5", "ade20k": "ade20k", "folder": "folder:my-data", "forest": "synthetic-forest"}
"""The DATASET each notebook runs on besides the default synthetic-streets (the folder is inside the data root)."""


def _key() -> str:
    from helpers.workbook import smoke_data_key

    sources = [Path(__file__), REPO / "data_scripts" / "prepare_gta5.py", REPO / "data_scripts" / "get_ade20k.py"]
    digest = hashlib.sha256(smoke_data_key().encode())
    for path in sources:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def notebook_data_root() -> Path:
    """The smoke streets and forest, plus gta5 (prepared), ade20k (extracted by get_ade20k.py) and my-data (a folder
    of colour masks with classes.csv), all from the same generated frames; built once, shared by test processes."""
    from data_scripts import get_ade20k
    from helpers.workbook import smoke_data_root

    base = smoke_data_root()
    root = REPO / ".pytest_cache" / f"workbook-fixtures-{_key()}"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / ".complete").exists():
            for name in ("synthetic-streets", "synthetic-forest", "gta5", "ade20k", "my-data", "ADEChallengeData2016.zip"):
                target = root / name
                if target.is_symlink() or target.is_file():
                    target.unlink()
                elif target.exists():
                    shutil.rmtree(target)
            for name in ("synthetic-streets", "synthetic-forest"):
                (root / name).symlink_to(base / name, target_is_directory=True)
            streets = base / "synthetic-streets"
            stems = clean_frames(streets)
            gta5_folder(root / "gta5", streets)
            train, val = stems[: len(stems) * 3 // 4], stems[len(stems) * 3 // 4:]
            (root / "ADEChallengeData2016.zip").write_bytes(zip_bytes(ade20k_members(streets, train, val)))
            assert get_ade20k.main(["--from", str(root / "ADEChallengeData2016.zip"), "--out", str(root / "ade20k"),
                                    "--quiet"]) == 0
            own_folder(root / "my-data", streets, stems[:48])
            (root / ".complete").touch()
    return root
