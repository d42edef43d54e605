"""What ``vocalsep pitch`` says about a song's melody: key, tempo, range; one line and ``melody.json``."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from vocalsep.files import atomic_write_bytes
from vocalsep.melody.grid import BeatGrid
from vocalsep.melody.key import Key
from vocalsep.melody.tracking import PitchSummary, hz_to_note


@dataclass(frozen=True)
class MelodySummary(PitchSummary):
    """The contour's summary (range, median, voiced share) with the key, the tempo and the note count.

    Attributes
    ----------
    key : Key or None
        None without notes.
    bpm, alternative_bpm : float or None
        ``BeatGrid``'s: the tempo (None when no beat was found) and a double or half nearly as likely.
    beats, notes : int
        Beats found and notes written.
    beats_per_bar : int
    octave_shift : int
        Octaves the contour was moved by (``--octave-shift``).
    """

    key: Key | None = None
    bpm: float | None = None
    alternative_bpm: float | None = None
    beats: int = 0
    beats_per_bar: int = 4
    notes: int = 0
    octave_shift: int = 0

    @classmethod
    def of(cls, pitch: PitchSummary, *, key: Key | None, grid: BeatGrid | None, notes: int,
           octave_shift: int = 0) -> MelodySummary:
        tempo = dict(bpm=grid.bpm, alternative_bpm=grid.alternative_bpm, beats_per_bar=grid.beats_per_bar,
                     beats=grid.times.size if grid.bpm is not None else 0) if grid is not None else {}
        return cls(pitch.voiced_share, pitch.median_hz, pitch.low_hz, pitch.high_hz, key=key, notes=notes,
                   octave_shift=octave_shift, **tempo)

    def describe(self) -> str:
        """E.g. ``key A minor, 93 BPM (or 186), range A3-E5 (220-659 Hz), median C#4 (277 Hz), voiced 41%``."""
        parts = [f"key {self.key.name}"] if self.key is not None else []
        if self.bpm is not None:
            other = f" (or {self.alternative_bpm:.0f})" if self.alternative_bpm is not None else ""
            parts.append(f"{self.bpm:.0f} BPM{other}")
        return ", ".join([*parts, super().describe()])

    def to_dict(self) -> dict[str, object]:
        """Plain types for ``melody.json`` (None where there is no value)."""
        voiced = math.isfinite(self.median_hz)

        def pitch(hz: float) -> dict[str, object] | None:
            return {"note": hz_to_note(hz), "hz": round(hz, 2)} if voiced else None

        return {
            "key": self.key.name if self.key is not None else None,
            "key_fifths": self.key.fifths if self.key is not None else None,  # sharps > 0, flats < 0
            "key_correlation": round(self.key.correlation, 3) if self.key is not None else None,
            "tempo_bpm": round(self.bpm, 2) if self.bpm is not None else None,
            "tempo_alternative_bpm": round(self.alternative_bpm, 2) if self.alternative_bpm is not None else None,
            "tempo_note": self._tempo_note(),
            "meter": f"{self.beats_per_bar}/4",
            "beats": self.beats,
            "range": {"low": pitch(self.low_hz), "high": pitch(self.high_hz)},
            "median": pitch(self.median_hz),
            "voiced_share": round(self.voiced_share, 4),
            "notes": self.notes,
            "octave_shift": self.octave_shift,
        }

    def _tempo_note(self) -> str | None:
        if self.bpm is None:
            return "no beat found: the MIDI file and the score are at 120 BPM"
        if self.alternative_bpm is None:
            return None
        kind = "double" if self.alternative_bpm > self.bpm else "half"
        return f"could also be counted at {kind} the tempo ({self.alternative_bpm:.0f} BPM)"


def summary_json(summary: MelodySummary) -> str:
    """``melody.json``: ``summary.to_dict()`` as indented JSON."""
    return json.dumps(summary.to_dict(), indent=2) + "\n"


def write_summary_json(summary: MelodySummary, path: str | Path) -> Path:
    """Write ``summary_json(summary)`` to ``path`` atomically."""
    return atomic_write_bytes(path, summary_json(summary).encode())
