"""Remix songs for the tracker: labels that follow a pitch shift, seeded songs at the drawn level,
the separation cached once per separator, and training frames as a song-hearing tracker takes them."""

from __future__ import annotations

import numpy as np
import pytest

from support import harmonic_tone, tiny_estimator
from vocalsep.errors import ConfigError
from vocalsep.melody.trackers.crepe import CREPE_BINS, CREPE_WINDOW, crepe_bin_cents
from vocalsep.separation.separator import Separator
from vocalsep.training.pitch_remix import (
    folder_accompaniments,
    LABEL_HOP, Accompaniment, LabelledVoice, RemixCache, RemixFrameSampler, RemixSongs, speed_change,
)

RATE = 16000


def _voice(f0: float = 220.0, seconds: float = 2.0, name: str = "v", group: str = "a") -> LabelledVoice:
    audio = harmonic_tone(f0, seconds, rate=RATE).astype(np.float32)
    labels = int(seconds / LABEL_HOP) - 1
    frequency = np.full(labels, f0)
    frequency[: labels // 4] = 0.0  # an unvoiced start: silent
    audio[: int((labels // 4) * LABEL_HOP * RATE)] = 0.0
    return LabelledVoice(name, audio, frequency, np.ones(labels, bool), group)


def _band(seconds: float = 3.0, group: str = "b", seed: int = 0) -> Accompaniment:
    noise = np.random.default_rng(seed).standard_normal(int(seconds * RATE)).astype(np.float32) * 0.1
    return Accompaniment(f"band-{group}", noise, group)


def _peak_hz(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.fft.rfftfreq(audio.size, 1 / RATE)[spectrum.argmax()])


def test_a_faster_voice_has_its_labels_raised_by_the_same_ratio_and_its_timeline_shortened() -> None:
    voice = _voice(200.0, 2.0)
    ratio = 2 ** (2 / 12)  # two semitones up
    audio, frequency, known = speed_change(voice, ratio)
    assert audio.size == pytest.approx(voice.audio.size / ratio, abs=2)
    assert _peak_hz(audio) == pytest.approx(200.0 * ratio, rel=0.01)
    voiced = frequency[frequency > 0]
    np.testing.assert_allclose(voiced, 200.0 * ratio, rtol=2e-3)
    # the unvoiced quarter stays a quarter of the new timeline
    assert (frequency == 0).sum() == pytest.approx((voice.frequency == 0).sum() / ratio, abs=2)
    assert known.all()


def test_songs_are_seeded_take_another_recordings_accompaniment_and_mix_at_the_drawn_ratio() -> None:
    voices = [_voice(220.0, group="a"), _voice(330.0, name="w", group="b")]
    bands = [_band(group="a"), _band(group="b", seed=1)]
    songs = RemixSongs(voices, bands, seed=3)
    first, again = songs.song(5), songs.song(5)
    np.testing.assert_array_equal(first.mixture, again.mixture)
    assert not np.array_equal(first.mixture, songs.song(6).mixture)
    for index in range(8):
        song = songs.song(index)
        voice_group = next(v.group for v in voices if v.name == song.description["voice"])
        assert song.description["accompaniment"] != f"band-{voice_group}"
        band = song.mixture - song.voice
        measured = 10 * np.log10(np.mean(song.voice.astype(np.float64) ** 2) / np.mean(band.astype(np.float64) ** 2))
        assert measured == pytest.approx(song.description["ratio_db"], abs=0.05)
        assert np.abs(song.mixture).max() <= 10 ** (-1 / 20) + 1e-6
        assert song.frequency.size == song.known.size


def test_the_cache_separates_each_song_once_and_a_new_separator_gets_its_own_songs(tmp_path) -> None:
    songs = RemixSongs([_voice()], [_band(group="b")], seed=0)

    class Counting:
        def __init__(self, seed: int) -> None:
            self.inner, self.calls = Separator(tiny_estimator(seed)), 0
            self.estimator = self.inner.estimator

        def separate(self, mixture: np.ndarray, rate: int):  # noqa: ANN202
            self.calls += 1
            return self.inner.separate(mixture, rate)

    separator = Counting(0)
    cache = RemixCache(tmp_path, songs, "test", separator)
    loaded = cache.load(3)
    assert separator.calls == 3 and len(loaded) == 3
    assert loaded[0].separated.shape == loaded[0].mixture.shape == loaded[0].voice.shape
    RemixCache(tmp_path, songs, "test", separator).load(3)
    assert separator.calls == 3  # all cached
    other = Counting(1)
    RemixCache(tmp_path, songs, "test", other).load(2)
    assert other.calls == 2


def test_training_frames_pair_the_separated_voice_with_the_mixture_and_weight_only_known_labels(tmp_path) -> None:
    songs = RemixSongs([_voice(247.0)], [_band(group="b")], seed=0, shift_probability=0.0)
    cached = RemixCache(tmp_path, songs, "test", Separator(tiny_estimator(0))).load(2)
    cached[1].known[:] = False
    cached[1].known[10] = True  # one known label in the second song
    sampler = RemixFrameSampler(cached, inputs=2, clean_share=0.0)
    assert len(sampler.frames) == cached[0].known.sum() + 1
    windows, targets, weights = sampler.batch(64, np.random.default_rng(0))
    assert windows.shape == (64, 2, CREPE_WINDOW) and targets.shape == weights.shape == (64, CREPE_BINS + 1)
    voiced = targets[:, CREPE_BINS] == 1
    assert voiced.any() and (~voiced).any()
    # the pitch target peaks at the label's bin, and only voiced frames weigh on the pitch bins
    peak_cents = crepe_bin_cents()[targets[voiced, :CREPE_BINS].argmax(axis=1)]
    assert np.all(np.abs(peak_cents - 1200 * np.log2(247.0 / 10)) <= 10)
    assert (weights[~voiced, :CREPE_BINS] == 0).all() and (weights[voiced, :CREPE_BINS] == 1).all()
    assert (weights[:, CREPE_BINS] == 1).all()
    clean = RemixFrameSampler(cached, inputs=2, clean_share=1.0).batch(8, np.random.default_rng(0))[0]
    np.testing.assert_array_equal(clean[:, 0], clean[:, 1])  # a clean voice is its own song
    one = RemixFrameSampler(cached, inputs=1).batch(8, np.random.default_rng(0))[0]
    assert one.shape == (8, CREPE_WINDOW)


def test_unvoiced_frames_can_teach_the_pitch_bins_an_all_zero_target(tmp_path) -> None:
    songs = RemixSongs([_voice(247.0)], [_band(group="b")], seed=0, shift_probability=0.0)
    cached = RemixCache(tmp_path, songs, "test", Separator(tiny_estimator(0))).load(1)
    _, targets, weights = RemixFrameSampler(cached, clean_share=0.0, unvoiced_weight=0.3).batch(
        64, np.random.default_rng(0))
    voiced = targets[:, CREPE_BINS] == 1
    assert (~voiced).any() and (targets[~voiced, :CREPE_BINS] == 0).all()
    np.testing.assert_allclose(weights[~voiced, :CREPE_BINS], 0.3)
    assert (weights[voiced, :CREPE_BINS] == 1).all()
    with pytest.raises(ConfigError, match="unvoiced_weight"):
        RemixFrameSampler(cached, unvoiced_weight=1.5)


def test_a_song_hearing_tracker_learns_to_tell_sung_from_unsung_frames(tmp_path) -> None:
    """train-pitch on remix frames: the added layers learn (the voicing output separates sung frames
    from the accompaniment alone) and the run's weights load back as a two-input network."""
    import torch

    from vocalsep.melody.trackers.crepe import load_crepe_tiny, normalize_frames
    from vocalsep.training.pitch_train import PitchTrainConfig, train_pitch

    voices = [_voice(f0, 2.0, name=f"v{f0:g}", group=f"g{f0:g}") for f0 in (180.0, 260.0, 390.0)]
    songs = RemixSongs(voices, [_band(group="b", seed=2)], seed=0, ratio_db=(0.0, 6.0))
    cached = RemixCache(tmp_path / "cache", songs, "test", Separator(tiny_estimator(0))).load(6)
    sampler = RemixFrameSampler(cached, inputs=2, clean_share=0.0)
    config = PitchTrainConfig(remix_songs=6, inputs=2, voicing_weight=1.0, steps=60, batch_size=16,
                              checkpoint_every=60, learning_rate=1e-4, new_learning_rate=3e-3, validate=False)
    summary = train_pitch(tmp_path / "run", config, sampler=sampler)
    assert summary["steps"] == 60
    network = load_crepe_tiny(tmp_path / "run" / "weights-60.pth")
    assert (network.inputs, network.voicing) == (2, True)
    windows, targets, _ = sampler.batch(256, np.random.default_rng(9))
    with torch.inference_mode():
        voicing = network(normalize_frames(torch.from_numpy(windows))).numpy()[:, CREPE_BINS]
    sung = targets[:, CREPE_BINS] == 1
    assert voicing[sung].mean() > voicing[~sung].mean() + 0.2


def test_leaked_frames_add_some_of_the_songs_accompaniment_to_the_separated_voice_only(tmp_path) -> None:
    songs = RemixSongs([_voice(247.0)], [_band(group="b")], seed=0, shift_probability=0.0)
    cached = RemixCache(tmp_path, songs, "test", Separator(tiny_estimator(0))).load(2)
    plain = RemixFrameSampler(cached, clean_share=0.0).batch(32, np.random.default_rng(4))[0]
    leaky = RemixFrameSampler(cached, clean_share=0.0, leak_probability=1.0).batch(32, np.random.default_rng(4))[0]
    np.testing.assert_array_equal(leaky[:, 1], plain[:, 1])  # the mixture is untouched
    added = leaky[:, 0] - plain[:, 0]
    assert (np.abs(added).max(axis=1) > 0).all()
    # what is added is the accompaniment, at most -6 dB of it
    band_level = np.abs(plain[:, 1] - plain[:, 0]).max()
    assert np.abs(added).max() <= 10 ** (-6 / 20) * band_level * 1.5


def test_folder_accompaniments_span_the_folder_as_16_khz_mono_recordings_of_their_own(tmp_path) -> None:
    import soundfile

    rng = np.random.default_rng(0)
    for package in ("game_a", "game_b"):
        (tmp_path / "music" / package).mkdir(parents=True)
        for index in range(5):
            soundfile.write(tmp_path / "music" / package / f"track{index}.flac",
                            (0.1 * rng.standard_normal((44100, 2))).astype(np.float32), 44100, subtype="PCM_16")
    bands = folder_accompaniments([tmp_path / "music"], clips=4)
    assert len(bands) == 4
    assert {band.name.split(":")[1] for band in bands} >= {"track0", "track4"}  # both ends of the list
    assert all(band.audio.ndim == 1 and band.audio.size == 16000 for band in bands)
    assert len({band.group for band in bands}) == 4
    assert len(folder_accompaniments([tmp_path / "music"], clips=50)) == 10  # no more than there are
