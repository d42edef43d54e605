"""One STFT/iSTFT pair, and the masks applied between them."""

from __future__ import annotations

import torch
from torch import nn

from vocalsep.config import STFTConfig


class Spectrogram(nn.Module):
    """Complex STFT and its inverse with one shared window, framed by ``config`` (an ``STFTConfig``)."""

    def __init__(self, config: STFTConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)

    def _shared(self) -> dict:
        """The settings both directions must agree on."""
        return {"n_fft": self.config.n_fft, "hop_length": self.config.hop_length, "window": self.window, "center": True}

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """Transform ``waveform`` of shape (..., samples) to complex (..., bins, frames)."""
        flat = waveform.reshape(-1, waveform.shape[-1])
        spec = torch.stft(flat, **self._shared(), pad_mode="constant", return_complex=True)
        return spec.reshape(*waveform.shape[:-1], *spec.shape[-2:])

    def inverse(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Invert complex ``spec`` of shape (..., bins, frames) to (..., length) samples."""
        waveform = torch.istft(spec.reshape(-1, *spec.shape[-2:]), **self._shared(), length=length)
        return waveform.reshape(*spec.shape[:-2], length)

    def frames_for(self, samples: int) -> int:
        """Number of STFT frames that ``forward`` returns for ``samples`` samples."""
        return samples // self.config.hop_length + 1


def extend_mask(mask: torch.Tensor, bins: int) -> torch.Tensor:
    """Extend a band-limited mask (..., input_bins, frames) to ``bins`` frequency bins.

    Bins above the network's band take the mean of the top eighth of the band, frame by
    frame: vocal harmonics above ~11 kHz follow the energy just below.
    """
    input_bins = mask.shape[-2]
    if input_bins >= bins:
        return mask[..., :bins, :]
    top = mask[..., input_bins - max(1, input_bins // 8) :, :].mean(dim=-2, keepdim=True)
    fill = top.expand(*mask.shape[:-2], bins - input_bins, mask.shape[-1])
    return torch.cat([mask, fill], dim=-2)
