"""Vocal production of dry training voices (issue 23) and the sampler's use of them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from support import harmonic_tone

from vocalsep.config import DataConfig, STFTConfig
from vocalsep.datasets import StemTrack
from vocalsep.errors import DatasetError
from vocalsep.training.patches import DevicePatches, PatchSampler
from vocalsep.training.vocal_production import (Production, draw_production, produce_voice, produced_path,
                                                read_produced_vocals, render_produced_vocals)

RATE = 16000
STFT = STFTConfig(sample_rate=RATE, n_fft=512, hop_length=128, input_bins=128)

EVERYTHING = Production(highpass_hz=100.0, eq=((1000.0, 4.0, 1.0),), presence_db=3.0,
                        compressor=(-20.0, 4.0, 5.0, 100.0), drive_db=6.0, doubling=(20.0, 10.0, -6.0),
                        delay=(0.25, 0.3, 0.2), reverb=(0.8, 0.5, 0.3, 1.0))


def _voice(seconds: float = 1.0) -> np.ndarray:
    """A sung vowel that stops halfway: the second half shows the reverb and echo tails."""
    voice = harmonic_tone(220.0, seconds, RATE)
    voice[voice.size // 2:] = 0.0
    return voice[None]


def _tracks(count: int = 3) -> list[StemTrack]:
    rng = np.random.default_rng(0)
    return [StemTrack(f"singer_{i}", _voice(0.6) * (1 + i), (0.1 * rng.standard_normal((1, 9600))).astype(np.float32),
                      RATE, "mir1k") for i in range(count)]


def test_a_produced_voice_is_stereo_as_long_and_as_loud_with_a_tail() -> None:
    dry = _voice()
    produced = produce_voice(dry, RATE, EVERYTHING)
    assert produced.shape == (2, dry.shape[1]) and produced.dtype == np.float32
    assert np.isfinite(produced).all()
    rms = np.sqrt(np.mean(np.square(produced)))
    assert rms == pytest.approx(np.sqrt(np.mean(np.square(dry))), rel=1e-3)
    tail = produced[:, dry.shape[1] // 2 + RATE // 10:]  # 0.1 s after the voice stopped
    assert np.sqrt(np.mean(np.square(tail))) > 1e-3  # reverb and echo ring on where the dry voice is silent
    assert not np.allclose(produced[0], produced[1])  # the doubled take is panned to one side


def test_productions_are_seeded_and_varied() -> None:
    draws = [draw_production(np.random.default_rng(seed)) for seed in range(40)]
    assert draws[3] == draw_production(np.random.default_rng(3))
    assert 20 < sum(d.reverb is not None for d in draws) < 40
    assert 0 < sum(d.doubling is not None for d in draws) < 25


def test_rendering_writes_each_voice_once_and_reads_back_by_track(tmp_path: Path) -> None:
    tracks = _tracks()
    assert render_produced_vocals(tracks[:2], tmp_path / "produced", seed=1) == 2
    first = produced_path(tmp_path / "produced", tracks[0].name).read_bytes()
    assert render_produced_vocals(tracks, tmp_path / "produced", seed=1) == 1  # only the missing one
    assert produced_path(tmp_path / "produced", tracks[0].name).read_bytes() == first
    produced = read_produced_vocals(tmp_path / "produced", tracks)
    assert sorted(produced) == [0, 1, 2]
    assert all(voice.shape == (2, track.vocals.shape[1]) for voice, track in zip(produced.values(), tracks))
    assert not list((tmp_path / "produced").glob("*.partial*"))


def test_reading_produced_vocals_refuses_a_missing_or_foreign_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no produced vocals there"):
        read_produced_vocals(tmp_path / "none", _tracks())
    render_produced_vocals(_tracks(1), tmp_path / "produced")
    others = [dataclasses.replace(track, name="someone_else") for track in _tracks()]
    with pytest.raises(DatasetError, match="none of the training tracks"):
        read_produced_vocals(tmp_path / "produced", others)


def _sampler(tmp_path: Path, probability: float, channels: int = 1) -> PatchSampler:
    tracks = _tracks()
    render_produced_vocals(tracks, tmp_path / "produced")
    config = DataConfig(patch_frames=16, produced_probability=probability)
    return PatchSampler(tracks, STFT, config, channels=channels,
                        produced=read_produced_vocals(tmp_path / "produced", tracks))


def test_the_sampler_draws_produced_voices_at_their_share_over_the_tracks_accompaniment(tmp_path: Path) -> None:
    sampler = _sampler(tmp_path, probability=0.5)
    assert len(sampler) == 3 and len(sampler.vocals) == 6 and len(sampler.accompaniment) == 3
    draws = sampler.draw(400, torch.Generator().manual_seed(0))
    produced = draws.vocal_track >= 3
    assert 0.4 < float(produced.float().mean()) < 0.6
    track = draws.vocal_track % 3  # produced voice 3 + k is track k's (all three tracks have one)
    own = draws.accompaniment_track == track
    assert bool((own & produced).any())  # an own accompaniment of a produced voice is its track's
    assert int(draws.accompaniment_track.max()) < 3  # remixes draw tracks, never a produced copy
    never = _sampler(tmp_path, probability=0.0).draw(200, torch.Generator().manual_seed(0))
    assert int(never.vocal_track.max()) < 3


def test_device_patches_equal_the_samplers_batches_with_produced_voices(tmp_path: Path) -> None:
    sampler = _sampler(tmp_path, probability=0.5, channels=2)
    on_device = DevicePatches(sampler, torch.device("cpu"))
    for seed in range(3):
        draws = sampler.draw(6, torch.Generator().manual_seed(seed))
        for a, b in zip(sampler.spectra_of(draws), on_device.spectra_of(draws)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
