"""Byte-level fuzzing of the decoder entry: seed files, mutations, and the property they must keep.

Shared by ``tests/test_fuzz_decoder.py`` (a short, derandomised run in CI) and
``benchmarks/fuzz.py`` (the long run). The property: decoding any byte string ends either in
a valid waveform (float32, shape (channels, samples) with both positive, finite, a rate in
8-192 kHz and at most ``MAX_CHANNELS`` channels) or in one ``AudioReadError`` whose message is
a single line naming the file. Anything else (another exception type, a multi-line message,
a crash) is a failure.

Two families besides the mutations: hand-made WAV headers with absurd fields
(``absurd_headers``: rates of 0, 1, 7999, 192001 or 4e9 Hz, data sizes of 4 GB behind a few
bytes, 0 or 65535 channels, truncated data chunks), and extreme finite amplitudes
(``EXTREME_KINDS``, made by ``extreme_signal``: 1e30, near float32's maximum, alternating
plus and minus the maximum, denormals), which ``tests/test_fuzz_separation.py`` separates.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
from hypothesis import strategies as st

from vocalsep.audio.io import MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, AudioReader, load_audio
from vocalsep.errors import AudioReadError


def _tone(rate: int, seconds: float, channels: int) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    waves = [0.4 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)]
    return np.stack(waves, axis=1).astype(np.float32)  # (samples, channels) for soundfile


def _sndfile_bytes(data: np.ndarray, rate: int, fmt: str, subtype: str) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, data, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _aac_bytes(data: np.ndarray, rate: int) -> bytes:
    import av

    buffer = io.BytesIO()
    layout = "stereo" if data.shape[1] == 2 else "mono"
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = layout
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data.T), format="fltp", layout=layout)
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def seed_files() -> dict[str, bytes]:
    """Small valid files of every family the decoder meets, by file name (the suffix matters)."""
    stereo, mono = _tone(8000, 0.15, 2), _tone(16000, 0.1, 1)
    return {
        "pcm16.wav": _sndfile_bytes(stereo, 8000, "WAV", "PCM_16"),
        "float.wav": _sndfile_bytes(mono, 16000, "WAV", "FLOAT"),
        "u8.wav": _sndfile_bytes(mono, 16000, "WAV", "PCM_U8"),
        "ulaw.wav": _sndfile_bytes(stereo, 8000, "WAV", "ULAW"),
        "pcm24.flac": _sndfile_bytes(stereo, 8000, "FLAC", "PCM_24"),
        "song.mp3": _sndfile_bytes(stereo, 8000, "MP3", "MPEG_LAYER_III"),
        "song.ogg": _sndfile_bytes(mono, 16000, "OGG", "VORBIS"),
        "song.m4a": _aac_bytes(_tone(22050, 0.15, 2), 22050),
        "song.mp4": _aac_bytes(_tone(16000, 0.1, 1), 16000),
    }


SEEDS = seed_files()
SUFFIXES = sorted({Path(name).suffix for name in SEEDS})


@dataclass(frozen=True)
class Case:
    """One fuzz input: the bytes and the file name they are stored under."""

    name: str
    data: bytes


@st.composite
def mutated_files(draw: st.DrawFn) -> Case:
    """A seed file truncated, with bytes flipped, inserted or deleted, maybe under another suffix."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "flip", "header", "insert", "delete", "zero"]))
        size = len(data)
        if size == 0:
            break
        at = draw(st.integers(0, size - 1))
        if kind == "truncate":
            del data[at:]
        elif kind == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "header":  # headers hold sizes, rates and channel counts: hit them often
            data[at % 64] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 256))]
        else:  # "zero": a run of zeros, as a sparse or partly written file holds
            length = draw(st.integers(1, 512))
            data[at : at + length] = bytes(min(length, size - at))
    if draw(st.integers(0, 4)) == 0:  # a file named for another format
        name = Path(name).stem + draw(st.sampled_from(SUFFIXES))
    return Case(name, bytes(data))


@st.composite
def random_files(draw: st.DrawFn) -> Case:
    """Arbitrary bytes under an audio suffix, sometimes behind a real format's magic number."""
    magic = draw(st.sampled_from([b"", b"RIFF", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"fLaC", b"ID3", b"\xff\xfb",
                                  b"OggS", b"\x00\x00\x00\x20ftypM4A "]))
    body = draw(st.binary(max_size=512))
    return Case("random" + draw(st.sampled_from(SUFFIXES)), magic + body)


def decoder_inputs() -> st.SearchStrategy[Case]:
    """Mostly mutated seeds (deep into the decoders), some raw bytes (the format sniffing)."""
    return st.one_of(mutated_files(), mutated_files(), mutated_files(), random_files())


def wav_bytes(
    rate: int, channels: int, bits: int, tag: int, data: bytes, *, declared: int | None = None,
    riff: int | None = None,
) -> bytes:
    """A canonical 44-byte-header WAV with any field as given (fields wrap to their widths).

    ``tag`` is the format code (1 integer PCM, 3 IEEE float, 6/7 A-/u-law); ``declared``
    overrides the data chunk's size and ``riff`` the RIFF size, to lie about the length.
    """
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag & 0xFFFF, channels & 0xFFFF, rate & 0xFFFFFFFF,
                      (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits & 0xFFFF)
    size = len(data) if declared is None else declared
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", size & 0xFFFFFFFF) + data
    return b"RIFF" + struct.pack("<I", (len(body) if riff is None else riff) & 0xFFFFFFFF) + body


#: Header values at and beyond the limits, and ordinary ones so that the rest is reached too.
ABSURD_RATES = [0, 1, 7999, 8000, 44100, 192000, 192001, 4_000_000_000, 0xFFFFFFFF]
ABSURD_CHANNELS = [0, 1, 2, MAX_CHANNELS, MAX_CHANNELS + 1, 1000, 65535]


@st.composite
def absurd_headers(draw: st.DrawFn) -> Case:
    """A WAV whose header fields (rate, channels, sizes, format) are drawn up to their absurd ends."""
    # one or two fields absurd at a time, so that the others let the decoder go on
    absurd = set(draw(st.lists(st.sampled_from(["rate", "channels", "format", "sizes"]), max_size=2)))
    rate = draw(st.sampled_from([8000, 16000, 44100, 192000]))
    if "rate" in absurd:
        rate = draw(st.one_of(st.sampled_from(ABSURD_RATES), st.integers(0, 0xFFFFFFFF)))
    channels = draw(st.integers(1, 3))
    if "channels" in absurd:
        channels = draw(st.one_of(st.sampled_from(ABSURD_CHANNELS), st.integers(0, 0xFFFF)))
    tag, bits = draw(st.sampled_from([(1, 8), (1, 16), (1, 24), (1, 32), (3, 32), (3, 64), (6, 8), (7, 8)]))
    if "format" in absurd:
        tag, bits = draw(st.sampled_from([(1, 0), (1, 12), (3, 16), (0, 16), (0xFFFF, 16), (1, 0xFFFF)]))
    frames = draw(st.integers(0, 400))
    length = frames * max(1, min(channels, 8)) * max(1, bits // 8)
    pattern = draw(st.binary(min_size=1, max_size=64))
    data = (pattern * (length // len(pattern) + 1))[:length]
    declared = riff = None
    if "sizes" in absurd:
        declared = draw(st.sampled_from([None, 0, 1, 0xFFFFFFFF, 0x7FFFFFFF, len(data) * 1000]))
        riff = draw(st.sampled_from([None, 0, 4, 0xFFFFFFFF]))
    if draw(st.booleans()):  # a data chunk cut anywhere, even inside a sample
        data = data[: draw(st.integers(0, len(data)))]
    return Case("header" + draw(st.sampled_from([".wav", ".wav", ".flac", ".mp3"])),
                wav_bytes(rate, channels, bits, tag, data, declared=declared, riff=riff))


#: Contents of extreme but finite amplitude, for float files.
EXTREME_KINDS = ["huge", "near_max", "alternating_max", "max_noise", "denormal_noise"]
FLOAT32_MAX = float(np.finfo(np.float32).max)


def extreme_signal(kind: str, channels: int, samples: int, rate: int, seed: int) -> np.ndarray:
    """A (channels, samples) float64 signal of one extreme kind, every sample finite in float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / rate
    f0 = 110 * 2 ** rng.uniform(0, 4, size=(channels, 1))
    if kind == "huge":
        return 1e30 * np.sin(2 * np.pi * f0 * t)
    if kind == "near_max":  # a tone peaking at 3e38
        return 3e38 * np.sin(2 * np.pi * f0 * t)
    if kind == "alternating_max":  # +max, -max, ...: all energy at the Nyquist frequency
        return FLOAT32_MAX * np.where(np.arange(samples) % 2, -1.0, 1.0) * np.ones((channels, 1))
    if kind == "max_noise":
        return FLOAT32_MAX * rng.uniform(-1, 1, size=(channels, samples))
    return np.finfo(np.float32).smallest_subnormal * rng.integers(-(2**20), 2**20, size=(channels, samples))


class Tally:
    """Counts the inputs tried and how each ended, for the printed summary."""

    def __init__(self) -> None:
        self.tried = 0
        self.decoded = 0
        self.refused = 0

    def line(self, label: str) -> str:
        return f"{label}: {self.tried} inputs tried ({self.decoded} decoded, {self.refused} refused with one line)"


def _check_waveform(waveform: np.ndarray, rate: int) -> None:
    assert waveform.dtype == np.float32 and waveform.ndim == 2, (waveform.dtype, waveform.shape)
    assert 1 <= waveform.shape[0] <= MAX_CHANNELS and waveform.shape[1] >= 1, waveform.shape
    assert MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE, rate
    assert np.isfinite(waveform).all()


def _check_error(error: AudioReadError, path: Path) -> None:
    message = str(error)
    assert message and "\n" not in message, repr(message)
    assert str(path) in message, message


def check_decoder(case: Case, folder: Path, tally: Tally | None = None) -> str:
    """Decode ``case`` whole (``load_audio``) and streamed (``AudioReader``); check the property.

    Returns
    -------
    str
        ``"decoded"`` if the streamed reader produced audio, else ``"refused"``.
    """
    path = folder / case.name
    path.write_bytes(case.data)
    try:
        try:
            waveform, rate = load_audio(path)
        except AudioReadError as error:
            _check_error(error, path)
        else:
            _check_waveform(waveform, rate)
        try:
            reader = AudioReader(path, block_seconds=0.05)
            blocks = list(reader.blocks())
        except AudioReadError as error:
            _check_error(error, path)
            outcome = "refused"
        else:
            for block in blocks:
                assert block.shape[0] == reader.channels, (block.shape, reader.channels)
            _check_waveform(np.concatenate(blocks, axis=1), reader.sample_rate)
            outcome = "decoded"
    finally:
        path.unlink(missing_ok=True)
    if tally is not None:
        tally.tried += 1
        tally.decoded += outcome == "decoded"
        tally.refused += outcome == "refused"
    return outcome
