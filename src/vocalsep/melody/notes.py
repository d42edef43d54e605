"""Notes from an F0 contour: segmentation, ``notes.csv`` and Standard MIDI files.

A sung note is a stretch of voiced frames whose pitch stays near one value. Vibrato, scoops
and short glitches wander around that value without starting a new note; a step to another
pitch that lasts at least ``min_duration`` does. Each note's pitch is the median of its
frames, rounded to the nearest semitone for MIDI (the exact median is kept in ``notes.csv``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from vocalsep.errors import ConfigError, VocalsepError
from vocalsep.files import atomic_write_bytes, atomic_write_text, read_csv_rows
from vocalsep.melody.tracking import PitchTrack, hz_to_midi, midi_to_hz, midi_to_note

if TYPE_CHECKING:  # the grid and the key are made from notes: imported for type hints only
    from vocalsep.melody.grid import BeatGrid
    from vocalsep.melody.key import Key

T = TypeVar("T")


@dataclass(frozen=True)
class Note:
    """One sung note.

    Attributes
    ----------
    onset, offset : float
        Seconds; ``offset > onset``.
    pitch : int
        MIDI note number (nearest semitone of ``frequency``).
    frequency : float
        Median F0 of the note's frames in Hz.
    velocity : int
        MIDI velocity 1-127 (from the note's mean tracker confidence).
    """

    onset: float
    offset: float
    pitch: int
    frequency: float
    velocity: int = 80

    @property
    def duration(self) -> float:
        return self.offset - self.onset

    @property
    def name(self) -> str:
        return midi_to_note(self.pitch)


def segment_notes(
    track: PitchTrack,
    *,
    min_duration: float = 0.08,
    split_semitones: float = 0.75,
    max_gap: float = 0.04,
    smooth: float = 0.05,
) -> list[Note]:
    """Segment a contour into notes.

    Parameters
    ----------
    track : PitchTrack
    min_duration : float
        Seconds; shorter notes are dropped, and a new pitch must hold this long to start a note.
    split_semitones : float
        A note ends when the pitch leaves ``note median +- split_semitones`` for at least
        ``min_duration`` (a vibrato of +-50 cents stays one note).
    max_gap : float
        Unvoiced gaps up to this long inside a note are bridged (dropouts of the tracker).
    smooth : float
        Seconds of median filtering of the pitch before segmenting (removes single-frame outliers).

    Returns
    -------
    list of Note
        Sorted by onset, not overlapping.
    """
    if min_duration <= 0 or split_semitones <= 0 or max_gap < 0 or smooth < 0:
        raise ConfigError("note segmentation needs min_duration > 0, split_semitones > 0, max_gap >= 0, smooth >= 0")
    if len(track) < 2:
        return []
    hop = track.hop
    midi = hz_to_midi(track.voiced_frequency())
    voiced = np.isfinite(midi)
    voiced = _bridge_gaps(voiced, int(round(max_gap / hop)))
    midi = _fill_and_smooth(midi, voiced, max(1, int(round(smooth / hop))))
    min_frames = max(1, int(round(min_duration / hop)))
    notes: list[Note] = []
    for start, stop in _runs(voiced):
        for a, b in _split_run(midi[start:stop], split_semitones, min_frames):
            if b - a >= min_frames:
                notes.append(_make_note(track, midi, start + a, start + b))
    return _merge_repeats(notes, hop)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs of ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def _bridge_gaps(voiced: np.ndarray, max_frames: int) -> np.ndarray:
    out = voiced.copy()
    if max_frames <= 0:
        return out
    for start, stop in _runs(~voiced):
        if start > 0 and stop < voiced.size and stop - start <= max_frames:
            out[start:stop] = True
    return out


def _fill_and_smooth(midi: np.ndarray, voiced: np.ndarray, width: int) -> np.ndarray:
    """Interpolate bridged gaps, then a running median of ``width`` frames inside each voiced run."""
    out = np.full(midi.shape, np.nan)
    known = np.isfinite(midi)
    for start, stop in _runs(voiced):
        segment = midi[start:stop]
        inside = known[start:stop]
        idx = np.arange(stop - start)
        filled = np.interp(idx, idx[inside], segment[inside]) if inside.any() else segment
        out[start:stop] = _running_median(filled, min(width | 1, filled.size))
    return out


def _running_median(values: np.ndarray, size: int) -> np.ndarray:
    """``scipy.ndimage.median_filter(values, size, mode="nearest")``, exactly (the upper median for an
    even ``size``), without importing scipy.ndimage (half a second of ``vocalsep pitch``'s start-up)."""
    padded = np.pad(values, (size // 2, (size - 1) // 2), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, size)
    return np.partition(windows, size // 2, axis=1)[:, size // 2]


def _split_run(midi: np.ndarray, tolerance: float, min_frames: int) -> list[tuple[int, int]]:
    """Split one voiced run where the pitch settles away from the current note for ``min_frames``."""
    bounds: list[tuple[int, int]] = []
    start = 0
    reference = midi[0]
    frames: list[float] = [midi[0]]
    departure: int | None = None
    for i in range(1, midi.size):
        if abs(midi[i] - reference) <= tolerance:
            departure = None
            frames.append(midi[i])
            reference = float(np.median(frames))
            continue
        if departure is None:
            departure = i
        candidate = midi[departure : i + 1]
        if np.ptp(candidate) > 2 * tolerance:  # still moving: restart the candidate here
            departure = i
            continue
        if i + 1 - departure >= min_frames:
            # Move the boundary back over frames already nearer the new pitch than the old one
            # (a small step sung with vibrato first stays inside the old note's tolerance).
            new_reference = float(np.median(candidate))
            while departure > start + 1 and abs(midi[departure - 1] - new_reference) < abs(
                midi[departure - 1] - reference
            ):
                departure -= 1
            bounds.append((start, departure))
            start = departure
            frames = list(midi[departure : i + 1])
            reference = float(np.median(frames))
            departure = None
    bounds.append((start, midi.size))
    return bounds


def _make_note(track: PitchTrack, midi: np.ndarray, start: int, stop: int) -> Note:
    median = float(np.median(midi[start:stop]))
    confidence = float(np.mean(track.confidence[start:stop]))
    velocity = int(np.clip(round(40 + 80 * confidence), 1, 127))
    hop = track.hop
    onset = float(track.times[start] - hop / 2 if start > 0 else track.times[start])
    offset = float(track.times[stop - 1] + hop / 2)
    return Note(round(max(onset, 0.0), 4), round(offset, 4), int(round(median)), float(midi_to_hz(median)), velocity)


def _merge_repeats(notes: list[Note], hop: float) -> list[Note]:
    """Join touching notes that round to the same semitone (a split inside a slow drift)."""
    merged: list[Note] = []
    for note in notes:
        if merged and merged[-1].pitch == note.pitch and note.onset - merged[-1].offset <= hop * 1.01:
            last = merged[-1]
            weight = last.duration / (last.duration + note.duration)
            frequency = float(midi_to_hz(weight * hz_to_midi(last.frequency) + (1 - weight) * hz_to_midi(note.frequency)))
            merged[-1] = Note(last.onset, note.offset, last.pitch, frequency, max(last.velocity, note.velocity))
        else:
            merged.append(note)
    return merged


# ---------------------------------------------------------------------------------------------
# Files




NOTE_COLUMNS = ("onset", "offset", "midi", "name", "frequency", "velocity")


def write_notes_csv(notes: list[Note], path: str | Path) -> Path:
    """``onset,offset,midi,name,frequency,velocity`` (s, s, MIDI number, e.g. A4, Hz, 1-127)."""
    lines = [",".join(NOTE_COLUMNS)]
    for n in notes:
        lines.append(f"{n.onset:.4f},{n.offset:.4f},{n.pitch},{n.name},{n.frequency:.2f},{n.velocity}")
    return atomic_write_text(path, "\n".join(lines) + "\n")




def read_notes_csv(path: str | Path) -> list[Note]:
    """Read a file written by ``write_notes_csv``."""
    return read_csv_rows(path, NOTE_COLUMNS, "notes.csv", lambda r: Note(
        float(r["onset"]), float(r["offset"]), int(r["midi"]), float(r["frequency"]), int(r["velocity"])))


#: MIDI timing: 480 ticks per quarter note (one beat); without a beat grid, 120 bpm = 960 ticks per second.
TICKS_PER_BEAT = 480
TEMPO_US_PER_BEAT = 500_000


def _seconds_to_ticks(seconds: float) -> int:
    return int(round(seconds * TICKS_PER_BEAT * 1_000_000 / TEMPO_US_PER_BEAT))


class _TickMap:
    """Seconds to ticks on a song's beat grid, and the tempo events that make them the same instants.

    Every beat of the grid falls on a multiple of ``TICKS_PER_BEAT``. Tick 0 is second 0, which
    is seldom a beat: the stretch before the first whole beat becomes one MIDI beat of its own
    tempo (a stretch under half a beat joins the next beat, so that lead-in beat lasts 0.5 to
    1.5 of the song's beats). Between beats, time maps linearly, as the tempo events say.
    """

    def __init__(self, grid: BeatGrid) -> None:
        self.grid = grid
        start = float(grid.position(0.0))
        first = int(np.ceil(start - 1e-9))
        gap = first - start
        self.lead = 0 if gap < 1e-6 else 1
        self.first = first + 1 if 1e-6 <= gap < 0.5 else first  # the first beat on the MIDI grid
        self.first_time = float(grid.seconds(self.first))

    def beats(self, seconds: float) -> float:
        """MIDI beats from tick 0 at ``seconds``."""
        if seconds >= self.first_time or self.lead == 0:
            return self.lead + float(self.grid.position(seconds)) - self.first
        return seconds / self.first_time

    def ticks(self, seconds: float) -> int:
        return int(round(TICKS_PER_BEAT * self.beats(seconds)))

    def tempos(self, last_tick: int) -> list[tuple[int, int]]:
        """(tick, microseconds per beat) at each change of tempo up to ``last_tick``."""
        changes: list[tuple[int, int]] = []
        if self.lead:
            changes.append((0, int(round(1e6 * self.first_time))))
        beat = 0
        while (self.lead + beat) * TICKS_PER_BEAT <= max(last_tick, 0):
            span = float(self.grid.seconds(self.first + beat + 1) - self.grid.seconds(self.first + beat))
            tempo = int(round(1e6 * span))
            if not changes or changes[-1][1] != tempo:
                changes.append(((self.lead + beat) * TICKS_PER_BEAT, tempo))
            beat += 1
        return changes

    def meters(self) -> list[tuple[int, int]]:
        """(tick, beats in the bar): a short first bar up to the first downbeat, then whole bars."""
        beats_per_bar = self.grid.beats_per_bar
        to_downbeat = (self.grid.first_downbeat - self.first) % beats_per_bar
        pickup = (self.lead + to_downbeat) % beats_per_bar
        if pickup == 0:
            return [(0, beats_per_bar)]
        return [(0, pickup), (pickup * TICKS_PER_BEAT, beats_per_bar)]


def write_midi(notes: list[Note], path: str | Path, *, program: int = 52, name: str = "vocals",
               grid: BeatGrid | None = None, key: Key | None = None) -> Path:
    """Write ``midi_bytes(notes, ...)`` to ``path`` atomically."""
    return atomic_write_bytes(path, midi_bytes(notes, program=program, name=name, grid=grid, key=key))


def midi_bytes(notes: list[Note], *, program: int = 52, name: str = "vocals", grid: BeatGrid | None = None,
               key: Key | None = None) -> bytes:
    """A type-1 Standard MIDI file of the notes, in one track.

    Parameters
    ----------
    notes : list of Note
    program : int
        General MIDI program (0-based); 52 = "Choir Aahs".
    name : str
        Track name.
    grid : BeatGrid, optional
        The song's beats: the file's tempo follows them (a tempo event at each change) and
        its bars start on the downbeats (4/4, after a shorter first bar), so the notes sit on
        a DAW's grid at the song's own times. Without it: 120 bpm, ~1 ms resolution.
    key : Key, optional
        Written as a key signature event.
    """
    import io

    import mido

    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    timing = _TickMap(grid) if grid is not None else None
    ticks = timing.ticks if timing is not None else _seconds_to_ticks
    events = []
    for note in notes:
        if not 0 <= note.pitch <= 127:
            continue
        events.append((ticks(note.offset), 2, "note_off", note.pitch, 0))  # note-offs sort first
        events.append((ticks(note.onset), 3, "note_on", note.pitch, note.velocity))
    last = max((event[0] for event in events), default=0)
    tempos = timing.tempos(last) if timing is not None else [(0, TEMPO_US_PER_BEAT)]
    meters = timing.meters() if timing is not None else []
    events += [(tick, 0, "set_tempo", tempo, 0) for tick, tempo in tempos]
    events += [(tick, 1, "time_signature", beats, 0) for tick, beats in meters]
    track.append(mido.MetaMessage("track_name", name=name, time=0))
    if key is not None:
        name = key.tonic_name + ("m" if key.mode == "minor" else "")  # mido's names: "Eb", "F#m"
        track.append(mido.MetaMessage("key_signature", key=name, time=0))
    track.append(mido.Message("program_change", program=program, channel=0, time=0))
    now = 0
    for tick, _, kind, value, velocity in sorted(events):
        if kind == "set_tempo":
            track.append(mido.MetaMessage(kind, tempo=value, time=tick - now))
        elif kind == "time_signature":
            track.append(mido.MetaMessage(kind, numerator=value, denominator=4, time=tick - now))
        else:
            track.append(mido.Message(kind, note=value, velocity=velocity, channel=0, time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def read_midi(path: str | Path) -> list[Note]:
    """Notes of a Standard MIDI file (all tracks and channels, tempo changes honoured), by onset."""
    import mido

    try:
        midi = mido.MidiFile(str(path))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as error:
        raise VocalsepError(f"{path}: not a readable MIDI file ({error})") from None
    notes: list[Note] = []
    active: dict[tuple[int, int], tuple[float, int]] = {}
    now = 0.0
    for message in midi:  # merged tracks, ``time`` in seconds
        now += message.time
        if message.type not in ("note_on", "note_off"):
            continue
        key = (message.channel, message.note)
        if message.type == "note_on" and message.velocity > 0:
            active[key] = (now, message.velocity)
        elif key in active:
            onset, velocity = active.pop(key)
            notes.append(Note(onset, now, message.note, float(midi_to_hz(message.note)), velocity))
    return sorted(notes, key=lambda n: (n.onset, n.pitch))
