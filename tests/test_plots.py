"""Pictures: PNG files of sensible size, log-frequency spectrograms that put a tone where it belongs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import accompaniment_noise, voice_tone, write_wav

from vocalsep.apps.cli import main
from vocalsep.melody.notes import segment_notes
from vocalsep.melody.tracking import track_pitch
from vocalsep.pipeline.pictures import cqt_spectrogram, log_spectrogram, plot_melody, plot_separation

RATE = 16000


def _png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_log_spectrogram_puts_a_tone_at_its_frequency() -> None:
    t = np.arange(RATE) / RATE
    power, times, freqs = log_spectrogram(np.sin(2 * np.pi * 440 * t), RATE, fmin=50, bins=200)
    assert power.shape == (200, times.size - 1) and freqs.size == 201
    assert freqs[0] == pytest.approx(50) and freqs[-1] == pytest.approx(RATE / 2)
    peak = int(np.argmax(power.mean(axis=1)))
    assert freqs[peak] <= 440 * 1.03 and freqs[peak + 1] >= 440 / 1.03
    assert times[-1] == pytest.approx(1.0, abs=0.1)


def test_constant_q_spectrogram_puts_a_tone_at_its_frequency() -> None:
    t = np.arange(44100 // 2) / 44100
    power, times, freqs = cqt_spectrogram(np.sin(2 * np.pi * 220 * t), 44100, fmin=80, fmax=1000)
    assert power.shape == (freqs.size - 1, times.size - 1)
    peak = int(np.argmax(power.mean(axis=1)))
    assert freqs[peak] <= 220 <= freqs[peak + 1]
    assert times[-1] == pytest.approx(0.5, abs=0.02)


def test_long_inputs_are_drawn_with_bounded_columns() -> None:
    power, _, _ = log_spectrogram(np.zeros(RATE * 30, dtype=np.float32), RATE, max_columns=500)
    assert power.shape[1] <= 500 and np.isfinite(power).all()


def test_separation_picture(tmp_path: Path) -> None:
    voice = voice_tone(1.0, RATE)
    mixture = voice + accompaniment_noise(1.0, RATE)
    path = plot_separation(np.stack([mixture, mixture]), voice[None], RATE, tmp_path / "a" / "spectrograms.png",
                           title="test")
    width, height = _png_size(path)
    assert 1000 <= width <= 2000 and 350 <= height <= 800
    assert 20_000 < path.stat().st_size < 3_000_000


def test_melody_picture(tmp_path: Path) -> None:
    voice = np.concatenate([voice_tone(0.4, RATE, f0=f) for f in (220.0, 330.0)])
    track = track_pitch(voice, RATE)
    path = plot_melody(voice, RATE, track, segment_notes(track), tmp_path / "melody.png")
    width, height = _png_size(path)
    assert 800 <= width <= 2500 and 350 <= height <= 800


def test_melody_picture_of_silence(tmp_path: Path) -> None:
    silence = np.zeros(RATE // 2, dtype=np.float32)
    track = track_pitch(silence, RATE)
    assert _png_size(plot_melody(silence, RATE, track, [], tmp_path / "melody.png"))[0] > 0


def test_cli_plot_and_separate_plot(tmp_path: Path) -> None:
    from support import tiny_checkpoint

    model = str(tiny_checkpoint(tmp_path / "model"))
    song = voice_tone(0.8, RATE) + accompaniment_noise(0.8, RATE)
    write_wav(tmp_path / "song.wav", song, RATE)
    assert main(["plot", str(tmp_path / "song.wav"), "-o", str(tmp_path / "pics"), "--model", model]) == 0
    assert {p.name for p in (tmp_path / "pics" / "song").iterdir()} == {"spectrograms.png", "melody.png"}
    assert main(["plot", str(tmp_path / "song.wav"), "-o", str(tmp_path / "solo"), "--no-separate"]) == 0
    assert {p.name for p in (tmp_path / "solo" / "song").iterdir()} == {"melody.png"}
    assert main(["separate", str(tmp_path / "song.wav"), "-o", str(tmp_path / "sep"), "--model", model,
                 "-q", "--plot"]) == 0
    assert (tmp_path / "sep" / "song" / "spectrograms.png").is_file()
