"""CREPE tiny on a GPU (``crepe_runner(device=...)``), checked on this CPU-only machine: which runner a
GPU gets (ONNX Runtime's CUDA provider, else torch), in float32 whatever the precision, with larger
batches. The GPU runners run here on the CPU; their numerics on a GPU are ``benchmarks/gpu_speed.py``'s."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

from vocalsep import onnx_export
from vocalsep.melody.trackers import crepe
from vocalsep.melody.trackers.crepe import (
    CREPE_WINDOW, GPU_BATCH_FRAMES, crepe_activation, crepe_runner, load_crepe_tiny, normalize_frames,
)


@pytest.fixture(autouse=True)
def _fresh_runners(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No runner kept from other tests, none kept for later ones (they would hold these stand-ins)."""
    monkeypatch.setenv("VOCALSEP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(crepe, "_BUNDLED_RUNNERS", {})
    monkeypatch.setattr(crepe, "_RUNNERS", weakref.WeakKeyDictionary())


@pytest.fixture
def torch_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The GPU's torch runner, run on the CPU, recording (device, frames per call)."""
    calls: list[tuple[str, int]] = []
    real = crepe._torch_runner_on

    def on_the_cpu(network, device: str):  # noqa: ANN001, ANN202
        run = real(network, "cpu")
        return lambda frames: calls.append((device, frames.shape[0])) or run(frames)

    monkeypatch.setattr(crepe, "_torch_runner_on", on_the_cpu)
    return calls


def _frames(count: int) -> np.ndarray:
    frames = normalize_frames(np.random.default_rng(0).standard_normal((count, CREPE_WINDOW)).astype(np.float32))
    return frames if load_crepe_tiny().inputs == 1 else np.stack([frames, frames], axis=1)


def test_without_the_cuda_provider_a_gpu_runs_torch_in_float32(torch_on_the_cpu) -> None:
    frames = _frames(9)
    run = crepe_runner(device="cuda:0")  # int8 by default on the CPU: float32 on a GPU
    assert crepe_runner(device="cuda:0", precision="float32") is run
    np.testing.assert_allclose(run(frames), crepe_runner(precision="float32")(frames), atol=1e-5, rtol=0)
    assert torch_on_the_cpu == [("cuda:0", 9)]
    assert crepe_runner(device="cuda:1") is not run  # one runner per GPU


def test_the_cuda_provider_runs_the_float32_export(torch_on_the_cpu, monkeypatch) -> None:
    made: list[int] = []
    monkeypatch.setattr(onnx_export, "onnx_cuda_available", lambda: True)
    monkeypatch.setattr(onnx_export, "cuda_session",
                        lambda exported, index: made.append(index) or onnx_export.session(exported, 1))
    frames = _frames(7)
    np.testing.assert_array_equal(crepe_runner(device="cuda:1")(frames), crepe_runner(precision="float32")(frames))
    assert made == [1] and torch_on_the_cpu == []


def test_a_provider_that_does_not_load_falls_back_to_torch(torch_on_the_cpu, monkeypatch) -> None:
    monkeypatch.setattr(onnx_export, "onnx_cuda_available", lambda: True)
    monkeypatch.setattr(onnx_export, "cuda_session", lambda exported, index: None)
    crepe_runner(device="cuda:0")(_frames(3))
    assert torch_on_the_cpu == [("cuda:0", 3)]


def test_a_gpu_gets_large_batches_and_the_cpus_activations(torch_on_the_cpu) -> None:
    audio = np.random.default_rng(1).standard_normal(16000 * 30).astype(np.float32) * 0.1
    on_gpu = crepe_activation(audio, 160, batch_frames=64, device="cuda:0")
    assert [count for _, count in torch_on_the_cpu] == [GPU_BATCH_FRAMES, 3001 - GPU_BATCH_FRAMES]
    on_cpu = crepe_activation(audio, 160, batch_frames=64, precision="float32")
    np.testing.assert_allclose(on_gpu, on_cpu, atol=1e-5, rtol=0)
