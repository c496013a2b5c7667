"""Class maps: class names, label and display colours, and how source labels map onto classes.

A label file stores either Cityscapes labelIds (palette PNGs, as in Playing for Data) or
colours (RGB PNGs). A `ClassMap` knows both routes onto its own class indices. Its
`class_colours` are the colours of the label files; plots and legends use `display_colours`,
chosen to stay distinguishable (GTA9's: also for colour-blind readers, see `GTA9_DISPLAY`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

RGB = tuple[int, int, int]


class CityscapesLabel(NamedTuple):
    """One row of the official Cityscapes label table."""

    name: str
    label_id: int
    train_id: int  # 255 = ignored in the 19-class benchmark
    colour: RGB


CITYSCAPES_LABELS: tuple[CityscapesLabel, ...] = (
    CityscapesLabel("unlabeled", 0, 255, (0, 0, 0)),
    CityscapesLabel("ego vehicle", 1, 255, (0, 0, 0)),
    CityscapesLabel("rectification border", 2, 255, (0, 0, 0)),
    CityscapesLabel("out of roi", 3, 255, (0, 0, 0)),
    CityscapesLabel("static", 4, 255, (0, 0, 0)),
    CityscapesLabel("dynamic", 5, 255, (111, 74, 0)),
    CityscapesLabel("ground", 6, 255, (81, 0, 81)),
    CityscapesLabel("road", 7, 0, (128, 64, 128)),
    CityscapesLabel("sidewalk", 8, 1, (244, 35, 232)),
    CityscapesLabel("parking", 9, 255, (250, 170, 160)),
    CityscapesLabel("rail track", 10, 255, (230, 150, 140)),
    CityscapesLabel("building", 11, 2, (70, 70, 70)),
    CityscapesLabel("wall", 12, 3, (102, 102, 156)),
    CityscapesLabel("fence", 13, 4, (190, 153, 153)),
    CityscapesLabel("guard rail", 14, 255, (180, 165, 180)),
    CityscapesLabel("bridge", 15, 255, (150, 100, 100)),
    CityscapesLabel("tunnel", 16, 255, (150, 120, 90)),
    CityscapesLabel("pole", 17, 5, (153, 153, 153)),
    CityscapesLabel("polegroup", 18, 255, (153, 153, 153)),
    CityscapesLabel("traffic light", 19, 6, (250, 170, 30)),
    CityscapesLabel("traffic sign", 20, 7, (220, 220, 0)),
    CityscapesLabel("vegetation", 21, 8, (107, 142, 35)),
    CityscapesLabel("terrain", 22, 9, (152, 251, 152)),
    CityscapesLabel("sky", 23, 10, (70, 130, 180)),
    CityscapesLabel("person", 24, 11, (220, 20, 60)),
    CityscapesLabel("rider", 25, 12, (255, 0, 0)),
    CityscapesLabel("car", 26, 13, (0, 0, 142)),
    CityscapesLabel("truck", 27, 14, (0, 0, 70)),
    CityscapesLabel("bus", 28, 15, (0, 60, 100)),
    CityscapesLabel("caravan", 29, 255, (0, 0, 90)),
    CityscapesLabel("trailer", 30, 255, (0, 0, 110)),
    CityscapesLabel("train", 31, 16, (0, 80, 100)),
    CityscapesLabel("motorcycle", 32, 17, (0, 0, 230)),
    CityscapesLabel("bicycle", 33, 18, (119, 11, 32)),
)

LABEL_ID = {label.name: label.label_id for label in CITYSCAPES_LABELS}
"""Cityscapes labelId by name, e.g. LABEL_ID["car"] == 26."""


def cityscapes_palette() -> list[int]:
    """The 768-entry PIL palette of a Playing for Data label PNG: index = labelId, entry = colour."""
    palette = [0] * 768
    for label in CITYSCAPES_LABELS:
        palette[3 * label.label_id : 3 * label.label_id + 3] = label.colour
    return palette


@dataclass(frozen=True, eq=False)  # identity hash: lookup tables are cached per map
class ClassMap:
    """Classes of a task and the two routes onto them: source labelIds and label colours.

    `id_to_class` maps source ids (palette indices); ids not listed go to `unknown_class`.
    `colour_to_class` maps label colours; colours not listed are "unknown colours".
    `class_colours` are the classes' colours in label files, `display_colours` the ones every
    plot and legend shows (the label colours when not given).
    """

    name: str
    class_names: tuple[str, ...]
    class_colours: tuple[RGB, ...]
    id_to_class: dict[int, int] = field(default_factory=dict)
    colour_to_class: dict[RGB, int] = field(default_factory=dict)
    unknown_class: int = 0
    ignore_index: int | None = None
    display_colours: tuple[RGB, ...] = ()
    aliases: tuple[str, ...] = ()  # other names get_class_map accepts

    def __post_init__(self) -> None:
        if not self.display_colours:
            object.__setattr__(self, "display_colours", tuple(self.class_colours))
        for colours in (self.class_colours, self.display_colours):
            if len(colours) != len(self.class_names):
                raise ValueError(f"class map {self.name}: {len(colours)} colours for {len(self.class_names)} classes")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def id_lut(self) -> np.ndarray:
        """256-entry uint8 table: source id → class (unlisted ids → `unknown_class`)."""
        lut = np.full(256, self.unknown_class, dtype=np.uint8)
        for source_id, class_index in self.id_to_class.items():
            lut[source_id] = class_index
        return lut

    def to_dict(self) -> dict:
        """Plain values only (what a checkpoint stores): `from_dict` rebuilds the map from them."""
        return {"name": self.name, "class_names": list(self.class_names),
                "class_colours": [list(colour) for colour in self.class_colours],
                "display_colours": [list(colour) for colour in self.display_colours],
                "id_to_class": [[int(source), int(index)] for source, index in sorted(self.id_to_class.items())],
                "colour_to_class": [[*map(int, colour), int(index)] for colour, index in self.colour_to_class.items()],
                "unknown_class": int(self.unknown_class), "ignore_index": self.ignore_index}

    @classmethod
    def from_dict(cls, data: dict) -> ClassMap:
        """The map `to_dict` described: the registered one of that name when it is the same, else a new one."""
        rebuilt = cls(name=str(data["name"]), class_names=tuple(data["class_names"]),
                      class_colours=tuple(tuple(colour) for colour in data["class_colours"]),
                      id_to_class={int(source): int(index) for source, index in data.get("id_to_class", [])},
                      colour_to_class={tuple(entry[:3]): int(entry[3]) for entry in data.get("colour_to_class", [])},
                      unknown_class=int(data.get("unknown_class", 0)), ignore_index=data.get("ignore_index"),
                      display_colours=tuple(tuple(colour) for colour in data.get("display_colours") or ()))
        known = CLASS_MAPS.get(rebuilt.name)
        return known if known is not None and known.to_dict() == rebuilt.to_dict() else rebuilt

    def colour_array(self, palette: str = "display") -> np.ndarray:
        """num_classes × 3 uint8 array of colours (row = class index): "display" or "label" colours."""
        if palette not in ("display", "label"):
            raise ValueError(f"palette must be 'display' or 'label', not {palette!r}")
        return np.array(self.display_colours if palette == "display" else self.class_colours, dtype=np.uint8)


GTA9_DISPLAY: tuple[RGB, ...] = (
    (0, 0, 0),  # everything else: black
    (238, 238, 238),  # curb: pavement white
    (85, 85, 85),  # road: asphalt grey
    (0, 114, 178),  # cars: blue
    (51, 34, 136),  # trucks: indigo
    (204, 187, 68),  # motorcycle: sand yellow
    (213, 94, 0),  # humans: vermilion
    (86, 180, 233),  # busses: sky blue
    (128, 128, 128),  # tram/train: metal grey
)
"""GTA9's display colours, from the Okabe–Ito and Tol palettes: any two differ by at least 18 CAM02-UCS
units for normal vision and with full deuteranopia, protanopia or tritanopia (tests/test_classes.py)."""


def _gta9() -> ClassMap:
    names = ("everything else", "curb", "road", "cars", "trucks", "motorcycle", "humans",
             "busses", "tram/train")
    sources = {1: ["sidewalk"], 2: ["road"], 3: ["car"], 4: ["truck"], 5: ["motorcycle"],
               6: ["person", "rider"], 7: ["bus"], 8: ["train"]}
    by_name = {label.name: label for label in CITYSCAPES_LABELS}
    id_to_class, colour_to_class = {}, {(0, 0, 0): 0}
    for class_index, label_names in sources.items():
        for label_name in label_names:
            id_to_class[by_name[label_name].label_id] = class_index
            colour_to_class[by_name[label_name].colour] = class_index
    colours = ((0, 0, 0),) + tuple(by_name[sources[i][0]].colour for i in range(1, 9))
    return ClassMap("gta9", names, colours, id_to_class, colour_to_class, unknown_class=0,
                    display_colours=GTA9_DISPLAY)


def _cityscapes19() -> ClassMap:
    trained = sorted((lab for lab in CITYSCAPES_LABELS if lab.train_id != 255),
                     key=lambda lab: lab.train_id)
    id_to_class = {lab.label_id: lab.train_id for lab in CITYSCAPES_LABELS}
    colour_to_class: dict[RGB, int] = {}
    for lab in CITYSCAPES_LABELS:  # a shared colour goes to the trained label (pole, not polegroup)
        if lab.train_id != 255 or lab.colour not in colour_to_class:
            colour_to_class[lab.colour] = lab.train_id
    return ClassMap("cityscapes19", tuple(lab.name for lab in trained),
                    tuple(lab.colour for lab in trained), id_to_class, colour_to_class,
                    unknown_class=255, ignore_index=255, aliases=("cityscapes", "cs19"))


GTA9 = _gta9()
"""The 9-class merge used throughout the workbook (unknown colours and ids → class 0)."""

CITYSCAPES = _cityscapes19()
"""Cityscapes 19 trainIds (255 = ignore), mapped from the 34 labelIds of `CITYSCAPES_LABELS`."""

FOREST2 = ClassMap("forest2", ("not forest", "forest"), ((40, 40, 40), (34, 139, 34)),
                   id_to_class={v: 1 for v in range(128, 256)}, colour_to_class={(0, 0, 0): 0, (255, 255, 255): 1},
                   aliases=("forest",))
"""Binary forest masks: 0 = not forest, 1 = forest (JPEG mask value ≥ 128)."""


def distinct_colours(count: int) -> tuple[RGB, ...]:
    """`count` colours far apart: hues by the golden angle, in three levels of lightness and saturation.

    For data sets without colours of their own (ADE20K stores class indices only).
    """
    import colorsys

    colours = []
    for index in range(count):
        hue = (index * 0.618033988749895) % 1.0
        lightness, saturation = ((0.45, 0.85), (0.65, 0.75), (0.32, 0.65))[index % 3]
        red, green, blue = colorsys.hls_to_rgb(hue, lightness, saturation)
        colours.append((round(255 * red), round(255 * green), round(255 * blue)))
    return tuple(colours)


ADE20K_NAMES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
    "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path",
    "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge", "bookcase",
    "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm",
    "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus", "towel",
    "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver", "airplane",
    "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet", "poster",
    "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything", "swimming pool",
    "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step",
    "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket",
    "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate",
    "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)
"""The 150 classes of the ADE20K scene-parsing benchmark (SceneParsing 2016), in the order of
objectInfo150.csv: label value k is ADE20K_NAMES[k - 1], 0 is "other". The file lists them by pixel
ratio, most frequent first, so the first 100 are the 100 most frequent."""


def _ade(kept: int) -> ClassMap:
    colours = distinct_colours(len(ADE20K_NAMES))[:kept]
    id_to_class = {value: value - 1 if value <= kept else 255 for value in range(len(ADE20K_NAMES) + 1)}
    id_to_class[0] = 255  # "other": pixels of no benchmark class
    return ClassMap(f"ade{kept}", ADE20K_NAMES[:kept], colours, id_to_class=id_to_class,
                    unknown_class=255, ignore_index=255, aliases=("ade20k",) if kept == 150 else ())


ADE150 = _ade(150)
"""ADE20K's 150 classes: label value k → class k − 1; 0 ("other", unlabelled) → 255, ignored."""

ADE100 = _ade(100)
"""ADE20K's 100 most frequent classes (label values 1–100 → 0–99), as in the course report; 0 and 101–150 ignored."""


def voc_palette() -> list[int]:
    """The 768-entry PIL palette of Pascal VOC label PNGs (the bit-interleaving colour map of the devkit)."""
    palette = []
    for index in range(256):
        red = green = blue = 0
        value = index
        for bit in range(8):
            red |= ((value >> 0) & 1) << (7 - bit)
            green |= ((value >> 1) & 1) << (7 - bit)
            blue |= ((value >> 2) & 1) << (7 - bit)
            value >>= 3
        palette += [red, green, blue]
    return palette


VOC_NAMES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
             "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
             "tvmonitor")


def _voc21() -> ClassMap:
    colours = tuple(tuple(voc_palette()[3 * index: 3 * index + 3]) for index in range(len(VOC_NAMES)))
    colour_to_class = {colour: index for index, colour in enumerate(colours)}
    colour_to_class[tuple(voc_palette()[765:768])] = 255  # (224, 224, 192): the object borders, ignored
    id_to_class = {index: index for index in range(len(VOC_NAMES))} | {255: 255}
    return ClassMap("voc21", VOC_NAMES, colours, id_to_class=id_to_class,
                    colour_to_class=colour_to_class, unknown_class=255, ignore_index=255, aliases=("voc",))


VOC21 = _voc21()
"""Pascal VOC 2012: background and 20 object classes by palette index; 255 (the borders drawn around
objects) ignored."""

PET = ClassMap("pet", ("background", "pet"), ((0, 0, 0), (230, 159, 0)), id_to_class={1: 1, 2: 0, 3: 255},
               unknown_class=255, ignore_index=255, aliases=("trimap", "oxford-pet"))
"""Oxford-IIIT Pet trimaps: 1 = pet, 2 = background, 3 = the uncertain border around the pet (ignored)."""

CLASS_MAPS = {m.name: m for m in (GTA9, CITYSCAPES, FOREST2, ADE150, ADE100, VOC21, PET)}


def get_class_map(name: str | ClassMap) -> ClassMap:
    """Look up a class map by name or alias ("gta9", "cityscapes19", "ade150", "voc"…), or pass one through."""
    if isinstance(name, ClassMap):
        return name
    from .registry import resolve_name

    return CLASS_MAPS[resolve_name(name, CLASS_MAPS, "class map")]


def classes_of(classes: ClassMap | str | int | None, ignore_index: int | None = None) -> tuple[int | None, int | None]:
    """(number of classes, ignore index) of a class map (or its name), or of a plain number of classes.

    What the loss, metrics and training helpers read from one `class_map` argument; an explicit
    `ignore_index` wins over the map's.
    """
    if classes is None or isinstance(classes, (int, np.integer)):
        return (None if classes is None else int(classes)), ignore_index
    class_map = get_class_map(classes)
    return class_map.num_classes, class_map.ignore_index if ignore_index is None else ignore_index
