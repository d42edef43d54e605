"""Pictures: spectrograms that put a tone where it belongs, streamed like whole, and PNGs whose pixels show the content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import accompaniment_noise, voice_tone, write_wav

from vocalsep.apps.cli import main
from vocalsep.melody.notes import segment_notes
from vocalsep.melody.tracking import track_pitch
from vocalsep.melody.tracking import PitchTrack
from vocalsep.pipeline.pictures import melody_png, melody_range, plot_melody, plot_separation
from vocalsep.pipeline.spectra import CqtStream, LogSpectrogramStream, Pooled, cqt_spectrogram, log_spectrogram

RATE = 16000


def _png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def _pixels(path: Path) -> np.ndarray:
    """RGB pixels, shape (height, width, 3), int."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int64)


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


def test_streamed_spectrogram_equals_the_whole_one() -> None:
    rng = np.random.default_rng(0)
    audio = rng.standard_normal((2, RATE * 3)).astype(np.float32)
    whole = log_spectrogram(audio, RATE)
    stream = LogSpectrogramStream(RATE, expected_samples=audio.shape[1])
    for start in range(0, audio.shape[1], 777):  # pieces shorter than a frame, not on the hop grid
        stream.push(audio[:, start : start + 777])
    for ours, reference in zip(stream.finish(), whole, strict=True):
        np.testing.assert_allclose(ours, reference, rtol=1e-5)


def test_columns_stay_bounded_when_the_length_is_unknown() -> None:
    pooled = Pooled(max_columns=100)
    for _ in range(37):
        pooled.add(np.ones((3, 50)))
    means, edges = pooled.result()
    assert 50 <= means.shape[1] <= 100 and edges[-1] == 37 * 50
    np.testing.assert_allclose(means, 1.0)


def test_streamed_cqt_puts_a_tone_at_its_frequency_across_blocks() -> None:
    t = np.arange(16000 * 5) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    stream = CqtStream(block_seconds=1.0, context_seconds=1.0)
    for start in range(0, tone.size, 5000):
        stream.push(tone[start : start + 5000])
    stream.finish()
    power, times, freqs = stream.result(100.0, 1000.0)
    peaks = freqs[np.argmax(power[:, 5:-5], axis=0)]  # every column, block seams included
    assert np.all((peaks <= 220) & (peaks * 2 ** (1 / 48) >= 220))
    assert times[-1] == pytest.approx(5.0, abs=0.02)


def test_separation_picture_shows_what_each_panel_holds(tmp_path: Path) -> None:
    voice = voice_tone(1.0, RATE)
    mixture = voice + accompaniment_noise(1.0, RATE)
    path = plot_separation(np.stack([mixture, mixture]), np.zeros((1, voice.size), np.float32), RATE,
                           tmp_path / "a" / "spectrograms.png", title="test")
    width, height = _png_size(path)
    assert 1000 <= width <= 2000 and 350 <= height <= 800
    pixels = _pixels(path).sum(axis=2)
    rows = slice(height // 4, 3 * height // 4)
    left, right = pixels[rows, width // 8 : 3 * width // 8], pixels[rows, 5 * width // 8 : 7 * width // 8]
    assert right.mean() < 30  # silent vocals: magma's black (-80 dB) everywhere
    assert left.mean() > 150 and left.std() > 20  # the mixture: bright, with structure


def test_melody_picture_draws_the_melody_where_it_is(tmp_path: Path) -> None:
    voice = np.concatenate([voice_tone(0.6, RATE, f0=f) for f in (220.0, 440.0)])
    track = track_pitch(voice, RATE)
    drawn = _pixels(plot_melody(voice, RATE, track, segment_notes(track), tmp_path / "melody.png"))
    # the same spectrogram and axes without contour and notes
    unvoiced = PitchTrack(track.times, track.frequency, track.confidence, np.zeros(len(track), bool), track.tracker)
    spectrogram = cqt_spectrogram(voice, RATE, fmin=melody_range(track)[0], fmax=melody_range(track)[1])
    (tmp_path / "bare.png").write_bytes(melody_png(spectrogram, unvoiced, []))
    bare = _pixels(tmp_path / "bare.png")
    height, width, _ = drawn.shape
    assert 800 <= width <= 2500 and 350 <= height <= 800
    changed = np.abs(drawn - bare).sum(axis=2) > 60
    # only the contour and the note bars differ, and they rise with the octave step
    ys, xs = np.nonzero(changed[:, : int(0.85 * width)])  # leave out the legend and colour bar
    assert 0 < ys.size < 0.1 * height * width
    middle = np.median(xs)
    first, second = np.median(ys[xs < middle - 20]), np.median(ys[xs > middle + 20])
    assert first - second > 0.08 * height  # 440 Hz drawn well above 220 Hz (rows grow downwards)
    blue = (drawn[..., 2] > drawn[..., 0] + 60) & changed
    assert blue.sum() > 100


def test_melody_picture_of_silence(tmp_path: Path) -> None:
    silence = np.zeros(RATE // 2, dtype=np.float32)
    track = track_pitch(silence, RATE)
    pixels = _pixels(plot_melody(silence, RATE, track, [], tmp_path / "melody.png"))
    plot = pixels[pixels.shape[0] // 4 :, : int(0.8 * pixels.shape[1])]  # below the legend
    assert not ((plot[..., 2] > plot[..., 0] + 60) & (plot[..., 1] > 90)).any()  # no F0 line drawn


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
    assert {p.name for p in (tmp_path / "sep" / "song").iterdir()} == {"vocals.wav", "accompaniment.wav",
                                                                        "spectrograms.png"}
