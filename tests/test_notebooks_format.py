"""helpers.notebooks: the normal form of the notebook files, the bootstrap cell and the badge."""

from __future__ import annotations

import json

import nbformat

from helpers import notebooks


def tiny_notebook() -> dict:
    cell = nbformat.v4.new_code_cell
    node = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# T\n[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                                      "(https://colab.research.google.com/github/someone/old/blob/dev/notebooks/xx.ipynb)"),
        cell("PROFILE = 'smoke'", metadata={"tags": ["parameters"]}),
        cell("# an old bootstrap"),
        cell("x = 1\nrecord('x', x)", outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "1"})]),
        cell("print(2)", metadata={"tags": [notebooks.CHECKED_TAG]},
             outputs=[nbformat.v4.new_output("stream", text="2\n")]),
    ])
    data = json.loads(nbformat.writes(node))
    data["nbformat_minor"] = 4
    for item in data["cells"]:
        item.pop("id", None)
    return data


def test_normalize_gives_the_form_jupyterlab_keeps():
    data = notebooks.normalize(tiny_notebook(), "xx")
    assert (data["nbformat"], data["nbformat_minor"]) == (4, 5)
    assert data["metadata"]["language_info"] == notebooks.LANGUAGE_INFO
    assert [cell["id"] for cell in data["cells"]] == [f"cell-{n:02d}" for n in range(5)]
    assert data["cells"][2]["source"] == notebooks.bootstrap_source()
    assert notebooks.badge_url("xx") in data["cells"][0]["source"] and "someone/old" not in data["cells"][0]["source"]
    record_cell, checked = data["cells"][3], data["cells"][4]
    assert record_cell["source"] == "x = 1\nrecord('x', x);" and record_cell["outputs"] == []
    assert "".join(checked["outputs"][0]["text"]) == "2\n"  # nbval-checked outputs stay
    text = notebooks.dumps(data)
    assert text.endswith("}\n") and notebooks.dumps(notebooks.normalize(json.loads(text), "xx")) == text


def test_normalize_file_reports_changes(tmp_path):
    path = tmp_path / "xx.ipynb"
    path.write_text(json.dumps(tiny_notebook()))
    assert notebooks.normalize_file(path) is True
    assert notebooks.normalize_file(path) is False


def test_a_fork_gets_its_own_bootstrap_and_badge():
    fork = "https://github.com/me/my-workbook.git"
    assert '"https://github.com/me/my-workbook.git"' in notebooks.bootstrap_source(fork)
    assert notebooks.badge_url("00_getting_started", fork) == (
        "https://colab.research.google.com/github/me/my-workbook/blob/main/notebooks/00_getting_started.ipynb")
