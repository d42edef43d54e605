"""Tempo and beats: a generated song at a known tempo, the streamed envelope, librosa's tracker as the reference."""

from __future__ import annotations

import numpy as np
import pytest
from support import drum_song

from vocalsep.melody.beats import FRAME_RATE, BeatStream, estimate_tempo, find_beats, track_beats


def stream_beats(song: np.ndarray, piece: int = 7777, **options: int) -> BeatStream:
    stream = BeatStream(**options)
    for start in range(0, song.size, piece):
        stream.push(song[start : start + piece])
    return stream


def tempo_error(bpm: float | None, truth: float) -> str:
    """What went wrong, in words: a double or half is told as such."""
    if bpm is None:
        return "no tempo found"
    for factor, name in ((2.0, "double"), (0.5, "half")):
        if abs(bpm / (truth * factor) - 1) < 0.02:
            return f"{bpm:.2f} BPM is the {name} of {truth}"
    return f"{bpm:.2f} BPM, not {truth}"


def test_a_93_bpm_song_gets_its_tempo_within_2_percent() -> None:
    song, beats = drum_song(93.0, melody=(67, 69, 71, 72, None, 74, 72, 71))
    grid = stream_beats(song).finish()
    assert grid.bpm is not None and abs(grid.bpm / 93.0 - 1) < 0.02, tempo_error(grid.bpm, 93.0)
    # the beats land on the drum hits (within 20 ms; the envelope's frames are 10 ms)
    inner = beats[2:-2]
    nearest = grid.times[np.abs(grid.times[:, None] - inner).argmin(axis=0)]
    assert np.abs(nearest - inner).max() < 0.02
    assert grid.times.size >= beats.size - 3
    # the bar starts on a kick (beats 1 and 3), not a snare
    kicks = beats[::2]
    assert np.abs(kicks - grid.times[grid.first_downbeat]).min() < 0.02


@pytest.mark.parametrize("bpm", [70.0, 128.0, 180.0])
def test_other_tempos_or_their_reported_double_or_half(bpm: float) -> None:
    """librosa's rule leans to 120 BPM: a slow or fast song may be counted at double or half
    speed, and then the other reading is reported beside it."""
    grid = stream_beats(drum_song(bpm)[0]).finish()
    readings = [grid.bpm] + ([grid.alternative_bpm] if grid.alternative_bpm else [])
    assert any(abs(reading / bpm - 1) < 0.02 for reading in readings), tempo_error(grid.bpm, bpm)
    assert 60 <= grid.bpm <= 200  # no absurd tempo


def test_the_envelope_does_not_depend_on_how_the_song_is_cut() -> None:
    song = drum_song(110.0, seconds=8.0)[0]
    whole = BeatStream(block_frames=100_000)
    whole.push(song)
    reference = whole.envelopes()
    for piece, block_frames in ((1000, 64), (16001, 300), (song.size, 2048)):
        parts = stream_beats(song, piece, block_frames=block_frames).envelopes()
        assert parts[0].size == reference[0].size == 1 + song.size // 160
        np.testing.assert_allclose(parts[0], reference[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(parts[1], reference[1], rtol=1e-5, atol=1e-9)


def test_the_dynamic_programme_is_librosas() -> None:
    """The same beats as ``librosa.beat.beat_track`` on the same envelope and tempo (its numba kernels
    compile on import, which is why the tracker is written here)."""
    librosa = pytest.importorskip("librosa")
    envelope = stream_beats(drum_song(93.0, seconds=30.0, melody=(60, 64, 67))[0]).envelopes()[0]
    bpm, _ = estimate_tempo(envelope)
    ours = track_beats(envelope, bpm)
    _, theirs = librosa.beat.beat_track(onset_envelope=envelope.astype(np.float64), sr=16000, hop_length=160,
                                        bpm=bpm)
    assert ours.size == theirs.size and np.array_equal(ours, theirs)


def test_tempo_of_librosas_rule_on_the_same_envelope() -> None:
    """``estimate_tempo`` picks librosa's tempo (its tempogram over every frame) to within a lag step."""
    librosa = pytest.importorskip("librosa")
    envelope = stream_beats(drum_song(93.0, seconds=30.0)[0]).envelopes()[0]
    theirs = float(librosa.feature.tempo(onset_envelope=envelope, sr=16000, hop_length=160, max_tempo=250.0)[0])
    ours, _ = estimate_tempo(envelope)
    assert abs(ours / theirs - 1) < 0.02


def test_silence_and_short_clips_have_no_tempo() -> None:
    silent = BeatStream()
    silent.push(np.zeros(16000 * 5, np.float32))
    assert silent.finish().bpm is None
    assert BeatStream().finish().bpm is None  # nothing pushed
    short = BeatStream()
    short.push(drum_song(120.0, seconds=1.2)[0])
    grid = short.finish()
    assert grid.bpm is None and grid.times.size == 2  # a steady 120 BPM grid for the files
    assert find_beats(np.zeros(10)).bpm is None


def test_an_hour_of_envelope_is_small_and_quick() -> None:
    """Tempo and beats of an hour's envelope: the tempogram is averaged in pieces, not held whole."""
    import resource
    import time

    rng = np.random.default_rng(0)
    frames = int(3600 * FRAME_RATE)
    envelope = rng.random(frames) * 0.2
    envelope[(np.arange(0, frames, FRAME_RATE * 60 / 100)).astype(int)] += 3.0  # 100 BPM
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    grid = find_beats(envelope)
    assert time.perf_counter() - started < 60
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 200  # MB (a whole tempogram: 2 GB)
    assert abs(grid.bpm / 100 - 1) < 0.02 and grid.times.size > 5900
