"""Read, write, resample: waveforms are float32 arrays of shape (channels, samples).

Resampling lives in ``audio.resampling``; its names are importable from here too.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

# re-exported: callers import resampling from audio.io as before
from vocalsep.audio.resampling import RESAMPLE_PIECE, RESAMPLE_QUALITY, Resampler, fit_length, resample  # noqa: F401
from vocalsep.errors import AudioReadError, AudioWriteError
from vocalsep.files import atomic_output, describe, publish, temporary_sibling, write_failure_reason

#: Subtypes accepted by ``save_audio`` for each container.
SUBTYPES = {"wav": ("PCM_16", "PCM_24", "FLOAT"), "flac": ("PCM_16", "PCM_24")}
#: Suffixes read by libsndfile; anything else goes through PyAV (ffmpeg's decoders).
SOUNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".mp3", ".w64", ".rf64"}
#: Sample rates accepted (README: 8-192 kHz); a header outside them is refused before decoding.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000, 192_000
#: Channels accepted: every channel is separated in the same network batch, so memory grows with them.
MAX_CHANNELS = 16
#: Samples of all channels together in one decoded block, so a block stays 16 MB at any channel count.
MAX_BLOCK_SAMPLES = 1 << 22


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence what C decoders print on file descriptor 2 (mpg123's resync notes on damaged mp3s).

    Decoding problems reach the user as one ``AudioReadError`` line instead. Other threads'
    stderr output is lost while a block is being decoded.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def check_format(path: Path, sample_rate: int, channels: int) -> None:
    """Refuse a header whose rate or channel count is outside what vocalsep separates.

    A hand-made header may declare 1 Hz (a 176 KB file then lasts a day) or 0 channels;
    the check runs when a file is opened, so every command refuses it before any work.

    Raises
    ------
    AudioReadError
        One line naming the file and the field.
    """
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioReadError(
            f"{path}: a sample rate of {sample_rate} Hz is not supported "
            f"({MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz)"
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioReadError(f"{path}: {channels} channels are not supported (1-{MAX_CHANNELS})")


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
        The file is missing, cannot be decoded, holds no samples, or declares a rate or
        channel count outside those ``check_format`` accepts.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioReadError(f"{path}: no such file")
    waveform, rate = None, 0
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        try:
            waveform, rate = _load_soundfile(path)
        except AudioReadError:
            raise
        except Exception:  # libsndfile cannot read it: PyAV may
            waveform = None
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

    with _quiet_native_stderr(), soundfile.SoundFile(str(path)) as handle:
        check_format(path, int(handle.samplerate), int(handle.channels))
        data = handle.read(dtype="float32", always_2d=True)
    return np.ascontiguousarray(data.T), int(handle.samplerate)


def _load_pyav(path: Path, stream_index: int) -> tuple[np.ndarray, int]:
    import av

    try:
        with av.open(str(path)) as container:
            streams = container.streams.audio
            if len(streams) <= stream_index:
                raise AudioReadError(f"{path}: no audio stream {stream_index} in the file")
            stream = streams[stream_index]
            rate = int(stream.codec_context.sample_rate or 0)
            if rate > 0:
                check_format(path, rate, int(stream.codec_context.channels or 0))
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
        raise AudioReadError(f"{path}: not a readable audio file ({describe(error)})") from None
    if not blocks or rate <= 0:
        raise AudioReadError(f"{path}: the file holds no audio samples")
    return np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.float32), rate


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
    data = np.asarray(waveform, dtype=np.float32).T
    if subtype != "FLOAT":
        data = np.clip(data, -1.0, 1.0)
    failures = (OSError, RuntimeError, AssertionError, soundfile.LibsndfileError)
    with atomic_output(path, suffix=f".part.{container}", overwrite=overwrite, error=AudioWriteError,
                       catch=failures) as temp_name:
        soundfile.write(temp_name, data, sample_rate, subtype=subtype, format=container.upper())
    return path


class AudioReader:
    """Decode a file block by block, so memory does not grow with its length.

    Attributes
    ----------
    sample_rate, channels : int
    frames : int or None
        Samples per channel if the container states it (an estimate for compressed streams).
    """

    def __init__(self, path: str | Path, *, block_seconds: float = 10.0) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise AudioReadError(f"{self.path}: no such file")
        self.block_seconds = block_seconds
        self._soundfile = None
        if self.path.suffix.lower() in SOUNDFILE_SUFFIXES:
            import soundfile

            with contextlib.suppress(Exception), _quiet_native_stderr():
                self._soundfile = soundfile.SoundFile(str(self.path))
        if self._soundfile is not None:
            self.sample_rate = int(self._soundfile.samplerate)
            self.channels = int(self._soundfile.channels)
            self.frames: int | None = int(self._soundfile.frames)
        else:
            self._probe_pyav()
        check_format(self.path, self.sample_rate, self.channels)

    def _probe_pyav(self) -> None:
        import av

        try:
            with av.open(str(self.path)) as container:
                if not container.streams.audio:
                    raise AudioReadError(f"{self.path}: the file holds no audio stream")
                stream = container.streams.audio[0]
                self.sample_rate = int(stream.codec_context.sample_rate or 0)
                self.channels = int(stream.codec_context.channels or 0)
                duration = stream.duration * stream.time_base if stream.duration else None
                if duration is None and container.duration:
                    duration = container.duration / 1_000_000
                self.frames = int(duration * self.sample_rate) if duration else None
        except AudioReadError:
            raise
        except Exception as error:  # PyAV raises many types for undecodable data
            raise AudioReadError(f"{self.path}: not a readable audio file ({describe(error)})") from None
        if self.sample_rate <= 0 or self.channels <= 0:
            raise AudioReadError(f"{self.path}: the file holds no audio samples")

    def blocks(self) -> Iterator[np.ndarray]:
        """Yield float32 blocks of shape (channels, n); raise AudioReadError if there are none."""
        size = max(1, min(int(self.block_seconds * self.sample_rate), MAX_BLOCK_SAMPLES // self.channels))
        produced = 0
        source = self._soundfile_blocks(size) if self._soundfile is not None else self._pyav_blocks(size)
        for block in source:
            if not np.isfinite(block).all():
                block = np.nan_to_num(block, nan=0.0, posinf=1.0, neginf=-1.0)
            produced += block.shape[1]
            yield block
        if produced == 0:
            raise AudioReadError(f"{self.path}: the file holds no audio samples")

    def _soundfile_blocks(self, size: int) -> Iterator[np.ndarray]:
        assert self._soundfile is not None
        with self._soundfile as handle:
            data = None
            while data is None or data.shape[0]:
                try:  # a damaged file may open and then fail to seek or read
                    with _quiet_native_stderr():
                        if data is None:
                            handle.seek(0)
                        data = handle.read(size, dtype="float32", always_2d=True)
                except Exception as error:  # libsndfile raises several types
                    raise AudioReadError(f"{self.path}: not a readable audio file ({describe(error)})") from None
                if data.shape[0]:
                    yield np.ascontiguousarray(data.T)

    def _pyav_blocks(self, size: int) -> Iterator[np.ndarray]:
        import av

        pending: list[np.ndarray] = []
        count = 0
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.audio[0]
                resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout)
                for frame in container.decode(stream):
                    for converted in resampler.resample(frame):
                        pending.append(converted.to_ndarray())
                        count += pending[-1].shape[1]
                    if count >= size:
                        yield np.ascontiguousarray(np.concatenate(pending, axis=1), dtype=np.float32)
                        pending, count = [], 0
                for converted in resampler.resample(None):
                    pending.append(converted.to_ndarray())
        except Exception as error:  # PyAV raises many types for undecodable data
            raise AudioReadError(f"{self.path}: not a readable audio file ({describe(error)})") from None
        if pending:
            yield np.ascontiguousarray(np.concatenate(pending, axis=1), dtype=np.float32)


#: libsndfile's command that turns off the PEAK chunk of float files (sndfile.h).
SFC_SET_ADD_PEAK_CHUNK = 0x1050


def _without_peak_chunk(handle: Any) -> None:
    """No PEAK chunk in a float file: it holds the time of writing, so the same stems would differ in bytes.

    Through soundfile's libsndfile handle (``sf_command``); where a soundfile version hides
    it, the file keeps its chunk (readers ignore it).
    """
    import soundfile

    with contextlib.suppress(AttributeError):
        soundfile._snd.sf_command(handle._file, SFC_SET_ADD_PEAK_CHUNK, soundfile._ffi.NULL, 0)


class AudioWriter:
    """Write a stem block by block into a hidden float file, then finish it atomically.

    ``commit`` converts to the final sample format in a second streamed pass (applying one
    gain to the whole file, chosen after the peak is known) and renames it into place
    (or leaves the rename to ``publish``); ``discard`` removes the temporary files. Nothing
    appears under the final name before the rename.
    """

    def __init__(self, path: str | Path, sample_rate: int, channels: int) -> None:
        import soundfile

        self.path = Path(path)
        self.sample_rate = sample_rate
        self.peak = 0.0
        self.temp_name = self.final_name = ""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.temp_name = temporary_sibling(self.path)
            # RF64 lifts WAV's 4 GB limit for hours of multichannel float audio.
            self._handle = soundfile.SoundFile(self.temp_name, "w", sample_rate, channels, subtype="FLOAT", format="RF64")
        except Exception as error:  # OSError, LibsndfileError, ...
            self.discard()
            raise AudioWriteError(f"cannot write {self.path}: {describe(error)}") from None

    def write(self, block: np.ndarray) -> None:
        """Append (channels, n) samples."""
        self.peak = max(self.peak, float(np.max(np.abs(block), initial=0.0)))
        try:
            self._handle.write(np.ascontiguousarray(block.T))
        except Exception as error:
            reason = write_failure_reason(self.temp_name) or describe(error)
            self.discard()
            raise AudioWriteError(f"cannot write {self.path}: {reason}") from None

    def commit(self, *, subtype: str, gain: float = 1.0, overwrite: bool = False, publish: bool = True,
               kbps: int | None = None) -> Path:
        """Close, convert to ``subtype`` (``gain`` applied, integer formats clipped) and rename.

        A compressed container (``encode.COMPRESSED``: mp3, ogg, opus, m4a) is encoded instead,
        at ``kbps`` (the format's default when None), clipped to full scale; ``subtype`` is unused.
        With ``publish=False`` the converted file waits under its hidden name until
        ``publish``: the slow conversion of every stem comes first, then renames that take
        microseconds, so an interruption hardly ever leaves one stem of a pair.
        """
        import soundfile

        from vocalsep.audio.encode import COMPRESSED, encode

        container = self.path.suffix.lower().lstrip(".")
        try:
            self._handle.close()
            compressed = container in COMPRESSED
            if not compressed and (container not in SUBTYPES or subtype not in SUBTYPES[container]):
                raise AudioWriteError(f"{self.path}: {container} cannot store {subtype} samples")
            if self.path.exists() and not overwrite:
                raise AudioWriteError(f"{self.path} exists (use --overwrite to replace it)")
            self.final_name = temporary_sibling(self.path, f".part.{container}")
            with soundfile.SoundFile(self.temp_name) as source:
                # in float64: for input near float32's maximum the gain (1/peak) is subnormal in float32
                blocks = (block * np.float64(gain) if gain != 1.0 else block
                          for block in source.blocks(blocksize=1 << 18, dtype="float32", always_2d=True))
                if compressed:
                    encode((np.clip(block, -1.0, 1.0).T for block in blocks), self.final_name, container,
                           self.sample_rate, source.channels, kbps)
                else:
                    with soundfile.SoundFile(self.final_name, "w", self.sample_rate, source.channels, subtype=subtype,
                                             format=container.upper()) as target:
                        _without_peak_chunk(target)
                        for block in blocks:
                            target.write(np.clip(block, -1.0, 1.0) if subtype != "FLOAT" else block)
        except AudioWriteError:
            self.discard()
            raise
        except Exception as error:  # libsndfile and soundfile report a full disk in several ways
            reason = write_failure_reason(self.final_name or self.temp_name) or describe(error)
            self.discard()
            raise AudioWriteError(f"cannot write {self.path}: {reason}") from None
        self._remove("temp_name")
        return self.publish(overwrite=overwrite) if publish else self.path

    def publish(self, *, overwrite: bool = False) -> Path:
        """Rename the file converted by ``commit(publish=False)`` into place."""
        try:
            if not getattr(self, "final_name", ""):
                raise AudioWriteError(f"cannot write {self.path}: nothing was committed")
            publish(self.final_name, self.path, overwrite=overwrite, error=AudioWriteError)
            self.final_name = ""
        finally:
            self.discard()
        return self.path

    def discard(self) -> None:
        """Remove the temporary files (safe to call twice)."""
        with contextlib.suppress(Exception):
            self._handle.close()
        self._remove("temp_name")
        self._remove("final_name")

    def _remove(self, attribute: str) -> None:
        name = getattr(self, attribute, None)
        if name:
            with contextlib.suppress(OSError):
                os.unlink(name)
            setattr(self, attribute, "")
