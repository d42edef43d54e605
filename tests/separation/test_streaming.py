"""Streamed separation equals the in-memory path; streamed reading and writing are safe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from support import song, tiny_estimator, write_song

from vocalsep.pipeline.separate import separate_file
from chunking_oracle import in_memory_separate, in_memory_voice

from vocalsep.audio.io import AudioReader, AudioWriter, load_audio, resample
from vocalsep.errors import AudioReadError, AudioWriteError
from vocalsep.separation.separator import Separator
from vocalsep.separation.streaming import VoiceStream, overlap_add, resampling_stage, separate_stream


def _separator() -> Separator:
    return Separator(tiny_estimator(seed=1), segment=32, crossfade=8, context=8)


def _stream(
    separator: Separator, mixture: np.ndarray, rate: int, block: int, engine: str = "torch"
) -> tuple[np.ndarray, np.ndarray]:
    blocks = (mixture[:, i : i + block] for i in range(0, mixture.shape[1], block))
    pieces = list(separate_stream(separator, blocks, rate, engine=engine))
    return np.concatenate([v for v, _ in pieces], axis=1), np.concatenate([a for _, a in pieces], axis=1)


@pytest.mark.parametrize("rate", [16000, 8000, 44100])
@pytest.mark.parametrize("block", [777, 16000])
def test_streamed_output_equals_in_memory_output(rate: int, block: int) -> None:
    separator = _separator()
    mixture = song(7.0, rate, channels=2)  # several separation blocks of 2.3 s
    reference_vocals, reference_accompaniment = in_memory_separate(separator, mixture, rate)
    vocals, accompaniment = _stream(separator, mixture, rate, block)
    assert vocals.shape == mixture.shape
    np.testing.assert_allclose(vocals, reference_vocals, atol=1e-4)
    np.testing.assert_allclose(accompaniment, reference_accompaniment, atol=1e-4)


def test_the_separator_on_arrays_is_the_streamed_engine() -> None:
    separator = Separator(tiny_estimator(seed=1), segment=32, crossfade=8, context=8, engine="torch")
    mixture = song(23.0, 16000, channels=2)  # three of the separator's 10 s blocks
    stems = separator.separate(mixture, 16000)
    vocals, accompaniment = _stream(separator, mixture, 16000, 16000 * 10)
    assert list(stems) == ["vocals", "accompaniment"]
    np.testing.assert_array_equal(stems["vocals"], vocals)
    np.testing.assert_array_equal(stems.accompaniment, accompaniment)
    reference_vocals, _ = in_memory_separate(separator, mixture, 16000)
    np.testing.assert_allclose(stems.vocals, reference_vocals, atol=1e-4)


def test_voice_stream_keeps_bounded_state_and_computes_each_window_once() -> None:
    # Memory must not grow with the signal, and no network window may run twice.
    separator = _separator()
    calls: list[int] = []
    network = separator.estimator

    def counting(window):  # noqa: ANN001, ANN202
        calls.append(window.shape[-1])
        return network(window)

    stream = VoiceStream(separator)
    stream.network = counting
    mixture = song(20.0, 44100, channels=2)
    sizes = []
    for i in range(0, mixture.shape[1], 4410):
        stream.push(mixture[:, i : i + 4410])
        sizes.append(stream.samples.shape[1] + stream.output.shape[1] + stream.spec.shape[-1] * stream.hop)
    stream.finish()
    frames = separator.spectrogram.frames_for(mixture.shape[1])
    step = separator.segment - separator.crossfade
    assert len(calls) == -(-frames // step)  # the same windows as the oracle's apply_in_chunks
    assert max(sizes) < 4 * (separator.segment + 2 * separator.context) * stream.hop
    assert max(sizes[len(sizes) // 2 :]) <= max(sizes[: len(sizes) // 2]) + 4410


def test_onnx_engine_gives_the_torch_output() -> None:
    pytest.importorskip("onnxruntime")
    separator = _separator()
    mixture = song(3.0, 44100, channels=2)
    torch_vocals, _ = _stream(separator, mixture, 44100, 20000, engine="torch")
    onnx_vocals, onnx_accompaniment = _stream(separator, mixture, 44100, 20000, engine="onnx")
    np.testing.assert_allclose(onnx_vocals, torch_vocals, atol=1e-5)
    np.testing.assert_allclose(onnx_vocals + onnx_accompaniment, mixture, atol=1e-6)


@pytest.mark.parametrize("windows_per_call", [1, 3])
def test_voice_stream_equals_the_separator_at_the_model_rate(windows_per_call: int) -> None:
    separator = _separator()
    mixture = song(5.0, 44100, channels=2)
    stream = VoiceStream(separator, windows_per_call=windows_per_call)
    pieces = [stream.push(mixture[:, i : i + 3000]) for i in range(0, mixture.shape[1], 3000)]
    voice = np.concatenate([*pieces, stream.finish()], axis=1)
    reference = in_memory_voice(separator, torch.from_numpy(mixture)).numpy()
    assert voice.shape == mixture.shape
    np.testing.assert_allclose(voice, reference, atol=1e-5)


@pytest.mark.parametrize(("source", "target"), [(44100, 16000), (8000, 44100), (48000, 44100), (15198, 44100),
                                                (44100, 192000)])
def test_streamed_resampling_equals_whole_signal_resampling(source: int, target: int) -> None:
    signal = song(3.0, source, channels=2)
    stage = resampling_stage(source, target)
    cuts = np.cumsum([0, 1, 5000, 7, 0, 20011] * 10)
    pieces = [stage.push(signal[:, a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
    pieces.append(stage.push(signal[:, cuts[-1] :]))
    streamed = np.concatenate([*pieces, stage.finish()], axis=1)
    assert streamed.shape[1] == -(-signal.shape[1] * target // source)
    np.testing.assert_array_equal(streamed, resample(signal, source, target))  # bit for bit


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".m4a"])
def test_reader_blocks_equal_the_whole_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"song{suffix}"
    if suffix == ".m4a":
        _write_aac(path, song(2.0, 44100, channels=2), 44100)
    else:
        write_song(path, seconds=2.0, rate=44100)
    reader = AudioReader(path, block_seconds=0.3)
    blocks = list(reader.blocks())
    whole, rate = load_audio(path)
    assert rate == reader.sample_rate and reader.channels == whole.shape[0]
    assert len(blocks) > 3
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), whole)


def _write_aac(path: Path, data: np.ndarray, rate: int) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "stereo"
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="fltp", layout="stereo")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_reader_rejects_non_audio_and_empty_files(tmp_path: Path) -> None:
    (tmp_path / "text.mp3").write_text("not audio " * 50)
    with pytest.raises(AudioReadError, match="not a readable audio file"):
        list(AudioReader(tmp_path / "text.mp3").blocks())
    soundfile.write(tmp_path / "empty.wav", np.zeros((0, 1), np.float32), 8000)
    with pytest.raises(AudioReadError, match="no audio samples"):
        list(AudioReader(tmp_path / "empty.wav").blocks())


def test_writer_publishes_nothing_until_commit(tmp_path: Path) -> None:
    writer = AudioWriter(tmp_path / "out" / "vocals.wav", 8000, 2)
    writer.write(np.full((2, 100), 0.5, np.float32))
    assert not (tmp_path / "out" / "vocals.wav").exists()
    writer.write(np.full((2, 100), -2.0, np.float32))
    assert writer.peak == 2.0
    writer.commit(subtype="PCM_16", gain=0.5)
    data, _ = soundfile.read(tmp_path / "out" / "vocals.wav", always_2d=True)
    np.testing.assert_allclose(data[:100], 0.25, atol=1e-4)
    np.testing.assert_allclose(data[100:], -1.0, atol=1e-4)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["vocals.wav"]


def test_writer_discard_and_refusal_leave_no_files(tmp_path: Path) -> None:
    writer = AudioWriter(tmp_path / "vocals.wav", 8000, 1)
    writer.write(np.zeros((1, 10), np.float32))
    writer.discard()
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "vocals.wav").write_bytes(b"keep me")
    writer = AudioWriter(tmp_path / "vocals.wav", 8000, 1)
    writer.write(np.zeros((1, 10), np.float32))
    with pytest.raises(AudioWriteError, match="exists"):
        writer.commit(subtype="PCM_16")
    assert [p.name for p in tmp_path.iterdir()] == ["vocals.wav"]
    assert (tmp_path / "vocals.wav").read_bytes() == b"keep me"


def test_separate_file_equals_the_in_memory_separator(tmp_path: Path) -> None:
    separator = _separator()
    mixture = write_song(tmp_path / "song.wav", seconds=6.0, rate=22050)
    paths = separate_file(tmp_path / "song.wav", tmp_path / "out", separator=separator, bits=32)
    reference = separator.separate(mixture, 22050)
    vocals, _ = soundfile.read(paths["vocals"], always_2d=True, dtype="float32")
    accompaniment, _ = soundfile.read(paths["accompaniment"], always_2d=True, dtype="float32")
    np.testing.assert_allclose(vocals.T, reference.vocals, atol=1e-4)
    np.testing.assert_allclose(accompaniment.T, reference.accompaniment, atol=1e-4)


def test_a_failed_write_leaves_no_partial_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_song(tmp_path / "song.wav", seconds=1.0, rate=16000)
    calls = {"n": 0}
    original = AudioWriter.commit

    def fail_second(self, **kwargs):  # noqa: ANN001, ANN003
        calls["n"] += 1
        if calls["n"] == 2:
            raise AudioWriteError("cannot write: No space left on device")
        return original(self, **kwargs)

    monkeypatch.setattr(AudioWriter, "commit", fail_second)
    with pytest.raises(AudioWriteError, match="No space left"):
        separate_file(tmp_path / "song.wav", tmp_path / "out", separator=_separator())
    assert [p for p in (tmp_path / "out").rglob("*") if p.is_file()] == []


def test_outputs_get_ordinary_permissions(tmp_path: Path) -> None:
    import os

    write_song(tmp_path / "song.wav", seconds=0.5, rate=16000)
    old = os.umask(0o022)
    try:
        paths = separate_file(tmp_path / "song.wav", tmp_path / "out", separator=_separator())
    finally:
        os.umask(old)
    for path in paths.values():
        assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(("frame_length", "hop", "count"), [(8, 2, 5), (8, 3, 4), (6, 6, 3), (4, 2, 1)])
def test_overlap_add_equals_fold(frame_length: int, hop: int, count: int) -> None:
    frames = torch.randn(2, frame_length, count, generator=torch.Generator().manual_seed(count))
    length = (count - 1) * hop + frame_length
    expected = torch.nn.functional.fold(frames, (1, length), kernel_size=(1, frame_length), stride=(1, hop))[:, 0, 0]
    torch.testing.assert_close(overlap_add(frames, hop), expected, atol=1e-6, rtol=0)
