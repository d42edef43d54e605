"""A song's tempo and beats: an onset envelope streamed block by block, then tempo and beat tracking on it.

The envelope is the spectral flux of a 40-band mel spectrogram in dB (10 ms frames at 16 kHz,
the tracker's analysis rate), as librosa's ``onset_strength``, and the same flux of the low bands'
power for the downbeats: two float32 a frame, so an hour is 3 MB, while the audio streams past.
At the end the tempo is read from the mean local autocorrelation of the envelope (librosa's
``tempo``: 8 s windows, a log-normal prior around 120 BPM) and the beats are placed by Ellis's
dynamic programme (librosa's ``beat_track``). Both are written here in numpy rather than
imported: ``librosa.beat`` compiles its numba kernels on every import, about 7 s at each
``vocalsep pitch``.
"""

from __future__ import annotations

import numpy as np

from vocalsep.melody.framing import FrameBlocks
from vocalsep.melody.grid import BeatGrid
from vocalsep.melody.trackers.base import ANALYSIS_RATE

#: Onset envelope: STFT size and hop at ``ANALYSIS_RATE`` (64 ms frames every 10 ms), mel bands.
ONSET_FFT, ONSET_HOP, ONSET_BANDS = 1024, 160, 40
#: Frames between a rise of the spectrum and the onset it marks: with 2, drum hits are found
#: 5 ms late on average (3, librosa's half window, gives 15 ms; ``tests/melody/test_beats.py``).
ONSET_LEAD = 2
#: Frames per second of the envelope.
FRAME_RATE = ANALYSIS_RATE / ONSET_HOP
#: Band powers below this (re. a full-scale sine's 0.25) count as this: -80 dB, the quietest onset heard.
LEVEL_FLOOR = 1e-8
#: Bands under this frequency make the low envelope (kick drum, bass) that finds the downbeats.
LOW_BAND_HZ = 200.0
#: Tempo search: window of the local autocorrelation, prior's centre and width (octaves), range.
TEMPO_WINDOW_S, PRIOR_BPM, PRIOR_OCTAVES, MIN_BPM, MAX_BPM = 8.0, 120.0, 1.0, 40.0, 250.0
#: Fewer beats than this (a clip of a second or two) tell no tempo.
MIN_BEATS = 4
#: How strictly the beat tracker keeps the tempo (librosa's default).
TIGHTNESS = 100.0
#: A double or half tempo whose score (log strength + log prior) is within this of the chosen one's is
#: reported beside it. Not the bare strength: a steady pulse correlates as well at two beats as at one.
AMBIGUOUS_GAP = 0.5


def _mel_filters(n_fft: int, rate: int, bands: int, fmin: float = 30.0, fmax: float | None = None) -> np.ndarray:
    """Triangular filters on the mel scale, peak 1, shape (n_fft // 2 + 1, bands)."""
    def mel(f: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    edges = 700.0 * (10.0 ** (np.linspace(mel(fmin), mel(fmax or rate / 2), bands + 2) / 2595.0) - 1.0)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)[:, None]
    rising = (freqs - edges[:-2]) / (edges[1:-1] - edges[:-2])
    falling = (edges[2:] - freqs) / (edges[2:] - edges[1:-1])
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


class BeatStream:
    """The onset envelope of a stream of 16 kHz mono samples; ``finish`` tracks tempo and beats.

    Frames are centred on ``k * ONSET_HOP`` (zero-padded ends) and computed in fixed blocks
    with real neighbouring audio (``framing.FrameBlocks``), so the envelope does not depend on
    how the stream was cut. Kept in memory: two floats per 10 ms frame.
    """

    def __init__(self, *, block_frames: int = 2048) -> None:
        self.window = np.hanning(ONSET_FFT + 1)[:-1].astype(np.float32)  # periodic Hann
        self.scale = np.float32(1.0 / float(self.window.sum()) ** 2)
        self.filters = _mel_filters(ONSET_FFT, ANALYSIS_RATE, ONSET_BANDS)
        centres = np.fft.rfftfreq(ONSET_FFT, 1.0 / ANALYSIS_RATE) @ self.filters / self.filters.sum(axis=0)
        self.low = centres < LOW_BAND_HZ
        self.frames = FrameBlocks(self._levels, hop=ONSET_HOP, block_frames=block_frames, context=ONSET_FFT // 2)
        self.previous: np.ndarray | None = None  # the last frame's band levels
        self.flux: list[np.ndarray] = []
        self.low_flux: list[np.ndarray] = []

    def _levels(self, samples: np.ndarray) -> tuple[np.ndarray]:
        """Band levels in dB, shape (1 + samples // ONSET_HOP, ONSET_BANDS)."""
        padded = np.pad(np.asarray(samples, dtype=np.float32), ONSET_FFT // 2)
        count = 1 + samples.size // ONSET_HOP
        frames = np.lib.stride_tricks.sliding_window_view(padded, ONSET_FFT)[::ONSET_HOP][:count]
        power = np.abs(np.fft.rfft(frames * self.window, axis=1)) ** 2 * self.scale
        return (10.0 * np.log10(np.maximum(power @ self.filters, LEVEL_FLOOR)),)

    def push(self, samples: np.ndarray) -> None:
        """Feed 16 kHz mono samples, shape (samples,)."""
        for (levels,) in self.frames.push(np.asarray(samples, dtype=np.float32).reshape(-1)):
            self._take(levels)

    def _take(self, levels: np.ndarray) -> None:
        before = levels[:1] if self.previous is None else self.previous  # the first frame rises from itself
        rise = np.maximum(np.diff(np.concatenate([before, levels]), axis=0), 0.0)
        self.flux.append(rise.mean(axis=1))
        # the bar's accents: kick and bass notes, the low bands' rise in power (not in dB: a snare's
        # noise rises in every band from near silence, but carries little power down there)
        power = 10.0 ** (np.concatenate([before, levels])[:, self.low] / 10.0)
        self.low_flux.append(np.maximum(np.diff(power.sum(axis=1)), 0.0))
        self.previous = levels[-1:]

    def envelopes(self) -> tuple[np.ndarray, np.ndarray]:
        """End of stream: the onset envelope and its low bands' share, shape (frames,) each.

        A rise between frames ``m - 1`` and ``m`` is placed at ``m + ONSET_LEAD``: it shows
        before the frame's centre reaches the onset, once the onset is well inside the leading
        half of the window (librosa moves it by half a window, 3 frames here).
        """
        for (levels,) in self.frames.finish():
            self._take(levels)
        shift = np.zeros(ONSET_LEAD)
        total = sum(part.size for part in self.flux)
        return (np.concatenate([shift, *self.flux])[:total], np.concatenate([shift, *self.low_flux])[:total])

    def finish(self) -> BeatGrid:
        """End of stream: tempo, beats and downbeats (``find_beats``)."""
        if self.frames.received == 0:
            return BeatGrid.steady()
        return find_beats(*self.envelopes())


def find_beats(envelope: np.ndarray, low: np.ndarray | None = None, frame_rate: float = FRAME_RATE) -> BeatGrid:
    """Tempo, beat times and downbeats of an onset envelope.

    Parameters
    ----------
    envelope : ndarray, shape (frames,)
    low : ndarray, shape (frames,), optional
        The low bands' envelope: the bar starts on the beats where it is strongest (default: ``envelope``).
    frame_rate : float
        Envelope frames per second.

    Returns
    -------
    BeatGrid
        ``BeatGrid.steady()`` (120 BPM, ``bpm`` None) when the envelope holds fewer than
        ``MIN_BEATS`` beats.
    """
    if envelope.size < 2 or not np.any(envelope > 0):
        return BeatGrid.steady()
    bpm, alternative = estimate_tempo(envelope, frame_rate)
    frames = track_beats(envelope, bpm, frame_rate)
    if frames.size < MIN_BEATS:
        return BeatGrid.steady()
    downbeat = _downbeat(frames, envelope if low is None else low)
    return BeatGrid.from_beats(frames / frame_rate, alternative_factor=alternative, first_downbeat=downbeat)


def mean_autocorrelation(envelope: np.ndarray, frame_rate: float = FRAME_RATE, *, hop_s: float = 1.0) -> np.ndarray:
    """The mean over 8 s windows (every ``hop_s``) of the envelope's normalised local autocorrelation.

    librosa's autocorrelation tempogram averaged over time, with windows 1 s apart instead of
    every frame (they overlap by 7/8, the mean barely moves) and computed a few hundred windows
    at a time: an hour's full tempogram would take 2 GB.

    Returns
    -------
    ndarray, shape (window,)
        Index = lag in frames; 1 at lag 0.
    """
    size = int(round(TEMPO_WINDOW_S * frame_rate))
    padded = np.pad(np.asarray(envelope, dtype=np.float64), size // 2)
    windows = np.lib.stride_tricks.sliding_window_view(padded, size)[:: max(1, int(round(hop_s * frame_rate)))]
    taper = np.hanning(size)
    total, count = np.zeros(size), 0
    for start in range(0, windows.shape[0], 256):
        spectrum = np.fft.rfft(windows[start : start + 256] * taper, n=2 * size, axis=1)
        correlation = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :size]
        energy = correlation[:, :1]
        useful = energy[:, 0] > 0  # silent windows carry no tempo
        total += (correlation[useful] / energy[useful]).sum(axis=0)
        count += int(useful.sum())
    return total / max(count, 1)


def estimate_tempo(envelope: np.ndarray, frame_rate: float = FRAME_RATE) -> tuple[float, float | None]:
    """The most likely tempo in BPM, and the factor (2 or 0.5) of a double or half nearly as strong.

    The lag of the strongest autocorrelation weighted by a log-normal prior around
    ``PRIOR_BPM`` (librosa's rule, which keeps absurd tempos away), refined between lags.

    Returns
    -------
    bpm : float
    alternative : {2.0, 0.5} or None
        The other octave of the tempo when its score is within ``AMBIGUOUS_GAP`` of the chosen one's.
    """
    correlation = mean_autocorrelation(envelope, frame_rate)
    lags = np.arange(correlation.size, dtype=np.float64)
    with np.errstate(divide="ignore"):
        bpms = 60.0 * frame_rate / lags
    inside = (bpms >= MIN_BPM) & (bpms <= MAX_BPM)
    score = np.full(lags.shape, -np.inf)
    score[inside] = np.log1p(1e6 * np.maximum(correlation[inside], 0.0)) - 0.5 * (
        np.log2(bpms[inside] / PRIOR_BPM) / PRIOR_OCTAVES) ** 2
    best = int(np.argmax(score))
    lag = best + _vertex(score, best)
    bpm = 60.0 * frame_rate / lag
    rivals = {factor: float(np.interp(lag / factor, lags, score)) for factor in (2.0, 0.5)
              if MIN_BPM <= bpm * factor <= MAX_BPM}
    factor = max(rivals, key=rivals.get, default=None)
    ambiguous = factor is not None and rivals[factor] >= score[best] - AMBIGUOUS_GAP
    return bpm, factor if ambiguous else None


def _vertex(values: np.ndarray, i: int) -> float:
    """Offset in (-0.5, 0.5) of the parabola's peak through ``values[i - 1 : i + 2]`` (0 at the ends)."""
    if i <= 0 or i >= values.size - 1 or not np.all(np.isfinite(values[i - 1 : i + 2])):
        return 0.0
    left, centre, right = values[i - 1 : i + 2]
    curvature = left - 2 * centre + right
    return float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5)) if curvature < 0 else 0.0


def track_beats(envelope: np.ndarray, bpm: float, frame_rate: float = FRAME_RATE,
                tightness: float = TIGHTNESS) -> np.ndarray:
    """Beat frames of an onset envelope at a tempo: Ellis's dynamic programme, as librosa's ``beat_track``.

    Each frame scores its smoothed onset strength plus the best score of a previous beat half
    to two periods back, less ``tightness`` times the squared log ratio of that gap to the
    period. A beat never looks back less than half a period, so half a period of frames is
    decided at once, in numpy.

    Returns
    -------
    ndarray of int
        Frame indices, increasing; weak beats at both ends (before the music, after it) trimmed.
    """
    period = int(round(frame_rate * 60.0 / bpm))
    onsets = envelope / (envelope.std(ddof=1) + 1e-12)
    offsets = np.arange(-period, period + 1)
    local = np.convolve(onsets, np.exp(-0.5 * (offsets * 32.0 / period) ** 2), mode="same")
    gaps = np.arange(int(round(period / 2)), 2 * period + 1)
    penalty = tightness * (np.log(gaps) - np.log(period)) ** 2
    score, backlink = np.zeros(local.size), np.full(local.size, -1)
    for start in range(0, local.size, gaps[0]):
        frames = np.arange(start, min(start + gaps[0], local.size))
        previous = frames[:, None] - gaps
        candidates = np.where(previous >= 0, score[np.maximum(previous, 0)] - penalty, -np.inf)
        best = candidates.argmax(axis=1)  # the nearest of equal scores, as librosa
        linked = previous[:, 0] >= 0
        score[frames] = local[frames] + np.where(linked, candidates[np.arange(frames.size), best], 0.0)
        backlink[frames] = np.where(linked, previous[np.arange(frames.size), best], -1)
    # no beat chains back into the silence before the music
    backlink[: int(np.argmax(local >= 0.01 * local.max()))] = -1
    beats = [_last_beat(score)]
    while backlink[beats[-1]] >= 0:
        beats.append(int(backlink[beats[-1]]))
    return _trim(np.array(beats[::-1]), local)


def _last_beat(score: np.ndarray) -> int:
    """The last local maximum of the cumulative score (the last frame counts when it rises) that reaches
    half the median of the maxima."""
    inner = (score[1:-1] > score[:-2]) & (score[1:-1] >= score[2:])
    rises = np.concatenate([[False], inner, score[-1:] > score[-2:-1]])
    peaks = np.flatnonzero(rises)
    if peaks.size == 0:
        return score.size - 1
    strong = peaks[score[peaks] >= 0.5 * np.median(score[peaks])]
    return int(strong[-1]) if strong.size else score.size - 1


def _trim(beats: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Drop the beats before the music starts and after it ends: where the smoothed onset strength
    stays under half the RMS strength at the beats (librosa's rule, its smoothing included)."""
    strength = np.convolve(local[beats], np.hanning(5))[2 : local.size + 2]
    loud = np.flatnonzero(local > 0.5 * np.sqrt(np.mean(strength**2)))
    if loud.size == 0:
        return beats
    return beats[(beats >= loud[0]) & (beats <= loud[-1])]


def _downbeat(frames: np.ndarray, low: np.ndarray) -> int:
    """Index of the first bar's first beat in ``frames`` (4/4): the phase whose beats hit hardest in the low bands."""
    near = np.clip(frames[:, None] + np.arange(-2, 3), 0, low.size - 1)
    accent = low[near].max(axis=1)
    means = [accent[phase::4].mean() for phase in range(min(4, frames.size))]
    return int(np.argmax(means))
