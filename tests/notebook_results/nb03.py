"""03_unet_build: the notebook's blocks equal helpers.models, shapes and sizes at 400×300, colour vs U-Net."""

from __future__ import annotations

import math

import torch

from helpers.models import UNet, count_parameters


def check(results: dict) -> None:
    assert results["unet_matches_reference"] is True
    assert results["parameters_match_helpers"] is True
    with torch.device("meta"):
        reference = UNet(3, 9, base=64)
    assert results["unet_parameters_base64"] == count_parameters(reference) == 31_038_153
    per_block = results["parameters_per_block"]
    assert sum(per_block.values()) == results["unet_parameters_base64"]
    assert max(per_block, key=per_block.get) == "down4"  # the bottleneck holds the most
    assert 0 < results["profile_unet_parameters"] < results["unet_parameters_base64"]

    table = results["shape_table"]
    assert table[0][2] == "3×300×400" and table[-1][2] == "9×300×400"  # logits at the input's size
    assert results["output_shape_400x300"] == [9, 300, 400]
    assert [step.split(":")[0] for step in results["padding_steps"]] == ["up1", "up2"]
    assert [step.split(":")[0] for step in results["padding_steps_100x75"]] == ["up1", "up2", "up3", "up4"]
    assert "column" in results["padding_steps_100x75"][1]  # 25 columns pooled to 12, up-sampled to 24
    assert any(row[2] == "1024×18×25" for row in table)  # the bottleneck: 300 rows → 18

    assert 400 < results["activation_mib_400x300_batch1"] < 700
    batches = results["largest_batch_400x300_by_gpu_gib"]
    assert batches["2"] == 1  # why the course trained with batch 1 on a small GPU
    assert batches["2"] < batches["4"] < batches["8"] < batches["16"]
    assert results["receptive_field"] == 200

    assert results["untrained_entropy_ratio"] > 0.9  # near-uniform before training
    assert 1 / 9 <= results["untrained_mean_top_probability"] < 0.3

    for key in ("colour_pixel_accuracy", "colour_miou", "colour_lookup_pixel_accuracy", "colour_lookup_miou",
                "unet_pixel_accuracy", "unet_miou"):
        assert 0.0 <= results[key] <= 1.0, f"{key} = {results[key]}"
    assert results["unet_pixel_accuracy"] > 0.2 and results["unet_miou"] > 0.03  # above chance after a short run
    assert not math.isnan(results["colour_miou"])
    assert isinstance(results["unet_beats_colour"], bool)
    assert results["context_images"] >= 8 and results["context_epochs"] >= 1
    assert isinstance(results["unet_beats_lookup"], bool)
    assert results["unet_beats_lookup"] == (results["unet_miou"] > results["colour_lookup_miou"])
