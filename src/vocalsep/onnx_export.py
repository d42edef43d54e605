"""Torch modules exported to ONNX once, cached on disk, and run by ONNX Runtime on the CPU (or a GPU).

Both networks of the product (the separator's mask network and CREPE tiny) run this way: the
same function as the torch module within float rounding, about twice as fast on a CPU
(docs/SPEED.md). ``onnxruntime`` is a core dependency; where it is missing, callers keep
their torch modules. The export needs no ``onnx`` package (only CREPE's int8 quantisation,
``melody.trackers.crepe_int8``, does): torch's exporter writes the model itself and imports
``onnx`` only to insert onnxscript functions, which these models have none of
(``without_onnx_package``). With ``onnxruntime-gpu`` installed, ``cuda_session`` runs an export on
a GPU (``--device cuda``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from vocalsep.errors import OutputError
from vocalsep.files import atomic_write_bytes

#: Changes whenever the export's settings below change, so older cached files are not used.
EXPORT_VERSION = "1"


def onnx_available() -> bool:
    """Whether ``onnxruntime`` is importable (the export needs no ``onnx`` package)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def without_onnx_package() -> Iterator[None]:
    """Let torch's TorchScript exporter run without the ``onnx`` package.

    The exporter serialises the model in C++; afterwards it loads the bytes with ``onnx``
    only to append onnxscript custom functions (``_add_onnxscript_fn``). A model without
    custom ops has none, so when ``onnx`` is missing that step returns the bytes as they
    are. torch is pinned exactly; ``tests/separation/test_onnx_runtime.py`` exports without ``onnx``.
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


def export_module(module, example: tuple, *, inputs: list[str], outputs: list[str],  # noqa: ANN001
                  dynamic_axes: dict[str, dict[int, str]]) -> bytes:
    """The ONNX bytes of a torch ``module`` in eval mode (legacy TorchScript exporter, opset 17)."""
    import torch

    model = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad(), without_onnx_package():
        warnings.simplefilter("ignore")  # the exporter's notes on the legacy TorchScript path
        torch.onnx.export(module.eval(), example, model, dynamo=False, input_names=inputs, output_names=outputs,
                          dynamic_axes=dynamic_axes, opset_version=17)
    return model.getvalue()


def session(exported: bytes, threads: int):  # noqa: ANN201  (an onnxruntime.InferenceSession)
    """A CPU session of exported bytes with ``threads`` intra-op threads."""
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


def onnx_cuda_available() -> bool:
    """Whether ONNX Runtime has its CUDA provider (the ``onnxruntime-gpu`` package, not ``onnxruntime``)."""
    try:
        import onnxruntime
    except ImportError:
        return False
    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def cuda_session(exported: bytes, index: int):  # noqa: ANN201  (an onnxruntime.InferenceSession or None)
    """A session of exported bytes on GPU ``index`` (ONNX Runtime's CUDA provider), or None where it does not load.

    The provider is listed whenever ``onnxruntime-gpu`` is installed, but loads only with its CUDA
    and cuDNN libraries; without them ONNX Runtime would quietly run on the CPU, so such a session
    is refused (None) and the caller runs torch on the GPU instead. TF32 is off (``use_tf32``), so
    outputs stay within float rounding of the CPU's; cuDNN picks its convolutions by heuristics, not
    by timing every new batch shape (a song's last window and a tracker's last batch are new shapes).
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # its own warning when CUDA does not load: the fallback speaks for it
    provider = ("CUDAExecutionProvider", {"device_id": index, "use_tf32": 0, "cudnn_conv_algo_search": "HEURISTIC"})
    try:
        made = onnxruntime.InferenceSession(exported, options, providers=[provider, "CPUExecutionProvider"])
    except Exception:  # noqa: BLE001  (a provider that fails to load or takes other options; several types)
        return None
    return made if "CUDAExecutionProvider" in made.get_providers() else None


def export_cache_dir() -> Path:
    """Where exported networks are kept: ``$VOCALSEP_CACHE_DIR``, else ``$XDG_CACHE_HOME/vocalsep``
    or ``~/.cache/vocalsep``."""
    if os.environ.get("VOCALSEP_CACHE_DIR"):
        return Path(os.environ["VOCALSEP_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vocalsep"


def module_digest(module, description: str) -> str:  # noqa: ANN001
    """Digest of all the exported bytes depend on: weights, buffers, ``description`` (the configuration), torch."""
    import torch

    digest = hashlib.sha256(f"{EXPORT_VERSION}|{torch.__version__}|{description}".encode())
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def cached_export(stem: str, key: str, export: Callable[[], bytes], *, refresh: bool = False) -> bytes:
    """``export()``'s bytes, kept as ``<cache>/<stem>-<key>.onnx`` and read from there when present.

    The file ends with the sha256 of the rest, so a flipped byte is noticed (and the module
    exported again) instead of loading as other weights. A cache that cannot be written
    (read-only home, full disk) is skipped.
    """
    path = export_cache_dir() / f"{stem}-{key}.onnx"
    if not refresh:
        with contextlib.suppress(OSError):
            stored = path.read_bytes()
            if hashlib.sha256(stored[:-32]).digest() == stored[-32:]:
                return stored[:-32]
    exported = export()
    with contextlib.suppress(OutputError):
        atomic_write_bytes(path, exported + hashlib.sha256(exported).digest())  # whole file or none
    return exported
