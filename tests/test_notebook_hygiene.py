"""Notebook hygiene: the notebook contract of the workbook, checked on the committed files."""

from __future__ import annotations

import json
import re

import nbformat
import pytest

from helpers import notebooks
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
    first, parameters, bootstrap, start = notebook.cells[:4]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert f"({notebooks.badge_url(name)})" in first.source
    assert "Runtime" in first.source and "learn" in first.source
    assert parameters.cell_type == "code" and "parameters" in parameters.metadata.get("tags", [])
    assert 'os.environ.get("WORKBOOK_PROFILE", "quick")' in parameters.source
    for variable in PARAMETERS:
        assert re.search(rf"^{variable} = ", parameters.source, re.MULTILINE), f"{name}: no {variable} parameter"
    assert bootstrap.source == notebooks.bootstrap_source(), f"{name}: run python -m helpers.workbook normalize"
    assert start.cell_type == "code" and f'start("{name}"' in start.source
    assert any("record(" in cell.source for cell in notebook.cells if cell.cell_type == "code")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_only_checked_cells_carry_outputs(name):
    for index, cell in enumerate(load(name).cells):
        if cell.cell_type != "code":
            continue
        checked = "nbval-check-output" in cell.metadata.get("tags", [])
        assert checked or not cell.outputs, f"{name}: cell {index} has outputs but no nbval-check-output tag"


def test_bootstrap_cell_is_short_and_the_same_everywhere():
    sources = {load(name).cells[2].source for name in NOTEBOOKS}
    assert len(sources) == 1
    (source,) = sources
    assert len(source.splitlines()) <= 16
    assert notebooks.REPOSITORY in source and "WORKBOOK_REPO" in source and "ensure_requirements()" in source
    assert "-r" not in source.split()  # no `pip install -r`: that upgraded what Colab ships


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_saved_in_the_form_jupyterlab_keeps(name):
    text = (NOTEBOOK_DIR / f"{name}.ipynb").read_text(encoding="utf-8")
    assert notebooks.dumps(notebooks.normalize(json.loads(text), name)) == text, (
        f"{name} is not in normal form: run `python -m helpers.workbook normalize {name[:2]}`")
    metadata = json.loads(text)["metadata"]
    assert metadata["language_info"] == notebooks.LANGUAGE_INFO and metadata["kernelspec"] == notebooks.KERNELSPEC


LONGEST_CODE_CELL = 25  # lines; the sentences that describe a run live in helpers, the teaching code stays here


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_code_cells_stay_short(name):
    cells = load(name).cells
    too_long = [(index, len(cell.source.splitlines())) for index, cell in enumerate(cells)
                if index > 1 and cell.cell_type == "code" and len(cell.source.splitlines()) > LONGEST_CODE_CELL]
    assert not too_long, f"{name}: code cells (index, lines) over {LONGEST_CODE_CELL} lines: {too_long}"
