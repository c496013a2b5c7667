"""Manifests: the table of frames (frame, image, label, sequence, split …), its CSV file and its splits.

`read_manifest` reads one back with frame ids kept as strings, checks its stamp (written beside it
by `helpers.datasets.write_manifest`) against the CSV's bytes, and refuses tables that would be
read wrongly (`check_manifest`): missing columns, a frame listed twice, blank or unknown splits.
`split_by_sequence` assigns train / val / pseudo_test / test so that no sequence (a run of
near-duplicate frames) lands in two splits; `random_frame_split` shows what goes wrong without.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "pseudo_test", "test")
DEFAULT_FRACTIONS = {"train": 0.6, "val": 0.15, "pseudo_test": 0.1, "test": 0.15}
MANIFEST_COLUMNS = ("frame", "image", "label", "sequence", "scene", "weather", "defect", "split")


class StaleManifestError(ValueError):
    """A manifest stamped for another data set, or for this one before it changed."""


def stamp_path(path: str | Path) -> Path:
    """Where the stamp of manifest `path` lives: manifest.csv → manifest.stamp.json."""
    path = Path(path)
    return path.with_name(path.stem + ".stamp.json")



WRITTEN_BY = "notebook 01_data_cleaning (the run folder's manifest.csv) or data_scripts/prepare_gta5.py (gta5)"


def read_manifest_stamp(path: str | Path) -> dict | None:
    """The stamp written beside manifest `path` by `write_manifest`, checked against the CSV; None if unstamped."""
    path, stamp_file = Path(path), stamp_path(path)
    if not stamp_file.is_file():
        return None
    try:
        stamp = json.loads(stamp_file.read_text())
        expected = stamp["sha256"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise StaleManifestError(f"the manifest stamp {stamp_file} is damaged ({error}); write the manifest "
                                 f"again with {WRITTEN_BY}, or delete the stamp to trust {path.name} as it is") from error
    if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
        raise StaleManifestError(f"{path} does not match its stamp {stamp_file.name} (edited by hand, or written by "
                                 f"an interrupted run): write it again with {WRITTEN_BY}, or delete "
                                 f"{stamp_file.name} to trust the CSV as it is")
    return stamp


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest CSV written by `write_manifest`, keeping frame ids as strings.

    Its stamp (or None) is in `.attrs["stamp"]` and the file in `.attrs["source"]`. A missing,
    empty, unreadable or column-less file raises an error that names it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest {path} not found; notebook 01_data_cleaning writes it")
    try:
        manifest = pd.read_csv(path, dtype={"frame": str, "image": str, "label": str, "split": str},
                               keep_default_na=False, na_values={"sequence": [""]})
    except pd.errors.EmptyDataError as error:
        raise ValueError(f"manifest {path} is empty: write it again with {WRITTEN_BY}") from error
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"manifest {path} is not a readable CSV table ({str(error).splitlines()[0]}): "
                         f"write it again with {WRITTEN_BY}") from error
    if "split" not in manifest:
        manifest["split"] = ""
    manifest.attrs.update(stamp=read_manifest_stamp(path), source=str(path))
    check_manifest(manifest, str(path))
    return manifest


def _rows(positions, source: str | None) -> str:
    """'lines 3, 7' of a CSV file (the header is line 1), or 'rows 1, 5' of a table."""
    numbers = [int(p) + 2 for p in positions] if source else [int(p) for p in positions]
    shown = ", ".join(str(n) for n in numbers[:6]) + (f" and {len(numbers) - 6} more" if len(numbers) > 6 else "")
    return f"{'line' if source else 'row'}{'s' if len(numbers) > 1 else ''} {shown}"


def check_manifest(manifest: pd.DataFrame, source: str | None = None) -> None:
    """Refuse a manifest that would be read wrongly: missing columns, a frame listed twice, blank or unknown splits.

    `source` (the CSV file) is named in the message, with the offending lines.
    """
    where = f"manifest {source}" if source else "the manifest"
    missing = [column for column in ("frame", "image", "label") if column not in manifest]
    if missing:
        raise ValueError(f"{where} has no column {', '.join(missing)} (it has {list(manifest.columns)}); a manifest "
                         f"lists frame, image, label (paths relative to the data set folder), sequence and split. "
                         f"Write it again with {WRITTEN_BY}")
    table = manifest.reset_index(drop=True)
    frames = table["frame"].astype(str)
    twice = frames[frames.duplicated(keep=False)]
    if len(twice):
        first = twice.iloc[0]
        positions = np.flatnonzero(frames.to_numpy() == first)
        splits = f" (splits {', '.join(map(repr, table['split'].iloc[positions]))})" if "split" in table else ""
        raise ValueError(f"{where}: frame {first} is listed {len(positions)} times, on {_rows(positions, source)}{splits}"
                         f"; {twice.nunique()} frame(s) are listed more than once. Keep one row per frame.")
    if "split" not in table:
        return
    split = table["split"].fillna("").astype(str)
    blank = np.flatnonzero(split.to_numpy() == "")
    if 0 < len(blank) < len(split):
        raise ValueError(f"{where}: {_rows(blank, source)} have no split while the others do; fill in one of "
                         f"{', '.join(SPLITS)} or remove those rows (or leave every split blank to split by sequence)")
    unknown = np.flatnonzero(~split.isin(SPLITS + ("",)).to_numpy())
    if len(unknown):
        raise ValueError(f"{where}: unknown split {split.iloc[unknown[0]]!r} on {_rows(unknown, source)}; "
                         f"use one of {', '.join(SPLITS)}")




# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------

def check_fractions(fractions: dict[str, float] | Sequence[float] | None) -> dict[str, float]:
    """Validate split fractions: names from SPLITS, non-negative, summing to 1 (default 0.6/0.15/0.1/0.15)."""
    if fractions is None:
        return dict(DEFAULT_FRACTIONS)
    if not isinstance(fractions, dict):
        fractions = list(fractions)
        if len(fractions) != len(SPLITS):
            raise ValueError(f"give {len(SPLITS)} fractions for {SPLITS}, got {fractions}")
        fractions = dict(zip(SPLITS, fractions))
    unknown = set(fractions) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split name(s) {sorted(unknown)}; use {SPLITS}")
    checked = {name: float(fractions.get(name, 0.0)) for name in SPLITS}
    if any(value < 0 or not math.isfinite(value) for value in checked.values()):
        raise ValueError(f"split fractions must be finite and ≥ 0, got {checked}")
    if abs(sum(checked.values()) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {sum(checked.values()):.4f} from {checked}")
    return checked


def _apportion(total: int, fractions: dict[str, float]) -> dict[str, int]:
    """Split `total` items by fractions with the largest-remainder rule; every positive split gets ≥ 1."""
    quotas = {name: total * f for name, f in fractions.items()}
    counts = {name: int(math.floor(q)) for name, q in quotas.items()}
    by_remainder = sorted(quotas, key=lambda name: quotas[name] - counts[name], reverse=True)
    for name in by_remainder[: total - sum(counts.values())]:
        counts[name] += 1
    positive = [name for name in fractions if fractions[name] > 0]
    if total >= len(positive):
        for name in positive:
            if counts[name] == 0:
                donor = max(counts, key=counts.get)
                counts[donor] -= 1
                counts[name] = 1
    return counts


def _stratified_counts(sizes: dict[str, int], fractions: dict[str, float],
                       rng: np.random.Generator) -> dict[tuple[str, str], int]:
    """How many sequences of each stratum go to each split.

    Each stratum gets the floor of its ideal share per split; the rest is handed out by largest
    remainder (random tie-break) so that the split totals match the overall fractions.
    """
    targets = _apportion(sum(sizes.values()), fractions)
    quota = {(s, k): sizes[s] * fractions[k] for s in sizes for k in SPLITS}
    count = {key: int(math.floor(q)) for key, q in quota.items()}
    for k in SPLITS:  # a split whose floors exceed its target (it gave a sequence to an empty split) gives them back
        while sum(count[s, k] for s in sizes) > targets[k]:
            s = max((s for s in sizes if count[s, k] > 0), key=lambda name: count[name, k] - quota[name, k])
            count[s, k] -= 1
    row_left = {s: sizes[s] - sum(count[s, k] for k in SPLITS) for s in sizes}
    col_left = {k: targets[k] - sum(count[s, k] for s in sizes) for k in SPLITS}
    jitter = dict(zip(quota, rng.random(len(quota))))
    for s, k in sorted(quota, key=lambda key: (quota[key] - count[key], jitter[key]), reverse=True):
        if row_left[s] > 0 and col_left[k] > 0:
            count[s, k] += 1
            row_left[s] -= 1
            col_left[k] -= 1
    for s in sizes:  # rare leftovers: the split with the most room
        for _ in range(row_left[s]):
            k = max(SPLITS, key=lambda name: col_left[name])
            count[s, k] += 1
            col_left[k] -= 1
    return count


def split_by_sequence(manifest: pd.DataFrame, fractions: dict[str, float] | Sequence[float] | None = None,
                      seed: int = 0, stratify: str | None = "scene", keep_test: bool = False) -> pd.DataFrame:
    """Assign whole sequences to train / val / pseudo_test / test, stratified by scene when known.

    Fractions count sequences. Each scene type is spread over the splits in proportion, and the
    split sizes match the fractions overall (largest-remainder rounding). Same seed, same split.
    `keep_test=True` keeps the frames whose split is already "test" (a data set's official
    held-out set, as ADE20K's validation images) and splits the others over train, val and
    pseudo_test in the proportions of their fractions.
    """
    fractions = check_fractions(fractions)
    held = (manifest["split"].fillna("").astype(str) == "test").to_numpy() if keep_test and "split" in manifest \
        else np.zeros(len(manifest), dtype=bool)
    if held.any():
        others = sum(value for name, value in fractions.items() if name != "test")
        if others <= 0:
            raise ValueError(f"the fractions {fractions} leave nothing for train, val and pseudo_test")
        rest = {name: (0.0 if name == "test" else value / others) for name, value in fractions.items()}
        result = manifest.copy()
        result.loc[~held, "split"] = split_by_sequence(manifest[~held], rest, seed, stratify)["split"].to_numpy()
        return result
    source = manifest.attrs.get("source")
    where = f"manifest {source}" if source else "the manifest"
    if "sequence" not in manifest:
        raise ValueError(f"{where} has no 'sequence' column to split by: add one (frames of one drive share a "
                         f"number), fill in the 'split' column, or use random_frame_split")
    blank = np.flatnonzero(manifest["sequence"].isna().to_numpy())
    if len(blank):
        raise ValueError(f"{where}: {_rows(blank, source)} have no sequence; fill in the drive number of each frame "
                         f"(frames of one drive share it) or fill in the 'split' column, so no split is needed")
    sequences = manifest.groupby("sequence", sort=True).first().reset_index()
    if stratify and stratify in sequences and sequences[stratify].notna().all():
        strata = sequences[stratify].astype(str).to_numpy()
    else:
        strata = np.full(len(sequences), "all")
    rng = np.random.default_rng(seed)
    members = {s: rng.permutation(sequences["sequence"].to_numpy()[strata == s]) for s in sorted(set(strata))}
    count = _stratified_counts({s: len(m) for s, m in members.items()}, fractions, rng)
    split_of: dict[int, str] = {}
    for s, shuffled in members.items():
        cuts = np.cumsum([0] + [count[s, k] for k in SPLITS])
        for k, start, stop in zip(SPLITS, cuts[:-1], cuts[1:]):
            split_of.update({int(sequence): k for sequence in shuffled[start:stop]})
    result = manifest.copy()
    result["split"] = [split_of[int(sequence)] for sequence in result["sequence"]]
    return result


def random_frame_split(manifest: pd.DataFrame, fractions: dict[str, float] | Sequence[float] | None = None,
                       seed: int = 0) -> pd.DataFrame:
    """Assign frames (not sequences) to splits at random: near-duplicate neighbours leak across splits."""
    fractions = check_fractions(fractions)
    counts = _apportion(len(manifest), fractions)
    labels = np.concatenate([[k] * counts[k] for k in SPLITS]).astype(object)
    result = manifest.copy()
    result["split"] = labels[np.random.default_rng(seed).permutation(len(manifest))]
    return result
