"""01_data_cleaning: the checks find the injected defects, the split is clean, a random split leaks."""

from __future__ import annotations

DEFECT_CHECKS = ("size_mismatch", "empty_label", "misaligned", "swapped")  # the kinds the tiny set holds
SPLITS = {"train", "val", "pseudo_test", "test"}
LOADER_COLUMNS = {"frame", "image", "label", "sequence", "split"}


def check(results: dict) -> None:
    assert results["frames"] == 72 and results["sequences"] == 12
    assert results["frame_size"] == [160, 88]
    assert results["thresholds_fitted"] is True  # not the 480×264 the defaults were tuned at
    detection = results["detection"]
    for name in DEFECT_CHECKS:  # every defect type of the tiny set is found, with no false alarm
        assert detection[name]["actual"] >= 1, name
        assert detection[name]["recall"] >= 0.9, (name, detection[name])
        assert detection[name]["precision"] >= 0.8, (name, detection[name])
    assert set(DEFECT_CHECKS) <= set(results["defect_types_scored"])
    assert results["min_defect_recall"] >= 0.9 and results["min_defect_precision"] >= 0.8
    assert detection["fog"]["recall"] >= 0.9 and detection["fog"]["precision"] >= 0.8
    assert results["flagged_by_check"]["unknown_colours"] == 0  # none injected, none invented
    boundaries = results["boundaries"]
    assert boundaries["actual"] == 11  # 12 sequences in a row
    assert boundaries["recall"] >= 0.9 and boundaries["precision"] >= 0.9
    assert results["clean_frames"] == 72 - sum(detection[name]["actual"] for name in DEFECT_CHECKS)
    assert set(results["split_frames"]) == SPLITS
    assert sum(results["split_frames"].values()) == results["clean_frames"]
    assert sum(results["split_sequences"].values()) == 12  # each sequence in exactly one split
    assert results["sequences_in_two_splits"] == 0
    assert LOADER_COLUMNS <= set(results["manifest_columns"])
    assert results["manifest_path"].endswith("manifest.csv")
    # a random frame split puts each test frame's neighbour into training; a sequence split does not
    assert results["leak_median_distance_random"] < 0.5 * results["leak_median_distance_sequence"]
    assert results["leak_median_distance_random"] < 2 * results["neighbour_difference"]
    assert results["leak_same_sequence_share_random"] >= 0.8
    assert results["leak_same_sequence_share_sequence"] == 0
    assert 0.0 < results["shift_changed_share"] < 0.5  # a shifted label changes pixels along the edges only
