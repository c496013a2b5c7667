"""Label encoding: lookup tables against the naive loop, one-hot round trips."""

import numpy as np
import pytest
import torch

from helpers.classes import CITYSCAPES, CITYSCAPES_LABELS, GTA9
from helpers.encoding import (
    describe_class_balance,
    from_one_hot,
    index_to_rgb,
    naive_rgb_to_index,
    one_hot,
    palette_to_index,
    rgb_to_index,
    unknown_colours,
)


def random_label(rng, height=37, width=53, unknown_share=0.1):
    """A colour label mixing every GTA9 colour with a share of random unknown colours."""
    colours = np.array(list(GTA9.colour_to_class), dtype=np.uint8)
    label = colours[rng.integers(0, len(colours), size=(height, width))]
    unknown = rng.random((height, width)) < unknown_share
    label[unknown] = rng.integers(0, 256, size=(int(unknown.sum()), 3), dtype=np.uint8)
    return label


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lookup_table_equals_naive_loop_with_unknown_colours(seed):
    label = random_label(np.random.default_rng(seed))
    assert np.array_equal(rgb_to_index(label, GTA9), naive_rgb_to_index(label, GTA9))
    assert np.array_equal(rgb_to_index(label, GTA9, unknown=255),
                          naive_rgb_to_index(label, GTA9, unknown=255))


def test_unknown_colours_can_become_the_ignore_index():
    label = np.array([[[0, 0, 142], [1, 2, 3]]], dtype=np.uint8)
    assert rgb_to_index(label, GTA9).tolist() == [[3, 0]]
    assert rgb_to_index(label, GTA9, unknown=255).tolist() == [[3, 255]]
    assert rgb_to_index(label, CITYSCAPES).tolist() == [[13, 255]]


def test_unknown_colour_report_counts_pixels():
    label = np.zeros((4, 4, 3), dtype=np.uint8)
    label[0, :3] = (1, 2, 3)
    label[1, 0] = (9, 9, 9)
    label[2, 0] = (0, 0, 142)
    assert unknown_colours(label, GTA9) == {(1, 2, 3): 3, (9, 9, 9): 1}


def test_palette_ids_and_colours_agree_for_every_cityscapes_label():
    ids = np.array([[label.label_id for label in CITYSCAPES_LABELS]], dtype=np.uint8)
    colours = np.array([[label.colour for label in CITYSCAPES_LABELS]], dtype=np.uint8)
    assert np.array_equal(palette_to_index(ids, GTA9), rgb_to_index(colours, GTA9))


def test_palette_route_keeps_labels_that_share_a_colour_apart():
    ids = np.array([[17, 18]], dtype=np.uint8)  # pole, polegroup: same colour, different trainIds
    assert palette_to_index(ids, CITYSCAPES).tolist() == [[5, 255]]


def test_one_hot_round_trip_and_ignored_pixels():
    index = torch.randint(0, 9, (2, 5, 7))
    encoded = one_hot(index, 9)
    assert encoded.shape == (2, 9, 5, 7) and encoded.dtype == torch.float32
    assert torch.equal(encoded.sum(1), torch.ones(2, 5, 7))
    assert torch.equal(from_one_hot(encoded), index)
    index[0, 0, 0] = 255
    assert one_hot(index, 9)[0, :, 0, 0].sum() == 0


def test_index_to_rgb_inverts_rgb_to_index_for_label_colours_and_shows_display_colours():
    index = np.arange(9, dtype=np.uint8).reshape(3, 3)
    colours = index_to_rgb(index, GTA9, palette="label")
    assert np.array_equal(rgb_to_index(colours, GTA9), index)
    assert [tuple(c) for c in colours.reshape(-1, 3)] == list(GTA9.class_colours)
    assert [tuple(c) for c in index_to_rgb(index, GTA9).reshape(-1, 3)] == list(GTA9.display_colours)
    with pytest.raises(ValueError, match="palette"):
        index_to_rgb(index, GTA9, palette="pretty")
    assert tuple(index_to_rgb(np.array([[255]]), GTA9)[0, 0]) == (255, 255, 255)


def test_bad_input_shapes_are_rejected():
    with pytest.raises(ValueError, match="H×W×3 uint8"):
        rgb_to_index(np.zeros((4, 4), dtype=np.uint8), GTA9)
    with pytest.raises(ValueError, match="uint8 palette"):
        palette_to_index(np.zeros((4, 4), dtype=np.int32), GTA9)


def test_label_to_index_takes_ids_or_colours():
    from helpers.encoding import label_to_index

    ids = np.array([[26, 7], [0, 24]], dtype=np.uint8)  # car, road, unlabeled, person
    expected = np.array([[3, 2], [0, 6]], dtype=np.uint8)
    assert np.array_equal(label_to_index(ids, GTA9), expected)
    assert np.array_equal(label_to_index(GTA9.colour_array("label")[expected], GTA9), expected)


def test_describe_class_balance_lists_each_class_and_names_the_largest_and_the_rarest():
    names = ["everything else", "road", "cars", "busses"]
    frequency, weights = np.array([0.6, 0.3, 0.1, 0.0]), np.array([0.2, 0.4, 1.0, 0.5])
    lines = describe_class_balance(frequency, weights, names).split("\n")
    assert lines[0] == "everything else   60.00%   weight   0.20" and lines[3] == "busses             0.00%   weight   0.50"
    assert lines[4] == ("everything else and road cover 90% of the pixels; the rarest class, cars, 10.00% — 6× less than "
                        "everything else — and gets the largest weight, 1.00")
    lines = describe_class_balance(frequency, np.array([0.2, 0.4, 1.0, 2.0]), names, list_all_up_to=3).split("\n")
    assert len(lines) == 4 and lines[-1].endswith("and gets a weight of 1.00, below the largest, 2.00")
    assert describe_class_balance(np.array([1.0, 0.0]), np.array([1.0, 1.0]), names[:2]).endswith(
        "only 1 class present: no balance to describe")
