"""Running the workbook: each notebook's start-up, its recorded results, and the batch runner.

In a notebook: `nb = start("04_overfit_one_image", profile=PROFILE, ...)` once, then
`record("pixel_accuracy", value)` for every headline result; results land in
`RUN_DIR/<notebook>.json`, where later notebooks and the run report read them. Each file is
stamped with the profile, seed and data sets (with their fingerprints) of the run that wrote it,
and `earlier_result` does not hand on results of another profile or data set.

From a shell: `python -m helpers.workbook run --profile smoke` executes the notebooks in order
with papermill into runs/<profile>/ and writes report.md and report.html (also when stopped).
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import config, environment, notebooks
from .files import atomic_write_text

NOTEBOOKS: tuple[str, ...] = (
    "00_getting_started",
    "01_data_cleaning",
    "02_one_hot_encoding",
    "03_unet_build",
    "04_overfit_one_image",
    "04b_training_that_works",
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
    datasets: dict[str, dict[str, str]] = field(default_factory=dict)  # data sets used: name → folder, fingerprint
    results: dict[str, Any] | None = None  # what this session recorded (None until the first record)

    @property
    def results_path(self) -> Path:
        return self.run_dir / f"{self.name}.json"

    manifest_said: bool = False  # whether the notebook was told which split it uses

    @property
    def manifest(self) -> Path | None:
        """The clean, split manifest written by notebook 01, or None (then loaders use the full data set).

        The first call says which of the two the notebook uses.
        """
        path = self.run_dir / "manifest.csv"
        found = path.exists()
        if not self.manifest_said:
            self.manifest_said = True
            print(f"using the clean split of 01_data_cleaning: {path}" if found else
                  "no clean manifest from 01_data_cleaning in this run folder: using every frame "
                  "with the default sequence split")
        return path if found else None

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
    from . import datasets

    if _note_dataset not in datasets.USE_HOOKS:
        datasets.USE_HOOKS.append(_note_dataset)
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


def _note_dataset(spec, folder: Path) -> None:
    """Remember, for the stamp of the results, which data set (and which version of it) the notebook used."""
    if _current is not None and spec.name not in _current.datasets:
        from .datasets import dataset_fingerprint

        _current.datasets[spec.name] = {"folder": str(folder), "fingerprint": dataset_fingerprint(spec, folder)}


STAMP_KEY = "_stamp"
"""Key of a results file holding what produced it: notebook, profile, seed and data sets (with fingerprints)."""


def _stamp(session: NotebookSession) -> dict[str, Any]:
    return {"notebook": session.name, "profile": session.profile.name, "seed": session.seed,
            "datasets": {name: dict(used) for name, used in session.datasets.items()}}


def read_results(path: str | Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(results, stamp) of a results file; ({}, None) when absent. ValueError naming a damaged file."""
    path = Path(path)
    if not path.exists():
        return {}, None
    try:
        results = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"results file {path} is damaged ({error}); run its notebook again "
                         f"(or delete the file)") from error
    if not isinstance(results, dict):
        raise ValueError(f"results file {path} holds no table of results; run its notebook again (or delete the file)")
    stamp = results.pop(STAMP_KEY, None)
    return results, stamp


def _datasets_changed(stamp: dict[str, Any]) -> list[str]:
    """The data sets a stamp names whose data changed since (another fingerprint now, or gone)."""
    from .datasets import DatasetMissingError, dataset_fingerprint

    changed = []
    for name, used in (stamp.get("datasets") or {}).items():
        try:
            now = dataset_fingerprint(name, used.get("folder"))
        except (DatasetMissingError, ValueError):
            now = None
        if now != used.get("fingerprint"):
            changed.append(name)
    return changed


def stamp_conflict(stamp: dict[str, Any] | None, session: NotebookSession) -> tuple[str, str] | None:
    """How results stamped `stamp` differ from this session's run, and the notebook parameter to change.

    (what differs, what to do), or None when they belong together (same profile, the same data set
    in the same version). Results without a stamp (written by hand or an older version) are taken as they are.
    """
    if stamp is None:
        return None
    notebook = stamp.get("notebook", "that notebook")
    there, here = stamp.get("profile"), session.profile.name
    if there != here:
        return (f"for profile {there!r}, but this notebook runs {here!r}",
                f"run {notebook} with PROFILE = {here!r} into this RUN_DIR first, or set PROFILE = {there!r}")
    used_there, used_here = sorted(stamp.get("datasets") or {}), sorted(session.datasets)
    if used_there and used_here and not set(used_there) & set(used_here):
        return (f"on {', '.join(used_there)}, but this notebook uses {', '.join(used_here)}",
                f"set DATASET = {used_there[0]!r}, or run {notebook} with DATASET = {used_here[0]!r} first")
    changed = _datasets_changed(stamp)
    if changed:
        return (f"on {', '.join(changed)} as it was before it changed (regenerated or edited since)",
                f"run {notebook} again, or set RUN_DIR to a new folder")
    return None


def _previous_results(session: NotebookSession) -> dict[str, Any]:
    """What an earlier run of this notebook recorded, when it ran on the same profile, seed and data."""
    try:
        results, stamp = read_results(session.results_path)
    except ValueError as error:
        print(f"{error}: starting its results afresh")
        return {}
    if not results:
        return {}
    conflict = stamp_conflict(stamp, session) if stamp is not None else ("without a stamp", "")
    if conflict is None and stamp.get("seed") != session.seed:
        conflict = (f"with SEED = {stamp.get('seed')}, but this run has SEED = {session.seed}", "")
    if conflict is None:
        return results
    print(f"the results in {session.results_path} were recorded {conflict[0]}: replacing them with this run's")
    return {}


def record(key: str, value: Any) -> None:
    """Store one result of the running notebook in RUN_DIR/<notebook>.json.

    The file is replaced atomically and stamped with the profile, seed and data sets of the run
    (their fingerprints), so a later notebook can tell results of another run from this one's.
    It returns nothing, so a cell that ends with `record(...)` shows no stray `Out[]`.
    """
    session = current()
    if session.results is None:
        session.results = _previous_results(session)
    session.results[key] = to_jsonable(value)
    payload = {STAMP_KEY: _stamp(session), **session.results}
    atomic_write_text(session.results_path, json.dumps(payload, indent=2, sort_keys=True))


def load_results(notebook: str, run_dir: str | Path | None = None) -> dict[str, Any]:
    """Results recorded by `notebook` in run_dir (default: the current run folder); {} if none."""
    run_dir = Path(run_dir) if run_dir else current().run_dir
    return read_results(run_dir / f"{notebook}.json")[0]


def earlier_result(notebook: str, key: str, default: Any) -> Any:
    """A value an earlier notebook recorded, or `default` (with a note saying so).

    Results recorded for another profile, another data set or an older version of the data are
    not used: the note says which, and the notebook parameter to change.
    """
    session = current()
    results, stamp = read_results(session.run_dir / f"{notebook}.json")
    value = results.get(key)
    if value is None:
        print(f"{notebook} has not recorded {key!r} in this run folder: using the default {default!r}")
        return default
    conflict = stamp_conflict(stamp, session)
    if conflict is not None:
        differs, advice = conflict
        print(f"{notebook} recorded {key!r} {differs}: using the default {default!r}. To use it, {advice}.")
        return default
    print(f"using {key} = {short_repr(value)} recorded by {notebook}")
    return value


def short_repr(value: Any, width: int = 100) -> str:
    """`repr(value)`, or for a long one its kind and size: a note should not bury the cell's own output."""
    text = repr(value)
    if len(text) <= width:
        return text
    size = f" of {len(value)} entries" if isinstance(value, (dict, list, tuple)) else ""
    return f"{text[:width - 40]}… (a {type(value).__name__}{size}, {len(text)} characters in full)"


# ---------------------------------------------------------------- the tiny data set of the tests

SMOKE_STREETS = dict(sequences=12, frames_per_sequence=6, size=(160, 88), defect_rate=0.06, weather_rate=0.3)
SMOKE_FOREST = dict(count=24)


def generator_source() -> bytes:
    """The source of every module of helpers.synthetic, in name order: what the generated data depends on."""
    folder = config.REPO_ROOT / "helpers" / "synthetic"
    return b"".join(path.name.encode() + path.read_bytes() for path in sorted(folder.glob("*.py")))


def smoke_data_key() -> str:
    """A short hash of the generator's source and the tiny data sets' arguments: the name of their cache."""
    import hashlib

    return hashlib.sha256(generator_source() + repr((SMOKE_STREETS, SMOKE_FOREST)).encode()).hexdigest()[:12]


def smoke_data_root() -> Path:
    """A tiny street and forest data set for tests and output refreshes, generated once.

    Kept in .pytest_cache under a key of the generator's source, so a change to the generator
    makes a new one; a file lock lets parallel test processes share it.
    """
    import fcntl

    from .synthetic import generate_forest, generate_streets

    root = config.REPO_ROOT / ".pytest_cache" / f"workbook-data-{smoke_data_key()}"
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
    """Notebook names from numbers or prefixes ("04", "04b", "04_overfit") in workbook order; all when empty.

    A notebook's number (what comes before the first "_") picks that notebook alone: "04" is
    04_overfit_one_image, not 04b_training_that_works as well.
    """
    if not names:
        return list(NOTEBOOKS)
    chosen = []
    for name in names:
        stem = Path(name).stem
        matches = ([nb for nb in NOTEBOOKS if nb.split("_")[0] == stem]
                   or [nb for nb in NOTEBOOKS if nb.startswith(stem)])
        if len(matches) != 1:
            raise SystemExit(f"unknown notebook {name!r}; choose from: {', '.join(NOTEBOOKS)}")
        chosen.append(matches[0])
    return sorted(set(chosen), key=NOTEBOOKS.index)


def notebook_parameters(name: str) -> dict[str, Any]:
    """{name: default} of a notebook's parameters cell (the names papermill overrides).

    A default that is not a plain value (PROFILE = os.environ.get(...)) is given as `...`.
    """
    import nbformat

    notebook = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    cells = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    declared: dict[str, Any] = {}
    for cell in cells:
        for statement in ast.parse(cell.source).body:
            if isinstance(statement, ast.Assign):
                try:
                    default = ast.literal_eval(statement.value)
                except (ValueError, TypeError, SyntaxError):
                    default = ...
                declared.update({target.id: default for target in statement.targets if isinstance(target, ast.Name)})
    return declared


def _type_problem(value: Any, default: Any) -> str | None:
    """What kind of value a parameter with this default takes, when `value` is not one; else None."""
    if default is None or default is ...:
        return None
    kinds = [(bool, (bool,), "True or False"), (int, (int,), "a whole number"),
             (float, (int, float), "a number"), (str, (str,), "text"),
             ((list, tuple), (list, tuple), "a list such as [1, 2]"), (dict, (dict,), "a dict such as {'a': 1}")]
    for default_type, accepted, words in kinds:
        if isinstance(default, default_type):
            wrong_bool = isinstance(value, bool) and bool not in accepted
            return words if wrong_bool or not isinstance(value, accepted) else None
    return None


def check_parameters(parameters: dict[str, Any], profile: str, names: list[str]) -> dict[str, Any]:
    """The -p parameters to pass on, checked before any notebook runs; SystemExit with the fix otherwise.

    PROFILE and RUN_DIR come from --profile and --out (the report and results are read there);
    every other name must be a parameter of one of the notebooks, with a value of its kind.
    """
    parameters = dict(parameters)
    if "PROFILE" in parameters:
        given = parameters.pop("PROFILE")
        if given != profile:
            raise SystemExit(f"error: -p PROFILE {given!r} conflicts with --profile {profile}: choose the profile "
                             f"with --profile {given} (the run folder runs/<profile> and the report follow it)")
    if "RUN_DIR" in parameters:
        raise SystemExit(f"error: -p RUN_DIR {parameters['RUN_DIR']!r}: choose the run folder with --out "
                         f"{parameters['RUN_DIR']} (the report reads the results from there)")
    declared = {name: notebook_parameters(name) for name in names}
    for key, value in parameters.items():
        owners = [name for name in names if key in declared[name]]
        if not owners:
            known = sorted(set().union(*declared.values()) - {"PROFILE", "RUN_DIR"})
            raise SystemExit(f"error: -p {key}: none of {', '.join(names)} has a parameter {key}; "
                             f"their parameters are {', '.join(known)}")
        for name in owners:
            expected = _type_problem(value, declared[name][key])
            if expected:
                raise SystemExit(f"error: -p {key} {value!r}: {key} takes {expected} ({key} = "
                                 f"{declared[name][key]!r} in {name}), e.g. -p {key} {declared[name][key]!r}")
    return parameters


def one_line(text: str, limit: int = 400) -> str:
    """`text` on one line (newlines and runs of spaces become one space), at most `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_notebook(name: str, out_dir: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    """Execute one notebook with papermill; return its status, seconds and failing cell (error on one line)."""
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
        status.update(status="failed", error=one_line(f"{error.ename}: {error.evalue}"), cell=error.exec_count)
    except Exception as error:  # the kernel died, the notebook is missing, ...
        status.update(status="failed", error=one_line(f"{type(error).__name__}: {error}"))
    status["seconds"] = round(time.perf_counter() - started, 1)
    return status


def headline(results: dict[str, Any], limit: int = 6) -> str:
    """The first few scalar results of a notebook, as 'key=value' text."""
    items = [(k, v) for k, v in results.items() if isinstance(v, (int, float, str, bool)) and len(str(v)) < 40]
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in items[:limit])


def _report_cell(status: dict[str, Any], out_dir: Path) -> str:
    if status["error"]:
        return f"cell {status['cell']}: {status['error']}" if status["cell"] is not None else status["error"]
    try:
        return headline(read_results(out_dir / f"{status['notebook']}.json")[0])
    except ValueError as error:
        return str(error)


def write_report(out_dir: Path, profile: str, statuses: list[dict[str, Any]]) -> Path:
    """report.md and report.html: status, time and headline results per notebook (each file written atomically)."""
    rows = [(s["notebook"], s["status"], f"{s['seconds']:.1f}", one_line(_report_cell(s, out_dir), 600))
            for s in statuses]
    total = sum(s["seconds"] for s in statuses)
    counts = {kind: sum(s["status"] == kind for s in statuses) for kind in ("ok", "failed", "interrupted", "not run")}
    tally = ", ".join(f"{count} {kind}" for kind, count in counts.items() if count or kind in ("ok", "failed"))
    title = f"Workbook run — profile {profile}: {tally}, {total:.0f} s"
    lines = [f"# {title}", "", "| notebook | status | seconds | results or error |", "| --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(cell.replace('|', '/') for cell in row)} |" for row in rows]
    atomic_write_text(out_dir / "report.md", "\n".join(lines) + "\n")
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    atomic_write_text(out_dir / "report.html",
                      f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
                      f"<h1>{html.escape(title)}</h1><table border='1' cellpadding='4'>"
                      "<tr><th>notebook</th><th>status</th><th>seconds</th><th>results or error</th></tr>"
                      f"{body}</table>")
    return out_dir / "report.md"


def run(profile: str, out_dir: Path | None, parameters: dict[str, Any], notebooks: list[str]) -> int:
    """Run notebooks in order into out_dir; print and write the report; 1 if any failed, 130 if interrupted.

    The report is written however the run ends: Ctrl-C marks the notebook it stopped as
    interrupted and the ones after it as not run.
    """
    config.get_profile(profile)  # unknown profile: clear error before any work
    names = resolve_notebooks(notebooks)
    parameters = check_parameters(parameters, profile, names)
    out_dir = (out_dir or default_run_dir(profile)).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update(WORKBOOK_PROFILE=profile, WORKBOOK_QUIET="1")
    parameters = {"PROFILE": profile, "RUN_DIR": str(out_dir), **parameters}
    statuses: list[dict[str, Any]] = []
    running, started, interrupted = None, time.perf_counter(), False
    try:
        for name in names:
            print(f"running {name} …", flush=True)
            running, started = name, time.perf_counter()
            statuses.append(run_notebook(name, out_dir, parameters))
            running = None
            last = statuses[-1]
            print(f"  {last['status']} in {last['seconds']:.1f} s {last['error']}", flush=True)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if running is not None:
            statuses.append({"notebook": running, "status": "interrupted", "cell": None,
                             "error": "stopped while running (Ctrl-C or a fault); its results may be partial",
                             "seconds": round(time.perf_counter() - started, 1)})
        done = {s["notebook"] for s in statuses}
        statuses += [{"notebook": name, "status": "not run", "error": "the run stopped before this notebook",
                      "cell": None, "seconds": 0.0} for name in names if name not in done]
        report = write_report(out_dir, profile, statuses)
    print(report.read_text())
    print(f"executed notebooks, results and report in {out_dir}")
    if interrupted:
        print("interrupted: the report above says which notebook stopped and which did not run", file=sys.stderr)
        return 130
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
