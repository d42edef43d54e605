"""Datasets of every layout, built in tmp_path, and the seeded patch sampler."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from conftest import stems, write_wav
from vocalsep.config import DataConfig, STFTConfig
from vocalsep.audio.io import load_audio
from vocalsep.datasets import MUSDB_VALIDATION, StemTrack, discover_tracks, extra_accompaniment, mir1k_tracks, musdb_tracks, stem_folder_tracks, training_tracks
from vocalsep.training.patches import DevicePatches, PatchSampler, WaveformClips, patch_spectra
from vocalsep.errors import AudioReadError, DatasetError
from vocalsep.audio.spectrogram import Spectrogram

RATE = 8000
STFT = STFTConfig(sample_rate=RATE, n_fft=256, hop_length=64, input_bins=64)
VALID_NAME = MUSDB_VALIDATION[0]


def _stem_folders(root, names=("song_a", "song_b"), channels=2, seconds=0.25):
    expected = {}
    for i, name in enumerate(names):
        vocals, accompaniment = stems(seconds, RATE, channels=channels, seed=10 * i)
        write_wav(root / name / "vocals.wav", vocals, RATE, "FLOAT")
        write_wav(root / name / "accompaniment.wav", accompaniment, RATE, "FLOAT")
        expected[name] = (vocals, accompaniment)
    return expected


def _musdb_folder(root, names, seconds=0.25):
    """MUSDB18 as folders of stem wavs; returns the written stems by track."""
    written = {}
    for i, name in enumerate(names):
        rng = np.random.default_rng(i)
        parts = {s: (0.2 * rng.uniform(-1, 1, (2, int(seconds * RATE)))).astype(np.float32) for s in ("drums", "bass", "other", "vocals")}
        parts["mixture"] = sum(parts.values())
        for stem, waveform in parts.items():
            write_wav(root / "train" / name / f"{stem}.wav", waveform, RATE, "FLOAT")
        written[name] = parts
    return written


def _mir1k_folder(root, clips=("singer_1_01", "singer_1_02", "singer_2_01", "other_3_01")):
    written = {}
    for i, clip in enumerate(clips):
        vocals, accompaniment = stems(0.25, RATE, seed=i)
        stereo = np.concatenate([accompaniment, vocals])  # left accompaniment, right voice
        write_wav(root / "Wavfile" / f"{clip}.wav", stereo, RATE, "FLOAT")
        written[clip] = (vocals, accompaniment)
    return written


def test_stem_folder_tracks(tmp_path):
    expected = _stem_folders(tmp_path)
    (tmp_path / "notes.txt").write_text("a file next to the folders is ignored")
    tracks = stem_folder_tracks(tmp_path)
    assert [t.name for t in tracks] == ["song_a", "song_b"]
    for track in tracks:
        vocals, accompaniment = expected[track.name]
        assert track.sample_rate == RATE
        np.testing.assert_array_equal(track.vocals, vocals)
        np.testing.assert_array_equal(track.accompaniment, accompaniment)
        np.testing.assert_array_equal(track.mixture, vocals + accompaniment)
        assert track.seconds == pytest.approx(0.25)
        assert track.source == "stems"


def test_stem_folder_stems_of_different_length_are_cut(tmp_path):
    vocals, accompaniment = stems(0.25, RATE)
    write_wav(tmp_path / "s" / "vocals.wav", vocals, RATE, "FLOAT")
    write_wav(tmp_path / "s" / "accompaniment.flac", accompaniment[:, :1000], RATE, "PCM_24")
    (track,) = stem_folder_tracks(tmp_path)
    assert track.vocals.shape == track.accompaniment.shape == (1, 1000)


@pytest.mark.parametrize("problem", ["rate", "channels", "missing"])
def test_stem_folder_problems(tmp_path, problem):
    vocals, accompaniment = stems(0.25, RATE, channels=2)
    write_wav(tmp_path / "s" / "vocals.wav", vocals, RATE)
    if problem == "rate":
        write_wav(tmp_path / "s" / "accompaniment.wav", accompaniment, 2 * RATE)
    elif problem == "channels":
        write_wav(tmp_path / "s" / "accompaniment.wav", accompaniment[:1], RATE)
    with pytest.raises(DatasetError, match="accompaniment" if problem == "missing" else "differ"):
        stem_folder_tracks(tmp_path)


def test_empty_folders(tmp_path):
    with pytest.raises(DatasetError):
        stem_folder_tracks(tmp_path)
    with pytest.raises(DatasetError):
        discover_tracks(tmp_path)
    with pytest.raises(DatasetError, match="no such folder"):
        discover_tracks(tmp_path / "absent")
    (tmp_path / "train").mkdir()
    with pytest.raises(DatasetError):
        musdb_tracks(tmp_path, "train")
    (tmp_path / "Wavfile").mkdir()
    with pytest.raises(DatasetError):
        mir1k_tracks(tmp_path)
    with pytest.raises(DatasetError):
        musdb_tracks(tmp_path / "absent")


def test_discover_stem_folders(tmp_path):
    _stem_folders(tmp_path, names=("x",))
    assert [t.name for t in discover_tracks(tmp_path)] == ["x"]


def test_musdb_folder_split(tmp_path):
    written = _musdb_folder(tmp_path, ["Artist - Train Song", VALID_NAME, "Band - Other Song"])
    train = musdb_tracks(tmp_path, "train")
    valid = musdb_tracks(tmp_path, "valid")
    assert [t.name for t in train] == ["Artist - Train Song", "Band - Other Song"]
    assert [t.name for t in valid] == [VALID_NAME]
    assert [t.name for t in discover_tracks(tmp_path)] == [VALID_NAME]  # default split: valid
    assert [t.name for t in discover_tracks(tmp_path, "train")] == [t.name for t in train]
    for track in train + valid:
        parts = written[track.name]
        np.testing.assert_array_equal(track.vocals, parts["vocals"])
        np.testing.assert_allclose(track.accompaniment, parts["drums"] + parts["bass"] + parts["other"], atol=1e-6)
        np.testing.assert_allclose(track.mixture, parts["mixture"], atol=1e-6)
        assert track.accompaniment.dtype == np.float32 and track.sample_rate == RATE
        assert track.source == "musdb"
    with pytest.raises(DatasetError):
        musdb_tracks(tmp_path, "test")  # no test/ folder


def test_musdb_only_validation_tracks(tmp_path):
    _musdb_folder(tmp_path, [VALID_NAME])
    with pytest.raises(DatasetError, match="split 'train'"):
        musdb_tracks(tmp_path, "train")


def test_musdb_test_split_keeps_everything(tmp_path):
    written = _musdb_folder(tmp_path, [VALID_NAME, "A - B"])
    (tmp_path / "train").rename(tmp_path / "test")
    assert [t.name for t in musdb_tracks(tmp_path, "test")] == sorted(written)


def test_musdb_missing_stem(tmp_path):
    _musdb_folder(tmp_path, ["A - B"])
    (tmp_path / "train" / "A - B" / "bass.wav").unlink()
    with pytest.raises(DatasetError, match="bass"):
        musdb_tracks(tmp_path, "train")


def test_musdb_stems_of_different_length(tmp_path):
    _musdb_folder(tmp_path, ["A - B"])
    drums = tmp_path / "train" / "A - B" / "drums.wav"
    write_wav(drums, np.zeros((2, 1500), dtype=np.float32), RATE)
    (track,) = musdb_tracks(tmp_path, "train")
    assert track.vocals.shape == track.accompaniment.shape == (2, 1500)


def test_mir1k_layout(tmp_path):
    written = _mir1k_folder(tmp_path)
    tracks = mir1k_tracks(tmp_path)
    assert [t.name for t in tracks] == sorted(written)
    for track in tracks:
        vocals, accompaniment = written[track.name]
        np.testing.assert_array_equal(track.vocals, vocals)  # right channel
        np.testing.assert_array_equal(track.accompaniment, accompaniment)  # left channel
        assert track.vocals.shape == (1, 2000)
        assert track.source == "mir1k"
    assert [t.name for t in mir1k_tracks(tmp_path, songs=("singer_1",))] == ["singer_1_01", "singer_1_02"]
    assert [t.name for t in mir1k_tracks(tmp_path, exclude=("singer_1", "other_3"))] == ["singer_2_01"]
    assert [t.name for t in discover_tracks(tmp_path)] == sorted(written)
    with pytest.raises(DatasetError):
        mir1k_tracks(tmp_path, songs=("singer_1",), exclude=("singer_1",))
    with pytest.raises(DatasetError):
        mir1k_tracks(tmp_path, songs=("nobody_9",))


def test_mir1k_mono_clip(tmp_path):
    write_wav(tmp_path / "Wavfile" / "a_1_01.wav", np.zeros((1, 100), dtype=np.float32), RATE)
    with pytest.raises(DatasetError, match="two channels"):
        mir1k_tracks(tmp_path)


def test_unreadable_stem(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "vocals.wav").write_text("text")
    (tmp_path / "s" / "accompaniment.wav").write_text("text")
    with pytest.raises(AudioReadError):
        stem_folder_tracks(tmp_path)


def test_training_tracks(tmp_path):
    _musdb_folder(tmp_path / "musdb", ["A - B", VALID_NAME])
    _mir1k_folder(tmp_path / "mir1k")
    _stem_folders(tmp_path / "extra", names=("e",))
    _stem_folders(tmp_path / "held", names=("h",))
    config = DataConfig(
        validation_folders=(str(tmp_path / "held"),),
        musdb_root=str(tmp_path / "musdb"),
        mir1k_root=str(tmp_path / "mir1k"),
        stem_folders=(str(tmp_path / "extra"),),
        mir1k_validation_songs=("singer_2",),
    )
    train, valid = training_tracks(config)
    assert sorted(t.name for t in train) == sorted(["A - B", "singer_1_01", "singer_1_02", "other_3_01", "e"])
    assert sorted(t.name for t in valid) == sorted([VALID_NAME, "singer_2_01", "h"])
    nothing = DataConfig(musdb_root=str(tmp_path / "none"), mir1k_root="", stem_folders=())
    with pytest.raises(DatasetError, match="no training data"):
        training_tracks(nothing)


# --- PatchSampler -------------------------------------------------------------------------


def _tracks(count=3, channels=2, seconds=0.5, rate=RATE):
    tracks = []
    for i in range(count):
        vocals, accompaniment = stems(seconds, rate, channels=channels, seed=7 * i)
        tracks.append(StemTrack(f"t{i}", vocals, accompaniment, rate))
    return tracks


def _sampler(tracks=None, **data):
    config = DataConfig(**{"patch_frames": 16, **data})
    return PatchSampler(tracks if tracks is not None else _tracks(), STFT, config)


def test_sampler_shapes():
    sampler = _sampler()
    assert len(sampler) == 3
    mixture, vocals = sampler.batch(5, torch.Generator().manual_seed(0))
    assert mixture.shape == vocals.shape == (5, STFT.input_bins, 16)
    assert mixture.dtype == vocals.dtype == torch.float32
    assert mixture.min() >= 0 and vocals.min() >= 0
    assert vocals.abs().sum() > 0


def test_same_seed_same_batches():
    sampler = _sampler()
    first = sampler.batch(4, torch.Generator().manual_seed(123))
    second = sampler.batch(4, torch.Generator().manual_seed(123))
    other = sampler.batch(4, torch.Generator().manual_seed(124))
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not torch.equal(first[0], other[0])
    # Consecutive draws of one generator differ, and the global RNG plays no part.
    generator = torch.Generator().manual_seed(123)
    torch.manual_seed(0)
    a = sampler.batch(4, generator)
    torch.manual_seed(1)
    b = sampler.batch(4, generator)
    assert torch.equal(a[0], first[0])
    assert not torch.equal(a[0], b[0])


def test_global_rng_is_untouched():
    sampler = _sampler()
    torch.manual_seed(5)
    state = torch.get_rng_state()
    sampler.batch(3, torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), state)


def _find_offset(patch: torch.Tensor, spec: torch.Tensor) -> tuple[int, int]:
    """(channel, offset) of the complex ``spec`` (channels, bins, frames) whose magnitude is ``patch``."""
    frames = patch.shape[-1]
    for channel in range(spec.shape[0]):
        for offset in range(spec.shape[-1] - frames + 1):
            if torch.allclose(spec[channel, :, offset : offset + frames].abs(), patch, atol=1e-6):
                return channel, offset
    raise AssertionError("patch not found in the track's spectrogram")


def test_mixture_is_the_tracks_own_sum_without_augmentation():
    tracks = _tracks(count=1, channels=2)
    sampler = _sampler(tracks, remix_probability=0.0, gain_db=0.0)
    mixture, vocals = sampler.batch(6, torch.Generator().manual_seed(3))
    transform = Spectrogram(STFT)
    track = tracks[0]
    v = transform(torch.from_numpy(track.vocals))[:, : STFT.input_bins]
    a = transform(torch.from_numpy(track.accompaniment))[:, : STFT.input_bins]
    m = transform(torch.from_numpy(track.mixture))[:, : STFT.input_bins]
    places = set()
    for i in range(6):
        channel, offset = _find_offset(vocals[i], v)
        places.add((channel, offset))
        window = slice(offset, offset + 16)
        torch.testing.assert_close(mixture[i], (v + a)[channel, :, window].abs())
        torch.testing.assert_close(mixture[i], m[channel, :, window].abs(), atol=1e-5, rtol=1e-4)
    assert len(places) > 1  # random channels and offsets


def test_gain_changes_levels_but_not_shape():
    tracks = _tracks(count=1, channels=1)
    plain = _sampler(tracks, remix_probability=0.0, gain_db=0.0).batch(8, torch.Generator().manual_seed(0))[1]
    gained = _sampler(tracks, remix_probability=0.0, gain_db=12.0).batch(8, torch.Generator().manual_seed(0))[1]
    # Same patches (the same draws), scaled by one factor per patch within +-12 dB.
    ratio = (gained.flatten(1).norm(dim=1) / plain.flatten(1).norm(dim=1))
    assert (ratio > 10 ** (-12 / 20) - 1e-4).all() and (ratio < 10 ** (12 / 20) + 1e-4).all()
    assert not torch.allclose(ratio, torch.ones_like(ratio))
    torch.testing.assert_close(gained, plain * ratio[:, None, None], atol=1e-4, rtol=1e-4)


def test_remix_uses_other_tracks_accompaniment():
    """With remixing always on, a mixture is not its own vocals' track sum."""
    tracks = _tracks(count=3, channels=1)
    sampler = _sampler(tracks, remix_probability=1.0, gain_db=0.0)
    mixture, vocals = sampler.batch(8, torch.Generator().manual_seed(1))
    transform = Spectrogram(STFT)
    own = 0
    for i in range(8):
        for track in tracks:
            v = transform(torch.from_numpy(track.vocals))[:, : STFT.input_bins]
            try:
                channel, offset = _find_offset(vocals[i], v)
            except AssertionError:
                continue
            a = transform(torch.from_numpy(track.accompaniment))[:, : STFT.input_bins]
            if torch.allclose(mixture[i], (v + a)[channel, :, offset : offset + 16].abs(), atol=1e-5):
                own += 1
    assert own < 8


def test_short_tracks_are_padded():
    tracks = _tracks(count=1, channels=1, seconds=0.05)  # 400 samples: 7 frames < 16
    sampler = _sampler(tracks)
    mixture, vocals = sampler.batch(2, torch.Generator().manual_seed(0))
    assert mixture.shape == (2, STFT.input_bins, 16)
    assert torch.equal(vocals[:, :, 7:], torch.zeros(2, STFT.input_bins, 9))


def test_tracks_are_resampled_to_the_model_rate():
    tracks = _tracks(count=1, channels=1, seconds=0.5, rate=16000)
    sampler = _sampler(tracks)
    expected_frames = Spectrogram(STFT).frames_for(4000)
    assert sampler.vocals[0].shape == (1, STFT.input_bins, expected_frames)


def test_input_statistics():
    tracks = _tracks(count=2, channels=2)
    sampler = _sampler(tracks)
    mean, std = sampler.input_statistics()
    assert mean.shape == std.shape == (STFT.input_bins,)
    assert torch.isfinite(mean).all() and (std >= 0).all() and (mean > 0).all()
    transform = Spectrogram(STFT)
    features = torch.cat(
        [torch.log1p(transform(torch.from_numpy(t.mixture))[:, : STFT.input_bins].abs()) for t in tracks],
        dim=-1,
    )  # (channels, bins, frames): statistics over channels and frames, per bin
    per_bin = features.transpose(0, 1).reshape(STFT.input_bins, -1)
    torch.testing.assert_close(mean, per_bin.mean(dim=1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(std, per_bin.std(dim=1), atol=1e-5, rtol=1e-5)
    limited, _ = sampler.input_statistics(max_frames=3)
    torch.testing.assert_close(limited, per_bin[:, :3].mean(dim=1), atol=1e-5, rtol=1e-5)


def test_sampler_on_mir1k(shared_data):
    root = shared_data / "MIR-1K"
    if not (root / "Wavfile").is_dir():
        pytest.skip("no MIR-1K")
    tracks = mir1k_tracks(root, songs=("amy_9",))
    assert tracks and all(t.sample_rate == 16000 and t.vocals.shape[0] == 1 for t in tracks)
    sampler = PatchSampler(tracks[:2], STFTConfig(sample_rate=16000, n_fft=512, hop_length=128, input_bins=128), DataConfig(patch_frames=32))
    mixture, vocals = sampler.batch(2, torch.Generator().manual_seed(0))
    assert mixture.shape == (2, 128, 32)


def test_batch_with_accompaniment_draws_the_same_patches():
    sampler = _sampler(remix_probability=0.5)
    mixture, vocals = sampler.batch(6, torch.Generator().manual_seed(5))
    mixture3, vocals3, accompaniment = sampler.batch_with_accompaniment(6, torch.Generator().manual_seed(5))
    assert torch.equal(mixture, mixture3) and torch.equal(vocals, vocals3)
    assert accompaniment.shape == mixture.shape and accompaniment.abs().sum() > 0
    # Magnitudes of a sum obey the triangle inequality, and no stem is the mixture itself.
    assert torch.all(mixture <= vocals + accompaniment + 1e-5)
    assert not torch.equal(accompaniment, mixture)


def _assert_same_batches(sampler: PatchSampler, on_device: DevicePatches) -> None:
    """Four seeded batches of 6 from the device stack equal the sampler's, within float rounding."""
    for seed in range(4):
        expected = sampler.batch_with_accompaniment(6, torch.Generator().manual_seed(seed))
        got = on_device.batch_with_accompaniment(6, torch.Generator().manual_seed(seed))
        for a, b in zip(got, expected):
            assert a.shape == b.shape == (6, STFT.input_bins, 16)
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_device_patches_equal_the_samplers_batches():
    # tracks of different lengths and channel counts: the device stack pads them
    tracks = _tracks(count=2, channels=2) + _tracks(count=2, channels=1, seconds=0.3)
    sampler = _sampler(tracks, remix_probability=0.5, gain_db=6.0)
    on_device = DevicePatches(sampler, torch.device("cpu"))
    _assert_same_batches(sampler, on_device)


def test_draws_cover_remixes_and_respect_track_bounds():
    tracks = _tracks(count=3, channels=2) + _tracks(count=1, channels=1, seconds=0.3)
    sampler = _sampler(tracks, remix_probability=0.5, gain_db=6.0)
    draws = sampler.draw(400, torch.Generator().manual_seed(0))
    remixed = draws.vocal_track != draws.accompaniment_track
    assert 0.3 < remixed.float().mean() < 0.7  # about half, minus remixes that drew the same track
    for track, channel, offset in ((draws.vocal_track, draws.vocal_channel, draws.vocal_offset),
                                   (draws.accompaniment_track, draws.accompaniment_channel, draws.accompaniment_offset)):
        lengths = torch.tensor([spec.shape[-1] for spec in sampler.vocals])[track]
        channels = torch.tensor([spec.shape[0] for spec in sampler.vocals])[track]
        assert bool((channel < channels).all()) and bool((offset + 16 <= lengths).all())
    assert float(draws.vocal_gain.min()) >= 10 ** (-6 / 20) and float(draws.vocal_gain.max()) <= 10 ** (6 / 20)


# Extra accompaniment: accompaniment-only clips under the stem tracks' voices.


def _clip_folder(root, lengths=(0.5, 0.35), channels=(2, 1), rate=RATE):
    """Accompaniment-only 16-bit clips in nested folders; returns the waveforms as written."""
    written = []
    for index, (seconds, count) in enumerate(zip(lengths, channels)):
        _, accompaniment = stems(seconds, rate, channels=count, seed=50 + index)
        path = write_wav(root / f"game{index % 2}" / f"clip{index}.flac", accompaniment, rate)
        written.append(load_audio(path)[0])
    return written


def _extra_sampler(root, tracks=None, **data):
    config = DataConfig(**{"patch_frames": 16, "accompaniment_folders": (str(root),), **data})
    return PatchSampler(tracks if tracks is not None else _tracks(), STFT, config, extra_accompaniment(config))


def test_extra_accompaniment_reads_the_folders_clips(tmp_path):
    written = _clip_folder(tmp_path / "music", lengths=(0.5, 0.35, 0.4), channels=(2, 1, 2))
    (tmp_path / "music" / "LICENSES.txt").write_text("not audio")
    config = DataConfig(accompaniment_folders=(str(tmp_path / "music"),))
    clips = list(extra_accompaniment(config))
    assert [clip.shape for clip, _ in clips] == [written[0].shape, written[2].shape, written[1].shape]  # sorted paths
    assert all(rate == RATE for _, rate in clips)
    with pytest.raises(DatasetError, match="fetch_instrumentals"):
        list(extra_accompaniment(DataConfig(accompaniment_folders=(str(tmp_path / "missing"),))))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no audio files"):
        list(extra_accompaniment(DataConfig(accompaniment_folders=(str(tmp_path / "empty"),))))
    # at probability 0 nothing is read, not even a missing folder
    off = DataConfig(accompaniment_folders=(str(tmp_path / "missing"),), extra_accompaniment_probability=0.0)
    assert list(extra_accompaniment(off)) == []


def test_extra_clip_patches_equal_the_clips_spectrogram(tmp_path):
    written = _clip_folder(tmp_path / "music", lengths=(0.5, 0.1), channels=(2, 1))
    clips = WaveformClips([(w, RATE) for w in written], STFT, 16)
    assert clips.nbytes == sum(2 * 2 * w.shape[1] for w in clips.waveforms)  # int16, two channels each
    transform = Spectrogram(STFT)
    for index, waveform in enumerate(written):
        # a clip shorter than a patch is extended with silence to one patch (15 hops)
        extended = np.pad(waveform, ((0, 0), (0, max(0, 15 * STFT.hop_length - waveform.shape[1]))))
        spec = transform(torch.from_numpy(extended))[:, : STFT.input_bins]
        assert clips.frames[index] == spec.shape[-1] == max(16, waveform.shape[1] // STFT.hop_length + 1)
        for channel in range(2):
            for offset in (0, 3, clips.frames[index] - 16):
                samples = clips.samples(index, channel, offset)[None]
                got = patch_spectra(samples, clips.window, STFT)[0]
                expected = spec[min(channel, waveform.shape[0] - 1), :, offset : offset + 16]
                torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_extra_accompaniment_is_drawn_at_the_configured_rate_reproducibly(tmp_path):
    _clip_folder(tmp_path / "music", lengths=(0.5, 0.35, 0.2), channels=(2, 1, 2))
    sampler = _extra_sampler(tmp_path / "music", extra_accompaniment_probability=0.3)
    assert len(sampler.extra) == 3
    draws = sampler.draw(1000, torch.Generator().manual_seed(0))
    assert 0.26 < draws.extra.float().mean() < 0.34
    again = sampler.draw(1000, torch.Generator().manual_seed(0))
    assert all((a is b is None) or torch.equal(a, b)
               for a, b in zip(dataclasses.astuple(draws), dataclasses.astuple(again)))
    extra = draws.extra
    assert bool((draws.accompaniment_track[extra] < 3).all())
    frames = torch.tensor(sampler.extra.frames)[draws.accompaniment_track[extra]]
    assert bool((draws.accompaniment_offset[extra] + 16 <= frames).all())
    assert bool((draws.accompaniment_channel[extra] < 2).all())
    assert set(draws.accompaniment_track[extra].tolist()) == {0, 1, 2}
    # the voices still come from the stem tracks, all of them
    assert set(draws.vocal_track.tolist()) == {0, 1, 2}
    first = sampler.batch_with_accompaniment(8, torch.Generator().manual_seed(3))
    second = sampler.batch_with_accompaniment(8, torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_without_extra_clips_the_draws_are_those_of_before(tmp_path):
    _clip_folder(tmp_path / "music")
    plain = _sampler(remix_probability=0.5)
    unused = _extra_sampler(tmp_path / "music", remix_probability=0.5, extra_accompaniment_probability=0.0)
    assert unused.extra is None
    for seed in range(3):
        expected = plain.batch_with_accompaniment(6, torch.Generator().manual_seed(seed))
        got = unused.batch_with_accompaniment(6, torch.Generator().manual_seed(seed))
        assert all(torch.equal(a, b) for a, b in zip(got, expected))


def test_extra_accompaniment_sits_under_an_unchanged_voice(tmp_path):
    written = _clip_folder(tmp_path / "music", lengths=(0.5,), channels=(2,))
    sampler = _extra_sampler(tmp_path / "music", extra_accompaniment_probability=1.0, gain_db=0.0)
    draws = sampler.draw(5, torch.Generator().manual_seed(1))
    mixture, vocals, accompaniment = sampler.batch_with_accompaniment(5, torch.Generator().manual_seed(1))
    clip = Spectrogram(STFT)(torch.from_numpy(written[0]))[:, : STFT.input_bins]
    assert bool(draws.extra.all())
    for row in range(5):
        i, c, o = (int(t[row]) for t in (draws.vocal_track, draws.vocal_channel, draws.vocal_offset))
        voice = sampler.vocals[i][c, :, o : o + 16]
        c, o = int(draws.accompaniment_channel[row]), int(draws.accompaniment_offset[row])
        music = clip[c, :, o : o + 16]
        torch.testing.assert_close(vocals[row], voice.abs())
        torch.testing.assert_close(accompaniment[row], music.abs(), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(mixture[row], (voice + music).abs(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("probability", [0.4, 1.0])
def test_device_patches_equal_the_samplers_batches_with_extra_accompaniment(tmp_path, probability):
    _clip_folder(tmp_path / "music", lengths=(0.5, 0.35, 0.1), channels=(2, 1, 2))
    tracks = _tracks(count=2, channels=2) + _tracks(count=1, channels=1, seconds=0.3)
    sampler = _extra_sampler(tmp_path / "music", tracks, remix_probability=0.5,
                             extra_accompaniment_probability=probability)
    on_device = DevicePatches(sampler, torch.device("cpu"))
    assert on_device.extra.shape == (2, sum(w.shape[1] for w in sampler.extra.waveforms))
    _assert_same_batches(sampler, on_device)


# Level matching and the random equaliser.


def test_matched_extra_clips_sit_at_the_stem_accompaniments_median_level(tmp_path):
    _clip_folder(tmp_path / "music", lengths=(0.5, 0.4), channels=(2, 2))
    tracks = _tracks(count=3)
    plain = _extra_sampler(tmp_path / "music", tracks, extra_accompaniment_probability=1.0, gain_db=0.0)
    matched = _extra_sampler(tmp_path / "music", tracks, extra_accompaniment_probability=1.0, gain_db=0.0,
                             match_extra_level=True)
    target = np.median([np.sqrt(np.mean(np.square(t.accompaniment, dtype=np.float64))) for t in tracks])
    for clip, waveform, level in zip(range(2), matched.extra.waveforms, matched.extra_level):
        rms = np.sqrt(np.mean(np.square(waveform.numpy() / 32768, dtype=np.float64)))  # padding is zeros
        assert level == pytest.approx(target / matched.extra.rms[clip])
        assert matched.extra.rms[clip] >= rms  # the stored clip holds its padding too
    assert plain.extra_level == [1.0, 1.0]
    draws = matched.draw(6, torch.Generator().manual_seed(2))
    _, _, quiet = plain.batch_with_accompaniment(6, torch.Generator().manual_seed(2))
    _, _, scaled = matched.batch_with_accompaniment(6, torch.Generator().manual_seed(2))
    levels = torch.tensor([matched.extra_level[int(j)] for j in draws.accompaniment_track], dtype=torch.float32)
    torch.testing.assert_close(scaled, quiet * levels[:, None, None], rtol=1e-5, atol=1e-6)


def test_equaliser_is_a_smooth_gain_per_bin_within_its_range():
    tracks = _tracks(count=2)
    plain = _sampler(tracks, remix_probability=0.5)
    equalised = _sampler(tracks, remix_probability=0.5, eq_db=6.0)
    generator = torch.Generator().manual_seed(4)
    vocals, accompaniment = plain.spectra(5, torch.Generator().manual_seed(4))
    eq_vocals, eq_accompaniment = equalised.spectra(5, generator)
    draws = equalised.draw(5, torch.Generator().manual_seed(4))
    # the equaliser draws come after every other draw: the patches themselves are the same
    assert torch.equal(draws.vocal_track, plain.draw(5, torch.Generator().manual_seed(4)).vocal_track)
    for plain_stem, eq_stem in ((vocals, eq_vocals), (accompaniment, eq_accompaniment)):
        ratio = eq_stem.abs() / plain_stem.abs().clamp_min(1e-12)
        loud = plain_stem.abs() > 1e-6
        gain = torch.where(loud, ratio, torch.nan).nanmedian(dim=2).values  # (patches, bins)
        assert float(gain.min()) >= 10 ** (-6.01 / 20) and float(gain.max()) <= 10 ** (6.01 / 20)
        # a real gain per bin, the same in every frame, and the phase untouched
        torch.testing.assert_close(torch.where(loud, ratio, gain[:, :, None]), gain[:, :, None].expand_as(ratio),
                                   rtol=1e-4, atol=1e-4)
        steps = (20 * torch.log10(gain)).diff(dim=1).abs()
        assert float(steps[:, 8:].max()) < 3.0  # smooth: no jumps between neighbouring bins above 250 Hz
    assert not torch.allclose(eq_vocals.abs(), vocals.abs())


def test_device_patches_equal_the_samplers_batches_with_the_equaliser():
    sampler = _sampler(_tracks(count=2), remix_probability=0.5, gain_db=6.0, eq_db=9.0)
    _assert_same_batches(sampler, DevicePatches(sampler, torch.device("cpu")))


def test_eq_range_is_checked():
    with pytest.raises(ValueError, match="eq_db"):
        DataConfig(eq_db=-1.0)


def _mono_and_stereo_samplers(tmp_path, tracks):
    """A mono and a stereo sampler of ``tracks`` with remixes, an extra clip and equaliser curves."""
    _clip_folder(tmp_path / "music", lengths=(0.5,), channels=(2,))
    mono = _extra_sampler(tmp_path / "music", tracks, remix_probability=0.5, extra_accompaniment_probability=0.3,
                          eq_db=3.0)
    return mono, PatchSampler(tracks, STFT, mono.config, extra_accompaniment(mono.config), channels=2)


def test_device_patches_equal_the_samplers_stereo_batches(tmp_path):
    # stereo pairs (a mono track's channel twice), remixes, extra clips and equaliser curves, as on the CPU
    tracks = _tracks(count=2, channels=2) + _tracks(count=2, channels=1, seconds=0.3)
    _, stereo = _mono_and_stereo_samplers(tmp_path, tracks)
    on_device = DevicePatches(stereo, torch.device("cpu"))
    for seed in range(4):
        expected = stereo.spectra(6, torch.Generator().manual_seed(seed))
        got = on_device.spectra(6, torch.Generator().manual_seed(seed))
        for a, b in zip(got, expected):
            assert a.shape == b.shape == (12, STFT.input_bins, 16)
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_stereo_patches_are_both_channels_of_the_drawn_place(tmp_path):
    tracks = _tracks(count=2, channels=2) + _tracks(count=1, channels=1, seconds=0.4)
    mono, stereo = _mono_and_stereo_samplers(tmp_path, tracks)
    draws = stereo.draw(12, torch.Generator().manual_seed(6))
    vocals, accompaniment = stereo.spectra(12, torch.Generator().manual_seed(6))
    assert vocals.shape == accompaniment.shape == (24, STFT.input_bins, 16)
    one_vocals, one_accompaniment = mono.spectra(12, torch.Generator().manual_seed(6))
    for row in range(12):
        i, c = int(draws.vocal_track[row]), int(draws.vocal_channel[row])
        # the drawn channel is one of the pair: the mono sampler's patch is row 2i + c of the stereo batch
        torch.testing.assert_close(vocals[2 * row + c], one_vocals[row])
        if tracks[i].vocals.shape[0] == 1:  # a mono track is its channel twice
            torch.testing.assert_close(vocals[2 * row], vocals[2 * row + 1])
        c = int(draws.accompaniment_channel[row])
        j = int(draws.accompaniment_track[row])
        both = 2 if bool(draws.extra[row]) else tracks[j].accompaniment.shape[0]
        torch.testing.assert_close(accompaniment[2 * row + min(c, both - 1)], one_accompaniment[row],
                                   rtol=1e-5, atol=1e-6)
    assert bool(draws.extra.any())
