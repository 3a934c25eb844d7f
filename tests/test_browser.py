"""The classroom door: JupyterLab in a real browser (Chromium driven by Playwright), Run All on
every notebook, as a student does it; and the reader's door, the website of the executed series.

The kernel starts in the notebook's own folder, not the repository root. Each notebook is opened
as it is committed, with papermill's injected parameters sending figures and runs to a temporary
folder (so the test leaves asset/ alone); 02 runs once more on a small subset with reuse=False,
to train and show the progress bar. Each notebook's Run All time is printed and written to
runs/jupyterlab-run-all.json, or to $CIFAR_RUN_ALL_REPORT (benchmarks/timings.py sets it).

Needs a Chromium: $CHROMIUM, or `chromium` on the PATH (Debian's package; .ci/run installs it).
Without one the test is skipped, unless CIFAR_REQUIRE_BROWSER=1 (set by .ci/run) makes that a
failure.
"""

import contextlib
import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import nbformat
import papermill
import pytest

from cifar_helpers.paths import REPO

pytestmark = pytest.mark.browser

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
TRAINING = "02_lenet5_training.ipynb"  # 02 again, small, training instead of loading
# Chromium as these machines run it: no sandbox as root, no calls home (the network is closed).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = ("no Chromium found: install Debian's `chromium` package (apt-get install chromium) or "
              "set CHROMIUM to a Chromium executable")
    if os.environ.get("CIFAR_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare(lab: Path, tmp: Path) -> dict[str, dict]:
    """Copies of the notebooks for the lab, with parameters injected as papermill does it."""
    out = dict(runs_dir=str(tmp / "runs"), figures_dir=str(tmp / "asset"))
    plans = {}
    for notebook in NOTEBOOKS:
        parameters = {"figures_dir": out["figures_dir"]}
        if notebook.name[:2] in ("02", "03", "05"):
            parameters["runs_dir"] = out["runs_dir"]
        plans[notebook.name] = parameters
    plans[TRAINING] = dict(out, subset=500, test_subset=500, epochs=1, reuse=False, original_variant=False,
                           figures_dir=str(tmp / "asset-training"))
    for name, parameters in plans.items():
        source = REPO / "notebooks" / (NOTEBOOKS[1].name if name == TRAINING else name)
        papermill.execute_notebook(str(source), str(lab / name), parameters=parameters, prepare_only=True,
                                   kernel_name="python3")
    return plans


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory, cifar):
    """A JupyterLab server on a free localhost port, serving a folder of notebook copies."""
    tmp = tmp_path_factory.mktemp("browser")
    lab = tmp / "lab"
    lab.mkdir()
    plans = _prepare(lab, tmp)
    # Every cell in the page (no virtual scrolling), so the test can read each prompt.
    settings = tmp / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    # No "would you like news?" prompt: the machine is offline, and the toast covers outputs.
    notification = tmp / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port, token = _free_port(), "cifar-notebooks-test"
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTER_CONFIG_DIR=str(tmp / "config"))
    log = open(tmp / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={lab}", "--ServerApp.port_retries=0",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start: {(tmp / 'jupyterlab.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield dict(url=url, token=token, lab=lab, tmp=tmp, plans=plans)
    server.terminate()
    server.wait(timeout=30)
    log.close()


def _kernel_state(url: str, token: str, name: str) -> str | None:
    """The execution state ('busy', 'idle', ...) of the kernel of the notebook `name`, from the server."""
    headers = {"Authorization": f"token {token}"}
    with urllib.request.urlopen(urllib.request.Request(f"{url}/api/sessions", headers=headers)) as response:
        kernels = [s["kernel"] for s in json.load(response) if s.get("path", "").endswith(name)]
    return kernels[0]["execution_state"] if kernels else None


def _dismiss_dialogs(page) -> list[str]:
    """Close a modal JupyterLab dialog that would take the next click (a run of the suite once had
    one intercept the Run menu), returning its text so that a failure can name it."""
    texts = page.eval_on_selector_all(".jp-Dialog", "els => els.map(e => e.innerText.slice(0, 300))")
    for _ in texts:
        page.keyboard.press("Escape")
        page.wait_for_timeout(300)
    return texts


def _run_all(page, url: str, name: str, token: str, timeout_s: float = 600) -> tuple[float, float]:
    """Open a notebook, Run All from the Run menu, wait until it has run, save. Done is the page's
    view (every cell numbered, or a cell seen queued or running and none now) or the server's (its
    kernel, once busy, idle for 3 s): the page may not draw every cell. A Run All that has not
    started 30 s after its click (a run of the suite once waited 600 s on one that never began) is
    clicked again, twice at most. Returns the seconds from opening to an idle kernel, and from the
    (last) click to the end."""
    opened = time.monotonic()
    page.goto(f"{url}/lab/tree/{name}?reset&token={token}")  # reset: only this notebook open
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    ready = time.monotonic() - opened
    dialogs = []
    for _ in range(3):
        dialogs += _dismiss_dialogs(page)
        page.click("li.lm-MenuBar-item:has-text('Run')")
        page.click("li.lm-Menu-item[data-command='runmenu:run-all']")
        started = time.monotonic()
        seen_running = kernel_busy = False
        idle_since = None
        while time.monotonic() - started < timeout_s:
            prompts = page.eval_on_selector_all(".jp-CodeCell .jp-InputPrompt", "els => els.map(e => e.textContent)")
            running = any("*" in p for p in prompts)
            numbered = bool(prompts) and all(any(ch.isdigit() for ch in p) for p in prompts)
            seen_running |= running
            state = _kernel_state(url, token, name)
            kernel_busy |= state == "busy"
            idle_since = (idle_since or time.monotonic()) if kernel_busy and state == "idle" else None
            if not running and (numbered or seen_running or (idle_since and time.monotonic() - idle_since >= 3)):
                break
            if not (seen_running or kernel_busy or numbered) and time.monotonic() - started > 30:
                break  # not started: click again
            time.sleep(0.25)
        if seen_running or kernel_busy or numbered:
            break
    if time.monotonic() - started >= timeout_s or not (seen_running or kernel_busy or numbered):
        shot = Path(tempfile.gettempdir()) / f"run-all-{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        pytest.fail(f"{name}: Run All did not finish within {timeout_s:.0f} s, or did not start after three "
                    f"clicks (cells queued or running in view: {seen_running and running}; its kernel "
                    f"{_kernel_state(url, token, name)}; dialogs closed: {dialogs}); the page as it was: {shot}")
    took = time.monotonic() - started
    dialogs += _dismiss_dialogs(page)
    if dialogs:
        print(f"{name}: JupyterLab showed a dialog, closed with Escape: {dialogs}")
    page.click("li.lm-MenuBar-item:has-text('File')")
    page.click("li.lm-Menu-item[data-command='docmanager:save']")
    page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')", timeout=30_000)
    return ready, took


def _shut_down_kernels(url: str, token: str) -> None:
    """Each notebook's kernel holds CIFAR-10 in memory: end them before the next notebook."""
    headers = {"Authorization": f"token {token}"}
    with urllib.request.urlopen(urllib.request.Request(f"{url}/api/sessions", headers=headers)) as response:
        sessions = json.load(response)
    for session in sessions:
        urllib.request.urlopen(urllib.request.Request(f"{url}/api/sessions/{session['id']}", headers=headers,
                                                      method="DELETE")).close()


def test_run_all_in_jupyterlab(jupyterlab):
    from playwright.sync_api import sync_playwright

    chromium = _chromium()
    lab, tmp = jupyterlab["lab"], jupyterlab["tmp"]
    timings = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        for name in jupyterlab["plans"]:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            before = {p.name for p in (tmp / "runs").glob("*")} if (tmp / "runs").exists() else set()
            timings[name] = _run_all(page, jupyterlab["url"], name, jupyterlab["token"])
            images = page.locator(".jp-OutputArea-output img").count()
            widgets = page.locator(".jp-OutputArea-output .widget-hprogress").count()
            shown = page.locator(".jp-OutputArea-output .widget-hprogress, .jp-OutputArea-output img").first
            if shown.count():
                shown.scroll_into_view_if_needed()
            page.screenshot(path=str(tmp / f"{name}.png"), full_page=True)
            page.close()
            _shut_down_kernels(jupyterlab["url"], jupyterlab["token"])

            nb = nbformat.read(lab / name, as_version=4)  # as the browser saved it
            code = [c for c in nb.cells if c.cell_type == "code"]
            outputs = [o for c in code for o in c.outputs]
            errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
            assert errors == [], name
            assert all(c.execution_count for c in code), f"{name}: not every cell ran"
            text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
            assert "Skipped" not in text and "Traceback" not in text, name
            if name[:2] != "04":
                # 04 draws the lr sweep and the comparison; every other notebook too has figures.
                assert images >= 1, f"{name}: no figure rendered"
            after = {p.name for p in (tmp / "runs").glob("*")} if (tmp / "runs").exists() else set()
            if name == TRAINING:
                assert len(after - before) == 1, "the small 02 run should train one run"
                assert widgets >= 1, "the training progress bar did not render as a widget"
                assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
            else:
                assert after == before, f"{name} trained instead of loading the shipped run"
                loads = {"02": 2, "03": 1, "05": 1}.get(name[:2], 0)
                assert text.count("Loading the finished run") == loads, name
        browser.close()
    assert {p.name for p in (tmp / "asset").iterdir()} >= {
        "cifar.png", "lenet5_1e-3.png", "lenet5-original_1e-3.png", "own-network_1e-3.png", "comparison.png",
        "whitened-net.png", "ablation.png"}
    report = {"cpu_count": os.cpu_count(),
              "seconds_to_idle_kernel": {k: round(v[0], 1) for k, v in timings.items()},
              "seconds_run_all": {k: round(v[1], 1) for k, v in timings.items()}}
    (REPO / "runs").mkdir(exist_ok=True)
    Path(os.environ.get("CIFAR_RUN_ALL_REPORT", REPO / "runs" / "jupyterlab-run-all.json")).write_text(
        json.dumps(report, indent=1))
    print("JupyterLab, seconds from opening to an idle kernel:", report["seconds_to_idle_kernel"])
    print("JupyterLab, seconds of Run All:", report["seconds_run_all"])


AXE = REPO / "build" / "axe" / "node_modules" / "axe-core" / "axe.min.js"  # .ci/run installs it from npm


def _axe() -> Path:
    found = Path(os.environ.get("AXE_CORE_JS", AXE))
    if found.is_file():
        return found
    reason = (f"no axe-core at {found}: install it with `npm install --prefix build/axe axe-core@4` "
              "(or set AXE_CORE_JS to its axe.min.js)")
    if os.environ.get("CIFAR_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@contextlib.contextmanager
def _served(folder: Path):
    """A quiet local web server of `folder`, as a reader's `python3 -m http.server` would serve it."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def _check_page(page, url: str, name: str, axe: Path) -> set[str]:
    """Load a page of the site: every image loaded, no serious or critical axe-core violation.
    Returns the site's own links on it."""
    page.goto(f"{url}/{name}", wait_until="load")
    broken = page.evaluate("() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))"
                           ".map(i => i.getAttribute('src'))")
    assert broken == [], f"{name}: images that did not load: {broken}"
    page.add_script_tag(path=str(axe))
    violations = page.evaluate("async () => (await axe.run()).violations.filter(v => "
                               "['serious', 'critical'].includes(v.impact)).map(v => v.id + ': ' + "
                               "v.nodes.slice(0, 2).map(n => n.html.slice(0, 200)).join(' | '))")
    assert violations == [], f"{name}: accessibility (axe-core): {violations}"
    links = page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
    return {link for link in links if link.startswith(url)}


def test_the_website_in_the_browser(built_site):
    """Every page of the executed series' website, served as a reader serves it: its images load,
    its math is typeset, its links lead to pages and anchors that exist, search finds LeNet5, and
    axe-core finds no serious or critical accessibility problem."""
    from playwright.sync_api import sync_playwright

    chromium, axe = _chromium(), _axe()
    site = built_site.parent
    with _served(site) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        links = set()
        for html in sorted(site.glob("*.html")):
            links |= _check_page(page, url, html.name, axe)
        page.goto(f"{url}/01_dataset_tour.html")
        page.wait_for_selector("mjx-container", timeout=30_000)  # MathJax, served by the site itself
        for link in sorted(links):
            target, _, anchor = link.partition("#")
            response = page.request.get(target)
            assert response.ok, f"{link}: {response.status}"
            if anchor and target.endswith(".html"):
                assert f'id="{anchor}"' in response.text(), f"{link}: no such anchor"
        page.goto(f"{url}/search.html?q=LeNet5")
        page.wait_for_selector("#search-results li", timeout=30_000)
        found = page.eval_on_selector_all("#search-results li a", "els => els.map(a => a.getAttribute('href'))")
        assert any(href.startswith("02_lenet5") for href in found), found
        browser.close()
