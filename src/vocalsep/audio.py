"""Read, write, resample: waveforms are float32 arrays of shape (channels, samples)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from vocalsep.errors import AudioReadError, AudioWriteError

#: Subtypes accepted by ``save_audio`` for each container.
SUBTYPES = {"wav": ("PCM_16", "PCM_24", "FLOAT"), "flac": ("PCM_16", "PCM_24")}
#: Suffixes read by libsndfile; anything else goes through PyAV (ffmpeg's decoders).
SOUNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".mp3", ".w64", ".rf64"}


def load_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode an audio file.

    Parameters
    ----------
    path : str or Path
        Any format libsndfile or ffmpeg (through PyAV) decodes: wav, flac, ogg, mp3,
        mp4/m4a/aac, ...

    Returns
    -------
    waveform : ndarray, shape (channels, samples), float32
    sample_rate : int

    Raises
    ------
    AudioReadError
        The file is missing, cannot be decoded, or holds no samples.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioReadError(f"{path}: no such file")
    waveform, rate = None, 0
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        with contextlib.suppress(Exception):
            waveform, rate = _load_soundfile(path)
    if waveform is None:
        waveform, rate = _load_pyav(path, stream_index=0)
    if waveform.shape[1] == 0:
        raise AudioReadError(f"{path}: the file holds no audio samples")
    if not np.isfinite(waveform).all():
        waveform = np.nan_to_num(waveform, nan=0.0, posinf=1.0, neginf=-1.0)
    return waveform, rate


def load_stream(path: str | Path, stream_index: int) -> tuple[np.ndarray, int]:
    """Decode audio stream ``stream_index`` of a multi-stream file (e.g. ``.stem.mp4``)."""
    return _load_pyav(Path(path), stream_index)


def _load_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile

    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return np.ascontiguousarray(data.T), int(rate)


def _load_pyav(path: Path, stream_index: int) -> tuple[np.ndarray, int]:
    import av

    try:
        with av.open(str(path)) as container:
            streams = container.streams.audio
            if len(streams) <= stream_index:
                raise AudioReadError(f"{path}: no audio stream {stream_index} in the file")
            stream = streams[stream_index]
            rate = int(stream.codec_context.sample_rate or 0)
            # Planar float output whatever the codec's native sample format.
            resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout)
            blocks = []
            for frame in container.decode(stream):
                for converted in resampler.resample(frame):
                    blocks.append(converted.to_ndarray())
            for converted in resampler.resample(None):
                blocks.append(converted.to_ndarray())
    except AudioReadError:
        raise
    except Exception as error:  # PyAV raises many types for undecodable data
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise AudioReadError(f"{path}: not a readable audio file ({reason})") from None
    if not blocks or rate <= 0:
        raise AudioReadError(f"{path}: the file holds no audio samples")
    return np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.float32), rate


def resample(waveform: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited polyphase resampling along the last axis."""
    if source_rate == target_rate:
        return waveform
    from scipy.signal import resample_poly

    ratio = Fraction(target_rate, source_rate)
    out = resample_poly(waveform, ratio.numerator, ratio.denominator, axis=-1)
    return out.astype(np.float32, copy=False)


def save_audio(
    path: str | Path,
    waveform: np.ndarray,
    sample_rate: int,
    *,
    subtype: str = "PCM_16",
    overwrite: bool = False,
) -> Path:
    """Write a waveform atomically: a temporary file in the same folder, then a rename.

    Parameters
    ----------
    path : str or Path
        Destination; the container follows the suffix (``.wav`` or ``.flac``).
    waveform : ndarray, shape (channels, samples)
        Samples; integer subtypes are clipped to [-1, 1] (the caller decides how to avoid it).
    sample_rate : int
    subtype : str
        ``PCM_16``, ``PCM_24`` or ``FLOAT`` (wav only).
    overwrite : bool
        Replace an existing file instead of refusing.

    Raises
    ------
    AudioWriteError
        The file exists (without ``overwrite``), the folder cannot be written, or the disk is full.
        No partial file is left behind.
    """
    import soundfile

    path = Path(path)
    container = path.suffix.lower().lstrip(".")
    if container not in SUBTYPES:
        raise AudioWriteError(f"{path}: unsupported output format {container!r} (use wav or flac)")
    if subtype not in SUBTYPES[container]:
        raise AudioWriteError(f"{path}: {container} cannot store {subtype} samples")
    if path.exists() and not overwrite:
        raise AudioWriteError(f"{path} exists (use --overwrite to replace it)")
    data = np.asarray(waveform, dtype=np.float32).T
    if subtype != "FLOAT":
        data = np.clip(data, -1.0, 1.0)
    temp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(
            prefix=f".{path.stem}.", suffix=f".part.{container}", dir=path.parent
        )
        os.close(handle)
        soundfile.write(temp_name, data, sample_rate, subtype=subtype, format=container.upper())
        os.replace(temp_name, path)
        temp_name = None
    except (OSError, RuntimeError, soundfile.LibsndfileError) as error:
        reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
        raise AudioWriteError(f"cannot write {path}: {reason}") from None
    finally:
        if temp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
    return path
