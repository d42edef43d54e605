"""Training losses on patch spectra: magnitude terms and a waveform-domain SDR term."""

from __future__ import annotations

import torch

from vocalsep.config import STFTConfig

#: A patch whose voice is this far (energy ratio) below its mixture has no SDR worth fitting:
#: silence in the voice would make minus the SDR unbounded, so such patches are left out.
SILENT_VOICE = 1e-6
#: SDR is capped at 10·log10(1 / SDR_FLOOR) = 50 dB, so a near-perfect patch cannot dominate.
SDR_FLOOR = 1e-5


def synthesise(spectra: torch.Tensor, stft: STFTConfig, window: torch.Tensor) -> torch.Tensor:
    """Overlap-add waveforms of patch spectra (the bins above ``input_bins`` taken as zero).

    Parameters
    ----------
    spectra : Tensor, shape (patches, input_bins, frames), complex
    stft : STFTConfig
    window : Tensor, shape (n_fft,)
        The synthesis window (the analysis Hann window).

    Returns
    -------
    Tensor, shape (patches, (frames - 1) * hop_length + n_fft)
        The same linear synthesis for estimate and reference, so their SDR compares like
        with like; without window-sum normalisation (the patch edges are faded, identically
        for both).
    """
    patches, bins, frames = spectra.shape
    full = torch.nn.functional.pad(spectra, (0, 0, 0, stft.bins - bins))
    segments = torch.fft.irfft(full, n=stft.n_fft, dim=1) * window[:, None]  # (patches, n_fft, frames)
    length = (frames - 1) * stft.hop_length + stft.n_fft
    folded = torch.nn.functional.fold(segments, output_size=(1, length), kernel_size=(1, stft.n_fft),
                                      stride=(1, stft.hop_length))
    return folded.reshape(patches, length)


def waveform_sdr_loss(
    estimate: torch.Tensor, reference: torch.Tensor, mixture: torch.Tensor, stft: STFTConfig, window: torch.Tensor
) -> torch.Tensor:
    """Minus the mean SDR in dB of synthesised voice estimates, over patches with a voice.

    Parameters
    ----------
    estimate, reference, mixture : Tensor, shape (patches, input_bins, frames), complex
        The masked mixture, the true voice, and the mixture (which sets what counts as silence).

    Returns
    -------
    Tensor, scalar
        0 when no patch of the batch holds a voice.
    """
    total, voiced = waveform_sdr_sum(estimate, reference, mixture, stft, window)
    return -total / voiced.clamp_min(1)


def waveform_sdr_sum(
    estimate: torch.Tensor, reference: torch.Tensor, mixture: torch.Tensor, stft: STFTConfig, window: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The SDR in dB summed over the patches with a voice, and their count (``waveform_sdr_loss``'s parts).

    Data-parallel training divides the sum by the count over every rank's patches, so the
    mean is that of the global batch.
    """
    voice = synthesise(reference, stft, window)
    error = (voice - synthesise(estimate, stft, window)).square().sum(dim=1)
    energy = voice.square().sum(dim=1)
    mixture_energy = synthesise(mixture, stft, window).square().sum(dim=1)
    voiced = energy > SILENT_VOICE * mixture_energy
    count = voiced.sum().to(energy.dtype)
    if not bool(voiced.any()):
        return estimate.real.sum() * 0, count  # keeps the graph: a batch of silences adds nothing
    sdr = 10 * torch.log10(energy[voiced] / (error[voiced] + SDR_FLOOR * energy[voiced]))
    return sdr.sum(), count
