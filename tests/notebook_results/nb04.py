"""04_overfit_one_image: one image is memorised, ten are learned, the broken setups look broken."""

from __future__ import annotations

import math


def check(results: dict) -> None:
    assert results["one_image_pixel_accuracy"] >= results["required_accuracy"] >= 0.8
    assert results["one_image_train_accuracy"] >= 0.9
    assert results["one_image_final_loss"] < 0.25 * results["one_image_first_loss"]
    assert results["one_image_classes_present"] >= 3

    assert results["ten_images_final_loss"] < 0.5 * results["ten_images_first_loss"]
    assert results["ten_images_pixel_accuracy"] > 0.4
    assert results["ten_images_size"][0] * 2 == results["one_image_size"][0]

    # labels of other images, as many steps as the healthy run: stuck above the floor the mixed labels allow,
    # below the healthy run's accuracy, closer to the average street than to the true labels
    assert results["shuffled_steps"] == results["ten_images_steps"]
    assert 0 < results["other_labels_floor"] < results["shuffled_tail_loss"] < results["shuffled_first_loss"]
    assert results["shuffled_tail_loss"] > 1.2 * results["healthy_tail_loss"]
    assert results["shuffled_accuracy_true_labels"] < results["ten_images_pixel_accuracy"]
    assert results["average_street_accuracy"] < results["ten_images_pixel_accuracy"]
    assert results["shuffled_matches_average_street"] > results["shuffled_accuracy_true_labels"]
    below = results["healthy_below_floor_step"]
    assert below is None or 1 <= below <= results["ten_images_steps"]
    # a learning rate far too high: the loss explodes and stays above chance level
    assert results["high_lr_peak_loss"] > 100 * results["ten_images_first_loss"]
    assert results["high_lr_final_loss"] is None or results["high_lr_final_loss"] > math.log(9)
    # batch norm is what kept it finite: the same rate without batch norm overflows within those steps
    assert results["high_lr_finite"] is True
    assert results["high_lr_no_norm_finite"] is False
    assert 1 <= results["high_lr_no_norm_steps"] <= results["fail_steps"]
    # NaN from the data: fit's guard stops training and leaves parameters and buffers finite and as they were
    assert results["nan_guard_stopped"] is True
    assert results["nan_guard_weights_finite"] is True
    assert results["nan_guard_weights_untouched"] is True
    # random weights are no uniform guess: both runs start above the chance level
    assert results["chance_loss"] == math.log(9)
    assert results["one_image_first_loss"] > results["chance_loss"] < results["ten_images_first_loss"]
    # far more parameters than pixels: what makes memorising one image possible
    assert results["one_image_parameters"] > 10 * results["one_image_pixels"] > 0
