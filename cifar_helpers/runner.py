"""Executing a notebook of the series headless, as the main job and the sweep do: papermill from
the repository root, a kernel whose messages are encrypted, text progress bars, and a failing
cell reported as one paragraph."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import CifarHelpersError
from .paths import REPO

NOTEBOOKS = REPO / "notebooks"


def encrypted_kernel_manager():
    """A kernel manager class that gives each kernel its own CurveZMQ keys: the kernel's messages
    are encrypted, so it has no reason to warn, on every notebook, that they are not.

    It also shuts a kernel down without interrupting it first. jupyter_client sends SIGINT before
    every shutdown request; a kernel still inside a message handler then logs "[IPKernelApp] ERROR
    | KeyboardInterrupt caught in kernel." into the job's output, after a notebook that succeeded.
    Papermill shuts a kernel down only once every cell has run, so there is nothing to interrupt."""
    import zmq
    from jupyter_client import AsyncKernelManager

    class EncryptedKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.curve_publickey, self.curve_secretkey = zmq.curve_keypair()

        async def _async_interrupt_kernel(self) -> None:
            if not self.shutting_down:
                await super()._async_interrupt_kernel()

    return EncryptedKernelManager


def execute_notebook(notebook: str, output: Path, parameters: dict, *, log_output: bool = False,
                     hint: str = "") -> Path:
    """Execute notebooks/<notebook> with these papermill parameters into `output`. A failing cell
    raises CifarHelpersError naming the notebook, the cell and its error, followed by `hint`."""
    import papermill

    os.environ["CIFAR_PROGRESS"] = "text"  # papermill cannot save progress widgets
    try:
        papermill.execute_notebook(str(NOTEBOOKS / notebook), str(output), parameters=parameters,
                                   kernel_name="python3", log_output=log_output, progress_bar=False, cwd=str(REPO),
                                   kernel_manager_class=encrypted_kernel_manager())
    except papermill.PapermillExecutionError as exc:
        raise CifarHelpersError(f"Notebook {notebook} failed in cell {exc.exec_count}: {exc.ename}: "
                                f"{exc.evalue.rstrip('.')}.{' ' + hint if hint else ''}") from None
    return output
