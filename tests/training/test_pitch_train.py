"""Fine-tuning CREPE tiny: targets, frame sampling, a short run that learns, resuming, clip splits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vocalsep.apps.cli import main
from vocalsep.errors import ConfigError, ModelLoadError
from vocalsep.melody.tracking import CREPE_CENTS_OFFSET, crepe_network, load_crepe_tiny, normalize_frames
from vocalsep.melody.trackers.crepe import voice_path
from vocalsep.training.pitch_train import FrameSampler, PitchTrainConfig, blend_weights, crepe_target, export_blend, song_of, tone_sampler, train_pitch, training_clips, tuning_clips


def bin_frequency(index: float) -> float:
    """Frequency in Hz at the centre of CREPE bin ``index`` (20 cents per bin)."""
    return 10.0 * 2.0 ** ((CREPE_CENTS_OFFSET + 20.0 * index) / 1200.0)


def test_target_peaks_at_the_labelled_bin_with_a_25_cent_gaussian() -> None:
    target = crepe_target(np.array([bin_frequency(150), bin_frequency(200.5), 0.0, -1.0]))
    assert target.shape == (4, 360) and target.dtype == np.float32
    assert target[0].argmax() == 150 and target[0, 150] == pytest.approx(1.0)
    sigma = 25.0
    for offset in (1, 2, 3):  # neighbours 20, 40, 60 cents away, on both sides
        expected = np.exp(-((20.0 * offset) ** 2) / (2 * sigma**2))
        assert target[0, 150 + offset] == pytest.approx(expected, rel=1e-5)
        assert target[0, 150 - offset] == pytest.approx(expected, rel=1e-5)
    # Half-way between two bins: both 10 cents away, equal and below 1.
    assert target[1, 200] == pytest.approx(target[1, 201], rel=1e-5)
    assert target[1, 200] == pytest.approx(np.exp(-100 / 1250), rel=1e-5)
    assert not target[2:].any()  # unvoiced (0 Hz, negative) -> all-zero rows
    wide, narrow = crepe_target(np.array([440.0]), blur_cents=50.0)[0], crepe_target(np.array([440.0]))[0]
    assert wide.sum() == pytest.approx(2 * narrow.sum(), rel=1e-3)  # the Gaussian's area grows with sigma


def test_sampler_centres_windows_on_label_times_and_skips_unvoiced() -> None:
    signal = np.zeros(16000, dtype=np.float32)
    signal[320 * np.arange(1, 49)] = np.arange(1, 49)  # label i (0-based) is at 320 * (i + 1) samples
    labels = np.full(48, 220.0)
    labels[::2] = 0.0
    sampler = FrameSampler({"clean": [signal]}, [labels], {"clean": 1.0}, unvoiced="skip")
    windows, targets = sampler.batch(32, np.random.default_rng(0))
    assert windows.shape == (32, 1024) and targets.shape == (32, 360)
    index = windows[:, 512].astype(int) - 1  # the marker at the centre names the label frame
    assert (index >= 0).all() and (index % 2 == 1).all()  # only voiced (odd) frames with "skip"
    assert np.allclose(targets.max(axis=1), crepe_target(np.array([220.0])).max())
    zero = FrameSampler({"clean": [signal]}, [labels], {"clean": 1.0}, unvoiced="zero")
    _, targets = zero.batch(64, np.random.default_rng(0))
    assert (targets.max(axis=1) == 0).any()  # unvoiced frames are drawn too, with zero targets


def fixed_batch_loss(network: torch.nn.Module, windows: np.ndarray, targets: np.ndarray) -> float:
    with torch.no_grad():
        prediction = network(normalize_frames(torch.from_numpy(windows)))
        return float(torch.nn.functional.binary_cross_entropy(prediction, torch.from_numpy(targets)))


def test_short_training_on_tones_lowers_the_loss(tmp_path: Path) -> None:
    sampler = tone_sampler(seed=1)
    windows, targets = sampler.batch(64, np.random.default_rng(123))  # not a training batch
    config = PitchTrainConfig(steps=12, batch_size=16, learning_rate=1e-3, checkpoint_every=6, validate=False)
    # From scratch (random weights): the loss falls by far.
    torch.manual_seed(0)
    torch.save(crepe_network().state_dict(), tmp_path / "random.pth")
    before = fixed_batch_loss(load_crepe_tiny(tmp_path / "random.pth"), windows, targets)
    train_pitch(tmp_path / "scratch", config, sampler=sampler, init=tmp_path / "random.pth")
    after = fixed_batch_loss(load_crepe_tiny(tmp_path / "scratch" / "weights-12.pth"), windows, targets)
    assert after < 0.5 * before
    # From the bundled weights (already good on tones; a one-input run starts from their voice path): it still falls.
    before = fixed_batch_loss(voice_path(load_crepe_tiny()), windows, targets)
    summary = train_pitch(tmp_path / "run", config, sampler=sampler)
    after = fixed_batch_loss(load_crepe_tiny(tmp_path / "run" / "weights-12.pth"), windows, targets)
    assert summary["steps"] == 12 and after < 0.97 * before
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [6, 12]
    # The bundled network (cached in memory) is untouched.
    assert fixed_batch_loss(voice_path(load_crepe_tiny()), windows, targets) == pytest.approx(before)


def test_resume_continues_from_the_saved_step(tmp_path: Path) -> None:
    def config(steps: int) -> PitchTrainConfig:
        return PitchTrainConfig(steps=steps, batch_size=8, learning_rate=1e-3, checkpoint_every=3, validate=False)

    train_pitch(tmp_path / "whole", config(9), sampler=tone_sampler())
    train_pitch(tmp_path / "parts", config(6), sampler=tone_sampler())
    summary = train_pitch(tmp_path / "parts", config(9), sampler=tone_sampler())  # resumes at step 6
    assert summary["steps"] == 9
    steps = [json.loads(line)["step"] for line in (tmp_path / "parts" / "log.jsonl").read_text().splitlines()]
    assert steps == [3, 6, 9]
    whole = load_crepe_tiny(tmp_path / "whole" / "weights-9.pth").state_dict()
    parts = load_crepe_tiny(tmp_path / "parts" / "weights-9.pth").state_dict()
    start = load_crepe_tiny().state_dict()
    assert not torch.equal(parts["classifier.weight"], start["classifier.weight"])
    for name, value in whole.items():  # same batches, same optimiser state: the same weights
        torch.testing.assert_close(parts[name], value, rtol=0, atol=1e-6)
    again = train_pitch(tmp_path / "parts", config(9), sampler=tone_sampler())  # nothing left to do
    assert again["steps"] == 9 and again["loss"] == summary["loss"]


def test_loading_weights_files(tmp_path: Path) -> None:
    network = crepe_network()
    torch.save(network.state_dict(), tmp_path / "plain.pth")
    torch.save({"network": network.state_dict(), "step": 3}, tmp_path / "checkpoint.pt")
    for name in ("plain.pth", "checkpoint.pt"):
        loaded = load_crepe_tiny(tmp_path / name)
        assert not loaded.training
        torch.testing.assert_close(loaded.state_dict()["conv1.weight"], network.state_dict()["conv1.weight"])
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "wrong.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a torch file")
    for name in ("wrong.pth", "garbage.pth", "absent.pth"):
        with pytest.raises(ModelLoadError):
            load_crepe_tiny(tmp_path / name)


def test_blend_weights_interpolates_floats_and_keeps_counters(tmp_path: Path) -> None:
    torch.manual_seed(0)
    start, tuned = crepe_network().state_dict(), crepe_network().state_dict()
    tuned["conv1_BN.num_batches_tracked"] = torch.tensor(7)
    for alpha, expected in ((0.0, start), (1.0, tuned)):
        blended = blend_weights(start, tuned, alpha)
        torch.testing.assert_close(blended["conv1.weight"], expected["conv1.weight"])
    half = blend_weights(start, tuned, 0.5)
    torch.testing.assert_close(half["classifier.bias"], (start["classifier.bias"] + tuned["classifier.bias"]) / 2)
    assert int(half["conv1_BN.num_batches_tracked"]) == int(start["conv1_BN.num_batches_tracked"])
    with pytest.raises(ConfigError):
        blend_weights(start, tuned, 1.5)
    # export_blend: the logged best step, blended with the given start.
    run = tmp_path / "run"
    run.mkdir()
    torch.save(tuned, run / "weights-4.pth")
    torch.save(start, run / "weights-8.pth")
    torch.save(start, tmp_path / "start.pth")
    (run / "log.jsonl").write_text(
        json.dumps({"step": 4, "tuning": {"clean": {"RPA": 90.0, "OA": 90.0}}}) + "\n"
        + json.dumps({"step": 8, "tuning": {"clean": {"RPA": 80.0, "OA": 80.0}}}) + "\n")
    path, step = export_blend(run, tmp_path / "out.pth", init=tmp_path / "start.pth", alpha=0.5)
    assert step == 4
    torch.testing.assert_close(load_crepe_tiny(path).state_dict()["conv2.weight"], half["conv2.weight"])


def test_config_round_trip_and_validation() -> None:
    config = PitchTrainConfig(steps=5, unvoiced="skip", sources=(("clean", 1.0), ("default@2.0", 0.5)))
    assert PitchTrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ConfigError):
        PitchTrainConfig(unvoiced="ignore")
    with pytest.raises(ConfigError):
        PitchTrainConfig(sources=(("clean", 0.0),))
    with pytest.raises(ConfigError, match="unvoiced_weight"):
        PitchTrainConfig(remix_songs=10, inputs=2, unvoiced_weight=-0.1)
    with pytest.raises(ConfigError):
        PitchTrainConfig.from_dict({"steps": 3, "lr": 0.1})


def test_cli_train_pitch_errors_are_one_line(tmp_path: Path, capsys) -> None:
    assert main(["train-pitch", "--run", str(tmp_path / "run"), "--mir1k", str(tmp_path / "absent"), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vocalsep: error:")


def test_real_mir1k_splits_are_disjoint(shared_data: Path) -> None:
    from vocalsep.evaluation.melody import TRAINING_SINGERS, UNSEEN_SINGERS, mir1k_clips

    root = shared_data / "MIR-1K"
    tuning, training = tuning_clips(root), training_clips(root)
    assert len(tuning) == 40 and len(tuning) + len(training) == 263  # the four training singers' clips
    assert not set(tuning) & set(training)
    assert {p.stem.split("_")[0] for p in tuning + training} == set(TRAINING_SINGERS)
    assert len(mir1k_clips(root)) == 120 and {p.stem.split("_")[0] for p in mir1k_clips(root)} == set(UNSEEN_SINGERS)


def test_a_one_input_run_starts_from_the_voice_path_and_a_voicing_unit_keeps_the_mixture_path() -> None:
    from vocalsep.melody.trackers.crepe import widened

    torch.manual_seed(3)
    hearing = crepe_network(inputs=2).eval()
    with torch.no_grad():
        hearing.conv1_song.weight.normal_(0, 0.01)  # a trained mixture path
    voice = voice_path(hearing)
    assert voice.inputs == 1 and not hasattr(voice, "conv1_song")
    frames = normalize_frames(torch.randn(4, 1024))
    with torch.no_grad():  # the voice path is the network hearing a silent mixture
        torch.testing.assert_close(voice(frames), hearing(torch.stack([frames, torch.zeros_like(frames)], dim=1)))
    with_voicing = widened(hearing, 2, True)
    torch.testing.assert_close(with_voicing.conv1_song.weight, hearing.conv1_song.weight)
