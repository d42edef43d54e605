"""The key of a melody from its notes: Krumhansl and Kessler's key profiles (the Krumhansl-Schmuckler method).

The notes' durations are summed by pitch class, and that histogram is correlated with the 24
rotated major and minor profiles; the best correlation names the key. A sung line alone
often fits its relative major or minor nearly as well: ``Key.correlation`` says how clear the
answer was.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vocalsep.melody.notes import Note

#: Probe-tone ratings of the 12 pitch classes above the tonic (Krumhansl & Kessler 1982).
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")


@dataclass(frozen=True)
class Key:
    """A key: tonic pitch class (0 = C), mode and how well the notes fit it.

    Attributes
    ----------
    tonic : int
        0-11.
    mode : {"major", "minor"}
    correlation : float
        Pearson correlation of the notes' pitch-class durations with the key's profile (-1 to 1).
    """

    tonic: int
    mode: str
    correlation: float = 1.0

    @property
    def fifths(self) -> int:
        """Sharps (positive) or flats (negative) of the key signature, -5 to 6 (F# major, D# minor: 6 sharps)."""
        major = self.tonic if self.mode == "major" else (self.tonic + 3) % 12  # the relative major
        return (major * 7 + 5) % 12 - 5

    @property
    def tonic_name(self) -> str:
        """The tonic spelled as the key signature spells it: ``Bb``, ``F#``."""
        return (FLAT_NAMES if self.fifths < 0 else SHARP_NAMES)[self.tonic]

    @property
    def name(self) -> str:
        """E.g. ``A minor``, ``Eb major``."""
        return f"{self.tonic_name} {self.mode}"


def pitch_class_durations(notes: list[Note]) -> np.ndarray:
    """Seconds sung on each pitch class, shape (12,)."""
    durations = np.zeros(12)
    for note in notes:
        durations[note.pitch % 12] += note.duration
    return durations


def estimate_key(notes: list[Note]) -> Key | None:
    """The best-fitting key of the notes, or None without notes (or with a single pitch class sung)."""
    durations = pitch_class_durations(notes)
    if np.count_nonzero(durations) < 2:
        return None
    best = Key(0, "major", -2.0)
    for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
        for tonic in range(12):
            correlation = float(np.corrcoef(durations, np.roll(profile, tonic))[0, 1])
            if correlation > best.correlation:
                best = Key(tonic, mode, correlation)
    return best
