"""A song's sung melody as files (``process_song`` with melody on): F0, notes, beats, CSV, MIDI, MusicXML, JSON, pictures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from vocalsep.melody.tracking import MELODY_HOP, DEFAULT_TRACKER
from vocalsep.pipeline.song import MelodyResult, process_song

__all__ = ["MelodyResult", "transcribe_file"]


def transcribe_file(
    input_path: str | Path,
    output_dir: str | Path = "melody",
    *,
    separate: bool = True,
    separator: object | None = None,
    model: str | Path = "default",
    tracker: str = DEFAULT_TRACKER,
    plot: bool = False,
    overwrite: bool = False,
    hop: float = MELODY_HOP,
    device: str = "cpu",
    quantize: int | None = None,
    octave_shift: int = 0,
) -> MelodyResult:
    """Track the sung melody of one file and write ``f0.csv``, ``notes.csv``, ``notes.mid`` (on the song's
    tempo), ``beats.csv``, ``melody.musicxml`` (sheet music) and ``melody.json`` (key, tempo, range).

    Parameters
    ----------
    input_path : str or Path
        A song (``separate=True``) or an isolated voice (``separate=False``).
    output_dir : str or Path
        Files go to ``output_dir/<input stem>/``.
    separate : bool
        Extract the voice with the separation model before tracking.
    separator : Separator, optional
        A loaded separation model; by default ``Separator.from_pretrained(model)``.
    model : str or Path
        Bundled model name or checkpoint path (used when ``separator`` is None).
    tracker : {"crepe-tiny", "pyin"}
    plot : bool
        Also write ``melody.png`` (and ``spectrograms.png`` when separating).
    overwrite : bool
        Replace existing outputs instead of refusing.
    hop : float
        Seconds between F0 frames.
    device : {"cpu", "auto", "cuda", "cuda:N"}
        Where the tracker (and a separator loaded here) runs; ``ConfigError`` where CUDA is missing.
    quantize : {1, 2, 3, 4, 6, 8}, optional
        Snap the notes to this fraction of a beat (4: sixteenths) in every file; default: as sung.
    octave_shift : int
        Move the whole melody by this many octaves (-3 to 3).

    Returns
    -------
    MelodyResult
        ``paths`` holds every file written (melody files and pictures).
    """
    result = process_song(input_path, output_dir, stems=False, melody=True,
                          pictures=("melody", "spectrograms") if plot else (), separate=separate,
                          separator=separator, model=model, tracker=tracker, hop=hop, overwrite=overwrite,
                          device=device, quantize=quantize, octave_shift=octave_shift)
    assert result.melody is not None
    return replace(result.melody, paths=result.paths)
