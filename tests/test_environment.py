"""helpers.environment: the repository address, installing only what is missing, quiet kernels and warnings."""

from __future__ import annotations

import sys
import warnings

from helpers import environment


def write_requirements(tmp_path, *lines: str):
    path = tmp_path / "requirements.txt"
    path.write_text("# comment\n-c constraints.txt\n" + "\n".join(lines) + "\n")
    return path


def test_repository_is_overridable(monkeypatch):
    monkeypatch.delenv(environment.REPOSITORY_VARIABLE, raising=False)
    assert environment.repository() == environment.REPOSITORY
    monkeypatch.setenv(environment.REPOSITORY_VARIABLE, "https://github.com/me/fork")
    assert environment.repository() == "https://github.com/me/fork"


def test_missing_and_outdated_requirements(tmp_path):
    path = write_requirements(tmp_path, "numpy>=1.24,<3  # numbers", "Ipy_Widgets>=7.7", "papermill>=2.5", "pandas>=99")
    installed = {"numpy": "2.1.3", "ipy-widgets": "7.7.1", "pandas": "2.2.3"}
    assert [req.name for req in environment.missing_requirements(path, installed)] == ["papermill"]
    assert environment.outdated_requirements(path, installed) == ["pandas 2.2.3 (wants >=99)"]


def test_install_pins_everything_installed_and_asks_only_for_what_is_missing(tmp_path, monkeypatch):
    path = write_requirements(tmp_path, "numpy>=1.24", "surely-not-installed-xyz>=1.0")
    calls = []

    def fake_run(command, check):
        constraints = command[command.index("--constraint") + 1]
        calls.append((command, open(constraints).read()))

    monkeypatch.setattr(environment.subprocess, "run", fake_run)
    assert environment.install_missing(path) == ["surely-not-installed-xyz"]
    ((command, pins),) = calls
    assert command[:4] == [sys.executable, "-m", "pip", "install"] and command[-1] == "surely-not-installed-xyz>=1.0"
    assert "numpy" not in command[-1] and "--upgrade" not in command
    assert f"numpy=={environment.installed_versions()['numpy']}\n" in pins  # what is there stays as it is
    calls.clear()
    assert environment.install_missing(write_requirements(tmp_path, "numpy>=1.0")) == [] and calls == []


def test_ensure_requirements_installs_only_on_colab(tmp_path, monkeypatch, capsys):
    path = write_requirements(tmp_path, "surely-not-installed-xyz>=1.0")
    installs = []
    monkeypatch.setattr(environment, "install_missing", installs.append)
    environment.ensure_requirements(path)
    assert "missing: surely-not-installed-xyz>=1.0" in capsys.readouterr().out and installs == []
    monkeypatch.setitem(sys.modules, "google.colab", object())
    environment.ensure_requirements(path)
    assert installs == [path]


def test_warnings_print_without_the_echoed_source_line(monkeypatch):
    monkeypatch.setattr(warnings, "formatwarning", environment.STANDARD_FORMATWARNING)  # as if no notebook started here
    line = "    warnings.warn(f'{len(problems)} problem(s)')"
    assert line.strip() in warnings.formatwarning("3 problem(s)", UserWarning, "datasets.py", 557, line)
    environment.quiet_warnings()
    assert warnings.formatwarning("3 problem(s)", UserWarning, "datasets.py", 557, line) == "UserWarning: 3 problem(s)\n"
