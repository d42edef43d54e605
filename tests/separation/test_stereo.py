"""A stereo network: both channels in one pass, started from a mono network's weights."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from support import TINY, song

from vocalsep.config import ModelConfig, UNetConfig
from vocalsep.separation.model import MaskEstimator, pair_channels
from vocalsep.separation.onnx_runtime import onnx_network
from vocalsep.separation.separator import Separator
from vocalsep.training.train import stereo_from_mono

MONO = ModelConfig(stft=TINY.stft, unet=UNetConfig(width=4, depth=2, max_width=8, stem="strided", output_channels=2))
STEREO = dataclasses.replace(MONO, unet=dataclasses.replace(MONO.unet, channels=2))


def _pair() -> tuple[MaskEstimator, MaskEstimator]:
    torch.manual_seed(0)
    mono = MaskEstimator(MONO).eval()
    with torch.no_grad():
        mono.input_mean.uniform_(-1, 1)
        mono.input_scale.uniform_(0.5, 2)
        for module in mono.modules():  # batch norms away from the identity, so they are checked too
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2)
    stereo = MaskEstimator(STEREO).eval()
    stereo.load_state_dict(stereo_from_mono(mono.state_dict(), stereo.state_dict()))
    return mono, stereo


def test_a_widened_mono_network_gives_each_channel_of_a_centred_input_its_mono_mask() -> None:
    mono, stereo = _pair()
    magnitude = torch.rand(3, 64, 16, generator=torch.Generator().manual_seed(1)) * 3
    with torch.inference_mode():
        expected = mono(magnitude)
        twice = stereo(magnitude.repeat_interleave(2, dim=0))  # rows (0, 0), (1, 1), (2, 2)
    torch.testing.assert_close(twice, expected.repeat_interleave(2, dim=0), atol=1e-5, rtol=0)
    # with different channels, each channel's mask depends on the other one
    other = magnitude.clone()
    other[1] = torch.rand(64, 16) * 3
    with torch.inference_mode():
        masks = stereo(torch.stack([magnitude[0], other[1]]))
    assert not torch.allclose(masks[0], expected[0], atol=1e-3)


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_songs_of_any_channel_count_separate_through_the_stereo_network(channels: int) -> None:
    mono, stereo = _pair()
    audio = song(1.0, TINY.stft.sample_rate, channels=channels)
    vocals = Separator(stereo).separate(audio, TINY.stft.sample_rate).vocals
    assert vocals.shape == audio.shape and np.isfinite(vocals).all()
    if channels == 1:  # a mono song is heard as a centred stereo one: the mono network's answer
        expected = Separator(mono).separate(audio, TINY.stft.sample_rate).vocals
        np.testing.assert_allclose(vocals, expected, atol=2e-5)


def test_pairs_keep_their_channels_together() -> None:
    seen = []

    def network(magnitude: torch.Tensor) -> torch.Tensor:
        seen.append(magnitude.shape[0])
        return magnitude * 2

    batch = torch.rand(6, 4, 5)  # two excerpts of three channels
    out = pair_channels(network, 3)(batch)
    torch.testing.assert_close(out, batch * 2)
    assert seen == [8]  # each excerpt's third channel twice
    assert pair_channels(network, 2) is network


def test_onnx_runtime_splits_a_stereo_batch_between_pairs() -> None:
    _, stereo = _pair()
    magnitude = torch.rand(6, 64, 16, generator=torch.Generator().manual_seed(2)) * 3
    with torch.inference_mode():
        expected = stereo(magnitude)
    for threads in (1, 2):
        torch.testing.assert_close(onnx_network(stereo, threads=threads)(magnitude), expected, atol=1e-5, rtol=0)


def test_stereo_needs_the_strided_unet() -> None:
    with pytest.raises(ValueError, match="channels"):
        UNetConfig(stem="full", channels=2)
    with pytest.raises(ValueError, match="channels"):
        UNetConfig(stem="strided", channels=3)
