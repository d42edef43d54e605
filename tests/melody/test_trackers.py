"""The tracker registry: a tracker registered from outside runs through ``track_pitch`` end to end."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from vocalsep.errors import ConfigError
from vocalsep.melody.trackers import TRACKERS, get_tracker, register, unregister
from vocalsep.melody.trackers.base import FrameEstimates, Tracker, voiced_above
from vocalsep.melody.tracking import PitchStream, track_pitch


class FixedTracker(Tracker):
    """Hears 220 Hz in every frame, sure of it where the frame is not digital silence."""

    name = "fake"
    block_frames = 30

    def analyse(self, audio: np.ndarray) -> tuple[np.ndarray, ...]:
        frames = 1 + audio.size // self.settings.hop_samples
        centres = np.minimum(np.arange(frames) * self.settings.hop_samples, audio.size - 1)
        return (np.full(frames, 220.0), (audio[centres] != 0).astype(np.float64))

    def take(self, frames: tuple[np.ndarray, ...]) -> FrameEstimates:
        frequency, confidence = frames
        threshold = 0.5 if self.settings.threshold is None else self.settings.threshold
        return FrameEstimates(frequency, confidence, voiced_above(frequency, confidence, threshold))


@pytest.fixture
def fake() -> Iterator[type[Tracker]]:
    register(FixedTracker)
    try:
        yield FixedTracker
    finally:
        unregister(FixedTracker.name)


def _tone_then_silence(rate: int = 16000) -> np.ndarray:
    t = np.arange(rate) / rate
    return np.concatenate([0.3 * np.sin(2 * np.pi * 220.0 * t) + 0.01, np.zeros(rate)]).astype(np.float32)


def test_registered_tracker_runs_end_to_end(fake: type[Tracker]) -> None:
    assert "fake" in TRACKERS and get_tracker("fake") is fake
    audio = _tone_then_silence()
    track = track_pitch(audio, 16000, tracker="fake")
    assert track.tracker == "fake" and len(track) == 1 + audio.size // 160
    np.testing.assert_array_equal(track.frequency, 220.0)
    assert track.voiced[:100].all() and not track.voiced[101:].any()
    gated = track_pitch(audio, 16000, tracker="fake", gate_db=-30.0, threshold=0.0)  # the stream's gate
    assert gated.voiced[:95].all() and not gated.voiced[110:].any()


def test_registered_tracker_streams_in_blocks(fake: type[Tracker]) -> None:
    audio = _tone_then_silence()
    stream = PitchStream(tracker="fake")
    for start in range(0, audio.size, 3001):
        stream.push(audio[start : start + 3001])
    blockwise = stream.finish()
    whole = track_pitch(audio, 16000, tracker="fake")
    np.testing.assert_array_equal(blockwise.voiced, whole.voiced)
    np.testing.assert_array_equal(blockwise.confidence, whole.confidence)


def test_unregistered_tracker_is_unknown() -> None:
    register(FixedTracker)
    unregister("fake")
    assert "fake" not in TRACKERS and tuple(TRACKERS) == ("crepe-tiny", "pyin")
    with pytest.raises(ConfigError, match=r"^unknown pitch tracker 'fake' \(use one of: crepe-tiny, pyin\)$"):
        track_pitch(np.zeros(1600, np.float32), 16000, tracker="fake")


def test_a_name_cannot_be_taken_twice() -> None:
    class Other(FixedTracker):
        name = "crepe-tiny"

    with pytest.raises(ValueError, match="already registered"):
        register(Other)
