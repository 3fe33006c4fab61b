"""The final notebook in a real browser: JupyterLab + headless Chromium, driven with selenium.

A JupyterLab server is started on 127.0.0.1 (a free port, a random token, no browser opened) in
a temporary root holding a copy of ``notebooks/11_colorize_your_own.ipynb``, with its own
config, data, runtime, settings and workspace folders, so nothing touches the user's Jupyter
setup. Headless Chromium (Debian's ``chromium`` + ``chromium-driver``, a fresh profile) opens
the notebook, runs all cells, checks that the widgets rendered, uploads a photo and a bad file
through the rendered upload button (a colorized photo, then a message), presses the right-arrow
key on the rendered receptive-field slider and then drags it with the mouse, and checks that the
kernel redrew the widget each time (the printed text goes from 70x70 to 142x142, then 286x286). A
screenshot of the notebook goes to the pytest temporary folder and to
``runs/browser/screenshot.png`` (with one picture per widget beside it).

Without chromium, chromedriver or selenium the test is skipped with the reason, except under
``CI=true``, where it fails: CI must not skip it silently (``.ci/install-browser`` installs the
browser). Every wait has a timeout, and the server and the browser are always shut down.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from colorlab.data import sample_images
from colorlab.inference import save_png
from colorlab.widgets import patch_geometry

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "11_colorize_your_own.ipynb"
SCREENSHOT_COPY = REPO / "runs" / "browser" / "screenshot.png"
WIDGET_PICTURES = ("lab-explorer", "training-monitor", "colorize")  # .colorlab-NAME, NAME.png

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1400",
)

SERVER_START_TIMEOUT = 90  # s until JupyterLab answers
NOTEBOOK_OPEN_TIMEOUT = 120  # s until the notebook is open with an idle kernel
RUN_ALL_TIMEOUT = 300  # s for all cells (the notebook takes < 90 s)
WIDGET_TIMEOUT = 60  # s for a widget to render or to react to the slider
SHUTDOWN_TIMEOUT = 20  # s for the server to stop before it is killed


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _unavailable(what: str) -> None:
    message = (
        f"the real-browser test needs {what}: run .ci/install-browser (apt-get install "
        f"chromium chromium-driver) and pip install -e '.[dev]' (selenium)"
    )
    if _in_ci():
        pytest.fail(message + " [CI=true: failing instead of skipping]", pytrace=False)
    pytest.skip(message)


def _find(names: tuple[str, ...], fallbacks: tuple[str, ...]) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return next((p for p in fallbacks if os.access(p, os.X_OK)), None)


@pytest.fixture(scope="module")
def browser_paths() -> dict[str, str]:
    """Paths of chromium and chromedriver (skip, or fail under CI, when missing)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        _unavailable("the selenium package")
    chromium = _find(("chromium", "chromium-browser"), ("/usr/bin/chromium",))
    driver = _find(("chromedriver",), ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"))
    if chromium is None:
        _unavailable("the chromium browser")
    if driver is None:
        _unavailable("chromedriver (Debian package chromium-driver)")
    return {"chromium": chromium, "chromedriver": driver}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(url: str, token: str, method: str = "GET", timeout: float = 5.0) -> int:
    req = urllib.request.Request(url, method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310 - 127.0.0.1 only
        return response.status


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


class LabServer:
    """A JupyterLab server in a temporary root; ``url`` and ``token`` to reach it."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root, self.home = root, home
        self.port = _free_port()
        self.token = secrets.token_hex(24)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "jupyterlab.log"
        self.proc: subprocess.Popen | None = None

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # inline plots
        dirs = {
            "JUPYTER_CONFIG_DIR": "config",
            "JUPYTER_DATA_DIR": "data",
            "JUPYTER_RUNTIME_DIR": "runtime",
            "JUPYTERLAB_SETTINGS_DIR": "settings",
            "JUPYTERLAB_WORKSPACES_DIR": "workspaces",
            "IPYTHONDIR": "ipython",
        }
        for var, sub in dirs.items():
            (self.home / sub).mkdir(parents=True, exist_ok=True)
            env[var] = str(self.home / sub)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def write_settings(self) -> None:
        settings = self.home / "settings"
        # every cell in the DOM (no virtual scrolling), no news or update prompts
        _write_json(
            settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings",
            {"windowingMode": "none"},
        )
        _write_json(
            settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
            {"fetchNews": "false", "checkForUpdates": False},
        )

    def start(self) -> None:
        self.write_settings()
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.allow_root=True",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._log = log
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.root,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with code {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                if _request(f"{self.url}/api/status", self.token, timeout=2.0) == 200:
                    return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise RuntimeError(
            f"JupyterLab did not answer on {self.url} within "
            f"{SERVER_START_TIMEOUT} s:\n{self.log_tail()}"
        )

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Ask the server to shut down (it stops its kernels), then terminate, then kill."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                _request(f"{self.url}/api/shutdown", self.token, method="POST", timeout=5.0)
            except (urllib.error.URLError, OSError):
                pass
            try:
                proc.wait(timeout=SHUTDOWN_TIMEOUT)
            except subprocess.TimeoutExpired:
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    try:
                        os.killpg(proc.pid, sig)
                        proc.wait(timeout=10)
                        break
                    except (ProcessLookupError, subprocess.TimeoutExpired):
                        continue
        self._log.close()


@pytest.fixture(scope="module")
def lab(browser_paths, tmp_path_factory) -> Iterator[LabServer]:
    root = tmp_path_factory.mktemp("lab-root")
    shutil.copy2(NOTEBOOK, root / NOTEBOOK.name)
    server = LabServer(root, tmp_path_factory.mktemp("lab-home"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(browser_paths, tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    home = tmp_path_factory.mktemp("chromium")
    options = webdriver.ChromeOptions()
    options.binary_location = browser_paths["chromium"]
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={home / 'profile'}")
    service = Service(
        executable_path=browser_paths["chromedriver"], log_output=str(home / "chromedriver.log")
    )
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_page_load_timeout(60)
        driver.set_script_timeout(30)
        yield driver
    finally:
        driver.quit()


def wait_for(what: str, probe: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Call ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    from selenium.common.exceptions import WebDriverException

    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except WebDriverException as err:
            last = err
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


NOTEBOOK_READY_JS = """
const app = window.jupyterapp;
const nb = app && app.shell && app.shell.currentWidget;
if (!nb || !nb.content || !nb.context || !nb.context.isReady || !nb.sessionContext) return null;
const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
if (!kernel || kernel.status !== 'idle' || nb.content.widgets.length === 0) return null;
return nb.context.path;
"""

RUN_STATE_JS = """
const nb = window.jupyterapp.shell.currentWidget;
const cells = nb.content.widgets.filter(c => c.model.type === 'code');
const errors = [];
let done = 0;
cells.forEach((cell, i) => {
  if (cell.model.executionCount !== null) done += 1;
  for (const out of cell.model.outputs.toJSON()) {
    if (out.output_type === 'error') errors.push(`code cell ${i}: ${out.ename}: ${out.evalue}`);
  }
});
const running = Array.from(nb.node.querySelectorAll('.jp-InputPrompt'))
  .filter(p => p.textContent.includes('*')).length;
const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
return {total: cells.length, done: done, running: running,
        status: kernel ? kernel.status : 'none', errors: errors};
"""


FILE_DIALOG_JS = """
const click = HTMLInputElement.prototype.click;
HTMLInputElement.prototype.click = function () {
  if (this.type !== 'file') return click.call(this);
  this.id = 'colorlab-file-dialog';
  this.style.display = 'block';
  if (!this.isConnected) document.body.appendChild(this);
};
"""


def _text(driver, selector: str) -> str:
    return (
        driver.execute_script(
            "const el = document.querySelector(arguments[0]); return el ? el.textContent : null;",
            selector,
        )
        or ""
    )


def _open_and_run_all(browser, lab: LabServer) -> tuple[dict, float]:
    """Open the notebook, clear its stored outputs and run every cell from scratch, as a student
    would (Run > Run All Cells); returns the final run state and the seconds the run took."""
    browser.get(f"{lab.url}/lab/tree/{NOTEBOOK.name}?token={lab.token}")
    path = wait_for(
        "JupyterLab to open the notebook with an idle kernel",
        lambda: browser.execute_script(NOTEBOOK_READY_JS),
        NOTEBOOK_OPEN_TIMEOUT,
    )
    assert path == NOTEBOOK.name
    browser.execute_script(
        "return window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs');"
    )
    wait_for(
        "the stored outputs to be cleared",
        lambda: browser.execute_script(RUN_STATE_JS)["done"] == 0,
        WIDGET_TIMEOUT,
    )
    browser.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
    t_run = time.monotonic()

    def finished() -> dict | None:
        state = browser.execute_script(RUN_STATE_JS)
        assert not state["errors"], f"cells failed in the browser: {state['errors']}"
        complete = (
            state["done"] == state["total"] and state["running"] == 0 and state["status"] == "idle"
        )
        return state if complete else None

    state = wait_for("all cells to run", finished, RUN_ALL_TIMEOUT, interval=1.0)
    return state, time.monotonic() - t_run


def _check_the_widgets_rendered(browser) -> None:
    """The widgets rendered, with what the kernel computed."""
    from selenium.webdriver.common.by import By

    three = patch_geometry(3).describe()
    wait_for(
        "the receptive-field text",
        lambda: _text(browser, ".colorlab-rf-info") == three,
        WIDGET_TIMEOUT,
    )
    assert "chelsea.png: 451x300 pixels" in _text(browser, ".colorlab-upload-status")
    assert "inside the sRGB gamut" in _text(browser, ".colorlab-lab-explorer")
    monitor_images = browser.find_elements(By.CSS_SELECTOR, ".colorlab-training-monitor img")
    assert len(monitor_images) == 2 and all(
        (img.get_attribute("src") or "").startswith("blob:") for img in monitor_images
    )


def _upload_through_the_button(browser, tmp_path: Path) -> None:
    """A real upload through the rendered FileUpload: a good photo, a file that is not one, the
    photo again.

    The upload button opens the file dialog of a detached <input type=file>; a headless browser
    has no dialog, so the page is told to attach that input to the document when the button asks
    for the dialog, and selenium then picks the file on it (what the dialog does).
    """
    from selenium.webdriver.common.by import By

    browser.execute_script(FILE_DIALOG_JS)
    button = browser.find_element(By.CSS_SELECTOR, ".colorlab-colorize .widget-upload")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()
    file_input = wait_for(
        "the file input of the upload button",
        lambda: browser.find_elements(By.ID, "colorlab-file-dialog"),
        WIDGET_TIMEOUT,
    )[0]
    good = save_png(sample_images(1, size=64, seed=5)[0][:48, :60], tmp_path / "my photo.png")
    file_input.send_keys(str(good))
    wait_for(
        "the uploaded photo to be colorized",
        lambda: (
            "my photo.png: 60x48 pixels, colorized with"
            in _text(browser, ".colorlab-upload-status")
        ),
        WIDGET_TIMEOUT,
    )
    bad = tmp_path / "holiday.png"
    bad.write_bytes(b"this is a text file with a .png name")
    file_input.send_keys(str(bad))
    wait_for(
        "the message about the bad upload",
        lambda: "holiday.png: not an image file" in _text(browser, ".colorlab-upload-status"),
        WIDGET_TIMEOUT,
    )
    file_input.send_keys(str(good))
    wait_for(
        "the photo again",
        lambda: "my photo.png: 60x48" in _text(browser, ".colorlab-upload-status"),
        WIDGET_TIMEOUT,
    )


def _move_the_slider(browser) -> None:
    """Keyboard, then mouse, on the rendered receptive-field slider: the kernel redraws each
    time."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    # keyboard: focus the rendered slider's handle, press the right arrow
    handle = browser.find_element(By.CSS_SELECTOR, ".colorlab-rf-slider .noUi-handle")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", handle)
    image = browser.find_element(By.CSS_SELECTOR, ".colorlab-rf-image")
    src_before = image.get_attribute("src")
    handle.click()
    handle.send_keys(Keys.ARROW_RIGHT)
    four = patch_geometry(4).describe()
    wait_for(
        "the kernel to redraw for n_layers=4",
        lambda: _text(browser, ".colorlab-rf-info") == four,
        WIDGET_TIMEOUT,
    )
    assert "70x70" not in _text(browser, ".colorlab-rf-info")
    wait_for(
        "a new receptive-field image",
        lambda: image.get_attribute("src") != src_before,
        WIDGET_TIMEOUT,
    )

    # mouse: drag the handle to the right end of the track
    track = browser.find_element(By.CSS_SELECTOR, ".colorlab-rf-slider .noUi-target")
    ActionChains(browser).click_and_hold(handle).move_by_offset(
        track.size["width"], 0
    ).release().perform()
    five = patch_geometry(5).describe()
    wait_for(
        "the kernel to redraw for n_layers=5",
        lambda: _text(browser, ".colorlab-rf-info") == five,
        WIDGET_TIMEOUT,
    )


def _screenshot(browser, selector: str, path: Path) -> None:
    """A picture of the element ``selector``, scrolled to the top of the window."""
    from selenium.webdriver.common.by import By

    element = browser.find_element(By.CSS_SELECTOR, selector)
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", element)
    element.screenshot(str(path))


def _save_screenshots(browser, tmp_path: Path) -> Path:
    """The notebook's screenshot (at the receptive-field explorer) in ``tmp_path``, copied with
    the widget pictures to ``runs/browser`` when the checkout is writable; returns its path."""
    from selenium.webdriver.common.by import By

    explorer = browser.find_element(By.CSS_SELECTOR, ".colorlab-rf-explorer")
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", explorer)
    time.sleep(0.5)  # let the new image paint
    shot = tmp_path / "notebook_in_chromium.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    try:
        SCREENSHOT_COPY.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT_COPY)
        for name in WIDGET_PICTURES:
            shutil.copyfile(tmp_path / f"{name}.png", SCREENSHOT_COPY.parent / f"{name}.png")
    except OSError:
        pass  # a read-only checkout still has the copy under the pytest tmp dir
    return shot


def test_final_notebook_runs_in_chromium_and_the_slider_redraws(lab, browser, tmp_path):
    t0 = time.monotonic()
    state, run_seconds = _open_and_run_all(browser, lab)
    assert state["total"] >= 10
    _check_the_widgets_rendered(browser)
    _upload_through_the_button(browser, tmp_path)
    for name in WIDGET_PICTURES:  # one picture per widget
        _screenshot(browser, f".colorlab-{name}", tmp_path / f"{name}.png")
    _move_the_slider(browser)
    shot = _save_screenshots(browser, tmp_path)
    print(
        f"\nbrowser test: {state['total']} code cells ran in {run_seconds:.0f} s, "
        f"{time.monotonic() - t0:.0f} s in the browser; screenshot {shot}"
    )
