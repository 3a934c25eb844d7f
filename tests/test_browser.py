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

import base64
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
from conftest import write_photo

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
    plans[TRAINING] = dict(out, subset=500, test_subset=500, epochs=3, reuse=False, original_variant=False,
                           figures_dir=str(tmp / "asset-training"), loop_images=1000, loop_epochs=1)
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


def _run_all(page, url: str, name: str, token: str, timeout_s: float = 600, watch=None) -> tuple[float, float]:
    """Open a notebook, Run All from the Run menu, wait until it has run, save. Done is the page's
    view (every cell numbered, or a cell seen queued or running and none now) or the server's (its
    kernel, once busy, idle for 3 s): the page may not draw every cell. A Run All that has not
    started 30 s after its click (a run of the suite once waited 600 s on one that never began) is
    clicked again, twice at most. `watch(page)`, if given, looks at the page while it runs. Returns
    the seconds from opening to an idle kernel, and from the (last) click to the end."""
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
            if watch is not None:
                watch(page)
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


class _LiveCurveWatch:
    """What the training cell of 02 shows while it runs: each version of its figure (the learning
    curve redrawn after every epoch), and the most figures it held at once. A MutationObserver in
    the page sees every version, however fast the epochs go; `look` reads what it saw."""

    OBSERVE = """() => {
      if (window.curveSeen) return;
      window.curveSeen = {drawn: new Set(), most: 0};
      const look = () => {
        const cell = [...document.querySelectorAll('.jp-CodeCell')].find(c =>
          (c.querySelector('.jp-InputArea')?.textContent || '').includes('run = fit_or_load('));
        if (!cell) return;
        const images = [...cell.querySelectorAll('.jp-OutputArea-output img')];
        images.forEach(i => window.curveSeen.drawn.add(i.src.length + ':' + i.src.slice(-80)));
        window.curveSeen.most = Math.max(window.curveSeen.most, images.length);
      };
      new MutationObserver(look).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                         attributeFilter: ['src']});
    }"""

    def __init__(self):
        self.drawn, self.most_at_once = 0, 0

    def look(self, page) -> None:
        page.evaluate(self.OBSERVE)
        self.drawn, self.most_at_once = page.evaluate("() => [window.curveSeen.drawn.size, window.curveSeen.most]")


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
    timings, curve = {}, _LiveCurveWatch()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        for name in jupyterlab["plans"]:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            before = {p.name for p in (tmp / "runs").glob("*")} if (tmp / "runs").exists() else set()
            timings[name] = _run_all(page, jupyterlab["url"], name, jupyterlab["token"],
                                     watch=curve.look if name == TRAINING else None)
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
                # The learning curve grew in place: one figure in the training cell, redrawn epoch by epoch.
                assert curve.most_at_once == 1 and curve.drawn >= 2, (curve.most_at_once, curve.drawn)
                trained = next(c for c in code if c.source.startswith("run = fit_or_load("))
                assert sum("image/png" in o.get("data", {}) for o in trained.outputs) == 1
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


PROBABILITY_TOLERANCE = 1e-4  # ONNX Runtime Web against PyTorch, for the same 32x32 pixels


def _expected(networks, pixels, data) -> dict[str, list[float]]:
    from cifar_helpers.shipped import class_probabilities

    return {run.config.model: class_probabilities(run, pixels[None], data)[0].tolist() for run in networks.values()}


def _page_results(page) -> dict[str, tuple[str, list[float]]]:
    shown = page.eval_on_selector_all(".try-network", "els => els.map(e => [e.dataset.network, e.dataset.top, "
                                                     "JSON.parse(e.dataset.probabilities)])")
    return {model: (top, probabilities) for model, top, probabilities in shown}


def _agree(page, networks, pixels, data) -> None:
    """Each network on the page gives PyTorch's top class and probabilities for these pixels."""
    shown, expected = _page_results(page), _expected(networks, pixels, data)
    assert set(shown) == set(expected) == {"lenet5", "own-network", "whitened-net"}
    for model, probabilities in expected.items():
        top, on_page = shown[model]
        assert top == data.classes[probabilities.index(max(probabilities))], model
        assert max(abs(a - b) for a, b in zip(on_page, probabilities)) < PROBABILITY_TOLERANCE, model


def _seen(page):
    import torch

    rgb = json.loads(page.get_attribute("#try", "data-seen"))
    return torch.tensor(rgb, dtype=torch.uint8).view(32, 32, 3).permute(2, 0, 1)


def test_the_try_page_classifies_like_pytorch(built_site, cifar, tmp_path):
    """The website's try page in Chromium, served as a reader serves it: the three networks load;
    from then on the page works offline. A picked test image is classified by each network with
    PyTorch's probabilities; a photo chosen is cut and shrunk to the very pixels notebook 03's cell
    gives it, and one dropped on the page is classified alike; the feature maps follow the chosen network;
    axe-core finds no serious or critical violation once everything is drawn."""
    import torch
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from cifar_helpers.photos import as_the_networks_see_it, open_photo
    from cifar_helpers.shipped import load_networks

    chromium, axe = _chromium(), _axe()
    networks = load_networks()
    manifest = json.loads((built_site.parent / "_static" / "try" / "manifest.json").read_text())
    picked = manifest["images"][13]
    # A PNG (Chromium and PIL decode the same pixels) of noise, 100 pixels high: its square's side
    # is no multiple of 32, so pixel centres fall on the box filter's edges; half of its lower half
    # is see-through, laid on white by both.
    noise = torch.randint(0, 256, (120, 100, 4), generator=torch.Generator().manual_seed(5), dtype=torch.uint8)
    noise[..., 3] = 255
    noise[60:, :, 3] *= torch.rand(60, 100, generator=torch.Generator().manual_seed(6)) < 0.5  # see-through or not
    photo = tmp_path / "noise.png"
    Image.fromarray(noise.numpy(), "RGBA").save(photo)
    photo_seen = as_the_networks_see_it(open_photo(photo))
    with _served(built_site.parent) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        page = context.new_page()
        page.goto(f"{url}/try.html")
        page.wait_for_selector("#try[data-ready='true']", timeout=120_000)
        page.wait_for_function("() => [...document.querySelectorAll('.try-pick img')].every(i => i.complete "
                               "&& i.naturalWidth > 0)")
        assert page.locator(".try-pick").count() == len(manifest["images"]) == 40
        context.set_offline(True)

        page.click(f".try-pick[data-index='{picked['index']}']")
        page.wait_for_function("source => document.getElementById('try').dataset.source === source",
                               arg=f"test-{picked['index']}")
        image = cifar.test_images[picked["index"]]
        assert torch.equal(_seen(page), image)
        _agree(page, networks, image, cifar)
        assert f"Classified test image {picked['index']}" in page.inner_text("#try-status")

        page.set_input_files("#try-photo", str(photo))
        page.wait_for_function("() => (document.getElementById('try').dataset.source || '').startsWith('photo:')")
        assert torch.equal(_seen(page), photo_seen), "the page cuts and shrinks a photo as notebook 03 does"
        _agree(page, networks, photo_seen, cifar)
        assert "Classified your photo noise.png" in page.inner_text("#try-status")

        # Dropped on the page: a test image blown up 3x, which shrinks back to its own pixels.
        dropped = cifar.test_images[picked["index"] + 1]
        big = write_photo(dropped, tmp_path / "dropped.png").read_bytes()
        transfer = page.evaluate_handle(
            "b64 => { const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0)); const t = new DataTransfer(); "
            "t.items.add(new File([bytes], 'dropped.png', {type: 'image/png'})); return t; }",
            base64.b64encode(big).decode())
        page.dispatch_event("#try-drop", "drop", {"dataTransfer": transfer})
        page.wait_for_function("() => document.getElementById('try').dataset.source === 'photo:dropped.png'")
        assert torch.equal(_seen(page), dropped)
        _agree(page, networks, dropped, cifar)

        assert page.locator("#try-maps canvas").count() == 6  # LeNet5's conv1, shown first
        page.check("#try-layer-own-network")
        page.wait_for_function("() => document.querySelectorAll('#try-maps canvas').length === 16")
        page.add_script_tag(path=str(axe))
        violations = page.evaluate("async () => (await axe.run()).violations.filter(v => ['serious', "
                                   "'critical'].includes(v.impact)).map(v => v.id + ': ' + v.nodes.length)")
        assert violations == [], violations
        browser.close()
