"""Key estimation from notes (Krumhansl-Schmuckler) and key signatures."""

from __future__ import annotations

import pytest

from vocalsep.melody.key import Key, estimate_key
from vocalsep.melody.notes import Note


def line(pitches: list[int], duration: float = 0.5) -> list[Note]:
    return [Note(i * duration, (i + 1) * duration, p, 0.0) for i, p in enumerate(pitches)]


def test_a_major_scale_and_a_minor_tune() -> None:
    assert estimate_key(line([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60])).name == "C major"
    tune = line([69, 72, 76, 74, 72, 71, 68, 69, 64, 69, 72, 71, 69])  # A minor with its raised G#
    key = estimate_key(tune)
    assert key.name == "A minor" and key.fifths == 0 and 0 < key.correlation <= 1


def test_transposed_tunes_move_the_key() -> None:
    for shift in range(12):
        key = estimate_key(line([p + shift for p in (60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60)]))
        assert (key.tonic, key.mode) == (shift, "major")


@pytest.mark.parametrize(("tonic", "mode", "fifths", "name"), [
    (0, "major", 0, "C major"), (7, "major", 1, "G major"), (6, "major", 6, "F# major"),
    (1, "major", -5, "Db major"), (10, "major", -2, "Bb major"), (3, "major", -3, "Eb major"),
    (9, "minor", 0, "A minor"), (2, "minor", -1, "D minor"), (1, "minor", 4, "C# minor"),
    (10, "minor", -5, "Bb minor"), (8, "minor", 5, "G# minor"), (3, "minor", 6, "D# minor"),
])
def test_key_signatures_and_spelling(tonic: int, mode: str, fifths: int, name: str) -> None:
    key = Key(tonic, mode)
    assert key.fifths == fifths and key.name == name


def test_no_key_without_notes_or_with_one_pitch_class() -> None:
    assert estimate_key([]) is None
    assert estimate_key(line([60, 72, 48])) is None
