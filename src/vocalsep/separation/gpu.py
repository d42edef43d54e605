"""The mask network on a CUDA GPU (``--device cuda``): ONNX Runtime's CUDA provider, or torch.

Only the network moves: the STFT, the overlap-add and the resampling stay in the streamed
engine on the CPU (``separation.streaming``), so the stems are those of the CPU within float
rounding (TF32 is off on both paths). The runners take and return CPU tensors, as
``onnx_runtime.onnx_network``'s do, so ``VoiceStream`` cannot tell them apart.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable

import torch

from vocalsep.device import cuda_index, exact_float32
from vocalsep.errors import VocalsepError
from vocalsep.separation.model import MaskEstimator
from vocalsep.separation.onnx_runtime import onnx_cuda_network

Network = Callable[[torch.Tensor], torch.Tensor]
_COPIES: weakref.WeakKeyDictionary[MaskEstimator, dict[str, Network]] = weakref.WeakKeyDictionary()


def cuda_network(estimator: MaskEstimator, device: str, engine: str = "auto") -> Network:
    """The network runner on GPU ``device`` (``"cuda:N"``) for ``engine``.

    ``auto`` takes ONNX Runtime's CUDA provider where ``onnxruntime-gpu`` is installed and
    loads, else torch; ``torch`` always torch; ``onnx`` the provider or a one-line error.
    """
    if engine != "torch":
        runner = onnx_cuda_network(estimator, cuda_index(device))
        if runner is not None:
            return runner
        if engine == "onnx":
            raise VocalsepError("the onnx engine on a GPU needs ONNX Runtime's CUDA provider "
                                "(pip install onnxruntime-gpu, with its CUDA and cuDNN libraries)")
    return torch_network_on(estimator, device)


def torch_network_on(estimator: MaskEstimator, device: str) -> Network:
    """``estimator`` run by torch on ``device``, from CPU tensors to CPU tensors.

    A copy of the network goes to the device once per estimator (the caller's module stays on
    the CPU, unchanged); convolutions run in full float32 (``device.exact_float32``). Running out of
    GPU memory is a one-line ``VocalsepError``.
    """
    kept = _COPIES.setdefault(estimator, {})
    if device not in kept:
        moved = copy.deepcopy(estimator).to(device).eval()

        def run(magnitude: torch.Tensor) -> torch.Tensor:
            try:
                with torch.inference_mode(), exact_float32():
                    return moved(magnitude.to(device)).cpu()
            except torch.cuda.OutOfMemoryError:  # a user's fault to fix, not a traceback
                raise VocalsepError(f"the GPU ran out of memory ({device}, a batch of {magnitude.shape[0]} "
                                    "network rows): use --device cpu") from None

        kept[device] = run
    return kept[device]
