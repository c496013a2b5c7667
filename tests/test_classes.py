"""Class maps: Cityscapes table, the GTA9 merge, forest."""

import numpy as np
import pytest

from helpers.classes import (
    ADE150,
    CITYSCAPES,
    CITYSCAPES_LABELS,
    FOREST2,
    GTA9,
    LABEL_ID,
    VOC21,
    cityscapes_palette,
    get_class_map,
)


def test_cityscapes_table_has_34_label_ids_and_19_train_ids():
    assert [label.label_id for label in CITYSCAPES_LABELS] == list(range(34))
    assert CITYSCAPES.num_classes == 19
    assert CITYSCAPES.class_names[0] == "road" and CITYSCAPES.class_names[18] == "bicycle"
    assert CITYSCAPES.ignore_index == 255
    assert CITYSCAPES.id_lut()[LABEL_ID["polegroup"]] == 255
    assert CITYSCAPES.id_lut()[LABEL_ID["pole"]] == 5


def test_gta9_merge_is_the_design_table():
    assert GTA9.class_names == ("everything else", "curb", "road", "cars", "trucks", "motorcycle",
                                "humans", "busses", "tram/train")
    expected_colours = {(244, 35, 232): 1, (128, 64, 128): 2, (0, 0, 142): 3, (0, 0, 70): 4,
                        (0, 0, 230): 5, (220, 20, 60): 6, (255, 0, 0): 6, (0, 60, 100): 7,
                        (0, 80, 100): 8, (0, 0, 0): 0}
    assert GTA9.colour_to_class == expected_colours
    lut = GTA9.id_lut()
    assert lut[LABEL_ID["person"]] == lut[LABEL_ID["rider"]] == 6
    assert lut[LABEL_ID["sky"]] == 0 and lut[LABEL_ID["building"]] == 0
    assert lut[200] == 0  # unknown ids fall into "everything else"


def test_palette_puts_each_colour_at_its_label_id():
    palette = np.array(cityscapes_palette()).reshape(256, 3)
    assert tuple(palette[LABEL_ID["car"]]) == (0, 0, 142)
    assert tuple(palette[LABEL_ID["road"]]) == (128, 64, 128)
    assert tuple(palette[100]) == (0, 0, 0)


def test_forest_thresholds_at_128():
    lut = FOREST2.id_lut()
    assert lut[127] == 0 and lut[128] == 1 and lut[255] == 1 and lut[3] == 0


def test_get_class_map_by_name():
    assert get_class_map("gta9") is GTA9
    assert get_class_map("cityscapes") is CITYSCAPES
    assert get_class_map(FOREST2) is FOREST2
    assert get_class_map("ADE20K") is ADE150 and get_class_map("voc") is VOC21
    with pytest.raises(ValueError, match=r"unknown class map 'ade21k'.*gta9.*ade150 \(ade20k\)"):
        get_class_map("ade21k")


def smallest_colour_distance(colours, cvd_type: str | None) -> float:
    """The closest pair of colours in CAM02-UCS units, as seen with full `cvd_type` colour blindness (None: normal)."""
    from colorspacious import cspace_convert

    rgb = np.array(colours, dtype=float) / 255
    if cvd_type is not None:
        rgb = np.clip(cspace_convert(rgb, {"name": "sRGB1+CVD", "cvd_type": cvd_type, "severity": 100}, "sRGB1"), 0, 1)
    ucs = cspace_convert(rgb, "sRGB1", "CAM02-UCS")
    distances = np.linalg.norm(ucs[:, None] - ucs[None], axis=-1)
    return float(distances[np.triu_indices(len(colours), 1)].min())


@pytest.mark.parametrize("cvd_type", [None, "deuteranomaly", "protanomaly", "tritanomaly"])
def test_gta9_display_colours_stay_apart_for_every_reader(cvd_type):
    assert smallest_colour_distance(GTA9.display_colours, cvd_type) >= 15
    if cvd_type is None:  # the label colours are what made a display palette necessary
        assert smallest_colour_distance(GTA9.class_colours, cvd_type) < 11


def test_display_colours_leave_label_colours_alone():
    assert GTA9.class_colours[4] == (0, 0, 70) and GTA9.class_colours[7] == (0, 60, 100)  # Cityscapes truck, bus
    assert GTA9.display_colours != GTA9.class_colours and len(GTA9.display_colours) == GTA9.num_classes
    assert CITYSCAPES.display_colours == CITYSCAPES.class_colours  # the benchmark's own colours
    np.testing.assert_array_equal(GTA9.colour_array("label"), np.array(GTA9.class_colours, np.uint8))
    np.testing.assert_array_equal(GTA9.colour_array(), np.array(GTA9.display_colours, np.uint8))


def test_a_hue_for_tram_would_sit_closer_than_the_grey():
    """The third grey is the best choice: every unused Okabe–Ito or Tol colour brings some reader's closest pair nearer."""
    readers = (None, "deuteranomaly", "protanomaly", "tritanomaly")
    worst_with_grey = min(smallest_colour_distance(GTA9.display_colours, reader) for reader in readers)
    unused = [(230, 159, 0), (0, 158, 115), (204, 121, 167), (240, 228, 66), (68, 119, 170), (102, 204, 238),
              (34, 136, 51), (238, 102, 119), (170, 51, 119), (68, 170, 153), (153, 153, 51), (136, 34, 85)]
    for hue in unused:
        palette = list(GTA9.display_colours[:8]) + [hue]
        assert min(smallest_colour_distance(palette, reader) for reader in readers) < worst_with_grey, hue
