"""The library entry points behind ``vocalsep separate``: files and folders in, stem files out."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from vocalsep.config import STEM_NAMES
from vocalsep.errors import AudioReadError, VocalsepError
from vocalsep.pipeline.song import SongResult, process_song
from vocalsep.pipeline.stems import ClippingWarning, flac_can_store, output_gain

if TYPE_CHECKING:
    from vocalsep.separation.separator import Separator

__all__ = ["STEM_NAMES", "ClippingWarning", "BatchTally", "FileOutcome", "find_inputs", "flac_can_store",
           "output_gain", "separate_file", "separate_files", "separate_one"]

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
    aggressiveness: float | None = None,
    audio_format: str = "wav", bits: int | None = None, clip: str = "rescale",  # the stem files
    bitrate: int | None = None,
    overwrite: bool = False, skip_existing: bool = False,  # what to do with existing outputs
    progress: bool = False,
    on_progress: Callable[[int, int | None], None] | None = None,
    plot: bool = False,
    device: str = "cpu",
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
    aggressiveness : float, optional
        How hard the voice is taken out, in [-2, 2] (see ``Separator``); default 0, the best SDR.
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
    device : {"cpu", "auto", "cuda", "cuda:N"}
        Where the network of a separator loaded here runs (a given ``separator`` keeps its own);
        on a GPU the stems equal the CPU's within 1e-4. ``ConfigError`` where CUDA is missing.

    Returns
    -------
    dict
        Stem name -> written path (and ``spectrograms.png`` -> its path with ``plot``). All are
        written or none is.
    """
    return _separate(input_path, output_dir, separator=separator, model=model, aggressiveness=aggressiveness,
                     audio_format=audio_format,
                     bits=bits, bitrate=bitrate, clip=clip, overwrite=overwrite, skip_existing=skip_existing,
                     progress=progress, on_progress=on_progress, plot=plot, device=device).paths


def _separate(input_path: str | Path, output_dir: str | Path, *, plot: bool = False, **options: object) -> SongResult:
    """``separate_file``'s work, with what ``process_song`` says about it (whether it was skipped)."""
    return process_song(input_path, output_dir, stems=True, pictures=("spectrograms",) if plot else (),
                        **options)  # type: ignore[arg-type]


@dataclass(frozen=True)
class FileOutcome:
    """What became of one input of a batch (``separate_one``), in one process or on a cluster's worker.

    Attributes
    ----------
    input : Path
        The input as it was given.
    paths : dict
        Stem name -> path of the outputs (written, or found when skipped); empty when it failed.
    skipped : bool
        Its outputs were all there already (``skip_existing``).
    error : VocalsepError or None
        Why it failed: one line.
    warnings : tuple of str
        The warnings separating it gave (clipping, a format's rate), to show where the batch is driven.
    """

    input: Path
    paths: dict[str, Path] = field(default_factory=dict)
    skipped: bool = False
    error: VocalsepError | None = None
    warnings: tuple[str, ...] = ()


def separate_one(input_path: Path, output_dir: str | Path, **options: object) -> FileOutcome:
    """Separate one input of a batch (options of ``separate_file``), catching its one-line error.

    The single-process batch (``separate_files``) and the cluster's workers (``cluster``) both
    separate each file through here.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = _separate(input_path, output_dir, **options)
        except VocalsepError as error:
            outcome = FileOutcome(input_path, error=error)
        except MemoryError:
            outcome = FileOutcome(input_path, error=AudioReadError(f"{input_path}: not enough memory to separate this file"))
        else:
            outcome = FileOutcome(input_path, paths=result.paths, skipped=result.skipped)
    return replace(outcome, warnings=tuple(dict.fromkeys(str(w.message) for w in caught)))


@dataclass
class BatchTally:
    """Counts of a batch's outcomes as they arrive (a million files keep three integers, not a list)."""

    separated: int = 0
    skipped: int = 0
    failed: int = 0

    def add(self, outcome: FileOutcome) -> None:
        if outcome.error is not None:
            self.failed += 1
        elif outcome.skipped:
            self.skipped += 1
        else:
            self.separated += 1

    def summary(self) -> str:
        """One line for the finished batch: how many files were separated, skipped and failed."""
        total = self.separated + self.skipped + self.failed
        return (f"{total} file(s): {self.separated} separated, {self.skipped} skipped (already there), "
                f"{self.failed} failed")


def separate_files(
    inputs: Iterable[str | Path], output_dir: str | Path = "separated", **options: object
) -> Iterator[FileOutcome]:
    """Separate many files with one loaded model, yielding each input's ``FileOutcome``.

    One bad file does not stop the others. ``options`` are those of ``separate_file``.
    """
    from vocalsep.separation.separator import Separator

    model = options.pop("model", "default")
    device = options.pop("device", "cpu")
    separator = options.pop("separator", None) or Separator.from_pretrained(model, device=device)  # type: ignore[arg-type]
    for path in find_inputs(inputs):
        yield separate_one(path, output_dir, separator=separator, **options)
