"""The library entry points behind ``vocalsep separate``: files and folders in, stem files out."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from vocalsep.audio import load_audio, save_audio
from vocalsep.errors import AudioReadError, AudioWriteError, VocalsepError
from vocalsep.separator import Separator, Stems

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


def output_paths(input_path: str | Path, output_dir: str | Path, extension: str) -> dict[str, Path]:
    """``output_dir/<input stem>/<stem>.<extension>`` for every stem."""
    folder = Path(output_dir) / _track_name(Path(input_path))
    return {stem: folder / f"{stem}.{extension}" for stem in STEM_NAMES}


def _track_name(path: Path) -> str:
    name = path.name
    for suffix in (".stem.mp4",):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return path.stem


def apply_clip_policy(stems: Stems, policy: str) -> Stems:
    """Keep integer outputs in range.

    ``rescale`` scales both stems by one factor when either peaks above full scale (they
    still sum to the equally scaled mixture); ``clip`` clips each stem; ``none`` leaves
    samples as they are (for float output).
    """
    if policy == "none":
        return stems
    peak = max(float(np.max(np.abs(stems.vocals), initial=0.0)),
               float(np.max(np.abs(stems.accompaniment), initial=0.0)))
    if peak <= 1.0:
        return stems
    if policy == "rescale":
        warnings.warn(f"output peaked at {peak:.3f}; both stems scaled by {1 / peak:.3f}",
                      ClippingWarning, stacklevel=2)
        return Stems(stems.vocals / peak, stems.accompaniment / peak, stems.sample_rate)
    if policy == "clip":
        warnings.warn(f"output peaked at {peak:.3f}; samples clipped to full scale",
                      ClippingWarning, stacklevel=2)
        return Stems(np.clip(stems.vocals, -1, 1), np.clip(stems.accompaniment, -1, 1), stems.sample_rate)
    raise VocalsepError(f"unknown clip policy {policy!r} (use rescale, clip or none)")


def separate_file(
    input_path: str | Path,
    output_dir: str | Path = "separated",
    *,
    separator: Separator | None = None,
    model: str | Path = "default",
    audio_format: str = "wav",
    bits: int = 16,
    clip: str = "rescale",
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Path]:
    """Separate one audio file into ``vocals`` and ``accompaniment`` files.

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
    bits : {16, 24, 32}
        Sample size; 32 writes float wav.
    clip : {"rescale", "clip", "none"}
        What to do when a stem exceeds full scale (see ``apply_clip_policy``).
    overwrite : bool
        Replace existing outputs instead of refusing.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    dict
        Stem name -> written path. Both are written or neither is.
    """
    input_path = Path(input_path)
    if bits not in SUBTYPE_FOR_BITS:
        raise VocalsepError(f"bits must be 16, 24 or 32, not {bits}")
    subtype = SUBTYPE_FOR_BITS[bits]
    targets = output_paths(input_path, output_dir, audio_format)
    if not overwrite:
        for path in targets.values():
            if path.exists():
                raise AudioWriteError(f"{path} exists (use --overwrite to replace it)")
    mixture, rate = load_audio(input_path)
    if separator is None:
        separator = Separator.from_pretrained(model)
    with _progress_bar(separator, mixture, rate, input_path.name, progress) as update:
        stems = separator.separate(mixture, rate, progress=update)
    stems = apply_clip_policy(stems, "none" if subtype == "FLOAT" else clip)
    written: list[Path] = []
    try:
        for stem in STEM_NAMES:
            save_audio(targets[stem], getattr(stems, stem), rate, subtype=subtype, overwrite=overwrite)
            written.append(targets[stem])
    except VocalsepError:
        for path in written:  # a lone stem would look like a finished result
            path.unlink(missing_ok=True)
        raise
    return targets


class _progress_bar:
    """Context manager yielding a frame-count callback bound to a tqdm bar (or None)."""

    def __init__(self, separator: Separator, mixture: np.ndarray, rate: int, label: str, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm import tqdm

            total = separator.frames_for(mixture.shape[1], rate)
            self.bar = tqdm(total=total, desc=label, unit="frame", file=sys.stderr, leave=False)

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
