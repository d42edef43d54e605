"""melody.musicxml: music21 reads back the notes of notes.csv, in order, with the key, meter and tempo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vocalsep.melody.grid import BeatGrid
from vocalsep.melody.key import Key, estimate_key
from vocalsep.melody.notes import Note
from vocalsep.melody.sheet import musicxml_bytes, sheet_events, write_musicxml

music21 = pytest.importorskip("music21")


def sung_notes(count: int = 40, seed: int = 0) -> list[Note]:
    """Notes of random lengths (some far shorter than a sixteenth, some over a bar) and rests."""
    rng = np.random.default_rng(seed)
    notes, at = [], 0.45
    for _ in range(count):
        length = float(rng.choice([0.08, 0.1, 0.25, 0.4, 0.6, 1.3, 2.7]))
        pitch = int(rng.choice([62, 64, 66, 67, 69, 71, 73, 74]))  # D major
        notes.append(Note(round(at, 4), round(at + length, 4), pitch, 0.0))
        at += length + float(rng.choice([0.0, 0.0, 0.05, 0.3, 1.1]))
    return notes


def read_back(data: bytes, path: Path) -> list[object]:
    """The score's notes as music21 reads them, a tied note once (its first part); ``offset`` from the score's start."""
    path.write_bytes(data)
    part = music21.converter.parse(path).parts[0].flatten()
    return [n for n in part.notes if not (n.tie and n.tie.type in ("stop", "continue"))]


@pytest.mark.parametrize("division", [4, 3, 1])
def test_music21_reads_back_the_same_notes_in_order(tmp_path: Path, division: int) -> None:
    notes = sung_notes()
    grid = BeatGrid.from_beats(0.2 + np.cumsum(np.full(80, 60 / 93.0) + np.linspace(0, 0.02, 80)), first_downbeat=1)
    key = estimate_key(notes)
    back = read_back(musicxml_bytes(notes, grid, key=key, division=division, title="song"), tmp_path / "m.musicxml")
    assert [n.pitch.midi for n in back] == [n.pitch for n in notes]
    events = sheet_events(notes, grid, division)
    assert [float(n.offset) for n in back] == [float(e[0]) for e in events]


def test_key_meter_tempo_and_spelling(tmp_path: Path) -> None:
    notes = [Note(0.5 * i, 0.5 * i + 0.45, p, 0.0) for i, p in enumerate([63, 65, 67, 68, 70, 72, 74, 75])]
    grid = BeatGrid.from_beats(np.arange(0, 6, 0.5))  # 120 BPM from 0
    path = write_musicxml(notes, grid, tmp_path / "melody.musicxml", key=Key(3, "major"), title="scale")
    score = music21.converter.parse(path)
    assert score.recurse().getElementsByClass("KeySignature")[0].sharps == -3
    assert score.recurse().getElementsByClass("TimeSignature")[0].ratioString == "4/4"
    assert score.recurse().getElementsByClass("MetronomeMark")[0].number == 120
    names = [n.pitch.name for n in score.recurse().notes]
    assert names[:4] == ["E-", "F", "G", "A-"]  # flats in E-flat major, not D#/G#
    assert score.metadata.bestTitle == "scale"


def test_the_same_input_gives_the_same_bytes_and_empty_melodies_a_score(tmp_path: Path) -> None:
    notes, grid = sung_notes(10), BeatGrid.steady(100.0)
    assert musicxml_bytes(notes, grid) == musicxml_bytes(notes, grid)  # no encoding date
    assert b"encoding-date" not in musicxml_bytes(notes, grid)
    assert read_back(musicxml_bytes([], BeatGrid.steady()), tmp_path / "empty.musicxml") == []


def test_low_voices_get_a_lower_clef(tmp_path: Path) -> None:
    def clef_of(pitches: list[int]) -> str:
        data = musicxml_bytes([Note(i, i + 0.9, p, 0.0) for i, p in enumerate(pitches)], BeatGrid.steady())
        (tmp_path / "c.musicxml").write_bytes(data)
        return type(music21.converter.parse(tmp_path / "c.musicxml").recurse().getElementsByClass("Clef")[0]).__name__

    assert clef_of([67, 69, 72]) == "TrebleClef"
    assert clef_of([52, 55, 57]) == "Treble8vbClef"
    assert clef_of([40, 43, 45]) == "BassClef"
