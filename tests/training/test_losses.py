"""The waveform-domain SDR term: synthesis of patch spectra and its SDR, against known cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vocalsep.audio.spectrogram import Spectrogram
from vocalsep.config import STFTConfig
from vocalsep.training.losses import synthesise, waveform_sdr_loss

STFT = STFTConfig(sample_rate=8000, n_fft=256, hop_length=64, input_bins=129)


def _spectra(seed: int, patches: int = 3, frames: int = 20) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    waveform = torch.from_numpy(rng.standard_normal((patches, (frames - 1) * 64)).astype(np.float32))
    return Spectrogram(STFT)(waveform)[:, : STFT.input_bins, :frames]


def test_synthesis_inverts_the_transform_where_the_windows_overlap_fully() -> None:
    rng = np.random.default_rng(0)
    waveform = torch.from_numpy(rng.standard_normal((2, 4000)).astype(np.float32))
    spectra = Spectrogram(STFT)(waveform)  # centred: frame t starts at sample t * hop - n_fft / 2
    out = synthesise(spectra, STFT, torch.hann_window(256))
    # Hann at hop n_fft/4 sums its squares to 1.5: OLA of windowed frames is 1.5 x the signal
    middle = slice(512, 3000)
    torch.testing.assert_close(out[:, 128:][:, middle] / 1.5, waveform[:, middle], atol=1e-4, rtol=1e-4)


def test_sdr_of_a_scaled_voice_and_the_cap_of_a_perfect_one() -> None:
    voice, music = _spectra(1), _spectra(2)
    window = torch.hann_window(256)
    half = waveform_sdr_loss(0.5 * voice, voice, voice + music, STFT, window)
    assert float(half) == pytest.approx(-10 * math.log10(1 / 0.25), abs=1e-3)
    perfect = waveform_sdr_loss(voice, voice, voice + music, STFT, window)
    assert float(perfect) == pytest.approx(-50.0, abs=1e-3)


def test_silent_voices_are_left_out_and_a_silent_batch_adds_nothing() -> None:
    voice, music = _spectra(1), _spectra(2)
    window = torch.hann_window(256)
    voice_with_silence = voice.clone()
    voice_with_silence[1] = 0
    estimate = (0.5 * voice_with_silence + 0.1 * music).requires_grad_(True)
    loss = waveform_sdr_loss(estimate, voice_with_silence, voice_with_silence + music, STFT, window)
    reference = waveform_sdr_loss(estimate[[0, 2]], voice_with_silence[[0, 2]], (voice_with_silence + music)[[0, 2]],
                                  STFT, window)
    torch.testing.assert_close(loss, reference)
    silent = torch.zeros_like(voice)
    estimate = music.clone().requires_grad_(True)
    nothing = waveform_sdr_loss(estimate, silent, music, STFT, window)
    nothing.backward()
    assert float(nothing.detach()) == 0.0 and torch.equal(estimate.grad, torch.zeros_like(estimate.grad))

