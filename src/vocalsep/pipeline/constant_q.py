"""A constant-Q power spectrogram in numpy: per-octave resampling and one matrix product per octave.

The melody picture needs a constant-Q view of the voice (48 bins per octave, 10 ms frames).
librosa's ``cqt`` gives one, but using it loads numba and librosa's filter machinery, ~200 MB
of resident memory in a process whose whole budget for an hour of song is 1 GB (issue 13).
This computes the same kind of transform (Brown 1991; the multirate scheme of librosa and of
Schörkhuber & Klapuri 2010): bin ``k`` at ``fmin · 2^(k / bins_per_octave)`` is the inner
product of the frame with a Hann-windowed complex exponential of ``Q · rate / f`` samples,
``Q = 1 / (2^(1 / bins_per_octave) - 1)`` (librosa's filter scale 1). Each octave is computed
at the lowest sample rate that holds it (soxr, halving per octave while the hop stays a whole
number of samples), so the filters stay a few hundred samples long. The kernels are
normalised by their window sums: a sine of amplitude A reads A / 2 in its bin at every octave.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class ConstantQGrid:
    """The transform's settings: rate and hop of the input, lowest bin, bins in all and per octave."""

    rate: int
    hop: int
    fmin: float
    bins: int
    bins_per_octave: int

    @property
    def frequencies(self) -> np.ndarray:
        """Centre frequency of each bin, Hz."""
        return self.fmin * 2.0 ** (np.arange(self.bins) / self.bins_per_octave)

    @property
    def quality(self) -> float:
        return 1.0 / (2.0 ** (1.0 / self.bins_per_octave) - 1.0)


@dataclass(frozen=True)
class _Octave:
    bins: slice  # which rows of the result
    factor: int  # downsampling of the input
    n_fft: int  # frame length at the octave's rate
    kernels: np.ndarray  # (n_fft, 2 * bins): cosine and sine parts side by side, float32


@lru_cache(maxsize=4)
def _octaves(grid: ConstantQGrid) -> tuple[_Octave, ...]:
    """The octaves from the top down, each with its rate factor and kernels."""
    frequencies = grid.frequencies
    octaves = []
    top = grid.bins
    factor = 1
    while top > 0:
        low = max(0, top - grid.bins_per_octave)
        rate = grid.rate / factor
        lengths = grid.quality * rate / frequencies[low:top]
        n_fft = int(2 ** np.ceil(np.log2(lengths.max())))
        centre = np.arange(n_fft) - n_fft // 2
        kernels = np.zeros((n_fft, 2 * (top - low)), dtype=np.float64)
        for column, (f, length) in enumerate(zip(frequencies[low:top], lengths)):
            half = length / 2
            inside = np.abs(centre) < half
            window = np.where(inside, 0.5 + 0.5 * np.cos(np.pi * centre / half), 0.0)
            window /= window.sum()
            phase = 2 * np.pi * f * centre / rate
            kernels[:, column] = window * np.cos(phase)
            kernels[:, top - low + column] = window * np.sin(phase)
        octaves.append(_Octave(slice(low, top), factor, n_fft, kernels.astype(np.float32)))
        top = low
        # halve the rate for the next octave while it still holds it and the hop stays whole
        next_top_hz = frequencies[top - 1] if top > 0 else 0.0
        if grid.hop % (2 * factor) == 0 and next_top_hz < 0.45 * grid.rate / (2 * factor):
            factor *= 2
    return tuple(octaves)


def constant_q_power(audio: np.ndarray, grid: ConstantQGrid) -> np.ndarray:
    """Power of the constant-Q transform of mono ``audio``: frames centred on ``i * hop`` (zero-padded ends).

    Parameters
    ----------
    audio : ndarray, shape (samples,)
        At ``grid.rate``.

    Returns
    -------
    ndarray, shape (1 + samples // hop, grid.bins), float32
    """
    from vocalsep.audio.io import resample

    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    frames = 1 + audio.size // grid.hop
    power = np.empty((frames, grid.bins), dtype=np.float32)
    signals: dict[int, np.ndarray] = {1: audio}
    for octave in _octaves(grid):
        if octave.factor not in signals:
            signals[octave.factor] = np.asarray(resample(audio, grid.rate, grid.rate // octave.factor), np.float32)
        signal = np.pad(signals[octave.factor], octave.n_fft // 2)
        hop = grid.hop // octave.factor
        need = (frames - 1) * hop + octave.n_fft
        if signal.size < need:  # the last frames of a resampled signal a sample short
            signal = np.pad(signal, (0, need - signal.size))
        windows = np.lib.stride_tricks.sliding_window_view(signal, octave.n_fft)[::hop][:frames]
        count = octave.bins.stop - octave.bins.start
        for start in range(0, frames, 2048):  # bounded temporaries for long blocks
            product = windows[start : start + 2048] @ octave.kernels
            power[start : start + 2048, octave.bins] = product[:, :count] ** 2 + product[:, count:] ** 2
    return power
