"""F0 tracking: synthetic tones within 10 cents, f0.csv round trip, the bundled CREPE weights, ``vocalsep pitch``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from conftest import accompaniment_noise, voice_tone, write_wav
from support import harmonic_tone, tiny_checkpoint

from vocalsep.apps.cli import main
from vocalsep.errors import ConfigError, VocalsepError
from vocalsep.melody.tracking import CREPE_TINY_FILE, CREPE_TINY_SHA256, SILENCE_GATE_DB, PitchTrack, frame_levels_db, hz_to_midi, hz_to_note, load_crepe_tiny, midi_to_hz, midi_to_note, read_f0_csv, summarize, track_pitch, write_f0_csv


def cents_error(track: PitchTrack, f0: float) -> np.ndarray:
    inner = slice(5, len(track) - 5)  # frames whose window lies inside the tone
    return np.abs(1200 * np.log2(track.frequency[inner] / f0))


@pytest.mark.parametrize("tracker", ["crepe-tiny", "pyin"])
@pytest.mark.parametrize("f0", [110.0, 261.63, 587.33])
def test_synthetic_tones_within_10_cents(tracker: str, f0: float) -> None:
    track = track_pitch(harmonic_tone(f0), 16000, tracker=tracker)
    assert track.voiced[5:-5].mean() > 0.95
    assert np.percentile(cents_error(track, f0), 95) < 10.0
    assert abs(np.median(1200 * np.log2(track.frequency[5:-5] / f0))) < 10.0


@pytest.mark.parametrize("f0", [659.26, 880.0])
def test_crepe_voices_high_steady_tones(f0: float) -> None:
    """Above most of MIR-1K (E5, A5): the fine-tuned weights must still be confident there."""
    track = track_pitch(harmonic_tone(f0), 16000)
    assert track.voiced[5:-5].mean() > 0.95
    assert np.percentile(cents_error(track, f0), 95) < 10.0


def test_sample_rate_and_channels_do_not_change_the_pitch() -> None:
    f0 = 196.0
    tone = harmonic_tone(f0, rate=44100)
    stereo = np.stack([tone, 0.5 * tone])
    track = track_pitch(stereo, 44100)
    assert np.percentile(cents_error(track, f0), 95) < 10.0


def test_frame_grid() -> None:
    track = track_pitch(harmonic_tone(220.0, seconds=0.3, rate=8000), 8000, hop=0.02)
    assert len(track) == 1 + int(0.3 * 16000) // 320
    assert track.hop == pytest.approx(0.02)
    assert track.times[0] == 0.0


def test_noise_and_silence_are_mostly_unvoiced() -> None:
    noise = accompaniment_noise(0.5, 16000)
    silence = np.zeros(8000, dtype=np.float32)
    assert track_pitch(noise, 16000).voiced.mean() < 0.3
    assert track_pitch(silence, 16000).voiced.mean() < 0.1


def test_vibrato_voice_is_followed() -> None:
    voice = voice_tone(0.6, 16000, f0=220.0, vibrato_cents=50.0)
    track = track_pitch(voice, 16000)
    sung = track.frequency[track.voiced]
    assert track.voiced.mean() > 0.8
    assert np.all(np.abs(1200 * np.log2(sung / 220.0)) < 80)  # within the +-50 cent vibrato, plus margin


def test_frame_levels_are_relative_to_the_loud_end() -> None:
    tone = harmonic_tone(220.0, seconds=1.0)
    levels = frame_levels_db(np.concatenate([tone, 0.1 * tone]), 160)
    assert levels.size == 1 + 32000 // 160
    assert abs(np.median(levels[10:90])) < 1.0 and abs(np.median(levels[110:190]) + 20.0) < 1.0
    assert np.all(frame_levels_db(np.zeros(1600), 160) == -200.0)


def test_the_gate_measures_a_quiet_verse_against_itself_and_residue_against_the_singing_nearby() -> None:
    from vocalsep.melody.tracking import GATE_SPAN_SECONDS, WHOLE_INPUT_GATE_DB, gate_passes, levels_db

    def level(db: float, seconds: float) -> np.ndarray:  # 10 ms frames of a steady energy
        return np.full(int(100 * seconds), 10 ** (db / 10))

    span = GATE_SPAN_SECONDS
    chorus, verse = level(0, 3 * span), level(-24, 3 * span)  # a verse 24 dB under the chorus
    near_chorus = level(-22, 1)  # residue in a gap of the chorus: 22 dB under the singing around it
    in_verse = level(-24 + WHOLE_INPUT_GATE_DB + 20, 1)  # residue in the verse: -34 dB of the song
    energy = np.concatenate([chorus, near_chorus, chorus, verse, in_verse, verse])
    passes = gate_passes(energy, -20.0, hop_samples=160)
    edges = np.cumsum([0] + [part.size for part in (chorus, near_chorus, chorus, verse, in_verse, verse)])
    assert passes[edges[0] : edges[1]].all() and passes[edges[2] + 20 : edges[3]].all()
    assert not passes[edges[1] : edges[2]].any()  # -22 dB of the chorus nearby
    assert passes[edges[3] + int(100 * span) + 20 : edges[4]].all()  # the verse, away from the chorus: 0 dB nearby
    assert not (levels_db(energy)[edges[3] : edges[4]] >= -20.0).any()  # a gate on the whole song drops it
    assert not passes[edges[4] : edges[5]].any()  # the whole-input gate: -34 dB of the song


def test_silence_gate_unvoices_faint_residue() -> None:
    rng = np.random.default_rng(0)
    tone = harmonic_tone(220.0, seconds=0.5)
    residue = 1e-3 * harmonic_tone(330.0, seconds=0.5) + 1e-4 * rng.standard_normal(8000).astype(np.float32)
    audio = np.concatenate([tone, residue])
    gated = track_pitch(audio, 16000, gate_db=SILENCE_GATE_DB)
    assert gated.voiced[5:45].all() and not gated.voiced[55:].any()
    by_default = track_pitch(audio, 16000)  # CREPE is gated unless told otherwise
    assert np.array_equal(by_default.voiced, gated.voiced)
    ungated = track_pitch(audio, 16000, gate_db=None)
    assert ungated.voiced[55:95].mean() > 0.5  # CREPE normalises frames: it hears the faint tone


def test_invalid_options_are_domain_errors() -> None:
    tone = harmonic_tone(220.0)
    with pytest.raises(ConfigError, match="unknown pitch tracker"):
        track_pitch(tone, 16000, tracker="yin")
    with pytest.raises(ConfigError, match="fmin"):
        track_pitch(tone, 16000, fmin=500, fmax=100)
    with pytest.raises(VocalsepError):
        track_pitch(np.zeros(0, dtype=np.float32), 16000)


def test_bundled_crepe_weights_are_intact_and_load_strictly() -> None:
    assert hashlib.sha256(CREPE_TINY_FILE.read_bytes()).hexdigest() == CREPE_TINY_SHA256
    network = load_crepe_tiny()
    # CREPE tiny (weights and biases, 486 552) and the mixture's first convolution (128 filters of 512 samples, no bias)
    assert network.inputs == 2
    assert sum(p.numel() for p in network.parameters()) == 486_552 + 512 * 128


def test_no_torchaudio_needed() -> None:
    import sys

    track_pitch(harmonic_tone(220.0, seconds=0.1), 16000)
    assert "torchaudio" not in sys.modules and "torchcrepe" not in sys.modules


def test_units() -> None:
    assert float(hz_to_midi(440.0)) == pytest.approx(69.0)
    assert float(midi_to_hz(60)) == pytest.approx(261.6256, abs=1e-3)
    assert midi_to_note(60) == "C4" and midi_to_note(61) == "C#4" and hz_to_note(27.5) == "A0"
    assert np.isnan(hz_to_midi(0.0))


def test_f0_csv_round_trip(tmp_path: Path) -> None:
    track = track_pitch(harmonic_tone(330.0, seconds=0.2), 16000)
    path = write_f0_csv(track, tmp_path / "out" / "f0.csv")
    assert path.read_text().splitlines()[0] == "time,frequency,confidence,voiced"
    back = read_f0_csv(path)
    np.testing.assert_allclose(back.times, track.times, atol=1e-4)
    np.testing.assert_allclose(back.frequency, track.frequency, atol=1e-3)
    np.testing.assert_allclose(back.confidence, track.confidence, atol=1e-4)
    np.testing.assert_array_equal(back.voiced, track.voiced)


def test_malformed_f0_csv(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(VocalsepError, match="not an f0.csv"):
        read_f0_csv(tmp_path / "bad.csv")


def test_summary() -> None:
    times = np.arange(10) * 0.01
    frequency = np.array([0, 220, 220, 220, 440, 440, 0, 0, 0, 0], dtype=float)
    summary = summarize(PitchTrack(times, frequency, np.ones(10), frequency > 0))
    assert summary.voiced_share == pytest.approx(0.5)
    assert summary.median_hz == pytest.approx(220.0)
    assert "A3" in summary.describe() and "50%" in summary.describe()
    empty = summarize(PitchTrack(times, np.zeros(10), np.zeros(10), np.zeros(10, bool)))
    assert empty.describe() == "no voiced frames"


# --- vocalsep pitch -------------------------------------------------------------------------


def _melody_song(rate: int = 16000) -> np.ndarray:
    steps = [voice_tone(0.3, rate, f0=f, vibrato_cents=20.0, seed=i) for i, f in enumerate((220.0, 246.94, 277.18))]
    return np.concatenate(steps)


def test_cli_pitch_no_separate_writes_csvs_midi_and_summary(tmp_path: Path, capsys) -> None:
    import mido

    write_wav(tmp_path / "voice.wav", _melody_song(), 16000)
    assert main(["pitch", str(tmp_path / "voice.wav"), "-o", str(tmp_path / "out"), "--no-separate"]) == 0
    folder = tmp_path / "out" / "voice"
    assert {p.name for p in folder.iterdir()} == {"f0.csv", "notes.csv", "notes.mid", "beats.csv", "melody.musicxml",
                                                  "melody.json"}
    out = capsys.readouterr().out
    assert "notes" in out and "median" in out and "voiced" in out
    midi = mido.MidiFile(folder / "notes.mid")
    pitches = [m.note for m in midi if m.type == "note_on" and m.velocity > 0]
    assert pitches == [57, 59, 61]  # A3, B3, C#4


def test_cli_pitch_hop_sets_the_frame_rate_and_keeps_the_notes(tmp_path: Path, capsys) -> None:
    import mido

    write_wav(tmp_path / "voice.wav", _melody_song(), 16000)
    assert main(["pitch", str(tmp_path / "voice.wav"), "-o", str(tmp_path / "out"), "--no-separate",
                 "--hop", "0.02"]) == 0
    times = np.loadtxt(tmp_path / "out" / "voice" / "f0.csv", delimiter=",", skiprows=1, usecols=0)
    np.testing.assert_allclose(np.diff(times), 0.02, atol=1e-6)
    midi = mido.MidiFile(tmp_path / "out" / "voice" / "notes.mid")
    assert [m.note for m in midi if m.type == "note_on" and m.velocity > 0] == [57, 59, 61]
    with pytest.raises(SystemExit):
        main(["pitch", str(tmp_path / "voice.wav"), "-o", str(tmp_path / "bad"), "--no-separate", "--hop", "0.5"])
    assert "outside 0.005..0.05" in capsys.readouterr().err


def test_cli_pitch_separates_and_plots_with_a_model(tmp_path: Path) -> None:
    model = str(tiny_checkpoint(tmp_path / "model"))
    song = np.stack([_melody_song() + 0.3 * accompaniment_noise(0.9, 16000)] * 2)
    write_wav(tmp_path / "song.wav", song, 16000)
    code = main(["pitch", str(tmp_path / "song.wav"), "-o", str(tmp_path / "out"), "--model", model, "--plot"])
    assert code == 0
    names = {p.name for p in (tmp_path / "out" / "song").iterdir()}
    assert names == {"f0.csv", "notes.csv", "notes.mid", "beats.csv", "melody.musicxml", "melody.json", "melody.png",
                     "spectrograms.png"}
    # An existing output is refused without --overwrite, and replaced with it.
    assert main(["pitch", str(tmp_path / "song.wav"), "-o", str(tmp_path / "out"), "--model", model]) == 1
    assert main(["pitch", str(tmp_path / "song.wav"), "-o", str(tmp_path / "out"), "--model", model,
                 "--overwrite", "--tracker", "pyin"]) == 0


def test_cli_pitch_errors_are_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    assert main(["pitch", str(tmp_path / "junk.wav"), str(tmp_path / "missing.wav"), "--no-separate",
                 "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("vocalsep:") for line in err)
    assert "Traceback" not in "".join(err)
    assert main(["pitch", str(tmp_path / "junk.wav"), "--model", str(tmp_path / "nope.pt")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vocalsep: error:")


# --- block-wise tracking equals whole-signal tracking ------------------------------------------


def _song_like_voice(seconds: float = 6.0) -> np.ndarray:
    """Notes, a rest and noise at 16 kHz: voiced and unvoiced stretches across block seams."""
    parts = [voice_tone(0.7, 16000, f0=f, seed=i) for i, f in enumerate((196.0, 247.0, 330.0, 294.0, 440.0))]
    parts.insert(2, np.zeros(8000, np.float32))
    voice = np.concatenate(parts)
    voice = np.concatenate([voice, voice[::-1]])[: int(seconds * 16000)]
    return voice + 0.01 * accompaniment_noise(voice.size / 16000, 16000)[: voice.size]


def _whole_signal_crepe(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The whole-signal reference: all activations at once, then librosa's Viterbi over all frames."""
    import librosa

    from vocalsep.melody.tracking import crepe_activation, crepe_bin_cents, crepe_readout, crepe_transition

    activation = crepe_activation(audio, 160, batch_frames=64).astype(np.float64)
    cents = crepe_bin_cents()
    activation[:, (cents < 1200 * np.log2(6.0) - 20) | (cents > 1200 * np.log2(110.0) + 20)] = 0.0
    probability = activation + 1e-9
    probability /= probability.sum(axis=1, keepdims=True)
    path = librosa.sequence.viterbi(probability.T, crepe_transition(160)[0]).astype(np.int64)
    return crepe_readout(activation, path)


def test_blockwise_crepe_equals_whole_signal_tracking() -> None:
    """Exact, not approximate: the frames are local and the decoder decides only what cannot change.

    Small blocks (0.5 s) and pieces (~0.49 s, off the hop grid) put many seams in 6 s; the
    whole-signal reference is the former implementation (one activation matrix, librosa's
    Viterbi). The only freedom left is float rounding of the network's batches (same batches
    here), so the tolerance is 1e-9 relative.
    """
    from vocalsep.melody.tracking import PitchStream

    audio = _song_like_voice()
    stream = PitchStream(block_frames=50)
    for start in range(0, audio.size, 7777):
        stream.push(audio[start : start + 7777])
    track = stream.finish()
    frequency, confidence = _whole_signal_crepe(audio)
    assert len(track) == 1 + audio.size // 160 == frequency.size
    np.testing.assert_allclose(track.frequency, frequency, rtol=1e-9)
    np.testing.assert_allclose(track.confidence, confidence, rtol=1e-9, atol=1e-12)
    whole = track_pitch(audio, 16000)
    np.testing.assert_array_equal(track.voiced, whole.voiced)  # the gate's levels too
    assert 0.3 < track.voiced.mean() < 0.95


def test_blockwise_pyin_equals_whole_signal_pyin() -> None:
    """pYIN's HMM is decoded per block with PYIN_CONTEXT (4 s) of audio around it; 1 s blocks of a
    12 s signal: its paths merge within that context, so frames and voicing match the whole-signal
    librosa.pyin exactly here (allowed: 0.5 % of frames, should a path merge later on real songs)."""
    import librosa

    from vocalsep.melody.tracking import PitchStream

    audio = np.concatenate([_song_like_voice(), _song_like_voice()[::-1]])
    stream = PitchStream(tracker="pyin", block_frames=100)
    for start in range(0, audio.size, 5000):
        stream.push(audio[start : start + 5000])
    track = stream.finish()
    f0, flags, _ = librosa.pyin(audio, fmin=60.0, fmax=1100.0, sr=16000, frame_length=1024, hop_length=160,
                                fill_na=None, center=True)
    f0 = np.nan_to_num(f0)
    assert len(track) == f0.size
    assert np.mean(track.voiced != (flags & (f0 > 0))) <= 0.005
    same = track.voiced & flags
    np.testing.assert_allclose(track.frequency[same], f0[same], rtol=1e-9)


def test_streaming_viterbi_equals_librosa_in_bounded_memory() -> None:
    """Random peaked activations with a flat stretch: same path as librosa's whole-input Viterbi,
    while the decoder never holds more than a few hundred frames of back-pointers."""
    import librosa

    from vocalsep.melody.tracking import crepe_transition
    from vocalsep.melody.viterbi import ViterbiStream

    rng = np.random.default_rng(0)
    activation = rng.random((6000, 360)) ** 12
    activation[2000:2300] = rng.random((300, 360)) * 1e-3  # near-flat: paths merge late
    probability = activation + 1e-9
    probability /= probability.sum(axis=1, keepdims=True)
    transition, width = crepe_transition(160)
    reference = librosa.sequence.viterbi(probability.T, transition)
    decoder = ViterbiStream(transition, width, check_every=64)
    log_prob = np.log(probability + np.finfo(np.float64).tiny)
    path, held = [], 0
    for start in range(0, len(log_prob), 37):
        path.append(decoder.push(log_prob[start : start + 37]))
        held = max(held, len(decoder.pointers))
    path.append(decoder.finish())
    np.testing.assert_array_equal(np.concatenate(path), reference)
    assert held < 1000


def test_viterbi_fixed_lag_fallback_bounds_memory() -> None:
    """Survivors that never merge (a flat input) still leave at most max_pending frames undecided."""
    from vocalsep.melody.tracking import crepe_transition
    from vocalsep.melody.viterbi import ViterbiStream

    transition, width = crepe_transition(160)
    decoder = ViterbiStream(transition, width, max_pending=500, check_every=50)
    decided = 0
    for _ in range(60):
        decided += decoder.push(np.full((50, 360), np.log(1 / 360))).size
        assert len(decoder.pointers) <= 550
    assert decided + decoder.finish().size == 3000


def test_blockwise_tracking_of_a_voice_with_its_mixture_equals_the_whole_signal() -> None:
    """The voice and the song stream side by side through the same blocks, exactly as the whole signal."""
    import torch

    from vocalsep.melody.trackers.crepe import load_crepe_tiny, widened
    from vocalsep.melody.tracking import PitchStream

    network = widened(load_crepe_tiny(), inputs=2, voicing=True)
    with torch.no_grad():  # give the song and the voicing output some weight
        network.conv1_song.weight.copy_(0.3 * network.conv1.weight)
        network.voicing_head.weight.copy_(0.5 * network.classifier.weight.mean(axis=0, keepdim=True))
    audio = _song_like_voice()
    song = audio + 0.3 * np.random.default_rng(1).standard_normal(audio.size).astype(np.float32)
    stream = PitchStream(block_frames=50, network=network)
    for start in range(0, audio.size, 7777):
        stream.push(audio[start : start + 7777], mixture=song[start : start + 7777])
    track = stream.finish()
    whole = track_pitch(audio, 16000, network=network, mixture=song)
    assert len(track) == len(whole) == 1 + audio.size // 160
    np.testing.assert_allclose(track.frequency, whole.frequency, rtol=1e-6)
    np.testing.assert_allclose(track.confidence, whole.confidence, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(track.voiced, whole.voiced)
    alone = track_pitch(audio, 16000, network=network)
    assert not np.allclose(alone.confidence, whole.confidence)  # the song was heard
    with pytest.raises(VocalsepError, match="mixture has"):
        track_pitch(audio, 16000, network=network, mixture=song[:-800])
