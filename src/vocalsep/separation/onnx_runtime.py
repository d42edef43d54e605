"""The mask network on ONNX Runtime: the same function, faster on a CPU (docs/SPEED.md).

Exports are cached per estimator (and on disk, ``onnx_export.cached_export``), so a batch of
files exports once. Without ``onnxruntime`` ``onnx_network`` returns None and callers keep the
torch module.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import torch

from vocalsep.onnx_export import (
    cached_export, cuda_session, export_module, module_digest, onnx_available, onnx_cuda_available, session,
)
from vocalsep.separation.model import MaskEstimator

Network = Callable[[torch.Tensor], torch.Tensor]
_CACHE: weakref.WeakKeyDictionary[MaskEstimator, tuple[int, Network]] = weakref.WeakKeyDictionary()
_CUDA_CACHE: weakref.WeakKeyDictionary[MaskEstimator, dict[int, Network]] = weakref.WeakKeyDictionary()


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
        whole = session(exported, threads)
    except Exception:  # noqa: BLE001  (a cache file that passed its digest but not ORT; several types)
        exported = _cached_export(estimator, refresh=True)
        whole = session(exported, threads)
    # With several threads, one single-threaded session per thread, each on its share of the
    # batch (the channels), runs 1.16x faster than one session's own threads (docs/SPEED.md).
    shares = [session(exported, 1) for _ in range(threads)] if threads > 1 else []
    pool = ThreadPoolExecutor(threads, thread_name_prefix="vocalsep-onnx") if shares else None

    pair = estimator.config.unet.channels  # a stereo network's rows come in pairs: split between pairs

    def run(magnitude: torch.Tensor) -> torch.Tensor:
        batch = magnitude.detach().contiguous().numpy()
        if pool is None or batch.shape[0] < 2 * pair:
            return torch.from_numpy(whole.run(None, {"magnitude": batch})[0])
        excerpts = batch.reshape(-1, pair, *batch.shape[1:])
        parts = [part.reshape(-1, *batch.shape[1:])
                 for part in np.array_split(excerpts, min(len(shares), excerpts.shape[0]))]
        masks = pool.map(lambda share, part: share.run(None, {"magnitude": part})[0], shares, parts)
        return torch.from_numpy(np.concatenate(list(masks)))

    _CACHE[estimator] = (threads, run)
    return run


def onnx_cuda_network(estimator: MaskEstimator, index: int) -> Network | None:
    """``estimator`` exported to ONNX and run on GPU ``index`` by ONNX Runtime's CUDA provider.

    Returns
    -------
    callable or None
        As ``onnx_network``'s (CPU tensors in and out; the session copies them to the GPU and
        back), or None where ``onnxruntime-gpu`` is not installed or its CUDA provider does not load.
    """
    if not onnx_cuda_available():
        return None
    kept = _CUDA_CACHE.setdefault(estimator, {})
    if index not in kept:
        gpu = cuda_session(_cached_export(estimator), index)
        if gpu is None:
            return None

        def run(magnitude: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(gpu.run(None, {"magnitude": magnitude.detach().contiguous().numpy()})[0])

        kept[index] = run
    return kept[index]


def _cached_export(estimator: MaskEstimator, *, refresh: bool = False) -> bytes:
    """The ONNX bytes of ``estimator``, from the disk cache when there (unless ``refresh``)."""
    key = module_digest(estimator, repr(estimator.config))
    return cached_export("mask-network", key, lambda: _export(estimator), refresh=refresh)


def _export(estimator: MaskEstimator) -> bytes:
    bins = estimator.config.stft.input_bins
    frames = 4 * estimator.config.unet.downsampling
    return export_module(estimator, (torch.rand(estimator.config.unet.channels, bins, frames),), inputs=["magnitude"], outputs=["mask"],
                         dynamic_axes={"magnitude": {0: "batch", 2: "frames"}, "mask": {0: "batch", 2: "frames"}})
