"""The library entry points behind ``vocalsep separate``: files and folders in, stem files out."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from vocalsep.errors import AudioReadError, VocalsepError
from vocalsep.pipeline.song import process_song
from vocalsep.pipeline.stems import ClippingWarning, flac_can_store, output_gain
from vocalsep.separation.separator import STEM_NAMES, Separator

__all__ = ["STEM_NAMES", "ClippingWarning", "find_inputs", "flac_can_store", "output_gain", "separate_file",
           "separate_files"]

#: Suffixes picked up when a folder is given.
INPUT_SUFFIXES = {
    ".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".mp4", ".aac",
    ".aiff", ".aif", ".wma", ".webm", ".mka",
}


def find_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders (recursively) into their audio files; files pass through as given."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES and not p.name.startswith(".")
            )
        else:
            found.append(path)
    return found


def separate_file(
    input_path: str | Path,
    output_dir: str | Path = "separated",
    *,
    separator: Separator | None = None,
    model: str | Path = "default",
    audio_format: str = "wav", bits: int | None = None, clip: str = "rescale",  # the stem files
    bitrate: int | None = None,
    overwrite: bool = False, skip_existing: bool = False,  # what to do with existing outputs
    progress: bool = False,
    on_progress: Callable[[int, int | None], None] | None = None,
    plot: bool = False,
) -> dict[str, Path]:
    """Separate one audio file into ``vocals`` and ``accompaniment`` files.

    The file is decoded, separated and written block by block, so memory stays bounded
    whatever its length; the result equals ``Separator.separate`` of the whole waveform.

    Parameters
    ----------
    input_path : str or Path
        Any audio file that libsndfile or ffmpeg decodes.
    output_dir : str or Path
        Stems go to ``output_dir/<input stem>/<stem>.<audio_format>``.
    separator : Separator, optional
        A loaded model; by default ``Separator.from_pretrained(model)``.
    model : str or Path
        Bundled model name or checkpoint path, used when ``separator`` is None.
    audio_format : {"wav", "flac", "mp3", "ogg", "opus", "m4a"}
        The compressed ones are encoded through PyAV (``audio.encode``), resampled where the
        format cannot store the song's rate (Opus: 48 kHz at most; a warning says so).
    bits : {16, 24, 32}, optional
        Sample size (wav and flac); 32 writes float wav. Default: 32 for wav (stems sum
        exactly to the input, which may itself exceed full scale), 24 for flac.
    bitrate : int, optional
        kbit/s of compressed stems (default: 192, Opus 128).
    clip : {"rescale", "clip", "none"}
        What to do when a stem exceeds full scale (see ``output_gain``).
    overwrite : bool
        Replace existing outputs instead of refusing.
    skip_existing : bool
        Return at once when both outputs exist, and redo an incomplete pair (resuming
        an interrupted batch).
    progress : bool
        Show a progress bar on stderr.
    on_progress : callable, optional
        Called as ``on_progress(samples_done, total_samples)`` as the stems are written
        (``total_samples`` is None when the decoder cannot tell the length in advance).
    plot : bool
        Also draw ``spectrograms.png`` (mixture and vocals) beside the stems, in the same pass.

    Returns
    -------
    dict
        Stem name -> written path (and ``spectrograms.png`` -> its path with ``plot``). All are
        written or none is.
    """
    result = process_song(input_path, output_dir, stems=True, pictures=("spectrograms",) if plot else (),
                          separator=separator, model=model, audio_format=audio_format, bits=bits, bitrate=bitrate, clip=clip,
                          overwrite=overwrite, skip_existing=skip_existing, progress=progress, on_progress=on_progress)
    return result.paths


def separate_files(
    inputs: Iterable[str | Path], output_dir: str | Path = "separated", **options: object
) -> Iterator[tuple[Path, dict[str, Path] | VocalsepError]]:
    """Separate many files with one loaded model, yielding each input's outputs or its error.

    One bad file does not stop the others. ``options`` are those of ``separate_file``.
    """
    model = options.pop("model", "default")
    separator = options.pop("separator", None) or Separator.from_pretrained(model)  # type: ignore[arg-type]
    for path in find_inputs(inputs):
        try:
            yield path, separate_file(path, output_dir, separator=separator, **options)  # type: ignore[arg-type]
        except VocalsepError as error:
            yield path, error
        except MemoryError:
            yield path, AudioReadError(f"{path}: not enough memory to separate this file")
