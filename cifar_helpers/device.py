"""Which device to train on and which arithmetic is fast there."""

from __future__ import annotations

import os
import platform
import subprocess

import torch

from .paths import REPO
from .validate import PRECISIONS, check_choice, check_device


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA, then Apple's MPS, then the CPU; other names are checked to exist."""
    check_device(name)
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_isa() -> str:
    """The CPU's instruction set as it matters to training speed: AMX-BF16 and AVX512-BF16 run
    bf16 natively (up to 1.8x apart), others emulate it. torch's own capability says "AVX512" for
    all three kinds of AVX512 machine, so two machines with one CPU name can differ."""
    for isa, check in (("AMX-BF16", "_is_amx_tile_supported"), ("AVX512-BF16", "_is_avx512_bf16_supported")):
        if getattr(torch.cpu, check, lambda: False)():
            return isa
    return torch.backends.cpu.get_cpu_capability()


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with AVX512-BF16 or AMX, where oneDNN runs bf16 convolutions natively."""
    return cpu_isa() in ("AMX-BF16", "AVX512-BF16")


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' means mixed precision where the device is faster with it: bf16 on CUDA GPUs that
    support it (fp16 with a gradient scaler on older ones) and on CPUs with native bf16;
    fp32 elsewhere."""
    check_choice("precision", precision, PRECISIONS)
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu" and cpu_has_fast_bf16():
        return "bf16"
    return "fp32"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else platform.processor() or platform.machine() or "CPU"


def environment(device: torch.device) -> dict:
    """What a run record says about where it ran."""
    import torchvision

    return {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device_type": device.type,
        "device_name": device_name(device),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_isa": cpu_isa() if device.type == "cpu" else "GPU",
        **code_version(),
    }


def machine(device: torch.device | None = None) -> dict:
    """What a measured time depends on: the processor, its instruction set as it matters to
    training (cpu_isa), the precision "auto" picks there, and the threads."""
    device = device or resolve_device()
    isa = "GPU" if device.type != "cpu" else cpu_isa()
    return {"device_name": device_name(device), "isa": isa, "precision": resolve_precision("auto", device),
            "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "torch": torch.__version__}


def code_version() -> dict:
    """The commit of the repository this code runs from, and whether tracked files differ from it
    (a record made from uncommitted code says so); empty outside a git checkout."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                              timeout=30, check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        changed = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):  # no git, not a checkout, or no commit yet
        return {}
    return {"git_commit": commit, "git_uncommitted_changes": changed}
