import pytest
import torch

from helpers.baselines import BINS, colour_bins, fit_colour_lookup, predict_colour_lookup


def frames(*colours):
    """One 1×len(colours) frame per call: each pixel the given RGB (0-255)."""
    return torch.tensor(colours, dtype=torch.float32).T.reshape(1, 3, 1, len(colours)) / 255


def test_colour_bins_quantise_to_32_levels_per_channel():
    bins = colour_bins(frames((0, 0, 0), (7, 7, 7), (8, 0, 0), (0, 8, 0), (0, 0, 8), (255, 255, 255)))
    assert bins.tolist() == [[[0, 0, 1024, 32, 1, BINS - 1]]]


def test_lookup_gives_each_colour_its_most_frequent_class():
    # grey (128) is road (2) twice and curb (1) once; green is class 0; the 255 pixel is ignored
    images = frames((128, 128, 128), (128, 128, 128), (128, 128, 128), (0, 200, 0), (0, 200, 0))
    targets = torch.tensor([[[2, 2, 1, 0, 255]]])
    table = fit_colour_lookup(images, targets, num_classes=3)
    assert table.shape == (BINS,)
    grey, green = colour_bins(frames((128, 128, 128), (0, 200, 0)))[0, 0].tolist()
    assert table[grey] == 2 and table[green] == 0
    # an unseen colour gets the most frequent class of the labelled pixels: road, 2 of 4
    assert predict_colour_lookup(table, frames((255, 0, 0), (130, 129, 128), (0, 201, 0))).tolist() == [[[2, 2, 0]]]


def test_lookup_refuses_mismatched_or_unlabelled_targets():
    images = frames((0, 0, 0), (9, 9, 9))
    with pytest.raises(ValueError, match="do not match"):
        fit_colour_lookup(images, torch.zeros(1, 1, 3, dtype=torch.long), num_classes=2)
    with pytest.raises(ValueError, match="no labelled pixel"):
        fit_colour_lookup(images, torch.full((1, 1, 2), 255), num_classes=2)
