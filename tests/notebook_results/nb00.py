"""00_getting_started: the tiny street set is found (not regenerated), described and browsable."""

from __future__ import annotations


def check(results: dict) -> None:
    assert results["dataset"] == "synthetic-streets"
    assert results["dataset_generated"] is False  # the tests' data set exists: nothing is generated
    assert results["num_frames"] == 72  # 12 sequences × 6 frames
    assert results["num_sequences"] == 12
    assert results["image_size"] == [160, 88]
    assert results["label_mode"] == "P"  # palette PNG, index = Cityscapes labelId
    assert set(results["scene_counts"]) == {"city", "suburb", "countryside", "highway"}
    assert sum(results["scene_counts"].values()) == 12
    assert sum(results["weather_counts"].values()) == 12
    assert sum(results["defect_counts"].values()) == 72
    assert results["defect_counts"]["none"] < 72  # some injected defects are listed
    assert 0 < results["browser_frames"] <= 72
    assert results["num_classes_gta9"] == 9
    assert results["num_classes_cityscapes"] == 19
    assert results["profile"] == "smoke"
