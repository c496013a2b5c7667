"""09_gaussian_sobel_bonus: the numpy filters equal OpenCV and smoothing cuts noise (timings are reported, not asserted)."""

from __future__ import annotations


def check(results: dict) -> None:
    assert results["kernel_product_max_error"] < 1e-12  # outer product of 1-D kernels == 2-D formula
    for key in ("blur_2d_max_error_vs_opencv", "blur_separable_max_error_vs_opencv",
                "sobel_max_error_vs_opencv", "conv_layer_max_error"):
        assert 0.0 <= results[key] < 1e-4, f"{key} = {results[key]}"
    assert results["blur_2d_ms"] > 0 and results["blur_separable_ms"] > 0
    assert 0.0 < results["flat_share"] <= 1.0
    assert results["noise_reduction_ratio"] > 1.5
    assert results["edge_to_noise_smoothed"] > results["edge_to_noise_raw"] > 0
    # gradient descent asked for Sobel x finds it where noise exercises every weight; a clean frame does no better
    assert results["learned_sobel_cosine_noisy"] > 0.999 and results["learned_sobel_max_error_noisy"] < 0.05
    assert 0.5 < results["learned_sobel_cosine_clean"] <= results["learned_sobel_cosine_noisy"] + 1e-9
    assert isinstance(results["checkpoint_used"], bool)
    out_channels, in_channels, height, width = results["first_layer_shape"]
    assert in_channels == 3 and out_channels >= 1
    if (height, width) == (3, 3):
        for key in ("best_cosine_sobel_x", "best_cosine_sobel_y", "cosine_chance_level"):
            assert 0.0 < results[key] <= 1.0 + 1e-9, f"{key} = {results[key]}"
        assert results["cosine_chance_level"] <= results["cosine_chance_95"] <= 1.0
    # on a straight edge Sobel responds 8× the central difference: 4 on each side against ½
    assert results["sobel_to_central_on_edge"] == 8
    # a trained layer is compared with its own start (rebuilt from the seed): it moved, by less than it is large
    if results["checkpoint_used"]:
        assert 0.0 < results["first_layer_moved"] < 10.0, results["first_layer_moved"]
        assert 0.0 < results["first_layer_turned_degrees"] <= 90.0, results["first_layer_turned_degrees"]
    else:
        assert results["first_layer_moved"] == 0.0
        assert results["first_layer_turned_degrees"] < 0.1  # its own start: no change of shape
    # the shipped reference model's first layer, where it applies (quick profile, the streets' classes)
    reference = results["reference_first_layer"]
    if results["_stamp"]["profile"] != "quick":
        assert reference is None
    elif reference is not None:
        assert reference["epochs"] > 40 and 0.0 < reference["moved"] and 0.0 < reference["best_cosine"] <= 1.0 + 1e-9
        assert 0.0 < reference["turned"] <= 90.0
