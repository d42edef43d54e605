"""The mask network on ONNX Runtime: the same function, faster on a CPU (docs/SPEED.md).

Needs ``onnxruntime`` (a core dependency); without it ``onnx_network`` returns None and
callers keep the torch module. The ``onnx`` package is not needed: torch's exporter
writes the model itself and imports ``onnx`` only to insert onnxscript functions, which
this model has none of (``_without_onnx_package``). Exports are cached per estimator,
so a batch of files exports once.
"""

from __future__ import annotations

import contextlib
import io
import warnings
import weakref
from collections.abc import Callable, Iterator

import torch

from vocalsep.model import MaskEstimator

Network = Callable[[torch.Tensor], torch.Tensor]
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
        Intra-op threads; default ``torch.get_num_threads()``.

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
    import onnxruntime

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
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # No memory pattern: it plans (and keeps) one arena block per input shape; off, the
    # arena reuses its blocks: ~100 MB less at the same speed (docs/SPEED.md)
    options.enable_mem_pattern = False
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    session = onnxruntime.InferenceSession(model.getvalue(), options, providers=["CPUExecutionProvider"])

    def run(magnitude: torch.Tensor) -> torch.Tensor:
        feed = {"magnitude": magnitude.detach().contiguous().numpy()}
        return torch.from_numpy(session.run(None, feed)[0])

    _CACHE[estimator] = (threads, run)
    return run
