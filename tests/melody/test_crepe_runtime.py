"""CREPE tiny on ONNX Runtime: float32 equal to torch, int8 equal to float32 in pitch, one export per weights,
and the bundled tracker without torch once its export is cached."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from support import harmonic_tone
from vocalsep.errors import ModelLoadError
from vocalsep.melody.trackers import crepe
from vocalsep.melody.trackers.crepe import (
    CREPE_WINDOW, crepe_activation, crepe_bin_cents, crepe_network, crepe_runner, load_crepe_tiny, normalize_frames,
)
from vocalsep.melody.trackers.crepe_int8 import calibration_frames


def _copy_of_the_bundled_network():  # noqa: ANN202
    bundled = load_crepe_tiny()
    network = crepe_network(bundled.inputs, bundled.voicing)
    network.load_state_dict(bundled.state_dict())
    return network.eval()


def _voice_network():  # noqa: ANN202
    """A trained one-input CREPE tiny: the bundled one, or the voice path of a bundled one that hears the song."""
    network = crepe_network()
    voice_path = set(network.state_dict())
    network.load_state_dict({name: value for name, value in load_crepe_tiny().state_dict().items() if name in voice_path})
    return network.eval()


def _voice_frames(count: int, seed: int) -> np.ndarray:
    return normalize_frames(np.random.default_rng(seed).standard_normal((count, CREPE_WINDOW)).astype(np.float32))


def _as_input(frames: np.ndarray) -> np.ndarray:
    """Voice frames as the bundled network takes them: alone, or heard as their own song."""
    return frames if load_crepe_tiny().inputs == 1 else np.stack([frames, frames], axis=1)


def _frames(count: int, seed: int) -> np.ndarray:
    return _as_input(normalize_frames(
        np.random.default_rng(seed).standard_normal((count, CREPE_WINDOW)).astype(np.float32)))


def _sung_frames() -> np.ndarray:
    """Frames of tones (110-880 Hz, with noise) that the quantiser's calibration never saw."""
    rng = np.random.default_rng(7)
    audio = np.concatenate([
        harmonic_tone(frequency, 0.3, rate=16000) + 0.02 * rng.standard_normal(4800)
        for frequency in (110.0, 196.0, 262.0, 330.0, 440.0, 587.0, 880.0)
    ]).astype(np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(audio, CREPE_WINDOW // 2), CREPE_WINDOW)[::320]
    return _as_input(normalize_frames(np.array(windows, dtype=np.float32)))


def _cents(activation: np.ndarray) -> np.ndarray:
    """CREPE's local weighted average around the peak (no Viterbi: each frame on its own)."""
    peak = activation.argmax(axis=1)
    near = np.clip(peak[:, None] + np.arange(-4, 5), 0, activation.shape[1] - 1)
    weights = np.take_along_axis(activation, near, axis=1)
    return (weights * crepe_bin_cents()[near]).sum(axis=1) / weights.sum(axis=1)


def test_float32_activations_equal_the_torch_networks(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VOCALSEP_CACHE_DIR", str(tmp_path / "cache"))
    network = _copy_of_the_bundled_network()  # its own object: no runner kept from other tests
    frames = _frames(37, 0)
    with torch.inference_mode():
        expected = network(torch.from_numpy(frames)).numpy()
    got = crepe_runner(network, precision="float32")(frames)
    assert isinstance(got, np.ndarray) and got.shape == (37, 360 + network.voicing)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    assert len(list((tmp_path / "cache").glob("crepe-tiny-1d-*.onnx"))) == 1
    assert crepe_runner(network, precision="float32") is crepe_runner(network, precision="float32")


def test_int8_gives_the_float_networks_pitch(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VOCALSEP_CACHE_DIR", str(tmp_path / "cache"))
    network = _copy_of_the_bundled_network()
    frames = _sung_frames()
    exact = crepe_runner(network, precision="float32")(frames)
    fast = crepe_runner(network, precision="int8")(frames)
    voiced = exact[:, :360].max(axis=1) >= 0.5
    assert voiced.mean() > 0.8
    assert np.abs(_cents(fast[:, :360]) - _cents(exact[:, :360]))[voiced].max() < 10.0
    # the voicing confidence: the learned output where there is one, else the peak's height
    confidence = (lambda a: a[:, 360]) if network.voicing else (lambda a: a.max(axis=1))
    assert np.abs(confidence(fast) - confidence(exact)).max() < 0.1
    assert len(list((tmp_path / "cache").glob("crepe-tiny-int8-*.onnx"))) == 1


def test_the_default_precision_is_int8(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VOCALSEP_CACHE_DIR", str(tmp_path / "cache"))
    network = _copy_of_the_bundled_network()
    frames = _frames(8, 3)
    assert crepe_runner(network) is crepe_runner(network, precision="int8")
    assert not np.allclose(crepe_runner(network)(frames), crepe_runner(network, precision="float32")(frames),
                           atol=1e-5)
    with pytest.raises(ValueError, match="unknown CREPE precision 'int4'"):
        crepe_runner(network, precision="int4")


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_a_network_whose_weights_change_gets_a_new_export(tmp_path, monkeypatch, precision) -> None:
    monkeypatch.setenv("VOCALSEP_CACHE_DIR", str(tmp_path / "cache"))
    network = _copy_of_the_bundled_network()
    frames = _frames(5, 1)
    before = crepe_runner(network, precision=precision)(frames)
    with torch.no_grad():
        network.classifier.bias.add_(1.0)  # a fine-tuning step, say
        expected = network(torch.from_numpy(frames)).numpy()
    after = crepe_runner(network, precision=precision)(frames)
    np.testing.assert_allclose(after, expected, atol=1e-5 if precision == "float32" else 0.1, rtol=0)
    assert not np.allclose(before, after)
    assert len(list((tmp_path / "cache").glob(f"crepe-tiny-{'1d' if precision == 'float32' else 'int8'}-*"))) == 2


def test_the_bundled_runner_equals_the_bundled_network(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VOCALSEP_CACHE_DIR", str(tmp_path / "cache"))
    frames = _frames(16, 2)
    np.testing.assert_allclose(crepe_runner(precision="float32")(frames),
                               crepe_runner(_copy_of_the_bundled_network(), precision="float32")(frames),
                               atol=1e-6, rtol=0)


def test_calibration_frames_are_seeded_and_normalised() -> None:
    frames = calibration_frames(64)
    assert frames.shape == (64, CREPE_WINDOW) and frames.dtype == np.float32
    np.testing.assert_array_equal(frames, calibration_frames(64))
    np.testing.assert_allclose(frames.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(frames.std(axis=1), 1.0, atol=1e-4)


def test_numpy_and_torch_normalisation_agree() -> None:
    frames = np.random.default_rng(4).standard_normal((6, CREPE_WINDOW)).astype(np.float32) * 3 + 1
    np.testing.assert_allclose(normalize_frames(frames), normalize_frames(torch.from_numpy(frames)).numpy(),
                               atol=1e-6)


def test_a_corrupted_bundled_file_is_refused(tmp_path, monkeypatch) -> None:
    corrupted = tmp_path / "crepe-tiny.pth"
    original = bytearray(crepe.CREPE_TINY_FILE.read_bytes())
    original[len(original) // 2] ^= 0xFF  # one flipped byte in the weights
    corrupted.write_bytes(bytes(original))
    monkeypatch.setattr(crepe, "CREPE_TINY_FILE", corrupted)
    crepe._bundled_export_key.cache_clear()
    try:
        with pytest.raises(ModelLoadError, match="checksum mismatch"):
            crepe_activation(np.zeros(16000, np.float32), 320)
    finally:
        crepe._bundled_export_key.cache_clear()


def test_a_voice_is_tracked_without_torch_once_the_export_is_cached(tmp_path) -> None:
    """`vocalsep pitch --no-separate` spends no start-up on importing torch (about two seconds)."""
    import soundfile as sf

    voice = tmp_path / "voice.wav"
    sf.write(voice, harmonic_tone(220.0, 2.0, rate=16000), 16000)
    environment = {**os.environ, "VOCALSEP_CACHE_DIR": str(tmp_path / "cache")}
    command = ("import runpy, sys; sys.argv = ['vocalsep', *sys.argv[1:]]\n"
               "try:\n    runpy.run_module('vocalsep', run_name='__main__')\n"
               "except SystemExit as end:\n    assert not end.code, end.code\n"
               "print('torch' in sys.modules)")
    arguments = [sys.executable, "-c", command, "pitch", "--no-separate", "--overwrite", "--threads", "1",
                 str(voice), "-o", str(tmp_path / "melody")]
    first = subprocess.run(arguments, env=environment, capture_output=True, text=True, check=True)
    assert first.stdout.strip().endswith("True")  # the first call exports and quantises: torch, once
    assert first.stderr.strip() == ""  # and the quantiser's log of advice stays out of the user's way
    again = subprocess.run(arguments, env=environment, capture_output=True, text=True, check=True)
    assert again.stdout.strip().endswith("False"), again.stderr
    assert "220 Hz" in again.stdout or "A3" in again.stdout


def test_the_widened_network_starts_as_the_one_input_network_whatever_the_mixture(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VOCALSEP_CACHE_DIR", str(tmp_path / "cache"))
    one = _voice_network()
    two = crepe.widened(one, inputs=2, voicing=True)
    assert (two.inputs, two.voicing) == (2, True)
    voice, song = _voice_frames(16, 1), _voice_frames(16, 2)
    with torch.inference_mode():
        expected = one(torch.from_numpy(voice)).numpy()
        got = two(torch.from_numpy(np.stack([voice, song], axis=1))).numpy()
    assert got.shape == (16, 361)
    np.testing.assert_allclose(got[:, :360], expected, atol=1e-6)
    np.testing.assert_allclose(got[:, 360], 0.5)  # the voicing output starts undecided


def test_a_two_input_network_round_trips_through_its_file_and_runs_in_int8_near_float(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VOCALSEP_CACHE_DIR", str(tmp_path / "cache"))
    two = crepe.widened(_voice_network(), inputs=2, voicing=True)
    with torch.no_grad():  # give the mixture input and the voicing output some weight
        two.conv1_song.weight.copy_(0.3 * two.conv1.weight)
        two.voicing_head.weight.copy_(0.05 * two.classifier.weight.mean(axis=0, keepdim=True))
    torch.save(two.state_dict(), tmp_path / "two.pth")
    loaded = load_crepe_tiny(tmp_path / "two.pth")
    assert (loaded.inputs, loaded.voicing) == (2, True)
    voice = _sung_frames()
    voice = voice if voice.ndim == 2 else voice[:, 0]
    frames = np.stack([voice, voice[::-1]], axis=1)
    with torch.inference_mode():
        expected = two(torch.from_numpy(frames)).numpy()
    np.testing.assert_allclose(crepe_runner(loaded, precision="float32")(frames), expected, atol=1e-5)
    quantised = crepe_runner(loaded, precision="int8")(frames)
    sung = expected[:, :360].max(axis=1) > 0.5
    assert sung.mean() > 0.5
    assert np.abs(_cents(quantised[sung, :360]) - _cents(expected[sung, :360])).max() < 10
    assert np.abs(quantised[:, 360] - expected[:, 360]).max() < 0.1


def test_a_one_input_network_ignores_the_mixture_and_a_two_input_one_hears_a_lone_voice_as_its_own_song(
        tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VOCALSEP_CACHE_DIR", str(tmp_path / "cache"))
    one = _voice_network()
    voice = harmonic_tone(220.0, 0.5, rate=16000).astype(np.float32)
    song = voice + 0.5 * np.random.default_rng(0).standard_normal(voice.size).astype(np.float32)
    alone = crepe_activation(voice, 320, network=one, precision="float32")
    np.testing.assert_array_equal(crepe_activation(np.stack([voice, song]), 320, network=one, precision="float32"), alone)
    two = crepe.widened(one, inputs=2, voicing=True)
    with torch.no_grad():
        two.conv1_song.weight.copy_(0.3 * two.conv1.weight)
    lone = crepe_activation(voice, 320, network=two, precision="float32")
    np.testing.assert_array_equal(lone, crepe_activation(np.stack([voice, voice]), 320, network=two, precision="float32"))
    assert not np.allclose(lone, crepe_activation(np.stack([voice, song]), 320, network=two, precision="float32"))
