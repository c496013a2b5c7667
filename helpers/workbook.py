"""Running the workbook: each notebook's start-up, its recorded results, and the batch runner.

In a notebook: `nb = start("04_overfit_one_image", profile=PROFILE, ...)` once, then
`record("pixel_accuracy", value)` for every headline result; results land in
`RUN_DIR/<notebook>.json`, where later notebooks and the run report read them.

From a shell: `python -m helpers.workbook run --profile smoke` executes the notebooks in order
with papermill into runs/<profile>/ and writes report.md and report.html.
"""

from __future__ import annotations

import argparse
import ast
import html
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import config, environment, notebooks

NOTEBOOKS: tuple[str, ...] = (
    "00_getting_started",
    "01_data_cleaning",
    "02_one_hot_encoding",
    "03_unet_build",
    "04_overfit_one_image",
    "05_lr_range_test",
    "06_scheduler_comparison",
    "07_final_training",
    "08_skip_connection_ablation",
    "09_gaussian_sobel_bonus",
)
NOTEBOOK_DIR = config.REPO_ROOT / "notebooks"


@dataclass
class NotebookSession:
    """What a notebook needs after start-up: its name, profile, device, folders and seed."""

    name: str
    profile: config.Profile
    device: torch.device
    run_dir: Path
    data_root: Path
    seed: int
    generator: torch.Generator

    @property
    def results_path(self) -> Path:
        return self.run_dir / f"{self.name}.json"

    @property
    def manifest(self) -> Path | None:
        """The clean, split manifest written by notebook 01, or None (then loaders use the full data set)."""
        path = self.run_dir / "manifest.csv"
        if path.exists():
            return path
        print("no clean manifest from 01_data_cleaning in this run folder: using every frame "
              "with the default sequence split")
        return None

    @property
    def work_dir(self) -> Path:
        """A folder of this notebook's own inside the run folder (checkpoints, CSVs)."""
        folder = self.run_dir / self.name
        folder.mkdir(parents=True, exist_ok=True)
        return folder


_current: NotebookSession | None = None


def default_run_dir(profile_name: str) -> Path:
    """Where a notebook writes when RUN_DIR is None: runs/<profile>/."""
    return config.runs_root() / profile_name


def start(name: str, profile: str | config.Profile | None = None, run_dir: str | Path | None = None,
          device: str = "auto", seed: int = 0, data_root: str | Path | None = None,
          **overrides: Any) -> NotebookSession:
    """Start-up of every notebook: resolve the profile, device and folders, seed, print versions."""
    global _current
    environment.quiet_warnings()
    if not isinstance(profile, config.Profile):
        profile = config.get_profile(profile, **overrides)
    run_dir = Path(run_dir) if run_dir else default_run_dir(profile.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    if data_root:
        os.environ["WORKBOOK_DATA"] = str(data_root)
    generator = config.seed_everything(seed)
    _current = NotebookSession(name, profile, config.pick_device(device), run_dir.resolve(),
                               config.data_root(), seed, generator)
    print(f"notebook {name} | profile {profile.name} {profile.image_size[0]}×{profile.image_size[1]} "
          f"base {profile.base} | device {_current.device} | seed {seed}")
    print(f"python {platform.python_version()} | torch {torch.__version__} | numpy {np.__version__}")
    print(f"data: {_current.data_root} | results: {_current.run_dir}")
    return _current


def current() -> NotebookSession:
    """The session of the running notebook (after `start`)."""
    if _current is None:
        raise RuntimeError("call helpers.workbook.start(...) first (the notebook's bootstrap cell)")
    return _current


def to_jsonable(value: Any) -> Any:
    """numpy, torch and Path values → plain JSON values (NaN becomes None)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def record(key: str, value: Any) -> Any:
    """Store one result of the running notebook in RUN_DIR/<notebook>.json and return it."""
    session = current()
    results = load_results(session.name, session.run_dir)
    results[key] = to_jsonable(value)
    tmp = session.results_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=True))
    os.replace(tmp, session.results_path)
    return value


def load_results(notebook: str, run_dir: str | Path | None = None) -> dict[str, Any]:
    """Results recorded by `notebook` in run_dir (default: the current run folder); {} if none."""
    run_dir = Path(run_dir) if run_dir else current().run_dir
    path = run_dir / f"{notebook}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def earlier_result(notebook: str, key: str, default: Any) -> Any:
    """A value an earlier notebook recorded, or `default` (with a note saying so)."""
    value = load_results(notebook).get(key)
    if value is None:
        print(f"{notebook} has not recorded {key!r} in this run folder: using the default {default!r}")
        return default
    print(f"using {key} = {value!r} recorded by {notebook}")
    return value


# ---------------------------------------------------------------- the tiny data set of the tests

SMOKE_STREETS = dict(sequences=12, frames_per_sequence=6, size=(160, 88), defect_rate=0.06, weather_rate=0.3)
SMOKE_FOREST = dict(count=24)


def smoke_data_root() -> Path:
    """A tiny street and forest data set for tests and output refreshes, generated once.

    Kept in .pytest_cache under a key of the generator's source, so a change to the generator
    makes a new one; a file lock lets parallel test processes share it.
    """
    import fcntl
    import hashlib

    from .synthetic import generate_forest, generate_streets

    source = (config.REPO_ROOT / "helpers" / "synthetic.py").read_bytes()
    key = hashlib.sha256(source + repr((SMOKE_STREETS, SMOKE_FOREST)).encode()).hexdigest()[:12]
    root = config.REPO_ROOT / ".pytest_cache" / f"workbook-data-{key}"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / ".complete").exists():
            generate_streets(root / "synthetic-streets", seed=0, progress=False, **SMOKE_STREETS)
            generate_forest(root / "synthetic-forest", seed=0, progress=False, **SMOKE_FOREST)
            (root / ".complete").touch()
    return root


# ---------------------------------------------------------------- the batch runner

def parse_value(text: str) -> Any:
    """A -p value as Python would read it (3, 0.1, None, [1, 2]), else the plain string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def resolve_notebooks(names: list[str]) -> list[str]:
    """Notebook names from prefixes ("04", "04_overfit") in workbook order; all when empty."""
    if not names:
        return list(NOTEBOOKS)
    chosen = []
    for name in names:
        stem = Path(name).stem
        matches = [nb for nb in NOTEBOOKS if nb.startswith(stem)]
        if len(matches) != 1:
            raise SystemExit(f"unknown notebook {name!r}; choose from: {', '.join(NOTEBOOKS)}")
        chosen.append(matches[0])
    return sorted(set(chosen), key=NOTEBOOKS.index)


def run_notebook(name: str, out_dir: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    """Execute one notebook with papermill; return its status, seconds and failing cell."""
    import papermill

    output = out_dir / "executed" / f"{name}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    status = {"notebook": name, "status": "ok", "error": "", "cell": None}
    try:
        papermill.execute_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb"), str(output),
                                   parameters=parameters, kernel_name="python3",
                                   cwd=str(NOTEBOOK_DIR), progress_bar=False, log_output=False,
                                   extra_arguments=list(environment.QUIET_KERNEL_ARGUMENTS))
    except papermill.PapermillExecutionError as error:
        status.update(status="failed", error=f"{error.ename}: {error.evalue}"[:300],
                      cell=error.exec_count)
    except Exception as error:  # the kernel died, the notebook is missing, ...
        status.update(status="failed", error=f"{type(error).__name__}: {error}"[:300])
    status["seconds"] = round(time.perf_counter() - started, 1)
    return status


def headline(results: dict[str, Any], limit: int = 6) -> str:
    """The first few scalar results of a notebook, as 'key=value' text."""
    items = [(k, v) for k, v in results.items() if isinstance(v, (int, float, str, bool)) and len(str(v)) < 40]
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in items[:limit])


def write_report(out_dir: Path, profile: str, statuses: list[dict[str, Any]]) -> Path:
    """report.md and report.html: status, time and headline results per notebook."""
    rows = [(s["notebook"], s["status"], f"{s['seconds']:.1f}",
             s["error"] and f"cell {s['cell']}: {s['error']}" or headline(load_results(s["notebook"], out_dir)))
            for s in statuses]
    total = sum(s["seconds"] for s in statuses)
    failed = sum(s["status"] != "ok" for s in statuses)
    title = f"Workbook run — profile {profile}: {len(statuses) - failed} ok, {failed} failed, {total:.0f} s"
    lines = [f"# {title}", "", "| notebook | status | seconds | results or error |", "| --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(cell.replace('|', '/') for cell in row)} |" for row in rows]
    (out_dir / "report.md").write_text("\n".join(lines) + "\n")
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    (out_dir / "report.html").write_text(
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1><table border='1' cellpadding='4'>"
        "<tr><th>notebook</th><th>status</th><th>seconds</th><th>results or error</th></tr>"
        f"{body}</table>")
    return out_dir / "report.md"


def run(profile: str, out_dir: Path | None, parameters: dict[str, Any], notebooks: list[str]) -> int:
    """Run notebooks in order into out_dir; print and write the report; 1 if any failed."""
    config.get_profile(profile)  # unknown profile: clear error before any work
    out_dir = (out_dir or default_run_dir(profile)).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update(WORKBOOK_PROFILE=profile, WORKBOOK_QUIET="1")
    parameters = {"PROFILE": profile, "RUN_DIR": str(out_dir), **parameters}
    statuses = []
    for name in resolve_notebooks(notebooks):
        print(f"running {name} …", flush=True)
        statuses.append(run_notebook(name, out_dir, parameters))
        last = statuses[-1]
        print(f"  {last['status']} in {last['seconds']:.1f} s {last['error']}", flush=True)
    report = write_report(out_dir, profile, statuses)
    print(report.read_text())
    print(f"executed notebooks, results and report in {out_dir}")
    return int(any(s["status"] != "ok" for s in statuses))


def refresh_checked_outputs(name: str, profile: str = "smoke") -> int:
    """Execute a notebook on the tests' data and keep only the outputs tagged nbval-check-output.

    Those outputs are what nbval compares against on every test run; all other outputs are
    stripped so the committed notebook stays clean. Returns the number of checked cells.
    """
    import tempfile

    import nbformat

    source_path = NOTEBOOK_DIR / f"{name}.ipynb"
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(WORKBOOK_PROFILE=profile, WORKBOOK_QUIET="1", WORKBOOK_DATA=str(smoke_data_root()))
        status = run_notebook(name, Path(tmp), {"PROFILE": profile, "RUN_DIR": tmp})
        if status["status"] != "ok":
            raise SystemExit(f"{name} failed in cell {status['cell']}: {status['error']}")
        executed = nbformat.read(Path(tmp) / "executed" / f"{name}.ipynb", as_version=4)
    outputs = {cell.get("id"): cell.get("outputs", []) for cell in executed.cells}
    notebook = nbformat.read(source_path, as_version=4)
    checked = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        keep = "nbval-check-output" in cell.metadata.get("tags", [])
        checked += keep
        cell.outputs = outputs.get(cell.get("id"), []) if keep else []
        cell.execution_count = checked if keep else None  # nbval skips cells that never ran
        for output in cell.outputs:
            if "execution_count" in output:
                output["execution_count"] = cell.execution_count
    nbformat.write(notebook, source_path)
    notebooks.normalize_file(source_path)
    return checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.workbook", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="execute notebooks with papermill")
    run_parser.add_argument("--profile", default=os.environ.get("WORKBOOK_PROFILE", config.DEFAULT_PROFILE))
    run_parser.add_argument("--out", type=Path, help="run folder (default runs/<profile>)")
    run_parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                            help="a notebook parameter, e.g. -p EPOCHS 3")
    run_parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: all), e.g. 04")
    commands.add_parser("list", help="list the notebooks in order")
    refresh_parser = commands.add_parser("refresh", help="re-record the nbval-checked outputs of notebooks")
    refresh_parser.add_argument("notebooks", nargs="*")
    normalize_parser = commands.add_parser("normalize", help="rewrite notebooks in the form JupyterLab saves "
                                           "(bootstrap cell, badge, metadata, no stray outputs), without running them")
    normalize_parser.add_argument("notebooks", nargs="*")
    args = parser.parse_args(argv)
    if args.command == "normalize":
        for name in resolve_notebooks(args.notebooks):
            changed = notebooks.normalize_file(NOTEBOOK_DIR / f"{name}.ipynb")
            print(f"{name}: {'normalized' if changed else 'already normal'}")
        return 0
    if args.command == "refresh":
        for name in resolve_notebooks(args.notebooks):
            print(f"{name}: {refresh_checked_outputs(name)} checked cell(s) recorded")
        return 0
    if args.command == "list":
        print("\n".join(NOTEBOOKS))
        return 0
    parameters = {key: parse_value(value) for key, value in args.p}
    return run(args.profile, args.out, parameters, args.notebooks)


if __name__ == "__main__":
    sys.exit(main())
