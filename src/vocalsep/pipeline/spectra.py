"""The spectrograms under the pictures, accumulated block by block in memory that does not grow with the song.

Each accumulator takes a song's samples as they stream past and keeps only its columns
averaged in groups (``Pooled``), so an hour is held as at most ``max_columns`` columns,
like a few seconds. ``log_spectrogram`` and ``cqt_spectrogram`` are the same accumulators
fed one whole signal.
"""

from __future__ import annotations


import numpy as np

from vocalsep.pipeline.constant_q import ConstantQGrid, constant_q_power

#: Rows of the log-frequency grid the spectrograms are drawn on.
LOG_BINS = 320
#: At most this many time columns are kept (long songs are averaged down to it).
MAX_COLUMNS = 2400
#: The constant-Q grid under the melody: 40 Hz up to 0.9 x Nyquist of its 16 kHz analysis.
CQT_RATE, CQT_HOP, CQT_FMIN, CQT_FMAX, CQT_BINS_PER_OCTAVE = 16000, 160, 40.0, 7200.0, 48


class Pooled:
    """Columns (rows x 1) averaged in groups of ``group``; the group doubles whenever more than ``max_columns`` pile up.

    Parameters
    ----------
    max_columns : int
    expected : int, optional
        Columns expected in all (e.g. from the file's length): the group is chosen from it at
        once, so a known length gives evenly sized groups and no doubling.
    """

    def __init__(self, max_columns: int = MAX_COLUMNS, expected: int | None = None) -> None:
        self.max_columns = max_columns
        self.group = max(1, -(-(expected or 0) // max_columns))
        self.sums: list[np.ndarray] = []
        self.counts: list[int] = []
        self.columns = 0  # input columns seen

    def add(self, columns: np.ndarray) -> None:
        """Add (rows, n) columns in time order: fill the open group, then whole groups."""
        start, n = 0, columns.shape[1]
        while start < n:
            if not self.counts or self.counts[-1] >= self.group:
                self.sums.append(np.zeros(columns.shape[0]))
                self.counts.append(0)
            take = min(self.group - self.counts[-1], n - start)
            self.sums[-1] += columns[:, start : start + take].sum(axis=1)
            self.counts[-1] += take
            start += take
            if len(self.counts) > self.max_columns:
                self._double()
        self.columns += n

    def _double(self) -> None:
        """Merge neighbouring groups pairwise (only when the expected length was unknown or wrong)."""
        sums, counts = [], []
        for i in range(0, len(self.counts), 2):
            sums.append(sum(self.sums[i : i + 2]))
            counts.append(sum(self.counts[i : i + 2]))
        self.sums, self.counts, self.group = sums, counts, 2 * self.group

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean columns, shape (rows, groups), and their edges in input columns, shape (groups + 1,)."""
        if not self.counts:
            return np.zeros((0, 0)), np.zeros(1)
        counts = np.array(self.counts)
        return np.stack(self.sums, axis=1) / counts, np.concatenate([[0], np.cumsum(counts)])


class LogSpectrogramStream:
    """Power STFT (channel average, ~46 ms Hann frames, 1/4 overlap hop) onto a log-frequency grid.

    Frames are centred on ``k * hop`` with the signal mirrored at both ends (as
    ``scipy.signal.stft(boundary="even")``).

    Parameters
    ----------
    sample_rate : int
    fmin, fmax : float
        Frequency range in Hz (``fmax`` defaults to the Nyquist frequency).
    bins : int
        Rows of the log-frequency grid.
    max_columns : int
    expected_samples : int, optional
        The signal's length if known, to choose the column groups at once.
    """

    def __init__(self, sample_rate: int, *, fmin: float = 40.0, fmax: float | None = None, bins: int = LOG_BINS,
                 max_columns: int = MAX_COLUMNS, expected_samples: int | None = None) -> None:
        self.rate = int(sample_rate)
        self.n_fft = int(2 ** np.ceil(np.log2(0.046 * sample_rate)))  # ~46 ms: resolves low voices' harmonics
        self.hop = self.n_fft // 4
        self.window = np.hanning(self.n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
        self.scale = 1.0 / float(self.window.sum()) ** 2
        self.fmin, self.fmax, self.bins = fmin, min(fmax or self.rate / 2, self.rate / 2), bins
        expected = None if expected_samples is None else 2 + expected_samples // self.hop
        self.pooled = Pooled(max_columns, expected)
        self.buffer: np.ndarray | None = None  # samples from the next frame's start on
        self.started = False

    def push(self, samples: np.ndarray) -> None:
        """Feed (channels, n) or (n,) samples."""
        samples = np.atleast_2d(np.asarray(samples, dtype=np.float32))
        self.buffer = samples if self.buffer is None else np.concatenate([self.buffer, samples], axis=1)
        half = self.n_fft // 2
        if not self.started:
            if self.buffer.shape[1] <= half:
                return  # the mirror at the start needs half a frame of signal
            self.buffer = np.concatenate([self.buffer[:, half:0:-1], self.buffer], axis=1)
            self.started = True
        self._frames()

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The spectrogram: power (bins, columns), column edges in s (columns + 1,), row edges in Hz (bins + 1,)."""
        half = self.n_fft // 2
        if self.buffer is None:
            raise ValueError("no samples")
        if not self.started:  # shorter than half a frame: mirror what there is
            self.buffer = np.pad(self.buffer, ((0, 0), (min(half, self.buffer.shape[1] - 1), 0)), mode="reflect")
            self.started = True
        tail = self.buffer[:, -2 : -half - 2 : -1] if self.buffer.shape[1] > half + 1 else self.buffer[:, ::-1]
        self.buffer = np.concatenate([self.buffer, tail], axis=1)
        missing = (-(self.buffer.shape[1] - self.n_fft)) % self.hop if self.buffer.shape[1] > self.n_fft else (
            self.n_fft - self.buffer.shape[1])
        self.buffer = np.pad(self.buffer, ((0, 0), (0, missing)))
        self._frames()
        power, edges = self.pooled.result()
        freqs = np.fft.rfftfreq(self.n_fft, 1 / self.rate)
        return log_bands(power, freqs, self.fmin, self.fmax, self.bins), edges * (self.hop / self.rate), \
            np.geomspace(self.fmin, self.fmax, self.bins + 1)

    def _frames(self) -> None:
        assert self.buffer is not None
        count = 0 if self.buffer.shape[1] < self.n_fft else 1 + (self.buffer.shape[1] - self.n_fft) // self.hop
        if count == 0:
            return
        frames = np.lib.stride_tricks.sliding_window_view(self.buffer, self.n_fft, axis=1)[:, : count * self.hop : self.hop]
        spectrum = np.fft.rfft(frames * self.window, axis=-1)  # (channels, count, freqs)
        power = (np.abs(spectrum) ** 2).mean(axis=0).T * self.scale
        self.pooled.add(power.astype(np.float64))
        self.buffer = self.buffer[:, count * self.hop :]


def log_bands(power: np.ndarray, freqs: np.ndarray, fmin: float, fmax: float, bins: int) -> np.ndarray:
    """Mean power over ``bins`` log-spaced bands from ``fmin`` to ``fmax`` of (freqs, columns) power."""
    edges = np.geomspace(fmin, fmax, bins + 1)
    # Differences of the running integral over frequency: averages many bins at the top,
    # interpolates smoothly between bins at the bottom.
    integral = np.concatenate(
        [np.zeros((1, power.shape[1])), np.cumsum((power[1:] + power[:-1]) / 2 * np.diff(freqs)[:, None], axis=0)]
    )
    at_edges = np.stack([np.interp(edges, freqs, integral[:, c]) for c in range(power.shape[1])], axis=1) \
        if power.shape[1] else np.zeros((edges.size, 0))
    return np.diff(at_edges, axis=0) / np.diff(edges)[:, None]


class CqtStream:
    """Constant-Q power (``constant_q``) of 16 kHz mono samples on a fixed grid, computed in blocks with real context.

    The grid (``CQT_FMIN`` to ``CQT_FMAX``, 48 bins per octave, 10 ms hop) is fixed because the
    melody picture's range comes from the finished F0 track; ``result`` crops it.

    Parameters
    ----------
    max_columns : int
    expected_samples : int, optional
        Samples at 16 kHz if known.
    block_seconds, context_seconds : float
        Audio per transform call, and real audio on each side of it (covers the longest filter,
        ~1.7 s at 40 Hz).
    """

    def __init__(self, *, max_columns: int = MAX_COLUMNS, expected_samples: int | None = None,
                 block_seconds: float = 10.0, context_seconds: float = 2.0) -> None:
        from vocalsep.melody.framing import FrameBlocks

        self.n_bins = int(np.floor(CQT_BINS_PER_OCTAVE * np.log2(CQT_FMAX / CQT_FMIN)))
        self.grid = ConstantQGrid(CQT_RATE, CQT_HOP, CQT_FMIN, self.n_bins, CQT_BINS_PER_OCTAVE)
        expected = None if expected_samples is None else 1 + expected_samples // CQT_HOP
        self.pooled = Pooled(max_columns, expected)
        self.frames = FrameBlocks(self._cqt, hop=CQT_HOP, block_frames=int(block_seconds * CQT_RATE) // CQT_HOP,
                                  context=int(context_seconds * CQT_RATE))
        self.samples = 0

    def _cqt(self, audio: np.ndarray) -> tuple[np.ndarray]:
        return (constant_q_power(audio, self.grid),)

    def push(self, audio: np.ndarray) -> None:
        """Feed 16 kHz mono samples."""
        self.samples += np.asarray(audio).size
        for (power,) in self.frames.push(audio):
            self.pooled.add(power.T.astype(np.float64))

    def finish(self) -> None:
        """End of stream."""
        for (power,) in self.frames.finish():
            self.pooled.add(power.T.astype(np.float64))

    def result(self, fmin: float, fmax: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Power (bins, columns) between ``fmin`` and ``fmax``, column edges in s, row edges in Hz."""
        power, edges = self.pooled.result()
        centres = CQT_FMIN * 2.0 ** (np.arange(self.n_bins) / CQT_BINS_PER_OCTAVE)
        rows = np.flatnonzero((centres >= fmin / 2 ** (0.5 / CQT_BINS_PER_OCTAVE))
                              & (centres <= fmax * 2 ** (0.5 / CQT_BINS_PER_OCTAVE)))
        if rows.size == 0:
            rows = np.array([int(np.argmin(np.abs(centres - fmin)))])
        power, centres = power[rows], centres[rows]
        row_edges = np.concatenate([centres * 2 ** (-0.5 / CQT_BINS_PER_OCTAVE),
                                    centres[-1:] * 2 ** (0.5 / CQT_BINS_PER_OCTAVE)])
        # CQT frames are centred on i * hop: columns span +-hop/2 around them.
        times = np.maximum((edges - 0.5) * (CQT_HOP / CQT_RATE), 0.0)
        return power, times, row_edges


def log_spectrogram(
    waveform: np.ndarray, sample_rate: int, *, fmin: float = 40.0, fmax: float | None = None, bins: int = LOG_BINS,
    max_columns: int = MAX_COLUMNS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Power spectrogram of a whole signal on a log-spaced frequency grid (``LogSpectrogramStream``).

    Parameters
    ----------
    waveform : ndarray, shape (channels, samples) or (samples,)
        Channels are averaged in power.

    Returns
    -------
    power : ndarray, shape (bins, frames)
    times : ndarray, shape (frames + 1,)
        Column edges in seconds.
    frequencies : ndarray, shape (bins + 1,)
        Row edges in Hz.
    """
    audio = np.atleast_2d(np.asarray(waveform, dtype=np.float32))
    stream = LogSpectrogramStream(sample_rate, fmin=fmin, fmax=fmax, bins=bins, max_columns=max_columns,
                                  expected_samples=audio.shape[1])
    stream.push(audio)
    return stream.finish()


def cqt_spectrogram(
    waveform: np.ndarray, sample_rate: int, *, fmin: float, fmax: float, max_columns: int = MAX_COLUMNS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Constant-Q power spectrogram of a whole signal's channel average (``CqtStream``), cropped to ``fmin``-``fmax``."""
    from vocalsep.audio.io import resample

    audio = np.atleast_2d(np.asarray(waveform, dtype=np.float32)).mean(axis=0)
    audio = np.asarray(resample(audio, sample_rate, CQT_RATE), dtype=np.float32)
    stream = CqtStream(max_columns=max_columns, expected_samples=audio.size)
    stream.push(audio)
    stream.finish()
    return stream.result(fmin, fmax)
