"""Shared fixtures: tiny generated data sets, made once per test session.

`streets_root` holds 8 sequences × 6 frames at 96×64 with every defect kind and some weather;
`forest_root` holds 12 forest patches. Decoded-data caches go to a temporary folder.
"""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("WORKBOOK_QUIET", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)

STREETS_SIZE = (96, 64)
STREETS_SEQUENCES = 8
STREETS_FRAMES = 6


@pytest.fixture(autouse=True)
def _keep_the_warning_format(monkeypatch):
    """`workbook.start` switches warnings to their short form for the whole process: undo it after each test."""
    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)


@pytest.fixture(autouse=True)
def _keep_the_data_root(monkeypatch):
    """`workbook.start(data_root=...)` and the final-run command set WORKBOOK_DATA for the whole process: restore it
    after each test, so that a later test (a notebook run above all) reads the data set it was given."""
    if "WORKBOOK_DATA" in os.environ:
        monkeypatch.setenv("WORKBOOK_DATA", os.environ["WORKBOOK_DATA"])


@pytest.fixture(scope="session", autouse=True)
def _cache_in_tmp(tmp_path_factory):
    """Keep decoded-data caches out of the learner's data/ folder."""
    previous = os.environ.get("WORKBOOK_CACHE")
    os.environ["WORKBOOK_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        os.environ.pop("WORKBOOK_CACHE", None)
    else:
        os.environ["WORKBOOK_CACHE"] = previous


@pytest.fixture(scope="session")
def streets_root(tmp_path_factory):
    """A tiny synthetic-streets data set (Playing for Data layout) with every defect kind."""
    from helpers.synthetic import generate_streets

    root = tmp_path_factory.mktemp("data") / "synthetic-streets"
    generate_streets(root, sequences=STREETS_SEQUENCES, frames_per_sequence=STREETS_FRAMES,
                     size=STREETS_SIZE, seed=3, defect_rate=0.25, weather_rate=0.5, progress=False)
    return root


@pytest.fixture(scope="session")
def streets_meta(streets_root) -> pd.DataFrame:
    """meta.csv of `streets_root`."""
    return pd.read_csv(streets_root / "meta.csv")


@pytest.fixture(scope="session")
def forest_root(tmp_path_factory):
    """A tiny synthetic-forest data set (Kaggle layout) of 12 patches at 64 px."""
    from helpers.synthetic import generate_forest

    root = tmp_path_factory.mktemp("data") / "synthetic-forest"
    generate_forest(root, count=12, size=64, seed=0, progress=False)
    return root
