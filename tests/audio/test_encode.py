"""Compressed stems through PyAV: rates, lengths, levels, atomic files, refused channel counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support import tiny_checkpoint, write_song

from vocalsep.apps.cli import main
from vocalsep.audio.encode import COMPRESSED, encoded_rate
from vocalsep.audio.io import AudioWriter, load_audio
from vocalsep.errors import AudioWriteError, ConfigError


def _tones(seconds: float, rate: int, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.stack([0.4 * np.sin(2 * np.pi * (440 + 220 * c) * t) for c in range(channels)]).astype(np.float32)


def _aligned_snr_db(reference: np.ndarray, decoded: np.ndarray) -> float:
    """SNR after undoing the codec's delay (best lag within 100 ms)."""
    best = -np.inf
    for lag in range(0, min(4800, decoded.shape[1] - reference.shape[1] // 2)):
        part = decoded[:, lag : lag + reference.shape[1] - 4800]
        ref = reference[:, : part.shape[1]]
        best = max(best, 10 * np.log10(np.sum(ref**2) / max(np.sum((ref - part) ** 2), 1e-12)))
    return best


#: The rate each format stores a 44.1 and a 96 kHz song at.
STORED = {"mp3": {44100: 44100, 96000: 48000}, "ogg": {44100: 44100, 96000: 96000},
          "opus": {44100: 48000, 96000: 48000}, "m4a": {44100: 44100, 96000: 96000}}


@pytest.mark.parametrize("audio_format", COMPRESSED)
@pytest.mark.parametrize("rate", [44100, 96000])
def test_a_compressed_stem_keeps_its_length_and_level(tmp_path: Path, audio_format: str, rate: int) -> None:
    from vocalsep.audio.io import resample

    audio = _tones(1.5, rate)
    writer = AudioWriter(tmp_path / "out" / f"vocals.{audio_format}", rate, 2)
    for start in range(0, audio.shape[1], 10_000):  # blocks, as the pipeline writes them
        writer.write(audio[:, start : start + 10_000])
    path = writer.commit(subtype="", kbps=160)
    decoded, stored = load_audio(path)
    assert stored == encoded_rate(audio_format, rate) == STORED[audio_format][rate]
    assert abs(decoded.shape[1] / stored - 1.5) < 0.05  # encoder delay and padding: tens of ms at most
    reference = resample(audio, rate, stored) if stored != rate else audio
    assert _aligned_snr_db(reference, decoded) > 15
    assert [p.name for p in (tmp_path / "out").iterdir()] == [path.name]  # no temporary file left


def test_clipping_applies_before_encoding(tmp_path: Path) -> None:
    loud = _tones(1.0, 48000) * 4  # peaks at 1.6
    writer = AudioWriter(tmp_path / "vocals.opus", 48000, 2)
    writer.write(loud)
    decoded, _ = load_audio(writer.commit(subtype="", gain=1 / 1.6))
    assert np.abs(decoded).max() < 1.1  # scaled to full scale, not wrapped or clipped hard


def test_a_failed_encoding_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vocalsep.audio.encode as encode_module

    def broken(blocks, path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        Path(path).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(encode_module, "encode", broken)
    writer = AudioWriter(tmp_path / "vocals.mp3", 44100, 2)
    writer.write(_tones(0.5, 44100))
    with pytest.raises(AudioWriteError, match="No space left"):
        writer.commit(subtype="")
    assert list(tmp_path.iterdir()) == []


def test_the_cli_writes_opus_at_48_khz_and_says_so(tmp_path: Path, capsys) -> None:
    write_song(tmp_path / "song.wav", seconds=1.0, rate=44100)
    model = str(tiny_checkpoint(tmp_path / "model"))
    assert main(["separate", str(tmp_path / "song.wav"), "-o", str(tmp_path / "out"), "--model", model,
                 "--format", "opus", "--bitrate", "96", "-q"]) == 0
    err = capsys.readouterr().err
    assert "opus cannot store 44100 Hz; its stems are written at 48000 Hz" in err
    for stem in ("vocals", "accompaniment"):
        decoded, rate = load_audio(tmp_path / "out" / "song" / f"{stem}.opus")
        assert rate == 48000 and decoded.shape[0] == 2 and abs(decoded.shape[1] / rate - 1.0) < 0.05


def test_more_channels_than_a_format_holds_and_bits_are_one_line_errors(tmp_path: Path, capsys) -> None:
    write_song(tmp_path / "six.wav", seconds=0.5, rate=16000, channels=6)
    model = str(tiny_checkpoint(tmp_path / "model"))
    assert main(["separate", str(tmp_path / "six.wav"), "-o", str(tmp_path / "out"), "--model", model,
                 "--format", "mp3", "-q"]) == 1
    assert main(["separate", str(tmp_path / "six.wav"), "-o", str(tmp_path / "out"), "--model", model,
                 "--format", "m4a", "--bits", "16", "-q"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("vocalsep: error:")]
    assert "mp3 stems hold 1 or 2 channels, not 6" in errors[0] and "--bits is for wav and flac" in errors[1]
    assert not (tmp_path / "out" / "six").exists() or not any((tmp_path / "out" / "six").iterdir())
    from vocalsep.pipeline.stems import stem_subtype

    with pytest.raises(ConfigError, match="unknown stem format 'wma'"):
        stem_subtype("wma", None)
