"""Where the workbook runs and what it needs there: its repository, requirements, quiet kernels.

On Colab each notebook's bootstrap cell clones the workbook and calls `ensure_requirements()`,
which installs only the requirements Colab lacks and pins every package already installed, so
nothing Colab ships is upgraded (its widget frontend, for one, needs the ipywidgets 7 it comes
with). Elsewhere the same call only says what is missing: `make venv` installs the workbook.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO_ROOT / "requirements.txt"

REPOSITORY = "https://github.com/unet-workbook/unet-workbook"
"""The one place the workbook's address is written; notebooks get it from here (see helpers.notebooks)."""

REPOSITORY_VARIABLE = "WORKBOOK_REPO"
"""Environment variable that points the Colab bootstrap at another clone, e.g. a fork."""

QUIET_KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=ERROR",)
"""Kernel options for batch runs: no start-up log lines (e.g. ipykernel's TCP transport warning)."""


def repository() -> str:
    """The address the Colab bootstrap clones: $WORKBOOK_REPO, else `REPOSITORY`."""
    return os.environ.get(REPOSITORY_VARIABLE) or REPOSITORY


def on_colab() -> bool:
    """True inside a Colab runtime."""
    return "google.colab" in sys.modules


def canonical(name: str) -> str:
    """A distribution name as pip compares it: lower case, runs of -_. as one -."""
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def installed_versions() -> dict[str, str]:
    """Every installed distribution of this interpreter: canonical name → version."""
    from importlib.metadata import distributions

    return {canonical(dist.metadata["Name"]): dist.version for dist in distributions() if dist.metadata["Name"]}


def read_requirements(path: str | Path = REQUIREMENTS) -> list:
    """The requirements of a requirements file (packaging Requirement objects; comments and options skipped)."""
    from packaging.requirements import Requirement

    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [Requirement(line.split("#")[0].strip()) for line in lines
            if line.split("#")[0].strip() and not line.lstrip().startswith("-")]


def missing_requirements(path: str | Path = REQUIREMENTS, installed: dict[str, str] | None = None) -> list:
    """Requirements whose distribution is not installed at all (any installed version counts as present)."""
    installed = installed_versions() if installed is None else installed
    return [req for req in read_requirements(path) if canonical(req.name) not in installed]


def outdated_requirements(path: str | Path = REQUIREMENTS, installed: dict[str, str] | None = None) -> list[str]:
    """'name version (wants spec)' for installed distributions outside a requirement's range."""
    installed = installed_versions() if installed is None else installed
    found = []
    for req in read_requirements(path):
        version = installed.get(canonical(req.name))
        if version is not None and not req.specifier.contains(version, prereleases=True):
            found.append(f"{req.name} {version} (wants {req.specifier})")
    return found


def pins(installed: dict[str, str]) -> str:
    """A pip constraints file that keeps every installed distribution at its version."""
    return "".join(f"{name}=={version}\n" for name, version in sorted(installed.items()))


def install_command(requirements: list, constraints: str | Path, dry_run: bool = False,
                    report: str | Path | None = None) -> list[str]:
    """The pip command that installs `requirements` without changing anything `constraints` pins."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--constraint", str(constraints)]
    if dry_run:
        command += ["--dry-run", "--report", str(report or "-")]
    return command + [str(req) for req in requirements]


def install_missing(path: str | Path = REQUIREMENTS, dry_run: bool = False, report: str | Path | None = None,
                    extra_constraints: str | Path | None = None) -> list[str]:
    """Install the missing requirements, every installed distribution pinned; return what was missing.

    `dry_run` with `report` writes pip's installation report instead (see `make test-colab`);
    `extra_constraints` adds pins of a runtime that is simulated (Colab's published versions).
    """
    installed = installed_versions()
    missing = missing_requirements(path, installed)
    if not missing:
        return []
    with tempfile.TemporaryDirectory() as folder:
        constraints = Path(folder) / "installed.txt"
        text = pins(installed)
        if extra_constraints:
            text += Path(extra_constraints).read_text(encoding="utf-8")
        constraints.write_text(text, encoding="utf-8")
        print(f"installing what this runtime lacks: {', '.join(str(req) for req in missing)}", flush=True)
        subprocess.run(install_command(missing, constraints, dry_run, report), check=True)
    return [req.name for req in missing]


def ensure_requirements(path: str | Path = REQUIREMENTS, install: bool | None = None) -> None:
    """The bootstrap's step: install what is missing (on Colab, by default), else say what is missing.

    Installed packages are never upgraded; one outside the workbook's range is named.
    """
    install = on_colab() if install is None else install
    outdated = outdated_requirements(path)
    if outdated:
        print(f"outside the versions the workbook was tested with (left as they are): {'; '.join(outdated)}")
    if install:
        install_missing(path)
        return
    missing = missing_requirements(path)
    if missing:
        print(f"missing: {', '.join(str(req) for req in missing)}; install them with "
              f"`pip install -r {path}` (or `make venv` in the workbook)")


STANDARD_FORMATWARNING = warnings.formatwarning
"""Python's own warning format, as it was before `quiet_warnings` replaced it."""


def short_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings as one line, 'UserWarning: message', without the echoed source line that looks like an error."""
    return f"{category.__name__}: {message}\n"


def quiet_warnings() -> None:
    """Show warnings in the short form of `short_warning` from now on (called by a notebook's start)."""
    warnings.formatwarning = short_warning
