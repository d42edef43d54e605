"""Where the networks run: ``--device auto|cpu|cuda|cuda:N``, resolved once into ``"cpu"`` or ``"cuda:N"``.

The CPU is the default and needs nothing from here: ``resolve_device("cpu")`` imports neither
torch nor ONNX Runtime, so tracking a voice alone stays quick to start. CUDA is present when torch
sees a GPU (the mask network's STFT stays in torch on the CPU either way); what runs each network
there, ONNX Runtime's CUDA provider (``onnxruntime-gpu``) or torch, is decided by the engines
(``separation.gpu``, ``melody.trackers.crepe.crepe_runner``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from vocalsep.errors import ConfigError

#: The words ``--device`` takes; ``cuda:N`` names the N-th GPU.
DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")
_DEVICE = re.compile(r"^(auto|cpu|cuda)(?::(\d+))?$")


def parse_device(name: str) -> str:
    """``name`` checked and normalised (``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``), without
    asking whether a GPU is there: a Ray driver checks its cluster's GPUs, not its own.

    Raises
    ------
    ConfigError
        Any other word (one line).
    """
    match = _DEVICE.match(str(name).strip().lower())
    if match is None or (match.group(2) is not None and match.group(1) != "cuda"):
        raise ConfigError(f"unknown device {name!r}: use {', '.join(DEVICE_CHOICES)}")
    return match.group(0)


def resolve_device(name: str = "cpu") -> str:
    """The device the networks run on: ``"cpu"`` or ``"cuda:N"``.

    Parameters
    ----------
    name : {"cpu", "auto", "cuda", "cuda:N"}
        ``auto`` is the first GPU when torch sees one, else the CPU; ``cuda`` is ``cuda:0``.

    Raises
    ------
    ConfigError
        An unknown word, or a GPU asked for that this machine does not have (one line).
    """
    device = parse_device(name)
    if device == "cpu":
        return device  # the default: torch is not imported to learn it
    count = cuda_device_count()
    if device == "auto":
        return "cuda:0" if count else "cpu"
    if count == 0:
        raise ConfigError(f"CUDA is not available on this machine (--device {name})")
    index = cuda_index(device)
    if index >= count:
        raise ConfigError(f"no CUDA device {index} on this machine: it has {count} (--device {name})")
    return f"cuda:{index}"


def cuda_device_count() -> int:
    """GPUs torch can use here (0 without CUDA, or without torch)."""
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def cuda_index(device: str) -> int:
    """The GPU number of ``"cuda"`` or ``"cuda:N"`` (0 for ``"cuda"``)."""
    _, _, index = device.partition(":")
    return int(index or 0)


def is_cuda(device: str) -> bool:
    """Whether a resolved device is a GPU."""
    return device.startswith("cuda")


@contextlib.contextmanager
def exact_float32() -> Iterator[None]:
    """cuDNN convolutions in full float32 inside the block (TF32 off, as on the CPU).

    torch lets cuDNN use TF32 (10-bit mantissas) by default on Ampere and later GPUs; the masks
    would then differ from the CPU's by ~1e-3, and the stems by more than the 1e-4 promised.
    The other cuDNN settings are kept, and everything is restored on exit.
    """
    import torch

    cudnn = torch.backends.cudnn
    with cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic,
                     allow_tf32=False):
        yield
