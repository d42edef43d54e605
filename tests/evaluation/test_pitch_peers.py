"""The evaluation's peer trackers, FCPE and Essentia's Melodia, on tones they must get right."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from vocalsep.errors import ConfigError
from vocalsep.evaluation.pitch_peers import available_peers, register_peers
from vocalsep.melody.trackers import unregister
from vocalsep.melody.tracking import track_pitch


@pytest.fixture(autouse=True)
def _peers_only_while_testing():  # noqa: ANN202
    """The peers leave the registry as they found it (other tests check its exact contents)."""
    yield
    for name in ("fcpe", "melodia"):
        unregister(name)


def _tone(seconds: float = 2.0, rate: int = 16000, f0: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 5))).astype(np.float32)


def test_both_peers_are_installed_by_the_test_setup() -> None:
    # requirements-pitch-peers.txt is part of the README's test command: a missing peer is a failure
    assert available_peers() == ["fcpe", "melodia"]


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
