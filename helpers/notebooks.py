"""The notebook files themselves: the shared bootstrap cell, the Colab badge, and the form they are saved in.

`normalize(notebook, name)` puts a notebook in the form JupyterLab 4 keeps when it opens one, so
opening it does not mark it modified: nbformat 4.5 with cell ids, the kernel's full
`language_info` (JupyterLab copies it from the kernel on open; a Python of another patch release
than `LANGUAGE_INFO["version"]` still changes it), no outputs but the nbval-checked ones, one
space of indent and a final newline (`write`). It also writes the bootstrap cell and the badge
from `helpers.environment.REPOSITORY`, and ends a cell whose last line is a bare `record(...)`
with `;`, so its value is not echoed as Out[]. `python -m helpers.workbook normalize` (and
`refresh`) apply it; the hygiene tests check it.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from .environment import REPOSITORY, REPOSITORY_VARIABLE

CHECKED_TAG = "nbval-check-output"

LANGUAGE_INFO: dict[str, Any] = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": "3.11.7",
}
"""What ipykernel reports as language_info (Python of `make venv` here); JupyterLab stores it on open."""

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}

BOOTSTRAP_TEMPLATE = '''\
# Bootstrap: on Colab, fetch the workbook and install only what Colab lacks; elsewhere, find it.
import os
import subprocess
import sys
from pathlib import Path

if "google.colab" in sys.modules and not Path("unet-workbook").exists():
    repository = os.environ.get("{variable}", "{repository}")  # a fork: set {variable} first
    subprocess.run(["git", "clone", "--depth", "1", repository, "unet-workbook"], check=True)
ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents, Path("unet-workbook").resolve()) if (p / "helpers").is_dir())
sys.path.insert(0, str(ROOT))

from helpers.environment import ensure_requirements

ensure_requirements()  # installs on Colab only, and never upgrades what Colab has'''

BADGE = re.compile(r"https://colab\.research\.google\.com/github/[^)\s]+?/blob/[^/)\s]+/notebooks/(?P<file>[^)\s]+\.ipynb)")


def github_path(repository: str = REPOSITORY) -> str:
    """'owner/name' of a GitHub address."""
    return repository.rstrip("/").removesuffix(".git").split("github.com/")[-1]


def bootstrap_source(repository: str = REPOSITORY) -> str:
    """The bootstrap cell, the same in every notebook (the third cell, after the parameters)."""
    return BOOTSTRAP_TEMPLATE.format(variable=REPOSITORY_VARIABLE, repository=repository)


def badge_url(name: str, repository: str = REPOSITORY, branch: str = "main") -> str:
    """The 'Open in Colab' link of notebook `name`."""
    return f"https://colab.research.google.com/github/{github_path(repository)}/blob/{branch}/notebooks/{name}.ipynb"


def _end_record_with_semicolon(source: str) -> str:
    """A cell ending in a bare `record(...)` call gets a `;`, so Jupyter does not echo the value."""
    stripped = source.rstrip()
    try:
        tree = ast.parse(stripped)
    except SyntaxError:  # IPython magics: leave the cell alone
        return source
    last = tree.body[-1] if tree.body else None
    if (isinstance(last, ast.Expr) and isinstance(last.value, ast.Call) and isinstance(last.value.func, ast.Name)
            and last.value.func.id == "record" and not stripped.endswith(";")):
        return stripped + ";"
    return source


def normalize(notebook: dict[str, Any], name: str, repository: str = REPOSITORY) -> dict[str, Any]:
    """`notebook` (nbformat JSON, changed in place and returned) in the workbook's saved form."""
    notebook["nbformat"], notebook["nbformat_minor"] = 4, max(5, notebook.get("nbformat_minor", 5))
    metadata = notebook.setdefault("metadata", {})
    metadata["kernelspec"] = dict(KERNELSPEC)
    metadata["language_info"] = json.loads(json.dumps(LANGUAGE_INFO))
    used_ids = set()
    for number, cell in enumerate(notebook["cells"]):
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
        cell.setdefault("metadata", {})
        cell_id = cell.get("id") or f"cell-{number:02d}"
        while cell_id in used_ids:
            cell_id += "-b"
        cell["id"] = cell_id
        used_ids.add(cell_id)
        if cell["cell_type"] != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            continue
        cell["source"] = _end_record_with_semicolon(cell["source"])
        if CHECKED_TAG not in cell["metadata"].get("tags", []):
            cell["outputs"], cell["execution_count"] = [], None
        cell.setdefault("outputs", [])
        cell.setdefault("execution_count", None)
    cells = notebook["cells"]
    if len(cells) > 2 and cells[2]["cell_type"] == "code":
        cells[2]["source"] = bootstrap_source(repository)
    if cells and cells[0]["cell_type"] == "markdown":
        cells[0]["source"] = BADGE.sub(lambda match: badge_url(Path(match["file"]).stem, repository),
                                       cells[0]["source"])
    return notebook


def dumps(notebook: dict[str, Any]) -> str:
    """The text JupyterLab (nbformat) writes: sorted keys, one space of indent, sources as lines, final newline."""
    import nbformat

    node = nbformat.from_dict(notebook)
    return nbformat.writes(node, version=4) + "\n"


def normalize_file(path: str | Path, repository: str = REPOSITORY) -> bool:
    """Rewrite one notebook file in the normal form; True when it changed."""
    path = Path(path)
    before = path.read_text(encoding="utf-8")
    after = dumps(normalize(json.loads(before), path.stem, repository))
    if after != before:
        path.write_text(after, encoding="utf-8")
    return after != before
