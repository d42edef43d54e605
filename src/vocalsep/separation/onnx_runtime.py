"""The mask network on ONNX Runtime: the same function, faster on a CPU (docs/SPEED.md).

Needs ``onnxruntime`` (a core dependency); without it ``onnx_network`` returns None and
callers keep the torch module. The ``onnx`` package is not needed: torch's exporter
writes the model itself and imports ``onnx`` only to insert onnxscript functions, which
this model has none of (``_without_onnx_package``). Exports are cached per estimator,
so a batch of files exports once.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import torch

from vocalsep.errors import OutputError
from vocalsep.files import atomic_write_bytes
from vocalsep.separation.model import MaskEstimator

Network = Callable[[torch.Tensor], torch.Tensor]
#: Changes whenever the export's settings below change, so older cached files are not used.
EXPORT_VERSION = "1"
_CACHE: weakref.WeakKeyDictionary[MaskEstimator, tuple[int, Network]] = weakref.WeakKeyDictionary()


def onnx_available() -> bool:
    """Whether ``onnxruntime`` is importable (the export needs no ``onnx`` package)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def _without_onnx_package() -> Iterator[None]:
    """Let torch's TorchScript exporter run without the ``onnx`` package.

    The exporter serialises the model in C++; afterwards it loads the bytes with ``onnx``
    only to append onnxscript custom functions (``_add_onnxscript_fn``). A model without
    custom ops has none, so when ``onnx`` is missing that step returns the bytes as they
    are. torch is pinned exactly; ``tests/test_onnx_runtime.py`` exports without ``onnx``.
    """
    try:
        import onnx  # noqa: F401
    except ImportError:
        pass
    else:
        yield
        return
    from torch.onnx._internal.torchscript_exporter import onnx_proto_utils

    original = onnx_proto_utils._add_onnxscript_fn
    onnx_proto_utils._add_onnxscript_fn = lambda model_bytes, custom_opsets: model_bytes
    try:
        yield
    finally:
        onnx_proto_utils._add_onnxscript_fn = original


def onnx_network(estimator: MaskEstimator, *, threads: int | None = None) -> Network | None:
    """``estimator`` exported to ONNX and run by ONNX Runtime on the CPU.

    Parameters
    ----------
    estimator : MaskEstimator
        In eval mode; its weights are copied into the export.
    threads : int, optional
        Threads; default ``torch.get_num_threads()``. Batches of two or more are split
        between that many single-threaded sessions running at once.

    Returns
    -------
    callable or None
        Maps magnitudes (batch, input_bins, frames) to the mask like ``estimator``
        (within 1e-6), or None when ONNX Runtime is not installed.
    """
    if not onnx_available():
        return None
    threads = threads or torch.get_num_threads()
    cached = _CACHE.get(estimator)
    if cached is not None and cached[0] == threads:
        return cached[1]
    exported = _cached_export(estimator)
    try:
        whole = _session(exported, threads)
    except Exception:  # noqa: BLE001  (a cache file that passed its digest but not ORT; several types)
        exported = _cached_export(estimator, refresh=True)
        whole = _session(exported, threads)
    # With several threads, one single-threaded session per thread, each on its share of the
    # batch (the channels), runs 1.16x faster than one session's own threads (docs/SPEED.md).
    shares = [_session(exported, 1) for _ in range(threads)] if threads > 1 else []
    pool = ThreadPoolExecutor(threads, thread_name_prefix="vocalsep-onnx") if shares else None

    def run(magnitude: torch.Tensor) -> torch.Tensor:
        batch = magnitude.detach().contiguous().numpy()
        if pool is None or batch.shape[0] < 2:
            return torch.from_numpy(whole.run(None, {"magnitude": batch})[0])
        parts = np.array_split(batch, min(len(shares), batch.shape[0]))
        masks = pool.map(lambda share, part: share.run(None, {"magnitude": part})[0], shares, parts)
        return torch.from_numpy(np.concatenate(list(masks)))

    _CACHE[estimator] = (threads, run)
    return run


def _session(exported: bytes, threads: int):  # noqa: ANN202  (an onnxruntime.InferenceSession)
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # No memory pattern: it plans (and keeps) one arena block per input shape; off, the
    # arena reuses its blocks: ~100 MB less at the same speed (docs/SPEED.md)
    options.enable_mem_pattern = False
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    # Idle threads sleep instead of spinning: spinning ORT threads starved torch's STFT and the
    # file I/O between network calls (2 threads: 0.030 -> 0.021 s per s of audio)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(exported, options, providers=["CPUExecutionProvider"])


def export_cache_dir() -> Path:
    """Where exported networks are kept: ``$VOCALSEP_CACHE_DIR``, else ``$XDG_CACHE_HOME/vocalsep``
    or ``~/.cache/vocalsep``."""
    if os.environ.get("VOCALSEP_CACHE_DIR"):
        return Path(os.environ["VOCALSEP_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vocalsep"


def _export_key(estimator: MaskEstimator) -> str:
    """Digest of everything the exported bytes depend on: weights, buffers, configuration, torch."""
    digest = hashlib.sha256(f"{EXPORT_VERSION}|{torch.__version__}|{estimator.config!r}".encode())
    for name, tensor in estimator.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def _cached_export(estimator: MaskEstimator, *, refresh: bool = False) -> bytes:
    """The ONNX bytes of ``estimator``, from the disk cache when there (unless ``refresh``)."""
    path = export_cache_dir() / f"mask-network-{_export_key(estimator)}.onnx"
    if not refresh:
        with contextlib.suppress(OSError):
            stored = path.read_bytes()
            # the file ends with the sha256 of the rest: a flipped byte would load as other weights
            if hashlib.sha256(stored[:-32]).digest() == stored[-32:]:
                return stored[:-32]
    exported = _export(estimator)
    with contextlib.suppress(OutputError):  # read-only home, full disk: run without the cache
        atomic_write_bytes(path, exported + hashlib.sha256(exported).digest())  # whole file or none
    return exported


def _export(estimator: MaskEstimator) -> bytes:
    bins = estimator.config.stft.input_bins
    frames = 4 * estimator.config.unet.downsampling
    model = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad(), _without_onnx_package():
        warnings.simplefilter("ignore")  # the exporter's notes on the legacy TorchScript path
        torch.onnx.export(
            estimator.eval(), (torch.rand(1, bins, frames),), model, dynamo=False,
            input_names=["magnitude"], output_names=["mask"],
            dynamic_axes={"magnitude": {0: "batch", 2: "frames"}, "mask": {0: "batch", 2: "frames"}},
            opset_version=17,
        )
    return model.getvalue()
