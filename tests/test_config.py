"""Config dataclasses: plain-dict round trips, refusal of unknown keys and bad values, TOML files."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from vocalsep.config import (
    DataConfig,
    ModelConfig,
    RunConfig,
    STFTConfig,
    TrainConfig,
    UNetConfig,
)
from vocalsep.errors import ConfigError, VocalsepError

REPO = Path(__file__).resolve().parents[1]

NON_DEFAULT = [
    STFTConfig(sample_rate=16000, n_fft=1024, hop_length=256, input_bins=256),
    UNetConfig(architecture="seed", head="direct", width=32, depth=2, max_width=64),
    ModelConfig(
        stft=STFTConfig(sample_rate=22050, n_fft=512, hop_length=128, input_bins=128),
        unet=UNetConfig(width=4, depth=3, max_width=32),
    ),
    DataConfig(
        musdb_root="/x/musdb",
        mir1k_root="",
        stem_folders=("a", "b"),
        mir1k_validation_songs=("amy_1",),
        patch_frames=64,
        remix_probability=0.25,
        gain_db=3.0,
        accompaniment_folders=("music",),
        extra_accompaniment_probability=0.5,
    ),
    TrainConfig(steps=7, batch_size=3, learning_rate=5e-4, weight_decay=1e-5, seed=9, loss="l2"),
]


@pytest.mark.parametrize("config", NON_DEFAULT + [type(c)() for c in NON_DEFAULT], ids=repr)
def test_round_trip(config):
    values = config.to_dict()
    assert config.from_dict(values) == config
    # Only plain types: what a checkpoint loaded with weights_only=True may hold.
    assert _plain(values)


def test_run_config_round_trip():
    run = RunConfig(name="tiny", model=NON_DEFAULT[2], data=NON_DEFAULT[3], train=NON_DEFAULT[4])
    values = run.to_dict()
    assert _plain(values)
    assert RunConfig.from_dict(values) == run
    assert values["data"]["stem_folders"] == ["a", "b"]
    assert values["data"]["accompaniment_folders"] == ["music"]
    assert values["model"]["stft"]["n_fft"] == 512


def test_partial_dict_keeps_defaults():
    assert STFTConfig.from_dict({"n_fft": 1024}) == STFTConfig(n_fft=1024)
    assert RunConfig.from_dict({}) == RunConfig()
    run = RunConfig.from_dict({"train": {"steps": 3}})
    assert run.train.steps == 3 and run.model == ModelConfig()


def _plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return isinstance(value, (str, int, float, bool)) or value is None


@pytest.mark.parametrize(
    ("cls", "values", "name"),
    [
        (STFTConfig, {"nfft": 1024}, "nfft"),
        (UNetConfig, {"width": 8, "depht": 3}, "depht"),
        (DataConfig, {"patch_size": 3}, "patch_size"),
        (TrainConfig, {"lr": 0.1}, "lr"),
        (ModelConfig, {"stft": {}, "network": {}}, "network"),
        (ModelConfig, {"unet": {"kernel": 3}}, "kernel"),
        (RunConfig, {"trian": {}}, "trian"),
        (RunConfig, {"train": {"epochs": 3}}, "epochs"),
        (RunConfig, {"model": {"stft": {"window": "hann"}}}, "window"),
    ],
)
def test_unknown_key_is_named(cls, values, name):
    with pytest.raises(ConfigError, match=name):
        cls.from_dict(values)


@pytest.mark.parametrize(
    ("cls", "values"),
    [
        (STFTConfig, {"n_fft": 256, "hop_length": 512}),
        (STFTConfig, {"hop_length": 0}),
        (STFTConfig, {"n_fft": 256, "input_bins": 130}),
        (STFTConfig, {"input_bins": 0}),
        (STFTConfig, {"n_fft": "2048"}),
        (UNetConfig, {"architecture": "resnet"}),
        (UNetConfig, {"head": "softmax"}),
        (UNetConfig, {"width": 1}),
        (UNetConfig, {"depth": 0}),
        (UNetConfig, {"width": 64, "max_width": 32}),
        (UNetConfig, {"stem": "pooled"}),
        (UNetConfig, {"output_channels": 4}),  # only with the strided stem
        (UNetConfig, {"stem": "strided", "output_channels": -1}),
        (TrainConfig, {"steps": 0}),
        (TrainConfig, {"batch_size": -1}),
        (TrainConfig, {"validate_every": 0}),
        (TrainConfig, {"checkpoint_every": 0}),
        (TrainConfig, {"loss": "huber"}),
        (DataConfig, {"patch_frames": 0}),
        (DataConfig, {"remix_probability": 1.5}),
        (DataConfig, {"gain_db": -1.0}),
        (DataConfig, {"extra_accompaniment_probability": -0.1}),
        (DataConfig, {"extra_accompaniment_probability": 1.5}),
        # 6 levels need bins divisible by 64; 100 is not.
        (ModelConfig, {"stft": {"n_fft": 256, "input_bins": 100}, "unet": {"depth": 6}}),
        (ModelConfig, {"stft": {"n_fft": 256, "input_bins": 66}, "unet": {"architecture": "seed"}}),
        (RunConfig, {"model": {"unet": {"depth": 6}, "stft": {"input_bins": 96}}}),
        (RunConfig, {"train": {"loss": "l3"}}),
    ],
)
def test_invalid_value_raises_config_error(cls, values):
    with pytest.raises(ConfigError):
        cls.from_dict(values)


def test_invalid_values_raise_value_error_when_built_directly():
    with pytest.raises(ValueError):
        STFTConfig(hop_length=4096)
    with pytest.raises(ValueError):
        ModelConfig(stft=STFTConfig(input_bins=100), unet=UNetConfig(depth=3))
    assert issubclass(ConfigError, VocalsepError)


def test_downsampling():
    assert UNetConfig(architecture="seed", depth=6).downsampling == 4
    assert UNetConfig(architecture="unet", depth=3).downsampling == 8
    assert STFTConfig(n_fft=2048).bins == 1025


def test_configs_are_frozen():
    config = STFTConfig()
    with pytest.raises(AttributeError):
        config.n_fft = 4  # type: ignore[misc]


TOML = """
name = "tiny"

[model.stft]
sample_rate = 16000
n_fft = 256
hop_length = 64
input_bins = 64

[model.unet]
architecture = "seed"
width = 8

[data]
stem_folders = ["x", "y"]
accompaniment_folders = ["music"]
patch_frames = 32

[train]
steps = 5
loss = "l2"
"""


def test_from_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(TOML)
    run = RunConfig.from_file(path)
    assert run.name == "tiny"
    assert run.model.stft == STFTConfig(sample_rate=16000, n_fft=256, hop_length=64, input_bins=64)
    assert run.model.unet == UNetConfig(architecture="seed", width=8)
    assert run.data.stem_folders == ("x", "y")
    assert run.data.accompaniment_folders == ("music",)
    assert run.data.extra_accompaniment_probability == DataConfig().extra_accompaniment_probability
    assert run.data.patch_frames == 32
    assert run.train.steps == 5 and run.train.loss == "l2"
    assert run.train.batch_size == TrainConfig().batch_size
    # What from_file reads back from its own to_dict is the same run.
    assert RunConfig.from_dict(run.to_dict()) == run


@pytest.mark.parametrize("name", ["default", "default-v1", "seed", "wide", "fast", "fast-gpu", "default-gpu",
                                  "unseen-ft1", "unseen-ft2"])
def test_repository_configs(name):
    path = REPO / "configs" / f"{name}.toml"
    run = RunConfig.from_file(path)
    raw = tomllib.loads(path.read_text())
    assert run.name == name == raw["name"]
    assert run.model.stft.to_dict() == raw["model"]["stft"]
    assert run.model.unet.to_dict() == {**UNetConfig().to_dict(), **raw["model"]["unet"]}
    assert run.train.to_dict() == {**TrainConfig().to_dict(), **raw["train"]}
    if name == "seed":
        assert run.model.unet.architecture == "seed"
        assert run.model.unet.width == 64


def test_unseen_ft2_is_unseen_ft1_over_the_instrumental_music():
    first = RunConfig.from_file(REPO / "configs" / "unseen-ft1.toml")
    second = RunConfig.from_file(REPO / "configs" / "unseen-ft2.toml")
    assert second.model == first.model
    assert second.data == dataclasses.replace(first.data, accompaniment_folders=(".data/instrumentals/clips",),
                                              extra_accompaniment_probability=0.25)
    # both start from the shipped weights: ft1 from the model before it, ft2 from ft1's shipped best step
    assert second.train == first.train and second.train.init == "default"


def test_bad_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\n[train\nsteps = 3\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        RunConfig.from_file(path)


def test_toml_with_unknown_section(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[optimizer]\nname = "adam"\n')
    with pytest.raises(ConfigError, match="optimizer"):
        RunConfig.from_file(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        RunConfig.from_file(tmp_path / "absent.toml")


@pytest.mark.parametrize("name", ["default", "default-v1", "seed", "fast", "unseen-ft2"])
def test_a_run_written_as_toml_reads_back_equal(tmp_path, name):
    run = RunConfig.from_file(REPO / "configs" / f"{name}.toml")
    path = tmp_path / "again.toml"
    path.write_text(run.to_toml())
    assert RunConfig.from_file(path) == run
    assert tomllib.loads(run.to_toml())["train"]["steps"] == run.train.steps
