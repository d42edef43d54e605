"""Audio I/O: lossless round trips, atomic writes, one-line errors, PyAV decoding, resampling."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import soundfile

from conftest import stems, write_wav
from vocalsep.audio import io as audio
from vocalsep.audio.io import load_audio, load_stream, resample, save_audio
from vocalsep.errors import AudioReadError, AudioWriteError, VocalsepError

#: Largest error of a round trip through each subtype (half a quantisation step and a bit).
TOLERANCE = {"PCM_16": 1.0 / 2**15, "PCM_24": 1.0 / 2**23, "FLOAT": 0.0}


def _signal(channels: int, samples: int = 800, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.9 * rng.uniform(-1, 1, (channels, samples))).astype(np.float32)


def _write_aac(path: Path, waveform: np.ndarray, rate: int) -> Path:
    """Encode ``waveform`` (channels, samples) as AAC in an MP4/M4A container with PyAV."""
    layout = {1: "mono", 2: "stereo"}[waveform.shape[0]]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = layout
        pts = 0
        for start in range(0, waveform.shape[1], 1024):
            block = np.ascontiguousarray(waveform[:, start : start + 1024], dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
            frame.sample_rate = rate
            frame.pts = pts
            pts += block.shape[1]
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _peak_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum)) * rate / len(x)


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize(
    ("suffix", "subtype"),
    [("wav", "PCM_16"), ("wav", "PCM_24"), ("wav", "FLOAT"), ("flac", "PCM_16"), ("flac", "PCM_24")],
)
def test_round_trip(tmp_path, channels, suffix, subtype):
    waveform = _signal(channels)
    path = save_audio(tmp_path / f"x.{suffix}", waveform, 22050, subtype=subtype)
    assert path == tmp_path / f"x.{suffix}"
    loaded, rate = load_audio(path)
    assert rate == 22050
    assert loaded.dtype == np.float32
    assert loaded.shape == (channels, 800)
    assert np.abs(loaded - waveform).max() <= TOLERANCE[subtype]
    info = soundfile.info(str(path))
    assert info.subtype == subtype and info.format == suffix.upper()


@pytest.mark.parametrize("rate", [8000, 96000])
@pytest.mark.parametrize("suffix", ["wav", "flac"])
def test_rates_are_preserved(tmp_path, rate, suffix):
    path = save_audio(tmp_path / f"r.{suffix}", _signal(2), rate)
    loaded, loaded_rate = load_audio(path)
    assert loaded_rate == rate and loaded.shape == (2, 800)


def test_integer_subtypes_clip(tmp_path):
    waveform = np.array([[-3.0, -1.0, 0.0, 0.5, 2.0]], dtype=np.float32)
    loaded, _ = load_audio(save_audio(tmp_path / "c.wav", waveform, 8000, subtype="PCM_24"))
    np.testing.assert_allclose(loaded, [[-1.0, -1.0, 0.0, 0.5, 1.0]], atol=1e-6)
    loaded, _ = load_audio(save_audio(tmp_path / "f.wav", waveform, 8000, subtype="FLOAT"))
    np.testing.assert_array_equal(loaded, waveform)


def test_save_does_not_mutate_input(tmp_path):
    waveform = np.array([[2.0, -2.0, 0.1]], dtype=np.float32)
    copy = waveform.copy()
    save_audio(tmp_path / "m.wav", waveform, 8000)
    np.testing.assert_array_equal(waveform, copy)


def test_save_creates_parent_folders(tmp_path):
    path = save_audio(tmp_path / "out" / "track" / "vocals.wav", _signal(1), 8000)
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["vocals.wav"]


def test_refuses_to_overwrite(tmp_path):
    path = save_audio(tmp_path / "o.wav", _signal(1), 8000)
    before = path.read_bytes()
    with pytest.raises(AudioWriteError, match="exists"):
        save_audio(path, _signal(1, seed=1), 8000)
    assert path.read_bytes() == before
    save_audio(path, _signal(1, seed=1), 8000, overwrite=True)
    assert path.read_bytes() != before


@pytest.mark.parametrize(("name", "subtype"), [("x.mp3", "PCM_16"), ("x.ogg", "PCM_16"), ("x", "PCM_16"), ("x.flac", "FLOAT"), ("x.wav", "PCM_8")])
def test_unsupported_format_or_subtype(tmp_path, name, subtype):
    with pytest.raises(AudioWriteError):
        save_audio(tmp_path / name, _signal(1), 8000, subtype=subtype)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("error", [RuntimeError("disk full"), OSError(28, "No space left on device")])
def test_failed_write_leaves_nothing(tmp_path, monkeypatch, error):
    def failing_write(file, data, samplerate, **kwargs):
        Path(file).write_bytes(b"RIFF partial")  # a partial file, then the failure
        raise error

    monkeypatch.setattr(soundfile, "write", failing_write)
    target = tmp_path / "a.wav"
    with pytest.raises(AudioWriteError) as info:
        save_audio(target, _signal(2), 8000)
    assert "\n" not in str(info.value)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no `.part` file either


def test_failed_overwrite_keeps_the_old_file(tmp_path, monkeypatch):
    target = save_audio(tmp_path / "a.wav", _signal(1), 8000)
    before = target.read_bytes()

    def failing_write(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(soundfile, "write", failing_write)
    with pytest.raises(AudioWriteError):
        save_audio(target, _signal(1, seed=3), 8000, overwrite=True)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]


def test_invalid_rate_is_a_write_error(tmp_path):
    with pytest.raises(AudioWriteError):
        save_audio(tmp_path / "z.wav", _signal(1), 0)
    assert list(tmp_path.iterdir()) == []


def test_missing_file(tmp_path):
    with pytest.raises(AudioReadError, match="no such file"):
        load_audio(tmp_path / "absent.wav")
    with pytest.raises(AudioReadError):
        load_audio(tmp_path)  # a folder is not a file


@pytest.mark.parametrize("name", ["notes.wav", "notes.m4a", "notes.txt", "notes.mp3"])
def test_non_audio_file(tmp_path, name):
    path = tmp_path / name
    path.write_text("these are not samples\nbut two lines of text\n")
    with pytest.raises(AudioReadError) as info:
        load_audio(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert isinstance(info.value, VocalsepError)


def test_empty_wav(tmp_path):
    path = tmp_path / "empty.wav"
    soundfile.write(str(path), np.zeros((0, 2), dtype=np.float32), 8000)
    with pytest.raises(AudioReadError, match="no audio samples"):
        load_audio(path)


def test_non_finite_samples_are_replaced(tmp_path):
    waveform = np.array([[0.5, np.nan, np.inf, -np.inf]], dtype=np.float32)
    path = save_audio(tmp_path / "n.wav", waveform, 8000, subtype="FLOAT")
    loaded, _ = load_audio(path)
    np.testing.assert_array_equal(loaded, [[0.5, 0.0, 1.0, -1.0]])


@pytest.mark.parametrize(("suffix", "channels"), [("m4a", 2), ("mp4", 1)])
def test_aac_decodes_through_pyav(tmp_path, suffix, channels):
    rate = 22050
    t = np.arange(rate // 2) / rate
    tones = [440.0, 660.0][:channels]
    waveform = np.stack([0.4 * np.sin(2 * np.pi * f * t) for f in tones]).astype(np.float32)
    path = _write_aac(tmp_path / f"tone.{suffix}", waveform, rate)
    loaded, loaded_rate = load_audio(path)
    assert loaded_rate == rate
    assert loaded.dtype == np.float32 and loaded.shape[0] == channels
    # AAC adds priming and padding: at most a few frames of 1024 samples.
    assert waveform.shape[1] <= loaded.shape[1] <= waveform.shape[1] + 3 * 1024
    for channel, frequency in enumerate(tones):
        assert abs(_peak_frequency(loaded[channel], rate) - frequency) < 5
        assert 0.2 < np.abs(loaded[channel]).max() < 0.6


def test_load_stream_index_out_of_range(tmp_path):
    path = _write_aac(tmp_path / "one.m4a", _signal(1, 4096) * 0.3, 16000)
    assert load_stream(path, 0)[0].shape[0] == 1
    with pytest.raises(AudioReadError, match="no audio stream 1"):
        load_stream(path, 1)


def test_resample_keeps_frequency():
    source, target = 44100, 16000
    t = np.arange(source) / source  # one second
    waveform = np.stack([np.sin(2 * np.pi * 1000 * t), 0.5 * np.sin(2 * np.pi * 1000 * t)]).astype(np.float32)
    out = resample(waveform, source, target)
    assert out.dtype == np.float32
    assert out.shape == (2, target)
    assert abs(_peak_frequency(out[0], target) - 1000) <= 1
    # Amplitude and phase are kept away from the edges.
    reference = np.sin(2 * np.pi * 1000 * np.arange(target) / target)
    np.testing.assert_allclose(out[0, 1000:-1000], reference[1000:-1000], atol=2e-3)
    np.testing.assert_allclose(out[1], 0.5 * out[0], atol=1e-6)


@pytest.mark.parametrize(("source", "target", "samples"), [(16000, 44100, 1000), (44100, 22050, 4411), (8000, 8000, 10)])
def test_resample_length(source, target, samples):
    out = resample(_signal(1, samples), source, target)
    assert out.shape == (1, -(-samples * target // source))


def test_resample_same_rate_is_identity():
    waveform = _signal(2)
    assert resample(waveform, 44100, 44100) is waveform


def test_resample_removes_content_above_new_nyquist():
    source = 16000
    t = np.arange(source) / source
    waveform = np.sin(2 * np.pi * 6000 * t)[None].astype(np.float32)
    out = resample(waveform, source, 8000)
    assert np.abs(out[:, 500:-500]).max() < 0.01


def test_stems_helper_round_trip(tmp_path):
    vocals, accompaniment = stems(0.25, 8000, channels=2)
    path = write_wav(tmp_path / "mix.wav", vocals + accompaniment, 8000, "FLOAT")
    loaded, rate = load_audio(path)
    np.testing.assert_array_equal(loaded, vocals + accompaniment)
    assert rate == 8000


def test_musdb_stem_file(shared_data):
    files = sorted((shared_data / "MUSDB18-7" / "train").glob("*.stem.mp4"))
    if not files:
        pytest.skip("no MUSDB18-7 stem files")
    path = files[0]
    streams = [load_stream(path, i) for i in range(5)]
    for waveform, rate in streams:
        assert rate == 44100 and waveform.shape[0] == 2 and waveform.dtype == np.float32
        assert 6 * 44100 < waveform.shape[1] < 8 * 44100
    # The mixture is the sum of the four stems up to AAC noise.
    length = min(w.shape[1] for w, _ in streams)
    mixture = streams[0][0][:, :length]
    total = sum(w[:, :length] for w, _ in streams[1:])
    error = np.sqrt(np.mean((mixture - total) ** 2))
    assert error < 0.1 * np.sqrt(np.mean(mixture**2))
    # load_audio reads stream 0: the mixture.
    np.testing.assert_array_equal(load_audio(path)[0], streams[0][0])
    with pytest.raises(AudioReadError):
        load_stream(path, 5)


def test_soundfile_suffixes_cover_save_formats():
    assert {f".{c}" for c in audio.SUBTYPES} <= audio.SOUNDFILE_SUFFIXES
