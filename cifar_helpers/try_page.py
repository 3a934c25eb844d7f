"""What the website's "try the networks" page (docs/try.md, docs/_static/try.js) runs in the reader's
browser: the shipped networks (shipped.NETWORKS) exported to ONNX from their committed checkpoints,
a few test images of each class, ONNX Runtime Web (npm's onnxruntime-web, served by the site
itself, no CDN) and a manifest that says how each network normalizes its input. Built beside the
site's pages each time the site is built; nothing here is committed."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
from pathlib import Path

import torch
from torch import nn

from .data import CIFAR10
from .paths import REPO, shown
from .shipped import NETWORKS, load_networks, normalization

RUNTIME_PACKAGE = "onnxruntime-web@1.31.1"
RUNTIME_DIR = REPO / "build" / "onnxruntime-web"
# The WebAssembly build of ONNX Runtime Web: its loader, the module it imports, the engine.
RUNTIME_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
IMAGES_PER_CLASS = 4
OPSET = 18


class WithFeatureMaps(nn.Module):
    """A network that also returns what one of its layers computed: (logits, feature maps)."""

    def __init__(self, net: nn.Module, layer: str):
        super().__init__()
        self.net, self.layer = net, layer

    def forward(self, x: torch.Tensor):
        maps = []
        hook = getattr(self.net, self.layer).register_forward_hook(lambda module, inputs, output: maps.append(output))
        try:
            logits = self.net(x)
        finally:
            hook.remove()
        return logits, maps[0]


def export(net: nn.Module, layer: str, path: Path) -> Path:
    """The network as an ONNX model with one input, `images` (n, 3, 32, 32, normalized), and two
    outputs, `logits` (n, 10) and `maps`, the feature maps of `layer` (torch.onnx, dynamo)."""
    model = WithFeatureMaps(net, layer).eval()
    example = torch.zeros(2, 3, 32, 32)
    with contextlib.redirect_stdout(io.StringIO()):  # its progress lines, one per stage
        torch.onnx.export(model, (example,), str(path), input_names=["images"], output_names=["logits", "maps"],
                          dynamic_shapes=({0: torch.export.Dim("images")},), dynamo=True, external_data=False,
                          opset_version=OPSET, verbose=False)
    return path


def sample_images(data: CIFAR10) -> list[int]:
    """Test-set indices of the page's images: the first IMAGES_PER_CLASS of each class, in class order."""
    labels = data.test_labels.tolist()
    return [i for c in range(len(data.classes))
            for i in [j for j, label in enumerate(labels) if label == c][:IMAGES_PER_CLASS]]


def save_png(image: torch.Tensor, path: Path) -> None:
    """A uint8 (3, h, w) image as a PNG, pixel for pixel (no colour profile: browsers read it unchanged)."""
    from PIL import Image

    Image.fromarray(image.permute(1, 2, 0).contiguous().numpy(), "RGB").save(path, optimize=True)


def _installed(package: Path) -> bool:
    """ONNX Runtime Web of RUNTIME_PACKAGE's version, with every file the page needs."""
    try:
        version = json.loads((package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return False
    files = all((package / "dist" / name).is_file() for name in RUNTIME_FILES)
    return f"onnxruntime-web@{version}" == RUNTIME_PACKAGE and files


def runtime() -> Path | None:
    """The folder of ONNX Runtime Web's files, installed from npm into build/ the first time. None
    where npm is missing or fails: the site still builds, and its try page says what to install."""
    package = RUNTIME_DIR / "node_modules" / "onnxruntime-web"
    if _installed(package):
        return package / "dist"
    npm = shutil.which("npm")
    if npm is None:
        print(f"No npm here: the website's try page is built without {RUNTIME_PACKAGE} and says so. Install "
              "Node.js with npm and build the site again to run the networks in the browser.", flush=True)
        return None
    print(f"Installing {RUNTIME_PACKAGE} from npm into {shown(RUNTIME_DIR)} (once) ...", flush=True)
    result = subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(RUNTIME_DIR),
                             RUNTIME_PACKAGE], capture_output=True, text=True)
    if result.returncode != 0 or not _installed(package):
        print(f"npm could not install {RUNTIME_PACKAGE} for the website's try page: "
              f"{(result.stderr or result.stdout).strip()[-600:]} The site is built without it; check that npm "
              f"reaches its registry (or copy the package into {shown(RUNTIME_DIR)}) and build again.", flush=True)
        return None
    return package / "dist"


def build(folder: Path, data: CIFAR10) -> dict:
    """Write the page's files into `folder` (the site's _static/try/): the networks' ONNX models,
    the sample images, ONNX Runtime Web and manifest.json, which lists them with their sizes."""
    folder.mkdir(parents=True, exist_ok=True)
    networks = []
    for name, run in load_networks().items():
        layer, file = NETWORKS[name][1], f"{run.config.model}.onnx"
        export(run.model, layer, folder / file)
        mean, std = normalization(run, data)
        networks.append({"name": name, "file": file, "model": run.config.model, "mean": list(mean),
                         "std": list(std), "layer": layer, "test_acc": run.record["final"]["test_acc"]})
    images = []
    for index in sample_images(data):
        file = f"test-{index}.png"
        save_png(data.test_images[index], folder / file)
        images.append({"file": file, "index": index, "label": data.classes[int(data.test_labels[index])]})
    dist = runtime()
    for name in RUNTIME_FILES if dist else ():
        shutil.copyfile(dist / name, folder / name)
    manifest = {"classes": list(data.classes), "networks": networks, "images": images,
                "runtime": RUNTIME_PACKAGE if dist else None,
                "bytes": {"runtime": sum((folder / n).stat().st_size for n in RUNTIME_FILES) if dist else 0,
                          "networks": sum((folder / n["file"]).stat().st_size for n in networks),
                          "images": sum((folder / i["file"]).stat().st_size for i in images)}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest
