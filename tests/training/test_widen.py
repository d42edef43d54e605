"""A wider U-Net started from a narrower one computes the same, then learns with its new channels."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vocalsep.config import ModelConfig, STFTConfig, UNetConfig
from vocalsep.errors import ConfigError
from vocalsep.separation.model import MaskEstimator
from vocalsep.training.widen import can_widen, widened_state

STFT = STFTConfig(sample_rate=16000, n_fft=512, hop_length=128, input_bins=128)


def _trained_looking(config: ModelConfig, seed: int) -> MaskEstimator:
    """A network with non-trivial batch-norm statistics, as a trained one has."""
    torch.manual_seed(seed)
    network = MaskEstimator(config)
    for name, tensor in network.state_dict().items():
        if "running_var" in name:
            tensor.uniform_(0.5, 2.0)
        elif "running_mean" in name or name.endswith("bn.bias"):
            tensor.uniform_(-0.3, 0.3)
    return network.eval()


@pytest.mark.parametrize("channels", [1, 2])
def test_a_widened_network_computes_the_narrow_ones_mask(channels: int) -> None:
    narrow_unet = UNetConfig(width=4, depth=4, max_width=8, stem="strided", output_channels=4, channels=channels)
    narrow_config = ModelConfig(stft=STFT, unet=narrow_unet)
    wide_config = ModelConfig(stft=STFT, unet=dataclasses.replace(narrow_unet, max_width=32))
    narrow = _trained_looking(narrow_config, seed=0)
    wide = MaskEstimator(wide_config)
    wide.load_state_dict(widened_state(narrow_config, narrow.state_dict(), wide), strict=True)
    wide.eval()
    magnitude = torch.rand(2 * channels, 128, 32) * 3
    with torch.no_grad():
        torch.testing.assert_close(wide(magnitude), narrow(magnitude), rtol=1e-4, atol=1e-5)
    assert sum(p.numel() for p in wide.parameters()) > 2 * sum(p.numel() for p in narrow.parameters())
    # one training step reaches the new channels: the weights reading them were zero and move
    wide.train()
    reader = wide.net.decoders[0].conv.weight
    loss = wide(magnitude).mean()
    loss.backward()
    assert reader.grad[:, 8:32].abs().sum() > 0


def test_only_a_narrower_network_of_the_same_design_widens() -> None:
    unet = UNetConfig(width=4, depth=4, max_width=8, stem="strided")
    assert can_widen(unet, dataclasses.replace(unet, max_width=16))
    assert can_widen(unet, dataclasses.replace(unet, width=6, max_width=16))
    assert not can_widen(unet, dataclasses.replace(unet, max_width=4))
    assert not can_widen(unet, dataclasses.replace(unet, max_width=16, depth=5))
    wide = MaskEstimator(ModelConfig(stft=STFT, unet=dataclasses.replace(unet, depth=5, max_width=16)))
    narrow_config = ModelConfig(stft=STFT, unet=unet)
    with pytest.raises(ConfigError, match="not a narrower version"):
        widened_state(narrow_config, MaskEstimator(narrow_config).state_dict(), wide)


def test_a_run_starts_a_wider_network_from_a_narrow_runs_weights(tmp_path) -> None:
    from support import tiny_run

    from vocalsep.config import TrainConfig
    from vocalsep.separation.checkpoint import load_estimator
    from vocalsep.training.train import train

    narrow = tiny_run(tmp_path, TrainConfig(steps=2, batch_size=2, validate_every=2, checkpoint_every=2))
    train(narrow, tmp_path / "narrow", progress=False)
    wide = dataclasses.replace(
        narrow, model=dataclasses.replace(narrow.model, unet=dataclasses.replace(narrow.model.unet, max_width=16)),
        train=dataclasses.replace(narrow.train, init=str(tmp_path / "narrow" / "best.pt"), steps=1))
    train(wide, tmp_path / "wide", progress=False)
    assert load_estimator(tmp_path / "wide" / "best.pt").config.unet.max_width == 16
