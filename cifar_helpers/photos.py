"""A photo of the reader's own as the networks see it: the largest centred square, shrunk to
32x32 pixels by averaging the pixels each new one covers (PIL's box filter). The website's try page
does the same in the browser (docs/_static/try.js), so a photo gets the same 32x32 pixels on both
(where the browser and PIL decode the file alike: PNG, and most JPEGs to within a level)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch

from .errors import PhotoError
from .paths import project_path, shown

SIZE = 32  # CIFAR-10's images are 32x32


def sample_photo() -> str:
    """A photo every installation has: matplotlib's portrait of Grace Hopper, a person, which is
    none of CIFAR-10's ten classes."""
    import matplotlib

    return os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")


def as_the_networks_see_it(image) -> torch.Tensor:
    """A PIL image (open_photo's) as a uint8 tensor (3, 32, 32): its centred square, shrunk with
    the box filter."""
    from PIL import Image

    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = image.crop((left, top, left + side, top + side)).resize((SIZE, SIZE), resample=Image.Resampling.BOX)
    return torch.frombuffer(bytearray(square.tobytes()), dtype=torch.uint8).view(SIZE, SIZE, 3).permute(2, 0, 1)


def open_photo(source):
    """A photo as a PIL image, from a path (relative ones from the repository root, as every path
    of the series) or from the bytes of a file (an upload)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(source, (bytes, bytearray, memoryview)):
        opened, name = io.BytesIO(bytes(source)), "the uploaded file"
    else:
        path = project_path(source)
        if not path.is_file():
            beside = Path.cwd() / source
            hint = (f" There is one at {beside}, beside this notebook: paths are taken from the repository root, "
                    f"so write photo = \"{shown(beside.resolve()).as_posix()}\"." if beside.is_file() else "")
            raise PhotoError(f"There is no photo at {shown(path)} (from the repository root).{hint} Give the path "
                             "of an image file (JPEG or PNG), absolute or from the repository root, e.g. photo = "
                             "\"notebooks/my_cat.jpg\" after copying your photo beside the notebook; or upload one "
                             "with the button below.")
        opened, name = path, shown(path)
    try:
        with Image.open(opened) as image:
            image.load()
            upright = ImageOps.exif_transpose(image).convert("RGBA")  # as a browser shows it
            return Image.alpha_composite(Image.new("RGBA", upright.size, "white"), upright).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise PhotoError(f"{name} could not be read as an image ({exc}). Use a JPEG or PNG photo (an iPhone's "
                         "HEIC photo: export or share it as JPEG first).") from None


def uploaded_files(value) -> list[bytes]:
    """The files' bytes in a FileUpload's value: a tuple of files (ipywidgets 8) or a dict by file
    name (ipywidgets 7, Colab's)."""
    return [bytes(f["content"]) for f in (value.values() if isinstance(value, dict) else value)]


def upload_button(show):
    """A file-upload button (ipywidgets) for JupyterLab: each photo chosen is opened and passed to
    `show`, and the figure `show` returns is drawn below the button."""
    import ipywidgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    button = ipywidgets.FileUpload(accept="image/*", multiple=False, description="Your photo")
    shown_here = ipywidgets.Output()

    def chosen(change):
        with shown_here:
            shown_here.clear_output(wait=True)
            for content in uploaded_files(change["new"]):
                try:
                    fig = show(open_photo(content))
                except PhotoError as exc:
                    print(exc)
                    continue
                display(fig)
                plt.close(fig)

    button.observe(chosen, names="value")
    return ipywidgets.VBox([button, shown_here])
