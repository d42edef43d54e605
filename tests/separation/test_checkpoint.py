"""Checkpoints: plain-type payloads, sha256-named files, strict loading, one-line load errors."""

from __future__ import annotations

import pytest
import torch

from vocalsep.separation import checkpoint
from vocalsep.separation.checkpoint import FORMAT_VERSION, load_estimator, model_payload, read_checkpoint, resolve_model, save_checkpoint, sha256_of
from vocalsep.config import ModelConfig, STFTConfig, UNetConfig
from vocalsep.errors import AudioWriteError, ModelLoadError, OutputError
from vocalsep.separation.model import MaskEstimator

CONFIG = ModelConfig(
    stft=STFTConfig(sample_rate=8000, n_fft=256, hop_length=64, input_bins=64),
    unet=UNetConfig(width=4, depth=2, max_width=8),
)
SUMMARY = {"steps": 3, "best_sdr": 1.5, "tracks": ["a", "b"]}


def _trained_estimator(config: ModelConfig = CONFIG) -> MaskEstimator:
    """A randomly initialised estimator with non-default statistics and BN running stats."""
    torch.manual_seed(0)
    estimator = MaskEstimator(config)
    mean = torch.rand(config.stft.input_bins, generator=torch.Generator().manual_seed(1))
    estimator.set_input_statistics(mean, 0.5 + mean)
    estimator.train()
    with torch.no_grad():  # move the batch-norm running statistics away from their defaults
        estimator(3 * torch.rand(2, config.stft.input_bins, 8, generator=torch.Generator().manual_seed(2)))
    return estimator.eval()


def _save_hashed(tmp_path, estimator=None, name="tiny"):
    estimator = estimator or _trained_estimator()
    temp = save_checkpoint(tmp_path / "temp.pt", model_payload(estimator, CONFIG, SUMMARY))
    path = temp.rename(tmp_path / f"{name}-{sha256_of(temp)[:8]}.pt")
    return estimator, path


def test_round_trip_gives_identical_outputs(tmp_path):
    estimator, path = _save_hashed(tmp_path)
    loaded = load_estimator(path)
    assert not loaded.training
    assert loaded.config == CONFIG
    magnitude = 2 * torch.rand(1, 64, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(loaded(magnitude), estimator(magnitude))
    for key, value in estimator.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


@pytest.mark.parametrize("architecture", ["seed", "unet"])
def test_round_trip_both_architectures(tmp_path, architecture):
    config = ModelConfig(
        stft=STFTConfig(sample_rate=8000, n_fft=256, hop_length=64, input_bins=64),
        unet=UNetConfig(architecture=architecture, head="direct", width=4, depth=2, max_width=8),
    )
    estimator = _trained_estimator(config)
    path = save_checkpoint(tmp_path / "m.pt", model_payload(estimator, config, {}))
    loaded = load_estimator(str(path))
    assert loaded.config == config
    magnitude = torch.rand(1, 64, 8, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert torch.equal(loaded(magnitude), estimator(magnitude))


def test_payload_is_plain_and_loads_with_weights_only(tmp_path):
    estimator = _trained_estimator()
    payload = model_payload(estimator, CONFIG, SUMMARY)
    assert set(payload) == {"format_version", "model_config", "state_dict", "training_summary", "library_versions"}
    assert payload["format_version"] == FORMAT_VERSION
    assert payload["model_config"] == CONFIG.to_dict()
    assert {"vocalsep", "torch", "numpy", "python"} <= set(payload["library_versions"])
    assert "input_mean" in payload["state_dict"] and "input_scale" in payload["state_dict"]
    # The payload holds copies: training on does not change a saved payload.
    with torch.no_grad():
        next(estimator.parameters()).add_(1.0)
    assert not torch.equal(payload["state_dict"]["net.encoders.0.conv.weight"], estimator.net.encoders[0].conv.weight)
    path = save_checkpoint(tmp_path / "p.pt", payload)
    raw = torch.load(path, weights_only=True)
    assert raw["training_summary"] == SUMMARY
    assert raw["model_config"] == CONFIG.to_dict()
    assert read_checkpoint(path)["library_versions"] == payload["library_versions"]


def test_save_is_atomic(tmp_path, monkeypatch):
    def failing_save(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"PK partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OutputError, match="No space left on device") as error:
        save_checkpoint(tmp_path / "c.pt", {"format_version": 1})
    assert not isinstance(error.value, AudioWriteError)  # a checkpoint is not audio
    assert list(tmp_path.iterdir()) == []


def test_wrong_hash_in_name(tmp_path):
    _, path = _save_hashed(tmp_path)
    sha = path.stem.rsplit("-", 1)[1]
    wrong = path.rename(tmp_path / f"tiny-{'0' if sha[0] != '0' else '1'}{sha[1:]}.pt")
    with pytest.raises(ModelLoadError, match="sha256"):
        load_estimator(wrong)


def test_corrupted_byte_in_hashed_file(tmp_path):
    _, path = _save_hashed(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="sha256"):
        load_estimator(path)


@pytest.mark.parametrize("keep", [0.5, 0.1, 0.0])
def test_truncated_file(tmp_path, keep):
    _, path = _save_hashed(tmp_path)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelLoadError) as info:
        load_estimator(truncated)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("content", [{"a": 1}, [1, 2, 3], {"format_version": 99}, torch.zeros(3)])
def test_not_a_vocalsep_checkpoint(tmp_path, content):
    path = tmp_path / "other.pt"
    torch.save(content, path)
    with pytest.raises(ModelLoadError, match="not a vocalsep checkpoint"):
        load_estimator(path)


def test_pickled_class_is_refused(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save({"format_version": FORMAT_VERSION, "model": MaskEstimator(CONFIG)}, path)
    with pytest.raises(ModelLoadError, match="not a readable checkpoint"):
        load_estimator(path)


def test_text_file(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("not a checkpoint\n")
    with pytest.raises(ModelLoadError):
        load_estimator(path)


def test_state_dict_that_does_not_fit(tmp_path):
    payload = model_payload(_trained_estimator(), CONFIG, {})
    payload["model_config"]["unet"]["width"] = 8  # the weights are for width 4
    path = save_checkpoint(tmp_path / "misfit.pt", payload)
    with pytest.raises(ModelLoadError, match="does not fit"):
        load_estimator(path)


def test_extra_or_missing_keys_are_refused(tmp_path):
    payload = model_payload(_trained_estimator(), CONFIG, {})
    payload["state_dict"]["extra"] = torch.zeros(1)
    with pytest.raises(ModelLoadError, match="does not fit"):
        load_estimator(save_checkpoint(tmp_path / "extra.pt", payload))
    payload = model_payload(_trained_estimator(), CONFIG, {})
    del payload["state_dict"]["input_mean"]
    with pytest.raises(ModelLoadError, match="does not fit"):
        load_estimator(save_checkpoint(tmp_path / "missing.pt", payload))
    payload = model_payload(_trained_estimator(), CONFIG, {})
    del payload["state_dict"]
    with pytest.raises(ModelLoadError):
        load_estimator(save_checkpoint(tmp_path / "nostate.pt", payload))


def test_missing_model_name(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "MODELS_DIR", tmp_path)
    with pytest.raises(ModelLoadError, match="no model 'no-such-model'"):
        load_estimator("no-such-model")
    with pytest.raises(ModelLoadError):
        resolve_model(tmp_path / "absent.pt")


def test_bundled_models_by_name(tmp_path, monkeypatch):
    _, path = _save_hashed(tmp_path, name="tiny-v2")
    (tmp_path / "unhashed.pt").write_bytes(b"")
    monkeypatch.setattr(checkpoint, "MODELS_DIR", tmp_path)
    assert checkpoint.bundled_models() == {"tiny-v2": path}
    assert resolve_model("tiny-v2") == path
    assert load_estimator("tiny-v2").config == CONFIG
    with pytest.raises(ModelLoadError, match="tiny-v2"):  # the message lists what exists
        resolve_model("tiny")


def test_sha256_of(tmp_path):
    path = tmp_path / "abc"
    path.write_bytes(b"abc")
    assert sha256_of(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_shipped_models_load():
    """Every model bundled in the package verifies and loads (none is also fine)."""
    for name, path in checkpoint.bundled_models().items():
        estimator = load_estimator(name)
        assert sha256_of(path).startswith(path.stem.rsplit("-", 1)[1])
        assert isinstance(estimator, MaskEstimator)


@pytest.mark.parametrize("model_config", ["architecture", "unknown", "list", "missing"])
def test_bad_model_config_is_a_load_error(tmp_path, model_config):
    payload = model_payload(_trained_estimator(), CONFIG, {})
    if model_config == "architecture":
        payload["model_config"]["unet"]["architecture"] = "resnet"
    elif model_config == "unknown":
        payload["model_config"]["optimizer"] = "adam"
    elif model_config == "list":
        payload["model_config"] = [1, 2]
    else:
        del payload["model_config"]
    path = save_checkpoint(tmp_path / "bad.pt", payload)
    with pytest.raises(ModelLoadError, match="bad.pt"):
        load_estimator(path)
