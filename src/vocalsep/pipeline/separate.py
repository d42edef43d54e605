"""The library entry points behind ``vocalsep separate``: files and folders in, stem files out."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from vocalsep.audio.io import SUBTYPES, AudioReader, AudioWriter
from vocalsep.errors import AudioReadError, AudioWriteError, ConfigError, SampleRangeError, VocalsepError
from vocalsep.files import folder_lock
from vocalsep.pipeline.naming import output_paths
from vocalsep.separation.separator import Separator
from vocalsep.separation.streaming import separate_stream

STEM_NAMES = ("vocals", "accompaniment")
#: Suffixes picked up when a folder is given.
INPUT_SUFFIXES = {
    ".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".mp4", ".aac",
    ".aiff", ".aif", ".wma", ".webm", ".mka",
}
SUBTYPE_FOR_BITS = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}


class ClippingWarning(UserWarning):
    """A stem exceeded full scale and was rescaled or clipped."""


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


def output_gain(peak: float, policy: str) -> float:
    """The gain that keeps integer output in range, by clip policy.

    ``rescale`` scales both stems by one factor when either peaks above full scale (they
    still sum to the equally scaled mixture); ``clip`` keeps the gain and lets the writer
    clip; ``none`` leaves samples as they are (for float output).
    """
    if policy not in ("rescale", "clip", "none"):
        raise ConfigError(f"unknown clip policy {policy!r} (use rescale, clip or none)")
    if policy == "none" or peak <= 1.0:
        return 1.0
    if policy == "rescale":
        warnings.warn(f"output peaked at {peak:.3f}; both stems scaled by {1 / peak:.3f}",
                      ClippingWarning, stacklevel=2)
        return 1.0 / peak
    warnings.warn(f"output peaked at {peak:.3f}; samples clipped to full scale", ClippingWarning, stacklevel=2)
    return 1.0


def flac_can_store(sample_rate: int) -> bool:
    """FLAC headers hold rates up to 65535 Hz in Hz, and above that only in tens of Hz."""
    return 0 < sample_rate <= 65535 or (sample_rate % 10 == 0 and sample_rate <= 655350)


def separate_file(
    input_path: str | Path,
    output_dir: str | Path = "separated",
    *,
    separator: Separator | None = None,
    model: str | Path = "default",
    audio_format: str = "wav",
    bits: int | None = None,
    clip: str = "rescale",
    overwrite: bool = False,
    skip_existing: bool = False,
    progress: bool = False,
    on_progress: Callable[[int, int | None], None] | None = None,
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
    audio_format : {"wav", "flac"}
    bits : {16, 24, 32}, optional
        Sample size; 32 writes float wav. Default: 32 for wav (stems sum exactly to the
        input, which may itself exceed full scale), 24 for flac.
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

    Returns
    -------
    dict
        Stem name -> written path. Both are written or neither is.
    """
    input_path = Path(input_path)
    if bits is None:
        bits = 32 if audio_format == "wav" else 24
    if bits not in SUBTYPE_FOR_BITS:
        raise ConfigError(f"bits must be 16, 24 or 32, not {bits}")
    subtype = SUBTYPE_FOR_BITS[bits]
    if audio_format not in SUBTYPES or subtype not in SUBTYPES[audio_format]:
        raise ConfigError(f"{audio_format} cannot store {bits}-bit {'float' if bits == 32 else 'integer'} samples")
    targets = output_paths(input_path, output_dir, audio_format, STEM_NAMES)
    if skip_existing:
        if all(path.exists() for path in targets.values()):
            return targets
        overwrite = True  # a lone stem is what an interrupted pair leaves: redo the pair
    if not overwrite:
        for path in targets.values():
            if path.exists():
                raise AudioWriteError(f"{path} exists (use --overwrite to replace it)")
    reader = AudioReader(input_path)
    if audio_format == "flac" and not flac_can_store(reader.sample_rate):
        raise AudioWriteError(f"{input_path}: flac cannot store a rate of {reader.sample_rate} Hz (use wav)")
    if separator is None:
        separator = Separator.from_pretrained(model)
    writers: dict[str, AudioWriter] = {}
    written: list[Path] = []
    try:
        writers = {stem: AudioWriter(targets[stem], reader.sample_rate, reader.channels) for stem in STEM_NAMES}
        done = 0
        with _progress_bar(reader.frames, input_path.name, progress) as update:
            for vocals, accompaniment in separate_stream(separator, reader.blocks(), reader.sample_rate, progress=update):
                writers["vocals"].write(vocals)
                writers["accompaniment"].write(accompaniment)
                done += vocals.shape[1]
                if on_progress is not None:
                    on_progress(done, reader.frames)
        peak = max(writer.peak for writer in writers.values())
        gain = output_gain(peak, "none" if subtype == "FLOAT" else clip)
        for stem in STEM_NAMES:  # the slow conversions first, then the pair of renames
            writers[stem].commit(subtype=subtype, gain=gain, overwrite=overwrite, publish=False)
        with folder_lock(targets["vocals"].parent):  # another process's pair never mixes with ours
            for stem in STEM_NAMES:
                written.append(writers[stem].publish(overwrite=overwrite))
    except BaseException as error:
        for writer in writers.values():
            writer.discard()
        for path in written:  # a lone stem would look like a finished result
            path.unlink(missing_ok=True)
        if isinstance(error, SampleRangeError):  # raised by the stream, which does not know the file
            raise SampleRangeError(f"{input_path}: {error}") from None
        raise
    return targets


class _progress_bar:
    """Context manager yielding a sample-count callback bound to a tqdm bar (or None)."""

    def __init__(self, total: int | None, label: str, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, unit="sample", unit_scale=True, file=sys.stderr, leave=False)

    def __enter__(self):  # noqa: ANN204
        return None if self.bar is None else self.bar.update

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


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
