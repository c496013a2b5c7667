"""JupyterLab in a real browser: notebooks 00, 01 and 09 opened, run and explored as a student would.

`make test-ui` runs this file (it is left out of `make test`): JupyterLab on 127.0.0.1 with the
smoke profile and the tests' tiny data set, Debian's Chromium (/usr/bin/chromium or $CHROMIUM)
driven by Playwright. Each notebook must open without being marked modified, run without an
error in any cell, and its widget must redraw its figure (alt text and pixels) when moved.
Screenshots land in runs/ui/.
"""

from __future__ import annotations

import io
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from helpers import notebooks
from helpers.config import REPO_ROOT
from helpers.workbook import NOTEBOOK_DIR, smoke_data_root

pytestmark = pytest.mark.ui

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO_ROOT / "runs" / "ui"
NOTEBOOKS = ("00_getting_started", "01_data_cleaning", "09_gaussian_sobel_bonus")
KERNEL_START_TRIES = 3
RUN_TIMEOUT_S = 240
LAB_SETTINGS = {  # every cell in the page (no windowing), no news or update checks
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}


@dataclass
class Lab:
    url: str
    token: str
    root: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def lab_environment(home: Path) -> dict[str, str]:
    """A student's environment: widgets live (no CI / quiet flags), smoke profile, tiny data, private folders."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("CI", "WORKBOOK_QUIET", "PAPERMILL_EXECUTION", "MPLBACKEND")}
    env.update(WORKBOOK_PROFILE="smoke", WORKBOOK_DATA=str(smoke_data_root()), WORKBOOK_RUNS=str(home / "runs"),
               WORKBOOK_CACHE=str(home / "cache"), JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               IPYTHONDIR=str(home / "ipython"), OMP_NUM_THREADS="1")
    for name, values in LAB_SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return env


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    """JupyterLab serving copies of the three notebooks from runs/ui/notebooks (inside the repo: the bootstrap finds helpers)."""
    home = tmp_path_factory.mktemp("lab")
    root = SCREENSHOTS / "notebooks"
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    root.mkdir(parents=True)
    for name in NOTEBOOKS:
        shutil.copy(NOTEBOOK_DIR / f"{name}.ipynb", root)
    port, token = free_port(), secrets.token_hex(16)
    log = open(home / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True"],
        env=lab_environment(home), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start:\n{(home / 'server.log').read_text()[-3000:]}") from None
                time.sleep(0.5)
        yield Lab(url, token, root)
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium` (or set CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(60_000)
        yield context
        context.close()


# ---------------------------------------------------------------------------------------- helpers

NOTEBOOK_STATE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.widgets.filter(cell => cell.model.type === 'code');
  const errors = [];
  cells.forEach((cell, number) => cell.model.outputs.toJSON().forEach(output => {
    if (output.output_type === 'error') errors.push(`code cell ${number + 1}: ${output.ename}: ${output.evalue}`);
  }));
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return {status: kernel ? kernel.status : 'none', errors,
          pending: cells.filter(cell => cell.model.executionCount === null).length,
          running: cells.filter(cell => cell.promptNode && cell.promptNode.textContent.includes('*')).length,
          dirty: panel.context.model.dirty};
}"""


def notebook_state(page) -> dict:
    return page.evaluate(NOTEBOOK_STATE)


def open_notebook(page, lab: Lab, name: str) -> None:
    """Open a notebook and wait for its kernel; reload and try again when the kernel does not come up."""
    for attempt in range(1, KERNEL_START_TRIES + 1):
        workspace = f"ui-{name[:2]}-{attempt}"  # a fresh workspace: no tab of another notebook comes back
        page.goto(f"{lab.url}/lab/workspaces/{workspace}/tree/{name}.ipynb?reset&token={lab.token}")
        try:
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
            page.wait_for_function("name => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                                   " && window.jupyterapp.shell.currentWidget.context.path === `${name}.ipynb`"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"
                                   " === 'idle'", arg=name, timeout=60_000)
            return
        except Exception:
            if attempt == KERNEL_START_TRIES:
                raise
            page.screenshot(path=str(SCREENSHOTS / f"{name[:2]}_kernel_start_try_{attempt}.png"))


def run_all(page, name: str) -> None:
    """Run every cell, as Run → Run All Cells does, and wait until the last one has run (or one failed)."""
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        state = notebook_state(page)
        assert state["errors"] == [], f"{name}: {state['errors']}"
        if state["pending"] == 0 and state["running"] == 0 and state["status"] == "idle":
            return
        assert time.monotonic() < deadline, f"{name}: still running after {RUN_TIMEOUT_S} s: {state}"
        time.sleep(0.5)


def assert_no_error_shown(page, name: str) -> None:
    text = page.locator(".jp-NotebookPanel .jp-OutputArea").all_inner_texts()
    joined = "\n".join(text)
    for sign in ("Error displaying widget", "Traceback (most recent call last)", "Kernel is running over TCP"):
        assert sign not in joined, f"{name}: '{sign}' shown in an output"
    assert notebook_state(page)["errors"] == []


def slider(page, description: str):
    """The ipywidgets slider labelled `description` (ipywidgets 8 markup)."""
    return page.locator(".widget-slider").filter(has=page.locator(".widget-label", has_text=description)).first


def widget_picture(page, description: str):
    """The figure drawn by the widget whose slider is labelled `description`."""
    cell = page.locator(".jp-CodeCell").filter(has=slider(page, description)).first
    return cell, cell.locator(".widget-output img[alt]").first


def move_slider(page, description: str, value: str) -> None:
    """Type a value into the slider's readout and press Enter, as a student can."""
    readout = slider(page, description).locator(".widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(value)
    page.keyboard.press("Enter")


def pixels(picture) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(picture.screenshot())).convert("RGB"), dtype=np.int16)


def explore(page, name: str, description: str, value: str, first_title: str, moved_title: str) -> list[str]:
    """Move one widget's slider; check the figure's title (alt text) and pixels change; return the screenshots."""
    cell, picture = widget_picture(page, description)
    picture.wait_for(state="visible")
    assert cell.locator(".workbook-reload-hint").count() == 1, f"{name}: no reload hint under the widget"
    assert picture.get_attribute("alt") == first_title
    before = pixels(picture)
    shots = [f"{name[:2]}_{description}_before.png", f"{name[:2]}_{description}_after.png"]
    cell.screenshot(path=str(SCREENSHOTS / shots[0]))
    move_slider(page, description, value)
    page.wait_for_function("([selector, title]) => [...document.querySelectorAll(selector)].some(img => img.alt === title)",
                           arg=[".widget-output img[alt]", moved_title], timeout=60_000)
    _, picture = widget_picture(page, description)
    after = pixels(picture)
    cell.screenshot(path=str(SCREENSHOTS / shots[1]))
    changed = before.shape != after.shape or float(np.abs(before - after).mean()) > 0.5
    assert changed, f"{name}: moving {description} to {value} did not change the figure's pixels"
    return shots


WIDGETS = {  # notebook: slider description, value to move to, figure title before and after
    "00_getting_started": ("frame", "5", "Frame 1 of {count}", "Frame 5 of {count}"),
    "01_data_cleaning": ("frame", "2", "Frames flagged by a defect check: 1 of {count}",
                         "Frames flagged by a defect check: 2 of {count}"),
    "09_gaussian_sobel_bonus": ("sigma", "3", "Smoothing scale σ = 1.5", "Smoothing scale σ = 3.0"),
}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_in_jupyterlab(name, lab, browser):
    page = browser.new_page()
    started = time.monotonic()
    try:
        open_notebook(page, lab, name)
        page.screenshot(path=str(SCREENSHOTS / f"{name[:2]}_opened.png"))
        if platform.python_version() == notebooks.LANGUAGE_INFO["version"]:  # JupyterLab copies the kernel's
            assert notebook_state(page)["dirty"] is False, f"{name} is marked modified as soon as it opens"
        run_all(page, name)
        assert_no_error_shown(page, name)
        description, value, first, moved = WIDGETS[name]
        count = slider(page, description).locator("input, .noUi-handle").first.get_attribute("aria-valuemax")
        count = str(int(float(count))) if count else "?"
        explore(page, name, description, value, first.format(count=count), moved.format(count=count))
        assert_no_error_shown(page, name)
        page.screenshot(path=str(SCREENSHOTS / f"{name[:2]}_done.png"), full_page=True)
        if name == NOTEBOOKS[-1]:
            reload_keeps_the_hint(page, name)
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / f"{name[:2]}_failure.png"))
        raise
    finally:
        print(f"{name}: {time.monotonic() - started:.1f} s in the browser")
        page.close()


def reload_keeps_the_hint(page, name: str) -> None:
    """Saved, then reloaded: the widget cannot come back by itself, the hint under it says what to do."""
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
    page.reload()
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
    hint = page.locator(".workbook-reload-hint").first
    hint.wait_for(state="visible")
    assert "run this cell again" in hint.inner_text().lower()
    hint.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / f"{name[:2]}_after_reload.png"))
