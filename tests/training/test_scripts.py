"""The helper scripts of training on another machine: packing stems, training within a budget."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import stems, write_wav
from support import TINY

from vocalsep.audio.io import resample
from vocalsep.separation.checkpoint import read_checkpoint
from vocalsep.config import DataConfig, RunConfig, TrainConfig
from vocalsep.datasets import MUSDB_VALIDATION, stem_folder_tracks

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _script(name: str):  # noqa: ANN202  (the module)
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _datasets(root: Path) -> RunConfig:
    """A MUSDB18 folder (one training and one validation track) and a MIR-1K folder (one held-out song)."""
    for index, name in enumerate(["Artist - Song", MUSDB_VALIDATION[0]]):
        parts = {s: stems(0.5, 44100, channels=2, seed=index)[k % 2] * 0.5 for k, s in enumerate(("drums", "bass", "other", "vocals"))}
        for stem, waveform in parts.items():
            write_wav(root / "musdb" / "train" / name / f"{stem}.wav", waveform, 44100, "FLOAT")
    for clip in ("singer_1_01", "singer_2_01"):
        vocals, accompaniment = stems(0.5, 16000, channels=1)
        write_wav(root / "mir1k" / "Wavfile" / f"{clip}.wav", np.concatenate([accompaniment, vocals]), 16000, "FLOAT")
    data = DataConfig(musdb_root=str(root / "musdb"), mir1k_root=str(root / "mir1k"), mir1k_validation_songs=("singer_2",))
    return RunConfig(name="packed", data=data)


def test_packed_stems_hold_the_training_tracks_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    config_path = tmp_path / "run.toml"
    config_path.write_text(_datasets(tmp_path).to_toml())
    monkeypatch.setattr(sys, "argv", ["pack", "--config", str(config_path), "--out", str(tmp_path / "packed"),
                                      "--musdb-rate", "32000"])
    _script("pack_training_stems").main()
    assert "2 tracks" in capsys.readouterr().out
    tracks = {t.name: t for t in stem_folder_tracks(tmp_path / "packed")}
    assert sorted(tracks) == ["mir1k-singer_1_01", "musdb-Artist - Song"]  # validation track and song left out
    musdb = tracks["musdb-Artist - Song"]
    assert musdb.sample_rate == 32000 and musdb.vocals.shape[0] == 2
    assert soundfile.info(tmp_path / "packed" / "musdb-Artist - Song" / "vocals.flac").subtype == "PCM_16"
    vocals, _ = soundfile.read(tmp_path / "musdb" / "train" / "Artist - Song" / "vocals.wav", always_2d=True)
    np.testing.assert_allclose(musdb.vocals, resample(vocals.T.astype(np.float32), 44100, 32000), atol=1e-4)
    assert tracks["mir1k-singer_1_01"].sample_rate == 16000  # MIR-1K keeps its rate


def test_budget_training_probes_then_trains_each_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    budget = _script("train_in_budget")
    root = tmp_path / "stems"
    for name in ("a", "b"):
        vocals, accompaniment = stems(1.0, 16000, seed=ord(name))
        write_wav(root / name / "vocals.wav", vocals, 16000)
        write_wav(root / name / "accompaniment.wav", accompaniment, 16000)
    config = RunConfig(name="tiny", model=TINY,
                       data=DataConfig(musdb_root="", mir1k_root="", stem_folders=("elsewhere",), patch_frames=16),
                       train=TrainConfig(batch_size=2, threads=1))
    (tmp_path / "tiny.toml").write_text(config.to_toml())
    monkeypatch.setattr(sys, "argv", ["budget", str(tmp_path / "tiny.toml"), "--budget", "0.2", "--device", "cpu",
                                      "--runs", str(tmp_path / "runs"), "--stems", str(root), "--probe-steps", "4",
                                      "--logs", "2"])
    budget.main()
    out = capsys.readouterr().out
    steps = int(out.split("->")[1].split()[0])
    assert steps >= 4  # never fewer than the probe
    run = tmp_path / "runs" / "tiny"
    written = RunConfig.from_dict(json.loads((run / "config.json").read_text()))
    assert written == dataclasses.replace(config, data=dataclasses.replace(config.data, stem_folders=(str(root),)),
                                          train=dataclasses.replace(config.train, steps=steps, validate_every=steps // 2,
                                                                    checkpoint_every=steps // 2))
    assert read_checkpoint(run / "best.pt")["training_summary"]["steps"] == steps


def test_seconds_per_step_come_from_the_last_two_log_entries(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps({"step": s, "train_seconds": t}) for s, t in ((50, 9.0), (100, 10.0), (200, 12.0))))
    assert _script("train_in_budget").seconds_per_step(log) == pytest.approx(0.02)
