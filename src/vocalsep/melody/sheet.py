"""Sheet music of the sung melody: ``melody.musicxml``, written with music21 (MuseScore, Finale, Sibelius open it).

The notes are placed on the song's beat grid (``grid.BeatGrid``): each onset and offset goes
to the nearest sixteenth of a beat (or the ``division`` asked for), one quarter note per beat,
4/4 bars from the detected downbeat, the estimated key's signature, the tempo as a metronome
mark. Every note of ``notes.csv`` is one note of the score, in order (``grid.grid_slots``);
one that crosses a bar line is tied over it. The bars are built here rather than by music21's
``makeNotation``, whose context searches take minutes on an hour of notes.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vocalsep.errors import OutputError
from vocalsep.files import atomic_write_bytes
from vocalsep.melody.grid import BeatGrid, grid_slots
from vocalsep.melody.key import Key
from vocalsep.melody.notes import Note

if TYPE_CHECKING:
    from music21 import stream

#: Grid of the score without ``--quantize``: sixteenth notes.
SHEET_DIVISION = 4

#: (start, end, MIDI pitch) of a note in quarter notes from the first bar line.
Event = tuple[Fraction, Fraction, int]


def sheet_events(notes: list[Note], grid: BeatGrid, division: int = SHEET_DIVISION) -> list[Event]:
    """The notes in quarter notes (beats) from the bar line at or before the first note."""
    slots = grid_slots(notes, grid, division)
    if not slots:
        return []
    origin = grid.bar_start(slots[0][0] / division) * division
    return [(Fraction(start - origin, division), Fraction(end - origin, division), note.pitch)
            for note, (start, end) in zip(notes, slots, strict=True)]


def musicxml_bytes(notes: list[Note], grid: BeatGrid, *, key: Key | None = None, division: int = SHEET_DIVISION,
                   title: str = "") -> bytes:
    """The melody as a MusicXML 4.0 score (one part, "Voice").

    Parameters
    ----------
    notes : list of Note
        Sorted by onset, not overlapping (as ``segment_notes`` gives them).
    grid : BeatGrid
    key : Key, optional
        The key signature (none when None).
    division : int
        Steps per beat the notes are placed on (4: sixteenths; 3: eighth triplets).
    title : str

    Returns
    -------
    bytes
        UTF-8 XML, the same for the same input (no encoding date).
    """
    from music21 import exceptions21, metadata, stream
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    part = stream.Part()
    part.partName = "Voice"
    for measure in _measures(sheet_events(notes, grid, division), grid, key):
        part.append(measure)
    score = stream.Score()
    score.metadata = metadata.Metadata(title=title)
    score.insert(0, part)
    try:
        data = GeneralObjectExporter(score).parse()
    except exceptions21.Music21Exception as error:
        raise OutputError(f"the score could not be written as MusicXML ({error})") from None
    return re.sub(rb"\s*<encoding-date>[^<]*</encoding-date>", b"", data)


def _measures(events: list[Event], grid: BeatGrid, key: Key | None) -> list[stream.Measure]:
    """Bars (4/4) holding the events (tied across bar lines) and rests; clef, key, meter and tempo in the first."""
    from music21 import instrument, key as keys, meter, note, stream, tempo, tie

    bar = Fraction(grid.beats_per_bar)
    count = max(1, int(np.ceil(events[-1][1] / bar))) if events else 1
    measures = [stream.Measure(number=number + 1) for number in range(count)]
    filled = [Fraction(0)] * count  # where each bar's music has got to: the rests fill the gaps
    for start, end, midi in events:
        pieces = _split_at_bars(start, end, bar)
        for index, (number, offset, length) in enumerate(pieces):
            if offset > filled[number]:
                measures[number].insert(filled[number], note.Rest(quarterLength=offset - filled[number]))
            sung = note.Note(quarterLength=length)
            sung.pitch = _spelled(midi, key)
            if len(pieces) > 1:
                sung.tie = tie.Tie("start" if index == 0 else "stop" if index == len(pieces) - 1 else "continue")
            measures[number].insert(offset, sung)
            filled[number] = offset + length
    for measure, end in zip(measures, filled, strict=True):
        if end < bar:
            measure.insert(end, note.Rest(quarterLength=bar - end))
    first = measures[0]
    singer = instrument.Vocalist()
    # fixed ids (music21 draws random ones): the same notes give the same file
    singer.partId, singer.instrumentId, singer.partName = "P1", "I1", "Voice"
    first.insert(0, singer)
    first.insert(0, _clef(events))
    if key is not None:
        first.insert(0, keys.KeySignature(key.fifths).asKey(key.mode))
    first.insert(0, meter.TimeSignature(f"{grid.beats_per_bar}/4"))
    if grid.bpm is not None:
        first.insert(0, tempo.MetronomeMark(number=int(round(grid.bpm))))
    return measures


def _split_at_bars(start: Fraction, end: Fraction, bar: Fraction) -> list[tuple[int, Fraction, Fraction]]:
    """(bar index, offset in the bar, length) of the pieces of a note between bar lines."""
    pieces = []
    while start < end:
        number = int(start // bar)
        stop = min(end, (number + 1) * bar)
        pieces.append((number, start - number * bar, stop - start))
        start = stop
    return pieces


def _spelled(midi: int, key: Key | None) -> object:
    """The pitch spelled with the key signature's accidentals (D#/Eb as the key has sharps or flats)."""
    from music21 import pitch

    spelled = pitch.Pitch(midi=midi)
    if key is not None and spelled.accidental is not None:
        wrong = "flat" if key.fifths >= 0 else "sharp"
        if spelled.accidental.name == wrong:
            spelled = spelled.getEnharmonic()
    return spelled


def _clef(events: list[Event]) -> object:
    """Treble for high voices, treble an octave down (tenors, baritones) from a median of C3, bass below."""
    from music21 import clef

    median = float(np.median([midi for _, _, midi in events])) if events else 60.0
    if median >= 60:
        return clef.TrebleClef()
    return clef.Treble8vbClef() if median >= 48 else clef.BassClef()


def write_musicxml(notes: list[Note], grid: BeatGrid, path: str | Path, **options: object) -> Path:
    """Write ``musicxml_bytes(notes, grid, **options)`` to ``path`` atomically."""
    return atomic_write_bytes(path, musicxml_bytes(notes, grid, **options))  # type: ignore[arg-type]
