"""Issue 12's validation split and training chain: MIR-1K singers never trained on, FLAC clips,
model selection that ignores songs of the training singers, and runs that start from earlier weights."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import stems, write_wav
from support import TINY, stem_folders

from vocalsep.config import DataConfig, RunConfig, TrainConfig
from vocalsep.datasets import mir1k_tracks, training_set, validation_tracks
from vocalsep.errors import ConfigError
from vocalsep.evaluation.validation import score
from vocalsep.separation.checkpoint import load_estimator
from vocalsep.training.train import train

RATE = 16000


def _mir1k(root: Path) -> Path:
    """Clips of three singers, one of them (``Ani``) as FLAC like the newer MIR-1K singers."""
    for index, (clip, subtype, suffix) in enumerate([("abjones_1_01", "FLOAT", "wav"), ("abjones_3_01", "FLOAT", "wav"),
                                                      ("bobon_2_01", "PCM_16", "flac"), ("Ani_1_01", "PCM_16", "flac"),
                                                      ("Ani_4_02", "PCM_16", "flac")]):
        vocals, accompaniment = stems(0.25, RATE, seed=index)
        stereo = 0.5 * np.concatenate([accompaniment, vocals])  # left accompaniment, right voice
        write_wav(root / "Wavfile" / f"{clip}.{suffix}", stereo, RATE, subtype)
    return root


def test_flac_clips_are_read_with_voice_on_the_right(tmp_path: Path) -> None:
    root = _mir1k(tmp_path / "MIR-1K")
    tracks = {t.name: t for t in mir1k_tracks(root)}
    assert sorted(tracks) == ["Ani_1_01", "Ani_4_02", "abjones_1_01", "abjones_3_01", "bobon_2_01"]
    vocals, accompaniment = stems(0.25, RATE, seed=3)
    np.testing.assert_allclose(tracks["Ani_1_01"].vocals, 0.5 * vocals, atol=1 / 32768)
    np.testing.assert_allclose(tracks["Ani_1_01"].accompaniment, 0.5 * accompaniment, atol=1 / 32768)


def test_unseen_singers_are_validated_on_and_never_trained_on(tmp_path: Path) -> None:
    root = _mir1k(tmp_path / "MIR-1K")
    config = DataConfig(musdb_root="", mir1k_root=str(root), mir1k_validation_songs=("abjones_3",),
                        mir1k_validation_singers=("Ani",))
    trained = sorted(t.name for t in training_set(config))
    validated = {t.name: t.source for t in validation_tracks(config)}
    assert trained == ["abjones_1_01", "bobon_2_01"]
    assert validated == {"abjones_3_01": "mir1k", "Ani_1_01": "mir1k_unseen", "Ani_4_02": "mir1k_unseen"}


def test_with_unseen_singers_the_songs_of_training_singers_do_not_select() -> None:
    metrics = {"musdb_vocals_sdr": 5.0, "mir1k_vocals_sdr": 100.0, "mir1k_unseen_vocals_sdr": 7.0}
    assert score(metrics) == pytest.approx(6.0)
    assert score({"musdb_vocals_sdr": 5.0, "mir1k_vocals_sdr": 7.0}) == pytest.approx(6.0)  # the old split


def _config(tmp_path: Path, **train: object) -> RunConfig:
    folder = tmp_path / "train"
    if not folder.is_dir():
        stem_folders(folder, 2, seed=0)
    return RunConfig(
        name="tiny", model=TINY,
        data=DataConfig(musdb_root="", mir1k_root="", stem_folders=(str(folder),), patch_frames=32),
        train=TrainConfig(**{"steps": 3, "batch_size": 2, "validate_every": 3, "checkpoint_every": 3, "threads": 1,
                             **train}),
    )


def test_a_run_starts_from_the_weights_of_another(tmp_path: Path) -> None:
    first = _config(tmp_path)
    train(first, tmp_path / "first", progress=False)
    start = load_estimator(tmp_path / "first" / "best.pt")
    # one step at a tiny learning rate: the weights stay next to the start, not at a fresh init
    second = dataclasses.replace(first, train=dataclasses.replace(first.train, steps=1, init=str(tmp_path / "first" / "best.pt"),
                                                                  learning_rate=1e-9, seed=5))
    train(second, tmp_path / "second", progress=False)
    continued = load_estimator(tmp_path / "second" / "best.pt")
    fresh = _config(tmp_path, steps=1, learning_rate=1e-9, seed=5)
    train(fresh, tmp_path / "fresh", progress=False)
    scratch = load_estimator(tmp_path / "fresh" / "best.pt")
    # parameters only: batch-norm running statistics move with any training step
    parameters = dict(start.named_parameters())
    for name, value in continued.named_parameters():
        torch.testing.assert_close(value, parameters[name], atol=1e-5, rtol=0)
    assert any(not torch.allclose(value, parameters[name], atol=1e-3) for name, value in scratch.named_parameters())
    # the input statistics come with the weights instead of being measured again
    torch.testing.assert_close(continued.input_scale, start.input_scale)


def test_a_start_of_another_architecture_is_one_error(tmp_path: Path) -> None:
    config = _config(tmp_path, init="default")  # the bundled model is not the tiny network
    with pytest.raises(ConfigError, match="another model configuration"):
        train(config, tmp_path / "run", progress=False)


def test_a_run_with_a_finer_transform_starts_from_the_weights_of_a_coarser_one(tmp_path: Path) -> None:
    first = _config(tmp_path)
    train(first, tmp_path / "first", progress=False)
    start = load_estimator(tmp_path / "first" / "best.pt")
    # twice the points and bins: the convolutions slide over any number of bins
    finer = dataclasses.replace(first.model.stft, n_fft=2 * first.model.stft.n_fft,
                                input_bins=2 * first.model.stft.input_bins)
    second = dataclasses.replace(first, model=dataclasses.replace(first.model, stft=finer),
                                 train=dataclasses.replace(first.train, steps=1, learning_rate=1e-9, seed=5,
                                                           init=str(tmp_path / "first" / "best.pt")))
    train(second, tmp_path / "second", progress=False)
    continued = load_estimator(tmp_path / "second" / "best.pt")
    assert continued.input_mean.shape == (finer.input_bins,)
    parameters = dict(start.named_parameters())
    for name, value in continued.named_parameters():
        torch.testing.assert_close(value, parameters[name], atol=1e-5, rtol=0)
    # the statistics of the new bins are measured on the data, not the coarse model's
    assert float(continued.input_scale.mean()) != 1.0 and float(continued.input_mean.mean()) != 0.0
    other_network = dataclasses.replace(second, model=dataclasses.replace(
        second.model, unet=dataclasses.replace(second.model.unet, width=2, max_width=4)))  # narrower: refused
    with pytest.raises(ConfigError, match="another model configuration"):
        train(other_network, tmp_path / "third", progress=False)


def test_a_stereo_run_starts_from_the_weights_of_a_mono_one(tmp_path: Path) -> None:
    unet = dataclasses.replace(TINY.unet, stem="strided", output_channels=2)
    first = dataclasses.replace(_config(tmp_path), model=dataclasses.replace(TINY, unet=unet))
    train(first, tmp_path / "mono", progress=False)
    stereo_unet = dataclasses.replace(unet, channels=2)
    second = dataclasses.replace(first, model=dataclasses.replace(first.model, unet=stereo_unet),
                                 train=dataclasses.replace(first.train, steps=2, init=str(tmp_path / "mono" / "best.pt"),
                                                           learning_rate=1e-9, seed=5))
    train(second, tmp_path / "stereo", progress=False)
    mono, stereo = load_estimator(tmp_path / "mono" / "best.pt"), load_estimator(tmp_path / "stereo" / "best.pt")
    assert stereo.config.unet.channels == 2
    magnitude = torch.rand(2, TINY.stft.input_bins, 16, generator=torch.Generator().manual_seed(0)) * 3
    with torch.inference_mode():
        expected = mono(magnitude).repeat_interleave(2, dim=0)
        got = stereo(magnitude.repeat_interleave(2, dim=0))
    # two steps at a tiny learning rate: only the batch-norm statistics moved
    assert float((got - expected).abs().max()) < 0.05
