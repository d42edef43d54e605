"""Compressed stems (mp3, ogg, opus, m4a), encoded block by block through PyAV's bundled FFmpeg.

No system ffmpeg is needed: the ``av`` wheel carries its own libraries. Each format stores only
some sample rates (Opus 8-48 kHz, MP3 up to 48 kHz); ``encoded_rate`` picks the one the stem is
written at, and the caller says so when it differs from the song's.

Ogg Vorbis is the exception: the ``av`` wheel has no libvorbis, only FFmpeg's own experimental
Vorbis encoder, which ignores the bitrate and measured 3 dB of SNR on two sines where libmp3lame
gave over 15 (``tests/audio/test_encode.py``). So ``ogg`` goes through libsndfile's libvorbis,
which the ``soundfile`` wheel carries, with the bitrate mapped to Vorbis' quality scale.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from vocalsep.errors import ConfigError


@dataclass(frozen=True)
class CompressedFormat:
    """How one compressed format is written."""

    codec: str
    container: str
    rates: tuple[int, ...]  # the sample rates it can store, any rate when empty
    sample_format: str  # PyAV's name of the frames it takes
    default_kbps: int
    max_channels: int = 2


FORMATS = {
    "mp3": CompressedFormat("libmp3lame", "mp3", (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
                            "fltp", 192),
    "ogg": CompressedFormat("libvorbis (libsndfile)", "ogg", (), "", 192),
    "opus": CompressedFormat("libopus", "ogg", (8000, 12000, 16000, 24000, 48000), "flt", 128),
    "m4a": CompressedFormat("aac", "ipod", (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000,
                                           64000, 88200, 96000), "fltp", 192),
}
#: The formats a stem may be written in without libsndfile.
COMPRESSED = tuple(FORMATS)


def encoded_rate(audio_format: str, sample_rate: int) -> int:
    """The rate a stem of ``sample_rate`` is stored at: its own if the format can, else the nearest it can above
    (the highest below when none is above), so nothing the song holds is lost to a lower rate when avoidable."""
    rates = FORMATS[audio_format].rates
    if not rates or sample_rate in rates:
        return sample_rate
    above = [rate for rate in rates if rate > sample_rate]
    return min(above) if above else max(rates)


def check_channels(audio_format: str, channels: int) -> None:
    """``ConfigError`` when ``audio_format`` cannot store ``channels`` channels."""
    most = FORMATS[audio_format].max_channels
    if not 1 <= channels <= most:
        raise ConfigError(f"{audio_format} stems hold 1 or {most} channels, not {channels}: use --format wav or flac")


def encode(blocks: Iterable[np.ndarray], path: str, audio_format: str, sample_rate: int, channels: int,
           kbps: int | None = None) -> None:
    """Encode (channels, n) float blocks at ``sample_rate`` into ``path`` (the caller renames it into place).

    The blocks are resampled to ``encoded_rate`` when the format needs it, and must already be
    within [-1, 1] (the clip policy is the caller's).
    """
    spec = FORMATS[audio_format]
    check_channels(audio_format, channels)
    if audio_format == "ogg":
        _encode_vorbis(blocks, path, sample_rate, channels, kbps or spec.default_kbps)
        return
    import av

    from vocalsep.audio.resampling import Resampler

    rate = encoded_rate(audio_format, sample_rate)
    resampler = Resampler(sample_rate, rate) if rate != sample_rate else None
    layout = "mono" if channels == 1 else "stereo"
    with av.open(path, "w", format=spec.container) as container:
        stream = container.add_stream(spec.codec, rate=rate, layout=layout)
        stream.bit_rate = 1000 * (kbps or spec.default_kbps)
        pts = 0

        def write(samples: np.ndarray) -> None:
            nonlocal pts
            if samples.shape[1] == 0:
                return
            samples = np.asarray(samples, dtype=np.float32)
            # planar formats take (channels, n); packed ones one row of interleaved samples
            array = np.ascontiguousarray(samples if spec.sample_format.endswith("p") else samples.T.reshape(1, -1))
            frame = av.AudioFrame.from_ndarray(array, format=spec.sample_format, layout=layout)
            frame.sample_rate = rate
            frame.pts = pts
            pts += samples.shape[1]
            for packet in stream.encode(frame):
                container.mux(packet)

        for block in blocks:
            write(resampler.push(block) if resampler is not None else block)
        if resampler is not None:
            write(resampler.finish())
        for packet in stream.encode(None):
            container.mux(packet)


#: Vorbis' nominal bitrates of stereo 44.1 kHz by quality 0-10 (its encoder's documentation).
VORBIS_KBPS = (64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 500)


def vorbis_quality(kbps: int) -> float:
    """Vorbis quality in [0, 1] (libsndfile's scale, as 1 - compression level) for a nominal bitrate."""
    return float(np.interp(kbps, VORBIS_KBPS, np.linspace(0.0, 1.0, len(VORBIS_KBPS))))


def _encode_vorbis(blocks: Iterable[np.ndarray], path: str, sample_rate: int, channels: int, kbps: int) -> None:
    import soundfile

    with soundfile.SoundFile(path, "w", sample_rate, channels, format="OGG", subtype="VORBIS",
                             compression_level=1.0 - vorbis_quality(kbps)) as handle:
        for block in blocks:
            handle.write(np.ascontiguousarray(np.asarray(block, dtype=np.float32).T))
