"""CREPE tiny on ONNX Runtime: the torch network's activations, one export per set of weights."""

from __future__ import annotations

import numpy as np
import torch

from vocalsep.melody.trackers.crepe import crepe_network, crepe_runner, load_crepe_tiny, normalize_frames


def _copy_of_the_bundled_network():  # noqa: ANN202
    network = crepe_network()
    network.load_state_dict(load_crepe_tiny().state_dict())
    return network.eval()


def test_onnx_activations_equal_the_torch_networks(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VOCALSEP_CACHE_DIR", str(tmp_path / "cache"))
    network = _copy_of_the_bundled_network()  # its own object: no runner kept from other tests
    frames = normalize_frames(torch.randn(37, 1024, generator=torch.Generator().manual_seed(0)))
    with torch.inference_mode():
        expected = network(frames).numpy()
    got = crepe_runner(network)(frames)
    assert isinstance(got, np.ndarray) and got.shape == (37, 360)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    assert len(list((tmp_path / "cache").glob("crepe-tiny-*.onnx"))) == 1
    assert crepe_runner(network) is crepe_runner(network)  # one session per network and weights


def test_a_network_whose_weights_change_gets_a_new_export(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VOCALSEP_CACHE_DIR", str(tmp_path / "cache"))
    network = _copy_of_the_bundled_network()
    frames = normalize_frames(torch.randn(5, 1024, generator=torch.Generator().manual_seed(1)))
    before = crepe_runner(network)(frames)
    with torch.no_grad():
        network.classifier.bias.add_(1.0)  # a fine-tuning step, say
        expected = network(frames).numpy()
    after = crepe_runner(network)(frames)
    np.testing.assert_allclose(after, expected, atol=1e-5, rtol=0)
    assert not np.allclose(before, after)
    assert len(list((tmp_path / "cache").glob("crepe-tiny-*.onnx"))) == 2
