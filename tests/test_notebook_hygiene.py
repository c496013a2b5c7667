"""Notebook hygiene: the notebook contract of the workbook, checked on the committed files."""

from __future__ import annotations

import re

import nbformat
import pytest

from helpers.workbook import NOTEBOOK_DIR, NOTEBOOKS

PARAMETERS = ("PROFILE", "DATASET", "DATA_ROOT", "DEVICE", "SEED", "RUN_DIR")


def load(name):
    return nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)


def test_every_notebook_is_known_to_the_runner():
    on_disk = sorted(path.stem for path in NOTEBOOK_DIR.glob("*.ipynb"))
    assert on_disk == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_follows_the_contract(name):
    notebook = load(name)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    first, parameters, bootstrap = notebook.cells[:3]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert f"colab.research.google.com/github/unet-workbook/unet-workbook/blob/main/notebooks/{name}.ipynb" in first.source
    assert "Runtime" in first.source and "learn" in first.source
    assert parameters.cell_type == "code" and "parameters" in parameters.metadata.get("tags", [])
    assert 'os.environ.get("WORKBOOK_PROFILE", "quick")' in parameters.source
    for variable in PARAMETERS:
        assert re.search(rf"^{variable} = ", parameters.source, re.MULTILINE), f"{name}: no {variable} parameter"
    assert f'start("{name}"' in bootstrap.source and "google.colab" in bootstrap.source
    assert any("record(" in cell.source for cell in notebook.cells if cell.cell_type == "code")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_only_checked_cells_carry_outputs(name):
    for index, cell in enumerate(load(name).cells):
        if cell.cell_type != "code":
            continue
        checked = "nbval-check-output" in cell.metadata.get("tags", [])
        assert checked or not cell.outputs, f"{name}: cell {index} has outputs but no nbval-check-output tag"
