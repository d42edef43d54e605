"""How many CPU threads vocalsep's networks and transforms use: one setting for torch and ONNX Runtime.

Tracking the pitch of a voice runs on ONNX Runtime alone, so it should not have to import
torch (two seconds of start-up) just to learn a thread count. ``set_threads`` records the
choice, applies it to torch if torch is loaded, and leaves it in ``OMP_NUM_THREADS`` so that
a torch loaded later starts with it too.
"""

from __future__ import annotations

import os
import sys

from vocalsep.errors import ConfigError

_chosen: int | None = None


def set_threads(threads: int) -> None:
    """Use ``threads`` CPU threads from now on (``--threads``)."""
    global _chosen
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"--threads must be at least 1, not {threads}")
    _chosen = threads
    os.environ["OMP_NUM_THREADS"] = str(threads)  # read by torch (OpenMP) when it is first imported
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def cpu_threads() -> int:
    """The thread count in force: ``set_threads``'s, else torch's if torch is loaded (a caller may have
    called ``torch.set_num_threads``), else ``OMP_NUM_THREADS``, else one per CPU this process may use."""
    if _chosen is not None:
        return _chosen
    if "torch" in sys.modules:
        return int(sys.modules["torch"].get_num_threads())
    with_env = os.environ.get("OMP_NUM_THREADS", "")
    if with_env.isdigit() and int(with_env) > 0:
        return int(with_env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
