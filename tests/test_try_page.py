"""Trying the shipped networks on an image (issue 34): the ONNX exports the website's try page runs
give PyTorch's answers, its images are the test set's pixels, its stated weight is its files' size,
and a photo is cut and shrunk as the page and notebook 03 say. The page in a real browser is in
test_browser.py."""

import datetime
import io
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from cifar_helpers import PhotoError, try_page
from cifar_helpers.photos import SIZE, as_the_networks_see_it, open_photo, upload_button, uploaded_files
from cifar_helpers.shipped import NETWORKS, load_networks, normalization

NOW = datetime.datetime.now(datetime.timezone.utc)
LOGIT_TOLERANCE = 1e-3  # largest difference allowed between an ONNX Runtime logit and PyTorch's


@pytest.fixture(scope="module")
def page_files(built_site):
    folder = built_site.parent / "_static" / "try"
    return folder, json.loads((folder / "manifest.json").read_text())


def test_every_shipped_network_is_exported_and_gives_pytorchs_logits(page_files, cifar):
    import onnxruntime

    folder, manifest = page_files
    assert [n["name"] for n in manifest["networks"]] == list(NETWORKS)
    images = cifar.test_images[:512]
    for network, run in zip(manifest["networks"], load_networks().values()):
        mean, std = normalization(run, cifar)
        assert (network["mean"], network["std"]) == (list(mean), list(std))
        x = (images.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
        session = onnxruntime.InferenceSession(str(folder / network["file"]), providers=["CPUExecutionProvider"])
        logits, maps = session.run(None, {"images": x.numpy()})
        seen = []
        hook = getattr(run.model, network["layer"]).register_forward_hook(lambda m, i, o, seen=seen: seen.append(o))
        with torch.no_grad():
            expected = run.model(x)
        hook.remove()
        assert np.abs(logits - expected.numpy()).max() < LOGIT_TOLERANCE, network["name"]
        assert (logits.argmax(1) == expected.argmax(1).numpy()).all(), network["name"]
        assert np.abs(maps - seen[0].numpy()).max() < LOGIT_TOLERANCE, network["name"]
        assert network["test_acc"] == run.record["history"][-1]["test_acc"]  # one view of each image
    recipe = manifest["networks"][-1]  # the page names its one-view figure, not notebook 05's with TTA
    assert recipe["model"] == "whitened-net" and recipe["test_acc"] < load_networks()["fast recipe"].record[
        "final"]["test_tta_acc"]


def test_the_pages_images_are_the_test_sets_pixels_and_its_weight_is_its_files(built_site, page_files, cifar):
    folder, manifest = page_files
    labels = [image["label"] for image in manifest["images"]]
    assert all(labels.count(c) == try_page.IMAGES_PER_CLASS for c in cifar.classes)
    for image in manifest["images"]:
        pixels = torch.from_numpy(np.array(Image.open(folder / image["file"]).convert("RGB"))).permute(2, 0, 1)
        assert torch.equal(pixels, cifar.test_images[image["index"]])
        assert image["label"] == cifar.classes[int(cifar.test_labels[image["index"]])]
    if os.environ.get("CIFAR_REQUIRE_BROWSER") == "1":  # .ci/run: npm is there, so the page has its runtime
        assert manifest["runtime"] == try_page.RUNTIME_PACKAGE
    runtime = manifest["runtime"] is not None  # None where the site was built without npm
    sizes = {"runtime": sum((folder / name).stat().st_size for name in try_page.RUNTIME_FILES) if runtime else 0,
             "networks": sum((folder / n["file"]).stat().st_size for n in manifest["networks"]),
             "images": sum((folder / i["file"]).stat().st_size for i in manifest["images"])}
    assert manifest["bytes"] == sizes and manifest["runtime"] in (try_page.RUNTIME_PACKAGE, None)
    assert all((folder / name).is_file() == runtime for name in try_page.RUNTIME_FILES)
    assert (built_site.parent / "_static" / "try.js").is_file()
    page = (built_site.parent / "try.html").read_text()
    assert '<script src="_static/try/ort.wasm.min.js"></script>' in page  # served by the site, no CDN


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_a_photo_is_its_centred_square_shrunk_by_averaging():
    """A 96x64 photo: a white 16-pixel strip at each side falls outside the square; inside, each
    2x2 block of pixels becomes one pixel of their mean."""
    generator = torch.Generator().manual_seed(0)
    blocks = torch.randint(0, 256, (SIZE, SIZE, 3), generator=generator, dtype=torch.uint8)
    square = blocks.repeat_interleave(2, 0).repeat_interleave(2, 1).clone()
    square[::2, ::2] = (square[::2, ::2].int() + 1).clamp(max=255).to(torch.uint8)  # not all alike: a mean to take
    photo = torch.zeros(64, 96, 3, dtype=torch.uint8)
    photo[:, :16], photo[:, 80:] = 255, 255
    photo[:, 16:80] = square
    seen = as_the_networks_see_it(open_photo(_png(Image.fromarray(photo.numpy()))))
    means = square.view(SIZE, 2, SIZE, 2, 3).float().mean((1, 3))
    assert seen.shape == (3, SIZE, SIZE) and seen.dtype == torch.uint8
    # the mean, rounded once per axis (PIL shrinks rows, then columns, to 8-bit values each time)
    assert (seen.permute(1, 2, 0).float() - means).abs().max() <= 1


def test_a_photo_that_is_missing_or_not_an_image_says_what_to_do(tmp_path):
    with pytest.raises(PhotoError, match="There is no photo at .*Give the path of an image file"):
        open_photo(tmp_path / "my_cat.jpg")
    (tmp_path / "notes.jpg").write_text("not a picture")
    with pytest.raises(PhotoError, match="notes.jpg could not be read as an image .*Use a JPEG or PNG photo"):
        open_photo(tmp_path / "notes.jpg")


def test_the_upload_button_classifies_each_photo_chosen(cifar, capsys):
    """What JupyterLab's upload does: the widget's value becomes the file; the photo reaches the
    classifier, and a file that is not an image gets the one-paragraph error instead."""
    received = []
    box = upload_button(lambda image: received.append(as_the_networks_see_it(image)) or _figure())
    button = box.children[0]
    photo = Image.fromarray(cifar.test_images[3].permute(1, 2, 0).numpy()).resize((128, 128), Image.NEAREST)
    button.value = ({"name": "cat.png", "type": "image/png", "size": 1, "content": memoryview(_png(photo)),
                     "last_modified": NOW},)
    assert len(received) == 1 and torch.equal(received[0], cifar.test_images[3])
    button.value = ({"name": "notes.png", "type": "image/png", "size": 1, "content": memoryview(b"text"),
                     "last_modified": NOW},)
    assert len(received) == 1 and "the uploaded file could not be read as an image" in capsys.readouterr().out
    # Colab's ipywidgets 7 gives a dict by file name, with the same "content"
    assert uploaded_files({"cat.png": {"metadata": {}, "content": _png(photo)}}) == [_png(photo)]


def _figure():
    import matplotlib.pyplot as plt

    return plt.figure()
