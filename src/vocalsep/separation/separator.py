"""Waveform in, voice and accompaniment out: STFT -> network mask -> iSTFT."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vocalsep.audio.io import fit_length, resample
from vocalsep.config import ModelConfig
from vocalsep.errors import VocalsepError
from vocalsep.separation.chunking import apply_in_chunks
from vocalsep.separation.model import MaskEstimator
from vocalsep.audio.spectrogram import Spectrogram, extend_mask


@dataclass(frozen=True)
class Stems:
    """Separated stems at the input's rate and channel count.

    Attributes
    ----------
    vocals, accompaniment : ndarray, shape (channels, samples), float32
        ``vocals + accompaniment`` equals the input mixture.
    sample_rate : int
    """

    vocals: np.ndarray
    accompaniment: np.ndarray
    sample_rate: int


class Separator(nn.Module):
    """Splits a mixture into voice and accompaniment.

    Every channel is separated on its own, so any channel count works. The voice is
    ``iSTFT(mask * X)`` and the accompaniment is the exact complement ``mixture - voice``.

    Parameters
    ----------
    estimator : MaskEstimator
        The trained network with its input statistics.
    segment, crossfade, context : int
        Chunking of the frame axis (see ``inference.apply_in_chunks``); rounded to the
        network's down-sampling grid. No context by default: on the validation sets and on
        a 95 s song, context frames changed SDR by under 0.05 dB while costing a quarter of
        the network's time on 30 s songs (docs/SPEED.md); the crossfade hides the edges.
    """

    def __init__(
        self,
        estimator: MaskEstimator,
        *,
        segment: int = 512,
        crossfade: int = 64,
        context: int = 0,
    ) -> None:
        super().__init__()
        self.estimator = estimator.eval()
        self.config: ModelConfig = estimator.config
        self.spectrogram = Spectrogram(self.config.stft)
        grid = self.config.unet.downsampling
        self.segment = _round_up(segment, grid)
        self.crossfade = _round_up(crossfade, grid) if crossfade else 0
        self.context = _round_up(context, grid) if context else 0

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path = "default", **options: int) -> Separator:
        """Load a bundled model by name (``"default"``, ``"seed"``) or a checkpoint file."""
        from vocalsep.separation.checkpoint import load_estimator

        return cls(load_estimator(name_or_path), **options)

    @property
    def sample_rate(self) -> int:
        """The rate the network was trained at; other rates are resampled for the mask."""
        return self.config.stft.sample_rate

    def voice_mask(self, magnitude: torch.Tensor, progress: Callable[[int], None] | None = None) -> torch.Tensor:
        """Full-band voice mask for magnitudes of shape (channels, bins, frames)."""
        band = magnitude[:, : self.config.stft.input_bins]

        def network(window: torch.Tensor) -> torch.Tensor:
            result = self.estimator(window)
            if progress is not None:
                progress(self.segment - self.crossfade)
            return result

        mask = apply_in_chunks(
            network,
            band,
            segment=self.segment,
            crossfade=self.crossfade,
            context=self.context,
            multiple=self.config.unet.downsampling,
        )
        return extend_mask(mask, magnitude.shape[1])

    @torch.inference_mode()
    def forward(self, mixture: torch.Tensor, progress: Callable[[int], None] | None = None) -> torch.Tensor:
        """Voice estimate of ``mixture`` (channels, samples) at the model's sample rate."""
        spec = self.spectrogram(mixture)
        mask = self.voice_mask(spec.abs(), progress)
        return self.spectrogram.inverse(mask * spec, mixture.shape[-1])

    def separate(
        self,
        mixture: np.ndarray,
        sample_rate: int,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> Stems:
        """Separate a waveform at any sample rate.

        Parameters
        ----------
        mixture : ndarray, shape (channels, samples)
        sample_rate : int
        progress : callable, optional
            Called with the number of frames done after each network window.

        Returns
        -------
        Stems
            At ``sample_rate``, with the input's shape; ``vocals + accompaniment == mixture``.
        """
        mixture = _checked_mixture(mixture)
        if int(sample_rate) != sample_rate or sample_rate < 1:
            raise VocalsepError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        at_model_rate = resample(mixture, sample_rate, self.sample_rate)
        vocals = self(torch.from_numpy(np.ascontiguousarray(at_model_rate)), progress).numpy()
        vocals = resample(vocals, self.sample_rate, sample_rate)
        vocals = fit_length(vocals, mixture.shape[1])
        return Stems(vocals, mixture - vocals, sample_rate)

    def frames_for(self, samples: int, sample_rate: int) -> int:
        """Frames the network processes for ``samples`` at ``sample_rate`` (for progress bars)."""
        at_model_rate = -(-samples * self.sample_rate // sample_rate)
        frames = self.spectrogram.frames_for(at_model_rate)
        step = self.segment - self.crossfade
        return -(-frames // step) * step


def _checked_mixture(mixture: np.ndarray) -> np.ndarray:
    """The mixture as float32 (channels, samples), or one clear error for anything else."""
    array = np.asarray(mixture)
    if array.ndim != 2 or 0 in array.shape:
        raise VocalsepError(f"mixture must be a non-empty array of shape (channels, samples), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise VocalsepError(f"mixture samples must be floats in [-1, 1], got dtype {array.dtype}")
    return array.astype(np.float32, copy=False)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
