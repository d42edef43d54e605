"""The mask network on a GPU (``separation.gpu``), checked on this CPU-only machine.

What is checked here is the choice and the plumbing: which runner a ``cuda`` separator gets,
that the blocks are joined and the windows batched, and that the result is the CPU's. The GPU
runners themselves run here on the CPU (``torch_network_on(estimator, "cpu")``, a CPU ONNX
session in place of the CUDA provider's); their numerics on a GPU are
``benchmarks/gpu_speed.py``'s to measure.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import song, tiny_estimator

from vocalsep import device as devices
from vocalsep.errors import VocalsepError
from vocalsep.onnx_export import session
from vocalsep.separation import gpu, onnx_runtime
from vocalsep.separation.separator import Separator
from vocalsep.separation.streaming import GPU_BLOCK_SECONDS, joined_blocks


@pytest.fixture
def one_gpu(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[int, ...]]]:
    """torch "sees" a GPU; its torch runner is the real one on the CPU, recording (device, batch shape)."""
    monkeypatch.setattr(devices, "cuda_device_count", lambda: 1)
    calls: list[tuple[str, tuple[int, ...]]] = []
    real = gpu.torch_network_on

    def on_the_cpu(estimator, device: str):  # noqa: ANN001, ANN202
        run = real(estimator, "cpu")

        def recorded(magnitude: torch.Tensor) -> torch.Tensor:
            calls.append((device, tuple(magnitude.shape)))
            return run(magnitude)

        return recorded

    monkeypatch.setattr(gpu, "torch_network_on", on_the_cpu)
    return calls


def test_a_cuda_separator_batches_its_windows_and_gives_the_cpus_stems(one_gpu) -> None:
    estimator = tiny_estimator()
    mixture = song(seconds=6.0)  # 751 frames at the tiny model's hop: 63 windows of 16 frames
    on_cpu = Separator(estimator, segment=16, crossfade=4).separate(mixture, 16000)
    on_gpu = Separator(estimator, segment=16, crossfade=4, device="cuda").separate(mixture, 16000)
    assert {device for device, _ in one_gpu} == {"cuda:0"}
    assert max(shape[0] for _, shape in one_gpu) == 16 * mixture.shape[0]  # 16 windows of both channels per call
    for name in ("vocals", "accompaniment"):
        np.testing.assert_allclose(on_gpu[name], on_cpu[name], atol=1e-5, rtol=0)


def test_the_gpu_runner_leaves_the_callers_network_on_the_cpu() -> None:
    estimator = tiny_estimator()
    magnitude = torch.rand(2, estimator.config.stft.input_bins, 16)
    run = gpu.torch_network_on(estimator, "cpu")
    assert gpu.torch_network_on(estimator, "cpu") is run  # one copy per estimator and device
    with torch.inference_mode():
        np.testing.assert_allclose(run(magnitude), estimator(magnitude), atol=1e-6, rtol=0)
    assert next(estimator.parameters()).device.type == "cpu"


def test_auto_takes_onnx_runtimes_cuda_provider_where_it_loads(one_gpu, monkeypatch) -> None:
    estimator = tiny_estimator()
    made: list[int] = []
    monkeypatch.setattr(onnx_runtime, "onnx_cuda_available", lambda: True)
    monkeypatch.setattr(onnx_runtime, "cuda_session", lambda exported, index: made.append(index) or session(exported, 1))
    run = gpu.cuda_network(estimator, "cuda:1", "auto")
    assert made == [1] and gpu.cuda_network(estimator, "cuda:1") is run
    magnitude = torch.rand(2, estimator.config.stft.input_bins, 16)
    with torch.inference_mode():
        np.testing.assert_allclose(run(magnitude), estimator(magnitude), atol=1e-5, rtol=0)
    assert one_gpu == []
    gpu.cuda_network(estimator, "cuda:1", "torch")(magnitude)  # torch asked for: torch
    assert [device for device, _ in one_gpu] == ["cuda:1"]


def test_without_the_cuda_provider_auto_is_torch_and_onnx_is_one_line(one_gpu, monkeypatch) -> None:
    estimator = tiny_estimator()
    monkeypatch.setattr(onnx_runtime, "onnx_cuda_available", lambda: True)
    monkeypatch.setattr(onnx_runtime, "cuda_session", lambda exported, index: None)  # CUDA libraries missing
    gpu.cuda_network(estimator, "cuda:0", "auto")(torch.rand(1, estimator.config.stft.input_bins, 16))
    assert [device for device, _ in one_gpu] == ["cuda:0"]
    with pytest.raises(VocalsepError, match=r"^the onnx engine on a GPU needs ONNX Runtime's CUDA provider "):
        gpu.cuda_network(estimator, "cuda:0", "onnx")


def test_joined_blocks_keep_every_sample_in_order() -> None:
    blocks = [np.full((2, n), i, np.float32) for i, n in enumerate((3, 4, 5, 1, 2, 1))]
    joined = list(joined_blocks(iter(blocks), 7))
    assert [b.shape[1] for b in joined] == [7, 8, 1]
    np.testing.assert_array_equal(np.concatenate(joined, axis=1), np.concatenate(blocks, axis=1))
    assert GPU_BLOCK_SECONDS >= 30
