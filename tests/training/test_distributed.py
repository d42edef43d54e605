"""Data-parallel training: real ``torchrun`` processes on gloo train as one process with their global batch."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from support import tiny_run

from vocalsep.config import RunConfig, TrainConfig
from vocalsep.errors import ConfigError
from vocalsep.separation.checkpoint import read_checkpoint
from vocalsep.training.distributed import ranks_from_environment
from vocalsep.training.patches import PatchSampler
from vocalsep.datasets import training_tracks
from vocalsep.training.train import train

TORCHRUN = Path(sys.executable).with_name("torchrun")


def _config(tmp_path: Path, batch_size: int) -> RunConfig:
    # every loss term, the weight average and batch norm: what must add up across ranks; in float32,
    # since bfloat16 (``precision = "auto"`` on a CPU with it) rounds each rank's gradients apart
    return tiny_run(tmp_path, TrainConfig(steps=4, batch_size=batch_size, validate_every=2, checkpoint_every=2,
                                          threads=1, learning_rate=1e-3, accompaniment_weight=1.0,
                                          waveform_weight=0.05, ema_decay=0.9, precision="float32"))


def _torchrun(config_path: Path, run: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [str(TORCHRUN), "--standalone", "--nproc-per-node", "2", "-m", "vocalsep", "train",
         "--config", str(config_path), "--run-dir", str(run), "-q", *extra],
        capture_output=True, text=True, timeout=300, env=env,
    )


def test_two_gloo_ranks_resumed_under_torchrun_equal_one_process_with_the_global_batch(tmp_path: Path) -> None:
    one = _config(tmp_path, batch_size=4)
    train(one, tmp_path / "one", progress=False)

    two = dataclasses.replace(one, train=dataclasses.replace(one.train, batch_size=2))
    config_path = tmp_path / "two.toml"
    config_path.write_text(two.to_toml())
    run = tmp_path / "two"
    first = _torchrun(config_path, run, "--until", "2")  # stopped half way, then resumed under torchrun
    assert first.returncode == 0, first.stderr[-3000:]
    assert read_checkpoint(run / "last.pt")["run_state"]["step"] == 2
    second = _torchrun(config_path, run)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.count("trained 4 steps") == 1  # rank 0 alone reports

    expected, got = read_checkpoint(tmp_path / "one" / "last.pt"), read_checkpoint(run / "last.pt")
    assert got["run_state"]["step"] == 4
    for part in ("state_dict", "ema_state_dict"):
        for name, tensor in expected[part].items():
            torch.testing.assert_close(got[part][name], tensor, rtol=0, atol=1e-5, msg=f"{part} {name}")
    # only rank 0 validated and logged: one entry per validation, scored like the one process's
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    reference = [json.loads(line) for line in (tmp_path / "one" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [2, 4]
    for mine, theirs in zip(log, reference):
        assert mine["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-4)
        assert mine["stems_vocals_sdr"] == pytest.approx(theirs["stems_vocals_sdr"], abs=1e-3)
    assert read_checkpoint(run / "best.pt")["training_summary"]["ranks"] == 2


def test_the_shares_of_the_ranks_are_disjoint_and_make_the_global_batch(tmp_path: Path) -> None:
    config = _config(tmp_path, batch_size=3)
    tracks, _ = training_tracks(config.data)
    sampler = PatchSampler(tracks, config.model.stft, config.data)
    whole = sampler.spectra(6, torch.Generator().manual_seed(7))
    shares = [sampler.spectra(3, torch.Generator().manual_seed(7), rank=rank, ranks=2) for rank in (0, 1)]
    for stem in (0, 1):
        torch.testing.assert_close(torch.cat([share[stem] for share in shares]), whole[stem], rtol=0, atol=0)
    assert not torch.equal(shares[0][0], shares[1][0])


def test_ranks_come_from_torchruns_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert ranks_from_environment().world == 1 and ranks_from_environment().leader
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    ranks = ranks_from_environment()
    assert (ranks.rank, ranks.world, ranks.local_rank, ranks.leader) == (3, 4, 1, False)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ConfigError, match="rank 4 of 4"):
        ranks_from_environment()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ConfigError, match="integers"):
        ranks_from_environment()


def test_until_stops_with_a_checkpoint_and_refuses_nonsense(tmp_path: Path) -> None:
    config = _config(tmp_path, batch_size=2)
    summary = train(config, tmp_path / "run", progress=False, until=3)
    assert summary["steps"] == 3
    assert read_checkpoint(tmp_path / "run" / "last.pt")["run_state"]["step"] == 3
    with pytest.raises(ConfigError, match="--until"):
        train(config, tmp_path / "run", progress=False, until=0)
