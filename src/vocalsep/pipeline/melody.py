"""A song's sung melody as files: separate the voice, track its F0, segment notes, write CSV and MIDI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vocalsep.pipeline.naming import track_name
from vocalsep.melody.tracking import (
    DEFAULT_TRACKER, MELODY_FILES, PICTURE_FILES, PitchSummary, PitchTrack, summarize, track_pitch, write_f0_csv,
)


@dataclass(frozen=True)
class MelodyResult:
    """What ``transcribe_file`` wrote and found."""

    track: PitchTrack
    notes: list
    summary: PitchSummary
    paths: dict[str, Path]


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
    hop: float = 0.01,
) -> MelodyResult:
    """Track the sung melody of one file and write ``f0.csv``, ``notes.csv``, ``notes.mid``.

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

    Returns
    -------
    MelodyResult
    """
    from vocalsep.audio.io import load_audio
    from vocalsep.errors import OutputError
    from vocalsep.melody.notes import segment_notes, write_midi, write_notes_csv

    input_path = Path(input_path)
    folder = Path(output_dir) / track_name(input_path)
    names = list(MELODY_FILES) + ([PICTURE_FILES[1]] + ([PICTURE_FILES[0]] if separate else []) if plot else [])
    paths = {name: folder / name for name in names}
    if not overwrite:
        for path in paths.values():
            if path.exists():
                raise OutputError(f"{path} exists (use --overwrite to replace it)")
    mixture, rate = load_audio(input_path)
    vocals = mixture
    if separate:
        if separator is None:
            from vocalsep.separation.separator import Separator

            separator = Separator.from_pretrained(model)
        vocals = separator.separate(mixture, rate).vocals  # type: ignore[attr-defined]
    track = track_pitch(vocals, rate, tracker=tracker, hop=hop)
    notes = segment_notes(track)
    write_f0_csv(track, paths["f0.csv"])
    write_notes_csv(notes, paths["notes.csv"])
    write_midi(notes, paths["notes.mid"], name=f"{input_path.stem} vocals")
    if plot:
        from vocalsep.pipeline.pictures import plot_melody, plot_separation

        if separate:
            plot_separation(mixture, vocals, rate, paths["spectrograms.png"], title=input_path.name)
        plot_melody(vocals, rate, track, notes, paths["melody.png"], title=f"{input_path.name}: sung melody")
    return MelodyResult(track, notes, summarize(track), paths)


