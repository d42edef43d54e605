"""Interruption: SIGKILL in the middle of a batch or a training run, and damaged model files.

A killed batch leaves whole stem pairs or nothing under visible names; ``--skip-existing``
finishes the rest without redoing finished files. A killed training run resumes from its
last checkpoint to the weights of an uninterrupted run. A truncated or flipped-byte model
or checkpoint is refused with one error line, by ``separate --model`` and by ``train``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from support import TINY, song, stem_folders, tiny_checkpoint, write_song

from vocalsep.separation.checkpoint import read_checkpoint
from vocalsep.apps.cli import main
from vocalsep.config import RunConfig
from vocalsep.training.train import train


def _vocalsep(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vocalsep", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(condition, process: subprocess.Popen, timeout: float = 120.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"finished before it could be killed: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("timed out waiting to kill")
        time.sleep(0.005)


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL


def _pairs(out: Path) -> dict[str, list[str]]:
    return {folder.name: sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
            for folder in out.iterdir() if folder.is_dir()}


def test_a_batch_killed_midway_leaves_whole_pairs_and_resumes(tmp_path: Path) -> None:
    model = str(tiny_checkpoint(tmp_path / "model"))
    names = [f"song{i:02d}" for i in range(8)]
    for name in names:
        write_song(tmp_path / "songs" / f"{name}.wav", seconds=2.0, rate=16000)
    out = tmp_path / "out"
    batch = _vocalsep("separate", str(tmp_path / "songs"), "-o", str(out), "--model", model, "-q")
    _wait_for(lambda: (out / "song00" / "accompaniment.wav").exists(), batch)
    _kill(batch)

    pairs = _pairs(out)
    finished = [name for name, files in pairs.items() if files]
    assert finished and len(finished) < len(names), pairs  # killed in the middle
    for name, files in pairs.items():  # a pair is whole or absent: never one stem, never a torn file
        assert files in ([], ["accompaniment.wav", "vocals.wav"]), (name, files)
        for stem in files:
            assert soundfile.info(out / name / stem).frames == 32000
    stamps = {name: [(out / name / f).stat().st_mtime_ns for f in pairs[name]] for name in finished}

    resumed = _vocalsep("separate", str(tmp_path / "songs"), "-o", str(out), "--model", model, "-q",
                        "--skip-existing")
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    assert _pairs(out) == {name: ["accompaniment.wav", "vocals.wav"] for name in names}
    for name in finished:  # finished files were not redone
        assert [(out / name / f).stat().st_mtime_ns for f in pairs[name]] == stamps[name]
    assert not [p for p in out.rglob(".*")], "the killed writer's temporary files were not cleaned up"
    vocals, _ = soundfile.read(out / "song07" / "vocals.wav", always_2d=True)
    accompaniment, _ = soundfile.read(out / "song07" / "accompaniment.wav", always_2d=True)
    np.testing.assert_allclose((vocals + accompaniment).T, song(2.0, 16000), atol=1e-6)


TRAIN_TOML = """
name = "tiny"
[model.stft]
sample_rate = 16000
n_fft = 512
hop_length = 128
input_bins = 64
[model.unet]
architecture = "unet"
width = 4
depth = 2
max_width = 8
[data]
musdb_root = ""
mir1k_root = ""
stem_folders = ["{train}"]
validation_folders = ["{valid}"]
patch_frames = 32
[train]
steps = {steps}
batch_size = 4
validate_every = 20
checkpoint_every = 5
threads = 1
"""


def _train_config(tmp_path: Path, steps: int) -> tuple[Path, RunConfig]:
    text = TRAIN_TOML.format(train=stem_folders(tmp_path / "train", 3, 0),
                             valid=stem_folders(tmp_path / "valid", 1, 10), steps=steps)
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    config = RunConfig.from_file(path)
    assert config.model == TINY and config.train.checkpoint_every == 5
    return path, config


def _checkpoint_step(path: Path) -> int:
    try:
        return int(read_checkpoint(path)["run_state"]["step"])
    except Exception:  # not written yet
        return 0


def test_training_killed_midway_resumes_to_the_same_weights(tmp_path: Path) -> None:
    steps = 30  # long enough to be killed after step 10, short enough to run twice
    config_path, config = _train_config(tmp_path, steps)
    run = tmp_path / "killed"
    training = _vocalsep("train", "--config", str(config_path), "--run", str(run), "-q")
    _wait_for(lambda: _checkpoint_step(run / "last.pt") >= 10, training)
    pid = training.pid
    _kill(training)
    saved = _checkpoint_step(run / "last.pt")
    # At most one checkpoint interval is lost: the last checkpoint is on the grid, and not behind
    # the step seen before the kill.
    assert saved >= 10 and saved % config.train.checkpoint_every == 0 and saved < steps
    # Only the killed writer's hidden temporary files may be left; the next save removes them.
    assert all(f".{pid}." in p.name for p in run.iterdir() if p.name.startswith("."))

    resumed = _vocalsep("train", "--config", str(config_path), "--run", str(run), "-q")
    _, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    assert _checkpoint_step(run / "last.pt") == steps
    assert not list(run.glob(".last.pt.*")), "the killed writer's temporary checkpoint was not cleaned up"
    straight = train(config, tmp_path / "straight", progress=False)
    assert straight["steps"] == steps
    expected = read_checkpoint(tmp_path / "straight" / "last.pt")["state_dict"]
    actual = read_checkpoint(run / "last.pt")["state_dict"]
    for name, tensor in expected.items():  # same data order from the resumed step on
        torch.testing.assert_close(actual[name], tensor, rtol=0, atol=1e-6, msg=name)


def _damage(path: Path, how: str) -> Path:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        data = data[: len(data) * 2 // 3]
    else:  # one flipped byte inside the weights
        data[len(data) * 2 // 3] ^= 0x5A
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("how", ["truncated", "flipped"])
def test_a_damaged_model_file_is_one_error_line(tmp_path: Path, capfd: pytest.CaptureFixture[str], how: str) -> None:
    model = _damage(tiny_checkpoint(tmp_path / "model"), how)
    write_song(tmp_path / "song.wav", seconds=0.5)
    assert main(["separate", str(tmp_path / "song.wav"), "-o", str(tmp_path / "out"), "--model", str(model), "-q"]) == 1
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vocalsep: error: ") and str(model) in err[0], err
    assert "corrupted" in err[0] or "not a readable checkpoint" in err[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("how", ["truncated", "flipped"])
def test_a_damaged_resume_checkpoint_is_one_error_line(tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                                       how: str) -> None:
    config_path, config = _train_config(tmp_path, steps=5)
    run = tmp_path / "run"
    train(config, run, progress=False)
    _damage(run / "last.pt", how)
    before = (run / "last.pt").read_bytes()
    assert main(["train", "--config", str(config_path), "--run", str(run), "-q"]) == 1
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vocalsep: error: ") and "last.pt" in err[0], err
    assert (run / "last.pt").read_bytes() == before  # the evidence is kept, not overwritten


def test_every_flipped_byte_that_changes_the_weights_is_detected(tmp_path: Path) -> None:
    # torch's archive reader does not check CRCs; the stored content sha256 does.
    from vocalsep.separation.checkpoint import content_digest
    from vocalsep.errors import ModelLoadError

    path = tiny_checkpoint(tmp_path)
    original = path.read_bytes()
    reference = content_digest(read_checkpoint(path))
    rng = np.random.default_rng(0)
    undetected = 0
    for position in rng.choice(len(original), size=120, replace=False):
        data = bytearray(original)
        data[position] ^= int(rng.integers(1, 256))
        path.write_bytes(bytes(data))
        try:
            loaded = read_checkpoint(path)
        except ModelLoadError as error:
            assert "\n" not in str(error)
            continue
        undetected += content_digest(loaded) != reference
    assert undetected == 0
