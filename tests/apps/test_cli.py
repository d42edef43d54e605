"""The command line end to end, with a tiny model: outputs, batches, and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from support import tiny_checkpoint, write_song

from vocalsep.apps.cli import main


@pytest.fixture
def model(tmp_path: Path) -> str:
    return str(tiny_checkpoint(tmp_path / "model"))


def _run(*args: str) -> int:
    return main(list(args))


def _stems(folder: Path, ext: str = "wav") -> tuple[np.ndarray, np.ndarray, int]:
    vocals, rate = soundfile.read(folder / f"vocals.{ext}", always_2d=True, dtype="float32")
    accompaniment, other = soundfile.read(folder / f"accompaniment.{ext}", always_2d=True, dtype="float32")
    assert rate == other
    return vocals.T, accompaniment.T, rate


def test_separate_writes_both_stems_that_sum_to_the_input(tmp_path: Path, model: str, capsys) -> None:
    mixture = write_song(tmp_path / "song.wav", seconds=1.5, rate=22050)
    assert _run("separate", str(tmp_path / "song.wav"), "-o", str(tmp_path / "out"), "--model", model, "-q") == 0
    vocals, accompaniment, rate = _stems(tmp_path / "out" / "song")
    assert rate == 22050 and vocals.shape == mixture.shape
    # 16-bit output: each stem is off by at most half a quantisation step.
    assert np.abs(vocals + accompaniment - mixture).max() < 1e-4
    assert "song" in capsys.readouterr().out


@pytest.mark.parametrize(("fmt", "bits", "subtype"), [("wav", 24, "PCM_24"), ("wav", 32, "FLOAT"), ("flac", 16, "PCM_16")])
def test_formats_and_sample_sizes(tmp_path: Path, model: str, fmt: str, bits: int, subtype: str) -> None:
    mixture = write_song(tmp_path / "song.wav")
    code = _run("separate", str(tmp_path / "song.wav"), "-o", str(tmp_path / "out"), "--model", model,
                "--format", fmt, "--bits", str(bits), "-q")
    assert code == 0
    info = soundfile.info(tmp_path / "out" / "song" / f"vocals.{fmt}")
    assert info.subtype == subtype
    vocals, accompaniment, _ = _stems(tmp_path / "out" / "song", fmt)
    tolerance = 1e-6 if bits == 32 else 1e-4
    assert np.abs(vocals + accompaniment - mixture).max() < tolerance


def test_mono_input_gives_mono_output(tmp_path: Path, model: str) -> None:
    write_song(tmp_path / "mono.wav", channels=1)
    assert _run("separate", str(tmp_path / "mono.wav"), "-o", str(tmp_path / "out"), "--model", model, "-q") == 0
    assert soundfile.info(tmp_path / "out" / "mono" / "vocals.wav").channels == 1


def test_existing_output_is_refused_without_overwrite(tmp_path: Path, model: str, capsys) -> None:
    write_song(tmp_path / "song.wav")
    args = ["separate", str(tmp_path / "song.wav"), "-o", str(tmp_path / "out"), "--model", model, "-q"]
    assert _run(*args) == 0
    before = (tmp_path / "out" / "song" / "vocals.wav").read_bytes()
    assert _run(*args) == 1
    err = capsys.readouterr().err
    assert "exists (use --overwrite" in err and "Traceback" not in err
    assert (tmp_path / "out" / "song" / "vocals.wav").read_bytes() == before
    assert _run(*args, "--overwrite") == 0


def test_batch_over_a_folder_survives_a_bad_file(tmp_path: Path, model: str, capsys) -> None:
    songs = tmp_path / "songs"
    write_song(songs / "a.wav")
    write_song(songs / "sub" / "b.flac")
    (songs / "broken.mp3").write_bytes(b"this is not audio at all" * 20)
    code = _run("separate", str(songs), "-o", str(tmp_path / "out"), "--model", model, "-q")
    err = capsys.readouterr().err
    assert code == 1
    assert (tmp_path / "out" / "a" / "vocals.wav").exists()
    assert (tmp_path / "out" / "b" / "accompaniment.wav").exists()
    assert not (tmp_path / "out" / "broken").exists()
    error_lines = [line for line in err.splitlines() if "error" in line]
    assert len(error_lines) == 1 and "broken.mp3" in error_lines[0]
    assert "3 file(s): 2 separated, 0 skipped (already there), 1 failed" in err


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.wav", None, "no such file"),
        ("text.wav", b"hello world, not a wave file\n" * 10, "not a readable audio file"),
        ("empty.wav", b"", "not a readable audio file"),
    ],
)
def test_bad_inputs_give_one_line(tmp_path: Path, model: str, capsys, name: str, content: bytes | None, message: str) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content)
    assert _run("separate", str(tmp_path / name), "-o", str(tmp_path / "out"), "--model", model, "-q") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert any(message in line for line in err), err
    assert not any("Traceback" in line for line in err)
    assert not list((tmp_path / "out").rglob("*.wav")) if (tmp_path / "out").exists() else True


def test_zero_sample_wav_is_an_error(tmp_path: Path, model: str, capsys) -> None:
    soundfile.write(tmp_path / "zero.wav", np.zeros((0, 2), np.float32), 16000)
    assert _run("separate", str(tmp_path / "zero.wav"), "-o", str(tmp_path / "out"), "--model", model, "-q") == 1
    assert "no audio samples" in capsys.readouterr().err


def test_silent_and_tiny_files_give_correct_output(tmp_path: Path, model: str) -> None:
    soundfile.write(tmp_path / "silence.wav", np.zeros((16000, 2), np.float32), 16000)
    write_song(tmp_path / "short.wav", seconds=0.1, rate=8000)
    write_song(tmp_path / "six.wav", seconds=0.3, rate=96000, channels=6)
    code = _run("separate", str(tmp_path / "silence.wav"), str(tmp_path / "short.wav"), str(tmp_path / "six.wav"),
                "-o", str(tmp_path / "out"), "--model", model, "-q")
    assert code == 0
    vocals, _, _ = _stems(tmp_path / "out" / "silence")
    assert np.abs(vocals).max() == 0
    assert soundfile.info(tmp_path / "out" / "short" / "vocals.wav").frames == 800
    info = soundfile.info(tmp_path / "out" / "six" / "vocals.wav")
    assert (info.channels, info.samplerate) == (6, 96000)


def test_unknown_model_is_one_line(tmp_path: Path, capsys) -> None:
    write_song(tmp_path / "song.wav")
    assert _run("separate", str(tmp_path / "song.wav"), "--model", "no-such-model", "-q") == 1
    assert "no model 'no-such-model'" in capsys.readouterr().err


def test_help_does_not_import_torch() -> None:
    code = "import sys, vocalsep.apps.cli as c\ntry:\n c.main(['--help'])\nexcept SystemExit: pass\nprint('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().endswith("False")


def test_demo_separates_and_transcribes_the_shipped_song_and_credits_it(tmp_path: Path, model: str,
                                                                           capsys) -> None:
    from vocalsep.apps.demo import example_credit, example_song
    from vocalsep.audio.io import load_audio

    assert _run("demo", "-o", str(tmp_path / "demo"), "--model", model, "-q") == 0
    out = capsys.readouterr().out
    folder = tmp_path / "demo" / "audio_example"
    for name in ("vocals.wav", "accompaniment.wav", "f0.csv", "notes.csv", "notes.mid", "spectrograms.png",
                 "melody.png"):
        assert (folder / name).stat().st_size > 0, name
        assert str(folder / name) in out  # every file is printed
    assert f"song: {example_song()}" in out
    assert f"credit: {example_credit()}" in out
    # the separation keeps the song's rate and length (11 s of 44.1 kHz stereo)
    song, rate = load_audio(example_song())
    assert soundfile.info(folder / "vocals.wav").frames == song.shape[1] and rate == 44100


def test_the_shipped_song_is_credited_beside_it() -> None:
    from vocalsep.apps.demo import example_credit, example_song
    from vocalsep.audio.io import load_audio

    credit = example_credit()
    for part in ("Slow Motion Dream", "Steven M Bryant", "CC BY 3.0", "https://creativecommons.org/licenses/by/3.0/"):
        assert part in credit
    song, rate = load_audio(example_song())
    assert song.shape[1] / rate == pytest.approx(10.9, abs=0.2)


def test_demo_synthetic_generates_a_song_with_known_stems_and_separates_it(tmp_path: Path, model: str,
                                                                          capsys) -> None:
    assert _run("demo", "--synthetic", "-o", str(tmp_path / "demo"), "--model", model, "-q") == 0
    assert (tmp_path / "demo" / "demo_song.wav").exists()
    assert (tmp_path / "demo" / "demo_song" / "vocals.wav").exists()
    assert "credit:" not in capsys.readouterr().out


def test_skip_existing_finishes_a_batch_without_redoing_files(tmp_path: Path, model: str) -> None:
    write_song(tmp_path / "songs" / "a.wav")
    write_song(tmp_path / "songs" / "b.wav")
    args = ["separate", str(tmp_path / "songs"), "-o", str(tmp_path / "out"), "--model", model, "-q"]
    assert _run(*args) == 0
    (tmp_path / "out" / "b" / "vocals.wav").unlink()  # as if the batch died while writing b
    finished = (tmp_path / "out" / "a" / "vocals.wav").stat().st_mtime_ns
    assert _run(*args, "--skip-existing") == 0
    assert (tmp_path / "out" / "a" / "vocals.wav").stat().st_mtime_ns == finished
    assert (tmp_path / "out" / "b" / "vocals.wav").exists()


def test_threads_option_sets_the_threads_and_refuses_nonsense(tmp_path: Path, model: str, capsys,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    write_song(tmp_path / "song.wav")
    monkeypatch.setattr(torch, "set_num_threads", lambda n: calls.append(n))
    monkeypatch.setattr("vocalsep.threads._chosen", None)  # restored afterwards, as the variable below
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    calls: list[int] = []
    assert _run("separate", str(tmp_path / "song.wav"), "-o", str(tmp_path / "out"), "--model", model, "-q",
                "--threads", "2") == 0
    assert calls == [2] and (tmp_path / "out" / "song" / "vocals.wav").exists()
    assert _run("separate", str(tmp_path / "song.wav"), "-o", str(tmp_path / "o2"), "--model", model, "--threads", "0") == 1
    error = capsys.readouterr().err.strip()
    assert error == "vocalsep: error: --threads must be at least 1, not 0"
    assert not (tmp_path / "o2").exists()
    assert _run("pitch", str(tmp_path / "song.wav"), "-o", str(tmp_path / "m"), "--no-separate", "--threads", "0") == 1
    assert capsys.readouterr().err.strip() == "vocalsep: error: --threads must be at least 1, not 0"
    assert not (tmp_path / "m").exists()
