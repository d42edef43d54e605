"""The waveform-domain SDR term: synthesis of patch spectra and its SDR, against known cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vocalsep.audio.spectrogram import Spectrogram
from vocalsep.config import STFTConfig
from vocalsep.training import losses
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



def test_synthesis_energies_and_their_gradients_equal_autograds_in_any_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    voice, music = _spectra(1, patches=5), _spectra(2, patches=5)
    mixture = voice + music
    window = torch.hann_window(256)
    mask0 = torch.rand(mixture.shape, generator=torch.Generator().manual_seed(0))
    weights = torch.arange(1.0, 6.0)  # a different gradient per patch
    mask = mask0.clone().requires_grad_(True)
    (synthesise(voice - mask * mixture, STFT, window).square().sum(dim=1) * weights).sum().backward()
    expected = mask.grad
    for chunk in (losses.CHUNK_BYTES, 20 * 256 * 4 * 2):  # all patches at once, then two at a time
        monkeypatch.setattr(losses, "CHUNK_BYTES", chunk)
        mask = mask0.clone().requires_grad_(True)
        energy = losses.masked_error_energy(mask, mixture, voice, STFT, window)
        (energy * weights).sum().backward()
        torch.testing.assert_close(mask.grad, expected, rtol=1e-4, atol=1e-6)
        estimate = (mask0 * mixture).requires_grad_(True)
        plain = synthesise(voice - estimate, STFT, window).square().sum(dim=1)
        torch.testing.assert_close(losses.synthesis_energy(voice - estimate, STFT, window), plain, rtol=1e-5, atol=0)
        got = torch.autograd.grad((losses.synthesis_energy(voice - estimate, STFT, window) * weights).sum(), estimate)
        torch.testing.assert_close(got[0], torch.autograd.grad((plain * weights).sum(), estimate)[0], rtol=1e-4, atol=1e-6)


def test_masked_sdr_equals_the_sdr_of_the_masked_mixture() -> None:
    voice, music = _spectra(1), _spectra(2)
    window = torch.hann_window(256)
    mask = torch.rand(voice.shape, generator=torch.Generator().manual_seed(1))
    total, count = losses.masked_waveform_sdr_sum(mask, voice + music, voice, STFT, window)
    expected, voiced = losses.waveform_sdr_sum(mask * (voice + music), voice, voice + music, STFT, window)
    torch.testing.assert_close(total, expected)
    assert float(count) == float(voiced) == 3


@pytest.mark.parametrize("loss", ["l1", "l2"])
def test_magnitude_losses_equal_torchs_terms_and_gradients(loss: str, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = torch.Generator().manual_seed(2)
    mixture, vocals, accompaniment = (torch.rand(4, 6, 5, generator=generator) for _ in range(3))
    mask0 = torch.rand(4, 6, 5, generator=generator) * 1.2  # some masks above 1: no remainder there
    mask0[0, 0, 0] = 1.0  # clamp_min passes the gradient at exactly 0
    function = torch.nn.functional.l1_loss if loss == "l1" else torch.nn.functional.mse_loss
    mask = mask0.clone().requires_grad_(True)
    expected = torch.stack([function(mask * mixture, vocals), function((1 - mask).clamp_min(0) * mixture, accompaniment)])
    (expected[0] + 0.5 * expected[1]).backward()
    for chunk in (losses.CHUNK_BYTES, 6 * 5 * 4):  # all rows at once, then one at a time
        monkeypatch.setattr(losses, "CHUNK_BYTES", chunk)
        got_mask = mask0.clone().requires_grad_(True)
        got = losses.magnitude_losses(got_mask, mixture, vocals, accompaniment, loss=loss)
        (got[0] + 0.5 * got[1]).backward()
        torch.testing.assert_close(got, expected.detach())
        torch.testing.assert_close(got_mask.grad, mask.grad)
