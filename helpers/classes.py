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
                    unknown_class=255, ignore_index=255)


GTA9 = _gta9()
"""The 9-class merge used throughout the workbook (unknown colours and ids → class 0)."""

CITYSCAPES = _cityscapes19()
"""Cityscapes 19 trainIds (255 = ignore), mapped from the 34 labelIds of `CITYSCAPES_LABELS`."""

FOREST2 = ClassMap("forest2", ("not forest", "forest"), ((40, 40, 40), (34, 139, 34)),
                   id_to_class={v: 1 for v in range(128, 256)}, colour_to_class={(0, 0, 0): 0, (255, 255, 255): 1})
"""Binary forest masks: 0 = not forest, 1 = forest (JPEG mask value ≥ 128)."""

CLASS_MAPS = {m.name: m for m in (GTA9, CITYSCAPES, FOREST2)}


def get_class_map(name: str | ClassMap) -> ClassMap:
    """Look up a class map by name ("gta9", "cityscapes19", "forest2"), or pass one through."""
    if isinstance(name, ClassMap):
        return name
    key = name.lower().replace("-", "")
    if key == "cityscapes":
        key = "cityscapes19"
    if key not in CLASS_MAPS:
        raise ValueError(f"unknown class map {name!r}; choose one of {sorted(CLASS_MAPS)}")
    return CLASS_MAPS[key]
