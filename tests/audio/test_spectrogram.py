"""The STFT pair: exact round trip, shapes, frame counts; mask extension above the band."""

from __future__ import annotations

import pytest
import torch

from conftest import stems
from vocalsep.config import STFTConfig
from vocalsep.audio.spectrogram import Spectrogram, extend_mask

CONFIG = STFTConfig(sample_rate=8000, n_fft=256, hop_length=64, input_bins=64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("samples", [4000, 4001, 257, 64 * 20])
def test_round_trip(dtype, samples):
    transform = Spectrogram(CONFIG)
    generator = torch.Generator().manual_seed(samples)
    waveform = (0.5 * torch.randn(2, samples, generator=generator)).to(dtype)
    restored = transform.inverse(transform(waveform), samples)
    assert restored.shape == waveform.shape
    assert (restored - waveform).abs().max().item() < 1e-6


def test_round_trip_of_music_like_stems():
    vocals, accompaniment = stems(0.5, 8000, channels=2)
    waveform = torch.from_numpy(vocals + accompaniment)
    transform = Spectrogram(CONFIG)
    restored = transform.inverse(transform(waveform), waveform.shape[-1])
    assert (restored - waveform).abs().max().item() < 1e-6


def test_shapes_and_complex_output():
    transform = Spectrogram(CONFIG)
    waveform = torch.randn(3, 2, 1000, generator=torch.Generator().manual_seed(1))
    spec = transform(waveform)
    assert spec.is_complex()
    assert spec.shape == (3, 2, CONFIG.bins, transform.frames_for(1000))
    assert CONFIG.bins == 129
    assert transform.inverse(spec, 1000).shape == (3, 2, 1000)
    # Channels are transformed independently of each other.
    single = transform(waveform[1, 0])
    torch.testing.assert_close(spec[1, 0], single)


@pytest.mark.parametrize("samples", [1, 63, 64, 65, 1000, 4096])
def test_frames_for_matches_forward(samples):
    transform = Spectrogram(CONFIG)
    assert transform(torch.zeros(1, samples)).shape[-1] == transform.frames_for(samples)


def test_does_not_mutate_input():
    transform = Spectrogram(CONFIG)
    waveform = torch.randn(1, 500, generator=torch.Generator().manual_seed(2))
    copy = waveform.clone()
    spec = transform(waveform)
    spec_copy = spec.clone()
    transform.inverse(spec, 500)
    assert torch.equal(waveform, copy) and torch.equal(spec, spec_copy)


def test_linearity():
    """Mixing spectra equals transforming the mixed waveform (PatchSampler relies on it)."""
    vocals, accompaniment = (torch.from_numpy(s) for s in stems(0.25, 8000))
    transform = Spectrogram(CONFIG)
    torch.testing.assert_close(
        transform(vocals) + transform(accompaniment),
        transform(vocals + accompaniment),
        atol=1e-5,
        rtol=1e-5,
    )


def test_sine_peaks_at_its_bin():
    transform = Spectrogram(CONFIG)
    frequency = 1000.0  # bin 32 of 256 at 8 kHz
    t = torch.arange(4000) / 8000
    spec = transform(torch.sin(2 * torch.pi * frequency * t))
    middle = spec[:, spec.shape[-1] // 2].abs()
    assert int(middle.argmax()) == round(frequency * CONFIG.n_fft / CONFIG.sample_rate)


def test_extend_mask_shapes_and_values():
    generator = torch.Generator().manual_seed(3)
    mask = torch.rand(2, 3, 64, 10, generator=generator)
    extended = extend_mask(mask, 129)
    assert extended.shape == (2, 3, 129, 10)
    assert torch.equal(extended[..., :64, :], mask)
    top_mean = mask[..., 56:, :].mean(dim=-2)  # top eighth of 64 bins: bins 56..63
    for b in range(64, 129):
        torch.testing.assert_close(extended[..., b, :], top_mean)
    # Frame by frame: different frames get different fills.
    assert not torch.allclose(extended[..., 100, 0], extended[..., 100, 1])


def test_extend_mask_small_band_and_identity():
    mask = torch.tensor([[[0.2, 0.4], [0.6, 0.8], [1.0, 0.0]]])  # (1, 3 bins, 2 frames)
    extended = extend_mask(mask, 5)
    # 3 // 8 == 0 -> at least one bin: the top bin itself.
    assert torch.equal(extended[0, 3:], torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    assert torch.equal(extend_mask(mask, 3), mask)
    assert torch.equal(extend_mask(mask, 2), mask[:, :2])


def test_extend_mask_keeps_range():
    mask = torch.rand(1, 64, 5, generator=torch.Generator().manual_seed(4))
    extended = extend_mask(mask, 1025)
    assert extended.min() >= 0 and extended.max() <= 1
