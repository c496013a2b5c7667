"""Test-session set-up shared by the unit tests and the notebook runs (papermill and nbval).

Notebooks under test run in the smoke profile on a tiny generated data set, quietly, and write
into a temporary run folder: never into the learner's data/ or runs/.
"""

from __future__ import annotations

import os
import tempfile


def pytest_configure(config):
    os.environ.setdefault("WORKBOOK_QUIET", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    if not os.environ.get("WORKBOOK_TEST_RUNS"):
        os.environ["WORKBOOK_TEST_RUNS"] = tempfile.mkdtemp(prefix="workbook-runs-")


def pytest_collection_modifyitems(session, config, items):
    """Point notebook runs at the tiny data set, only when a notebook is about to run."""
    if any(item.path.suffix == ".ipynb" or item.get_closest_marker("notebook") for item in items):
        from helpers.workbook import smoke_data_root

        os.environ["WORKBOOK_DATA"] = str(smoke_data_root())
        os.environ["WORKBOOK_PROFILE"] = "smoke"
        os.environ["WORKBOOK_RUNS"] = os.environ["WORKBOOK_TEST_RUNS"]
