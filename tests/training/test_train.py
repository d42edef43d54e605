"""Training: runs on stem folders, logs, keeps the best model, resumes to identical weights."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from support import tiny_run

from vocalsep.training import patches as data_module
from vocalsep.training import train as train_module
from vocalsep.training.export import export_model
from vocalsep.separation.checkpoint import HASHED_NAME, load_estimator, read_checkpoint
from vocalsep.apps.cli import main
from vocalsep.config import RunConfig, TrainConfig
from vocalsep.errors import ConfigError
from vocalsep.training.train import autocast_dtype, learning_rate, train, training_device


def _config(tmp_path: Path, steps: int = 6) -> RunConfig:
    return tiny_run(tmp_path, TrainConfig(steps=steps, batch_size=4, validate_every=3, checkpoint_every=3, threads=1))


def test_training_logs_validates_and_keeps_the_best(tmp_path: Path) -> None:
    config = _config(tmp_path)
    summary = train(config, tmp_path / "run", progress=False)
    assert summary["steps"] == 6
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [3, 6]
    assert all(np.isfinite(entry["stems_vocals_sdr"]) for entry in log)
    best = read_checkpoint(tmp_path / "run" / "best.pt")
    assert best["training_summary"]["validation"]["step"] in (3, 6)
    estimator = load_estimator(tmp_path / "run" / "best.pt")
    assert float(estimator.input_scale.mean()) != 1.0  # input statistics were measured


def _kill_during_step_five(config: RunConfig, run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Train in ``run`` until drawing the fifth batch interrupts it (last checkpoint: step 3)."""
    calls = {"n": 0}
    original = data_module.PatchSampler.spectra

    def crash_after_four(self, size, generator, **share):  # noqa: ANN001
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return original(self, size, generator, **share)

    monkeypatch.setattr(data_module.PatchSampler, "spectra", crash_after_four)
    with pytest.raises(KeyboardInterrupt):
        train(config, run, progress=False)
    monkeypatch.setattr(data_module.PatchSampler, "spectra", original)


def test_interrupted_training_resumes_to_the_same_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tmp_path)
    train(config, tmp_path / "straight", progress=False)

    _kill_during_step_five(config, tmp_path / "interrupted", monkeypatch)
    assert read_checkpoint(tmp_path / "interrupted" / "last.pt")["run_state"]["step"] == 3
    train(config, tmp_path / "interrupted", progress=False)

    straight = read_checkpoint(tmp_path / "straight" / "last.pt")["state_dict"]
    resumed = read_checkpoint(tmp_path / "interrupted" / "last.pt")["state_dict"]
    for name, tensor in straight.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=0, atol=1e-6, msg=name)


def test_a_run_folder_refuses_another_configuration(tmp_path: Path) -> None:
    config = _config(tmp_path, steps=3)
    train(config, tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match="another configuration"):
        train(_config_with_steps(config, 4), tmp_path / "run", progress=False)


def _config_with_steps(config: RunConfig, steps: int) -> RunConfig:
    import dataclasses

    return dataclasses.replace(config, train=dataclasses.replace(config.train, steps=steps))


def test_learning_rate_warms_up_then_decays() -> None:
    config = RunConfig(train=TrainConfig(steps=1000, learning_rate=1e-3))
    rates = [learning_rate(config, step) for step in (0, 50, 99, 500, 999)]
    assert rates[0] < rates[1] < rates[2] == pytest.approx(1e-3)
    assert rates[3] < rates[2] and rates[4] == pytest.approx(5e-5, rel=0.05)


def test_train_and_export_from_the_command_line(tmp_path: Path, capsys) -> None:
    config = _config(tmp_path, steps=3)
    config_file = tmp_path / "run.toml"
    config_file.write_text(config.to_toml())
    assert main(["train", "--config", str(config_file), "--run", str(tmp_path / "run"), "-q"]) == 0
    assert "trained 3 steps" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "run" / "best.pt"), "--name", "mini", "--to", str(tmp_path / "models")]) == 0
    exported = list((tmp_path / "models").glob("mini-*.pt"))
    assert len(exported) == 1 and HASHED_NAME.match(exported[0].name)
    assert "optimizer" not in read_checkpoint(exported[0])
    load_estimator(exported[0])
    again = export_model(tmp_path / "run" / "best.pt", "mini", tmp_path / "models")
    assert list((tmp_path / "models").glob("mini-*.pt")) == [again]
    # A calibrated export carries its sharpness and gets a new name (the content changed).
    assert main(["export", str(tmp_path / "run" / "best.pt"), "--name", "mini", "--to", str(tmp_path / "models"),
                 "--mask-sharpness", "0.6"]) == 0
    calibrated = list((tmp_path / "models").glob("mini-*.pt"))
    assert len(calibrated) == 1 and calibrated != [again]
    assert load_estimator(calibrated[0]).config.unet.mask_sharpness == 0.6


def test_training_mixes_the_voices_over_extra_accompaniment(tmp_path: Path) -> None:
    config = _config(tmp_path, steps=2)
    rng = np.random.default_rng(0)
    music = tmp_path / "music" / "game"
    music.mkdir(parents=True)
    soundfile.write(music / "clip-000.flac", (0.1 * rng.standard_normal((8000, 2))).astype(np.float32),
                    config.model.stft.sample_rate, subtype="PCM_16")
    extra = dataclasses.replace(config, data=dataclasses.replace(
        config.data, accompaniment_folders=(str(tmp_path / "music"),), extra_accompaniment_probability=0.5))
    plain_summary = train(config, tmp_path / "plain", progress=False)
    extra_summary = train(extra, tmp_path / "extra", progress=False)
    assert plain_summary["extra_accompaniment_seconds"] == 0.0
    assert extra_summary["extra_accompaniment_seconds"] >= 0.5  # 0.5 s of music and its frame padding
    plain = read_checkpoint(tmp_path / "plain" / "last.pt")["state_dict"]
    other = read_checkpoint(tmp_path / "extra" / "last.pt")["state_dict"]
    assert any(not torch.equal(plain[k], other[k]) for k in plain if plain[k].is_floating_point())


@pytest.mark.parametrize("term", ["accompaniment_weight", "waveform_weight"])
def test_a_loss_term_changes_training(tmp_path: Path, term: str) -> None:
    config = _config(tmp_path, steps=2)
    weighted = dataclasses.replace(config, train=dataclasses.replace(config.train, **{term: 1.0}))
    plain_summary = train(config, tmp_path / "plain", progress=False)
    weighted_summary = train(weighted, tmp_path / "weighted", progress=False)
    plain = read_checkpoint(tmp_path / "plain" / "last.pt")["state_dict"]
    other = read_checkpoint(tmp_path / "weighted" / "last.pt")["state_dict"]
    assert plain_summary["steps"] == weighted_summary["steps"] == 2
    assert any(not torch.equal(plain[k], other[k]) for k in plain if plain[k].is_floating_point())


def test_training_log_plots_as_a_picture(tmp_path: Path, capsys) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps({"step": s, "train_loss": 1 / s, "musdb_vocals_sdr": s / 100}) for s in (100, 200, 300)))
    assert main(["plot-training", str(log)]) == 0
    picture = tmp_path / "training.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 10_000
    (tmp_path / "empty.jsonl").write_text("")
    assert main(["plot-training", str(tmp_path / "empty.jsonl")]) == 1
    assert "training log is empty" in capsys.readouterr().err


def test_a_run_started_before_an_option_existed_still_resumes(tmp_path: Path) -> None:
    config = _config(tmp_path, steps=3)
    train(config, tmp_path / "run", progress=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    del saved["data"]["remix_probability"]  # as written by a version without this option
    (tmp_path / "run" / "config.json").write_text(json.dumps(saved))
    assert train(config, tmp_path / "run", progress=False)["steps"] == 3


def test_weight_average_is_what_validation_keeps_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tmp_path)
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, ema_decay=0.5))
    train(config, tmp_path / "straight", progress=False)
    last = read_checkpoint(tmp_path / "straight" / "last.pt")
    raw, average = last["state_dict"], last["ema_state_dict"]
    weights = [k for k in raw if k.endswith("weight") and "bn" not in k]
    assert any(not torch.equal(raw[k], average[k]) for k in weights)  # an average, not a copy
    for name in ("input_mean", "input_scale"):  # buffers are copied
        torch.testing.assert_close(average[name], raw[name], rtol=0, atol=0)
    best = read_checkpoint(tmp_path / "straight" / "best.pt")
    if best["training_summary"]["validation"]["step"] == 6:
        for name in weights:
            torch.testing.assert_close(best["state_dict"][name], average[name], rtol=0, atol=0, msg=name)

    # killed after step 4, resumed from step 3: the same average as the straight run
    _kill_during_step_five(config, tmp_path / "interrupted", monkeypatch)
    train(config, tmp_path / "interrupted", progress=False)
    resumed = read_checkpoint(tmp_path / "interrupted" / "last.pt")["ema_state_dict"]
    for name, tensor in average.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=0, atol=1e-6, msg=name)


def test_weight_average_follows_the_ramped_decay() -> None:
    from vocalsep.training.train import WeightAverage

    model = torch.nn.Linear(2, 1)
    torch.nn.init.zeros_(model.weight)
    average = WeightAverage(model, decay=0.9)  # type: ignore[arg-type]  (any module)
    torch.nn.init.ones_(model.weight)
    average.update(model, step=0)  # ramp: decay min(0.9, 1/10) = 0.1
    torch.testing.assert_close(average.model.weight, torch.full((1, 2), 0.9))
    average.update(model, step=1000)  # decay 0.9: 0.9 * 0.9 + 0.1 * 1
    torch.testing.assert_close(average.model.weight, torch.full((1, 2), 0.91))


def test_training_device_resolves_names_and_refuses_what_is_not_here(monkeypatch: pytest.MonkeyPatch) -> None:
    assert training_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        training_device("cuda")
    with pytest.raises(ConfigError, match="unknown device"):
        training_device("gpu")
    with pytest.raises(ConfigError, match="unsupported device"):
        training_device("meta")


def test_train_on_a_missing_gpu_is_a_one_line_error(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config_path = tmp_path / "tiny.toml"
    config_path.write_text('name = "tiny"\n[data]\nmusdb_root = ""\nmir1k_root = ""\n')
    assert main(["train", "--config", str(config_path), "--run", str(tmp_path / "run"), "--device", "cuda"]) != 0
    assert "no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_export_can_score_a_run_trained_without_validation(tmp_path: Path, capsys) -> None:
    config = _config(tmp_path, steps=3)
    blind = dataclasses.replace(config, data=dataclasses.replace(config.data, validation_folders=()))
    train(blind, tmp_path / "run", progress=False)
    assert set(read_checkpoint(tmp_path / "run" / "best.pt")["training_summary"]["validation"]) == {"step"}
    config_file = tmp_path / "with-validation.toml"
    config_file.write_text(config.to_toml())
    assert main(["export", str(tmp_path / "run" / "best.pt"), "--name", "mini", "--to", str(tmp_path / "models"),
                 "--validate", str(config_file)]) == 0
    summary = read_checkpoint(next((tmp_path / "models").glob("mini-*.pt")))["training_summary"]
    assert summary["validation"]["scored_at_export"] is True
    assert np.isfinite(summary["validation"]["stems_vocals_sdr"]) and summary["valid_tracks"] == ["track0"]
    # a configuration without validation data is a one-line error, not an empty score
    blind_file = tmp_path / "blind.toml"
    blind_file.write_text(blind.to_toml())
    assert main(["export", str(tmp_path / "run" / "best.pt"), "--name", "other", "--to", str(tmp_path / "models"),
                 "--validate", str(blind_file)]) != 0
    assert "names no validation tracks" in capsys.readouterr().err


def test_precision_picks_the_networks_arithmetic(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert autocast_dtype("float32", cpu) is None and autocast_dtype("bfloat16", gpu) == torch.bfloat16
    assert autocast_dtype("auto", gpu) is None  # not measured on a GPU: float32 there
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    assert autocast_dtype("auto", cpu) is None  # no native bfloat16
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert autocast_dtype("auto", cpu) == torch.bfloat16
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="float16")


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_a_run_in_either_precision_keeps_float32_weights_and_resumes_exactly(
    tmp_path: Path, precision: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tiny_run(tmp_path, TrainConfig(steps=6, batch_size=4, validate_every=3, checkpoint_every=3, threads=1,
                                            accompaniment_weight=1.0, waveform_weight=0.05, precision=precision))
    summary = train(config, tmp_path / "straight", progress=False)
    assert summary["precision"] == precision
    _kill_during_step_five(config, tmp_path / "resumed", monkeypatch)
    train(config, tmp_path / "resumed", progress=False)
    straight, resumed = (read_checkpoint(tmp_path / run / "last.pt") for run in ("straight", "resumed"))
    for name, tensor in straight["state_dict"].items():
        assert tensor.dtype != torch.bfloat16
        torch.testing.assert_close(resumed["state_dict"][name], tensor, rtol=0, atol=0)


def test_a_deadline_stops_after_its_step_with_a_checkpoint(tmp_path: Path) -> None:
    config = _config(tmp_path, steps=50)
    seen = []
    summary = train(config, tmp_path / "run", progress=False, deadline=time.monotonic(), on_checkpoint=seen.append)
    assert summary["steps"] == 1  # the deadline had passed: one step, then a checkpoint
    assert read_checkpoint(tmp_path / "run" / "last.pt")["run_state"]["step"] == 1
    assert seen == [tmp_path / "run"]


def test_validation_runs_beside_the_next_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tmp_path, steps=6)  # validation at steps 3 and 6
    advanced = threading.Event()
    original = train_module.batch_generator

    def generator(config: RunConfig, step: int) -> torch.Generator:
        if step == 5:  # two steps after the first validation began
            advanced.set()
        return original(config, step)

    def slow_validation(estimator, tracks):  # noqa: ANN001, ANN202
        advanced.wait(timeout=60)
        return {"stems_vocals_sdr": float(len(tracks)), "stems_accompaniment_sdr": 1.0}

    monkeypatch.setattr(train_module, "batch_generator", generator)
    monkeypatch.setattr(train_module, "validate", slow_validation)
    started = time.monotonic()
    train(config, tmp_path / "run", progress=False)
    assert time.monotonic() - started < 60  # the first validation waited for steps that ran meanwhile
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [3, 6]
    assert read_checkpoint(tmp_path / "run" / "best.pt")["training_summary"]["validation"]["step"] == 3  # first of ties


def test_a_resumed_run_keeps_the_best_score_of_a_validation_that_ended_after_its_checkpoint(tmp_path: Path) -> None:
    config = _config(tmp_path, steps=3)
    train(config, tmp_path / "run", progress=False)
    best = read_checkpoint(tmp_path / "run" / "best.pt")["training_summary"]["validation"]
    state = {"best_score": -float("inf"), "best_metrics": {}}  # as last.pt had it before that validation ended
    train_module._best_so_far(tmp_path / "run" / "best.pt", state)
    assert state["best_metrics"] == best and np.isfinite(state["best_score"])
