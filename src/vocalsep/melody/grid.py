"""A song's beat grid: seconds to beats and back, bars, notes snapped to the grid, ``beats.csv``.

Beat ``k`` of the grid is the ``k``-th tracked beat; positions between beats are linear in
time, and beyond the first and last beats the grid goes on at their tempo. Musical time
(MIDI ticks, the score's quarter notes) is read off this map, so a song that speeds up
keeps its notes on the beats.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vocalsep.files import atomic_write_bytes
from vocalsep.melody.notes import Note

#: Beats per bar: 4/4 (the meter is not detected).
BEATS_PER_BAR = 4
#: Steps per beat notes can be snapped to (``--quantize``): quarters to thirty-seconds, and triplets.
QUANTIZE_DIVISIONS = (1, 2, 3, 4, 6, 8)
#: Tempo of the grid when no beat was found (MIDI's default).
DEFAULT_BPM = 120.0
#: Beats on each side of a beat whose times are averaged (a local straight line) against frame jitter.
SMOOTHING_BEATS = 4


@dataclass(frozen=True)
class BeatGrid:
    """Beat times of a song and its tempo.

    Attributes
    ----------
    times : ndarray, shape (beats,), float64
        Seconds, increasing; at least two.
    bpm : float or None
        The song's tempo (from the median beat interval); None when no beat was found and
        ``times`` is a steady ``DEFAULT_BPM`` grid from 0.
    alternative_bpm : float or None
        Double or half of ``bpm`` when that reading is nearly as strong (a tempo octave that
        listeners may count instead).
    first_downbeat : int
        Index in ``times`` of the first bar's first beat.
    beats_per_bar : int
        ``BEATS_PER_BAR`` (4/4): the meter is not detected.
    """

    times: np.ndarray
    bpm: float | None
    alternative_bpm: float | None = None
    first_downbeat: int = 0
    beats_per_bar: int = BEATS_PER_BAR

    @classmethod
    def steady(cls, bpm: float | None = None, *, start: float = 0.0) -> BeatGrid:
        """Two beats at ``bpm`` (``DEFAULT_BPM`` when None, and then ``bpm`` stays None) from ``start``."""
        period = 60.0 / (bpm or DEFAULT_BPM)
        return cls(np.array([start, start + period]), bpm)

    @classmethod
    def from_beats(cls, times: np.ndarray, *, alternative_factor: float | None = None,
                   first_downbeat: int = 0) -> BeatGrid:
        """A grid from tracked beat times (two or more): jitter smoothed, tempo from the median interval."""
        times = _smooth(np.asarray(times, dtype=np.float64))
        bpm = 60.0 / float(np.median(np.diff(times)))
        return cls(times, bpm, None if alternative_factor is None else bpm * alternative_factor, first_downbeat)

    def position(self, seconds: np.ndarray | float) -> np.ndarray:
        """Beat positions (fractional; 0 at ``times[0]``) of times in seconds."""
        return np.interp(seconds, *self._extended())

    def seconds(self, position: np.ndarray | float) -> np.ndarray:
        """Times in seconds of beat positions (the inverse of ``position``)."""
        times, positions = self._extended()
        return np.interp(position, positions, times)

    def bar_start(self, position: float) -> int:
        """The position of the bar line at or before ``position`` (bars start at ``first_downbeat``)."""
        bars = int(np.floor((position - self.first_downbeat) / self.beats_per_bar))
        return self.first_downbeat + self.beats_per_bar * bars

    def _extended(self) -> tuple[np.ndarray, np.ndarray]:
        """(times, positions) with a far point on each side carrying the edge tempos on."""
        far = 1e6
        first, last = self.times[1] - self.times[0], self.times[-1] - self.times[-2]
        times = np.concatenate([[self.times[0] - far * first], self.times, [self.times[-1] + far * last]])
        positions = np.concatenate([[-far], np.arange(self.times.size, dtype=np.float64), [self.times.size - 1 + far]])
        return times, positions


def _smooth(times: np.ndarray) -> np.ndarray:
    """Each beat at the mean time of the ``2 * SMOOTHING_BEATS + 1`` around it (fewer at the ends, kept symmetric).

    The mean of a symmetric window is the local straight-line fit at its centre: a steady or
    steadily changing tempo passes unchanged, the envelope's 10 ms frame steps average out.
    """
    n = times.size
    reach = np.minimum(SMOOTHING_BEATS, np.minimum(np.arange(n), n - 1 - np.arange(n)))
    running = np.concatenate([[0.0], np.cumsum(times)])
    index = np.arange(n)
    return (running[index + reach + 1] - running[index - reach]) / (2 * reach + 1)


def grid_slots(notes: list[Note], grid: BeatGrid, division: int) -> list[tuple[int, int]]:
    """Each note's (start, end) in grid steps of ``1 / division`` beat, from beat 0.

    Onsets and offsets go to the nearest step; every note keeps at least one step and starts
    no earlier than the previous one ends (a run of notes shorter than a step moves later),
    so no note is lost or overlaps. No step starts before the song does.
    """
    earliest = int(np.ceil(float(grid.position(0.0)) * division - 1e-9))
    slots: list[tuple[int, int]] = []
    end = earliest
    for note in notes:
        start = max(int(np.round(float(grid.position(note.onset)) * division)), end)
        end = max(int(np.round(float(grid.position(note.offset)) * division)), start + 1)
        slots.append((start, end))
    return slots


def quantize_notes(notes: list[Note], grid: BeatGrid, division: int) -> list[Note]:
    """Notes with onsets and offsets snapped to ``1 / division`` of a beat (``grid_slots``), in seconds."""
    snapped = []
    for note, (start, end) in zip(notes, grid_slots(notes, grid, division), strict=True):
        onset, offset = (float(grid.seconds(step / division)) for step in (start, end))
        snapped.append(replace(note, onset=round(max(onset, 0.0), 4), offset=round(offset, 4)))
    return snapped


BEAT_COLUMNS = ("time", "bar", "beat")


def beats_csv(grid: BeatGrid) -> str:
    """``time,bar,beat``: every beat's time (s), its bar (from 1; beats before the first downbeat are
    a pickup bar 1) and its beat in the bar (1 to ``grid.beats_per_bar``). Empty when no beat was found."""
    lines = [",".join(BEAT_COLUMNS)]
    if grid.bpm is not None:
        pickup = 1 if grid.first_downbeat > 0 else 0
        for k, time in enumerate(grid.times):
            bar, beat = divmod(k - grid.first_downbeat, grid.beats_per_bar)
            lines.append(f"{time:.4f},{bar + 1 + pickup},{beat + 1}")
    return "\n".join(lines) + "\n"


def write_beats_csv(grid: BeatGrid, path: str | Path) -> Path:
    """Write ``beats_csv(grid)`` to ``path`` atomically."""
    return atomic_write_bytes(path, beats_csv(grid).encode())
