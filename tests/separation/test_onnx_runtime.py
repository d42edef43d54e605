"""The mask network on ONNX Runtime: same function as torch, exported without the onnx package."""

from __future__ import annotations

import sys

import pytest
import torch

from vocalsep.config import ModelConfig, STFTConfig, UNetConfig
from vocalsep.separation.model import MaskEstimator
from vocalsep.separation.onnx_runtime import onnx_network

pytest.importorskip("onnxruntime")


def _estimator(width: int, max_width: int, depth: int, stem: str = "full", hidden: int = 0) -> MaskEstimator:
    config = ModelConfig(
        stft=STFTConfig(sample_rate=8000, n_fft=256, hop_length=64, input_bins=64),
        unet=UNetConfig(width=width, depth=depth, max_width=max_width, stem=stem, output_channels=hidden),
    )
    torch.manual_seed(width + depth)
    estimator = MaskEstimator(config)
    for module in estimator.modules():  # non-trivial batch-norm statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.normal_(module.running_mean, std=0.1)
            torch.nn.init.uniform_(module.running_var, 0.5, 2.0)
    return estimator.eval()


@pytest.mark.parametrize(
    ("width", "max_width", "depth", "stem", "hidden"),
    [(4, 8, 2, "full", 0), (3, 12, 3, "full", 0), (4, 16, 3, "strided", 0), (4, 16, 3, "strided", 2)],
)
def test_onnx_runtime_equals_torch_without_the_onnx_package(monkeypatch, width, max_width, depth, stem, hidden):
    from torch.onnx._internal.torchscript_exporter import onnx_proto_utils

    hook = onnx_proto_utils._add_onnxscript_fn
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` raises ImportError
    estimator = _estimator(width, max_width, depth, stem, hidden)
    run = onnx_network(estimator, threads=1)
    assert run is not None
    assert onnx_proto_utils._add_onnxscript_fn is hook  # the exporter is left as it was
    for frames in (2**depth, 5 * 2**depth):  # other frame counts than the export's
        magnitude = torch.rand(2, 64, frames, generator=torch.Generator().manual_seed(frames)) * 4
        with torch.inference_mode():
            expected = estimator(magnitude)
        torch.testing.assert_close(run(magnitude), expected, atol=1e-5, rtol=0)


def test_the_export_is_cached_on_disk_and_verified(tmp_path, monkeypatch):
    from vocalsep.separation import onnx_runtime

    monkeypatch.setenv("VOCALSEP_CACHE_DIR", str(tmp_path / "cache"))
    estimator = _estimator(4, 16, 3, "strided", 2)
    magnitude = torch.rand(2, 64, 24, generator=torch.Generator().manual_seed(0)) * 4
    expected = onnx_network(estimator, threads=1)(magnitude)
    (cached,) = (tmp_path / "cache").glob("mask-network-*.onnx")

    # Another process (a fresh copy of the weights) reads the file instead of exporting.
    exports = []
    real_export = onnx_runtime._export
    monkeypatch.setattr(onnx_runtime, "_export", lambda e: exports.append(e) or real_export(e))
    again = _estimator(4, 16, 3, "strided", 2)
    torch.testing.assert_close(onnx_network(again, threads=1)(magnitude), expected, atol=0, rtol=0)
    assert exports == []

    # Other weights are another file.
    other = _estimator(4, 16, 3, "strided", 2)
    with torch.no_grad():
        next(other.parameters()).add_(0.5)
    onnx_network(other, threads=1)
    assert len(exports) == 1 and len(list((tmp_path / "cache").glob("mask-network-*.onnx"))) == 2

    # A damaged file (one flipped byte in the weights) is noticed and exported again.
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cached.write_bytes(bytes(data))
    fresh = _estimator(4, 16, 3, "strided", 2)
    torch.testing.assert_close(onnx_network(fresh, threads=1)(magnitude), expected, atol=0, rtol=0)
    assert len(exports) == 2


def test_an_unwritable_cache_is_skipped(tmp_path, monkeypatch):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    monkeypatch.setenv("VOCALSEP_CACHE_DIR", str(blocked / "cache"))  # mkdir fails: a file is in the way
    estimator = _estimator(4, 8, 2)
    magnitude = torch.rand(1, 64, 8) * 4
    with torch.inference_mode():
        expected = estimator(magnitude)
    torch.testing.assert_close(onnx_network(estimator, threads=1)(magnitude), expected, atol=1e-5, rtol=0)
    assert blocked.read_text() == "x"


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_several_threads_split_the_batch_and_give_the_same_masks(batch):
    estimator = _estimator(4, 16, 3, "strided", 2)
    magnitude = torch.rand(batch, 64, 40, generator=torch.Generator().manual_seed(batch)) * 4
    with torch.inference_mode():
        expected = estimator(magnitude)
    got = onnx_network(estimator, threads=2)(magnitude)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    # the one-thread network of the same estimator is a separate runner with the same output
    torch.testing.assert_close(onnx_network(estimator, threads=1)(magnitude), got, atol=1e-6, rtol=0)
