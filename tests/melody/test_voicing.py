"""The learned voicing decision: its features, its model file, its fit, and what it does to a song."""

from __future__ import annotations

import numpy as np
import pytest

from support import harmonic_tone
from vocalsep.errors import ConfigError, ModelLoadError
from vocalsep.melody.tracking import PitchStream, frame_energy, frame_slope_energy, track_pitch
from vocalsep.melody.voicing import FEATURE_NAMES, VoicingModel, bundled_voicing, voicing_features
from vocalsep.training.voicing_train import fit_voicing


def _sung_song(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """4 s at 16 kHz: a voice singing 0.5-1.5 s and 2.5-3.5 s over a steady band, and where it sings."""
    rng = np.random.default_rng(seed)
    rate, seconds = 16000, 4.0
    voice = np.zeros(int(rate * seconds), np.float32)
    sung = np.zeros(1 + voice.size // 320, bool)
    for start, f0 in ((0.5, 220.0), (2.5, 330.0)):
        voice[int(start * rate): int((start + 1.0) * rate)] = harmonic_tone(f0, 1.0)
        sung[int(round(start / 0.02)) + 3: int(round((start + 1.0) / 0.02)) - 3] = True  # clear of the edges
    band = 0.05 * rng.standard_normal(voice.size).astype(np.float32)
    return voice, voice + band, sung


def test_features_have_one_row_per_frame_and_measure_windows_in_seconds() -> None:
    voice, song, _ = _sung_song()
    rows = {}
    for hop_samples in (160, 320):
        track = track_pitch(voice, 16000, hop=hop_samples / 16000, mixture=song, voicing=None, threshold=0.0,
                            gate_db=None)
        features = voicing_features(track.confidence, track.frequency, frame_energy(voice, hop_samples),
                                    frame_energy(song, hop_samples), frame_slope_energy(voice, hop_samples),
                                    hop_samples / 16000)
        assert features.shape == (len(track), len(FEATURE_NAMES)) and np.isfinite(features).all()
        rows[hop_samples] = features
    # the same instant (1.0 s, mid-note) at 10 and 20 ms: the level features agree within a dB
    np.testing.assert_allclose(rows[160][100, 5:9], rows[320][50, 5:9], atol=1.0)
    # brightness: a 220 Hz vowel is darker than white noise, and the same at both hops
    assert rows[160][100, 14] < -10 and abs(rows[160][100, 14] - rows[320][50, 14]) < 1
    empty = np.zeros(0)
    assert voicing_features(empty, empty, empty, empty, empty, 0.02).shape == (0, len(FEATURE_NAMES))


def test_the_slope_energy_of_a_block_equals_that_of_the_whole_signal() -> None:
    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    whole = frame_slope_energy(audio, 320)
    piece = frame_slope_energy(audio[2560:7040], 320)  # frame j of the piece is frame 8 + j of the whole
    np.testing.assert_allclose(piece[2:13], whole[10:21], rtol=1e-12)  # the frames wholly inside the piece


def test_a_model_file_round_trips_and_a_wrong_file_is_one_clear_error(tmp_path) -> None:
    model = bundled_voicing()
    copy = VoicingModel.load(model.save(tmp_path / "voicing.npz"))
    features = np.random.default_rng(0).normal(size=(50, len(FEATURE_NAMES))) * 1e6  # absurd inputs: no overflow
    np.testing.assert_array_equal(copy.probability(features), model.probability(features))
    assert np.all((model.probability(features) >= 0) & (model.probability(features) <= 1))
    assert model.with_threshold(0.9).threshold == 0.9
    (tmp_path / "bad.npz").write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="not a voicing model"):
        VoicingModel.load(tmp_path / "bad.npz")


def test_fitting_learns_a_separable_decision_deterministically() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(4000, len(FEATURE_NAMES)))
    labels = features[:, 0] + 0.5 * features[:, 5] > 0.2
    model = fit_voicing(features, labels, steps=300, seed=3)
    assert np.mean(model.voiced(features) == labels) > 0.97
    again = fit_voicing(features, labels, steps=300, seed=3)
    np.testing.assert_array_equal(model.hidden_weights, again.hidden_weights)
    with pytest.raises(ConfigError):
        fit_voicing(features, labels[:-1])
    with pytest.raises(ConfigError):
        fit_voicing(features, labels, threshold=1.0)


def test_the_bundled_voicing_finds_where_a_song_is_sung() -> None:
    voice, song, sung = _sung_song()
    track = track_pitch(voice, 16000, hop=0.02, mixture=song)  # the default: learned voicing, song heard
    voiced = track.voiced[: sung.size]
    silent = np.ones_like(sung)
    for start in (0.5, 2.5):  # well away from the notes
        silent[int(round(start / 0.02)) - 10: int(round((start + 1.0) / 0.02)) + 10] = False
    assert voiced[sung].mean() > 0.9 and voiced[silent].mean() < 0.1
    # the stream decides at the end exactly as the whole signal
    stream = PitchStream(hop=0.02, block_frames=40)
    for start in range(0, voice.size, 5000):
        stream.push(voice[start: start + 5000], mixture=song[start: start + 5000])
    np.testing.assert_array_equal(stream.finish().voiced, track.voiced)


def test_the_clean_voice_and_explicit_settings_keep_the_threshold() -> None:
    voice, song, _ = _sung_song()
    alone = track_pitch(voice, 16000, hop=0.02)
    np.testing.assert_array_equal(alone.voiced, track_pitch(voice, 16000, hop=0.02, voicing=None).voiced)
    explicit = track_pitch(voice, 16000, hop=0.02, mixture=song, threshold=0.4)
    np.testing.assert_array_equal(explicit.voiced,
                                  track_pitch(voice, 16000, hop=0.02, mixture=song, threshold=0.4, voicing=None).voiced)


def test_a_remix_song_gives_one_row_per_known_label() -> None:
    from vocalsep.training.pitch_remix import CachedSong
    from vocalsep.training.voicing_train import song_frames

    voice, song, _ = _sung_song()
    times = 0.02 * (np.arange(199) + 1)  # label i at (i + 1) * 20 ms
    frequency = np.where(((times >= 0.5) & (times < 1.5)) | ((times >= 2.5) & (times < 3.5)), 220.0, 0.0)
    known = np.ones(frequency.size, bool)
    known[::7] = False  # pseudo-labels: some frames unknown
    cached = CachedSong(voice.astype(np.float16), song.astype(np.float16), voice.astype(np.float16), frequency, known)
    features, sung = song_frames(cached)
    assert features.shape == (known.sum(), len(FEATURE_NAMES))
    assert sung.sum() == ((frequency > 0) & known).sum()


def test_instrumental_clips_split_by_track_and_are_songs_where_nobody_sings(tmp_path) -> None:
    from support import tiny_estimator, write_song
    from vocalsep.separation.separator import Separator
    from vocalsep.training.voicing_train import instrumental_song, instrumental_tracks

    folder = tmp_path / "clips" / "game"
    folder.mkdir(parents=True)
    for track in ("track01", "track02", "track03"):
        for part in ("000", "001"):
            write_song(folder / f"{track}-{part}.wav", seconds=0.5)
    fitting, measuring = instrumental_tracks([tmp_path / "clips"], 0), instrumental_tracks([tmp_path / "clips"], 1)
    assert len(fitting) == 4 and len(measuring) == 2  # tracks 01 and 03, then 02: whole tracks on one side
    assert not {p.stem[:7] for p in fitting} & {p.stem[:7] for p in measuring}
    song = instrumental_song(fitting[0], Separator(tiny_estimator(0)))
    assert song.mixture.size == song.separated.size == 8000 and not song.voice.any()
    assert song.known.all() and not song.frequency.any() and song.frequency.size == 8000 // 320 - 1


def test_train_voicing_without_mir1k_is_one_line_and_writes_nothing(tmp_path, capsys) -> None:
    from vocalsep.apps.cli import main

    output = tmp_path / "voicing.npz"
    assert main(["train-voicing", "--mir1k", str(tmp_path / "absent"), "--cache", str(tmp_path / "cache"),
                 "-o", str(output), "-q"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"vocalsep: error: {tmp_path / 'absent'}: not a MIR-1K folder (needs Wavfile/ and PitchLabel/)"]
    assert not output.exists()
