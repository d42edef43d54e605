"""Note segmentation on synthetic steps and glides; notes.csv and MIDI round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vocalsep.errors import ConfigError, VocalsepError
from vocalsep.melody.notes import Note, read_midi, read_notes_csv, segment_notes, write_midi, write_notes_csv
from vocalsep.melody.tracking import PitchTrack, midi_to_hz

HOP = 0.01


def contour(midi: np.ndarray, voiced: np.ndarray | None = None, confidence: float = 0.9) -> PitchTrack:
    times = np.arange(midi.size) * HOP
    frequency = np.nan_to_num(midi_to_hz(midi), nan=0.0)
    voiced = np.isfinite(midi) if voiced is None else voiced & np.isfinite(midi)
    return PitchTrack(times, frequency, np.full(midi.size, confidence), voiced)


def test_steps_with_vibrato_give_one_note_per_step() -> None:
    pitches = [60, 62, 64, 65, 67, 62]
    midi = np.repeat(pitches, 40).astype(float)
    t = np.arange(midi.size) * HOP
    midi += 0.3 * np.sin(2 * np.pi * 5.5 * t)  # +-30 cent vibrato
    notes = segment_notes(contour(midi))
    assert [n.pitch for n in notes] == pitches
    onsets = np.array([n.onset for n in notes])
    # mir_eval.transcription's onset tolerance is 50 ms
    np.testing.assert_allclose(onsets, np.arange(len(pitches)) * 0.4, atol=0.05)


def test_wide_vibrato_stays_one_note() -> None:
    t = np.arange(150) * HOP
    notes = segment_notes(contour(67.0 + 0.5 * np.sin(2 * np.pi * 5.5 * t)))  # +-50 cents
    assert [(n.pitch, n.onset) for n in notes] == [(67, 0.0)]
    assert all(a.offset <= b.onset + 1e-9 for a, b in zip(notes, notes[1:]))


def test_glide_gives_rising_notes_none_shorter_than_the_minimum() -> None:
    midi = np.linspace(60.0, 66.0, 200)  # six semitones in two seconds
    notes = segment_notes(contour(midi), min_duration=0.08)
    pitches = [n.pitch for n in notes]
    assert len(notes) >= 3
    assert pitches == sorted(pitches) and len(set(pitches)) == len(pitches)
    assert 60 <= pitches[0] and pitches[-1] <= 66
    assert all(n.duration >= 0.08 - 1e-9 for n in notes)
    assert notes[0].onset == pytest.approx(0.0) and notes[-1].offset == pytest.approx(2.0, abs=HOP)


def test_glitches_and_octave_errors_do_not_split_a_note() -> None:
    midi = np.full(60, 69.0)
    midi[20:23] = 81.0  # three frames an octave up
    midi[40] = 70.5
    notes = segment_notes(contour(midi))
    assert [(n.pitch, n.onset) for n in notes] == [(69, 0.0)]


def test_short_gaps_are_bridged_long_gaps_separate_repeated_notes() -> None:
    midi = np.full(100, 64.0)
    voiced = np.ones(100, bool)
    voiced[30:33] = False  # 30 ms dropout
    voiced[60:75] = False  # 150 ms rest
    notes = segment_notes(contour(midi, voiced))
    assert [n.pitch for n in notes] == [64, 64]
    assert notes[0].offset == pytest.approx(0.595, abs=HOP) and notes[1].onset == pytest.approx(0.745, abs=HOP)


def test_too_short_notes_are_dropped_and_unvoiced_gives_nothing() -> None:
    midi = np.full(50, np.nan)
    midi[10:14] = 60.0  # 40 ms
    assert segment_notes(contour(midi)) == []
    assert segment_notes(contour(np.full(30, np.nan))) == []
    with pytest.raises(ConfigError):
        segment_notes(contour(np.full(30, 60.0)), min_duration=0)


def test_note_frequency_is_the_median_and_velocity_follows_confidence() -> None:
    notes = segment_notes(contour(np.full(50, 60.3), confidence=1.0))
    assert notes[0].frequency == pytest.approx(float(midi_to_hz(60.3)), rel=1e-6)
    assert notes[0].name == "C4" and 1 <= notes[0].velocity <= 127
    quiet = segment_notes(contour(np.full(50, 60.3), confidence=0.2))
    assert quiet[0].velocity < notes[0].velocity


NOTES = [Note(0.0, 0.5, 60, 261.9, 90), Note(0.5, 0.75, 62, 293.0, 70), Note(1.2, 2.345, 67, 392.5, 100),
         Note(1.5, 1.7, 43, 98.0, 64)]  # the last overlaps the third (two voices in one file)


def test_notes_csv_round_trip(tmp_path: Path) -> None:
    path = write_notes_csv(NOTES, tmp_path / "sub" / "notes.csv")
    assert path.read_text().splitlines()[1] == "0.0000,0.5000,60,C4,261.90,90"
    assert read_notes_csv(path) == NOTES
    (tmp_path / "bad.csv").write_text("onset,offset\n0,1\n")
    with pytest.raises(VocalsepError, match="not a notes.csv"):
        read_notes_csv(tmp_path / "bad.csv")


def test_midi_round_trip_read_back_with_mido(tmp_path: Path) -> None:
    import mido

    path = write_midi(NOTES, tmp_path / "notes.mid")
    midi = mido.MidiFile(path)
    assert midi.type == 1 and len(midi.tracks) == 1
    assert any(m.type == "set_tempo" and m.tempo == 500_000 for m in midi.tracks[0])
    assert midi.length == pytest.approx(2.345, abs=2e-3)
    back = read_midi(path)
    expected = sorted(NOTES, key=lambda n: (n.onset, n.pitch))
    assert [(n.pitch, n.velocity) for n in back] == [(n.pitch, n.velocity) for n in expected]
    np.testing.assert_allclose([n.onset for n in back], [n.onset for n in expected], atol=1e-3)
    np.testing.assert_allclose([n.offset for n in back], [n.offset for n in expected], atol=1e-3)


def test_empty_midi_and_unreadable_midi(tmp_path: Path) -> None:
    assert read_midi(write_midi([], tmp_path / "empty.mid")) == []
    (tmp_path / "bad.mid").write_bytes(b"MThd garbage")
    with pytest.raises(VocalsepError, match="not a readable MIDI"):
        read_midi(tmp_path / "bad.mid")


def test_atomic_writes_leave_no_partial_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    write_notes_csv(NOTES, tmp_path / "notes.csv")
    write_midi(NOTES, tmp_path / "notes.mid")
    old = {name: (tmp_path / name).read_bytes() for name in ("notes.csv", "notes.mid")}
    real_open = open

    class Failing(io.FileIO):
        """A file that takes a few bytes, then fails like a full disk."""

        def write(self, data: bytes) -> int:
            super().write(bytes(data)[:5])
            raise OSError(28, "No space left on device")

    def failing_open(file, mode="r", *args, **kwargs):  # noqa: ANN001, ANN202
        if "w" in mode and "b" in mode:
            return Failing(file, "w")
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", failing_open)
    with pytest.raises(VocalsepError, match="No space left"):
        write_notes_csv(NOTES[:1], tmp_path / "notes.csv")
    with pytest.raises(VocalsepError, match="No space left"):
        write_midi(NOTES[:1], tmp_path / "notes.mid")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.csv", "notes.mid"]  # no temporary left
    assert {name: (tmp_path / name).read_bytes() for name in old} == old  # the old files intact


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7])
def test_the_running_median_is_scipys_median_filter(size: int) -> None:
    from scipy.ndimage import median_filter

    from vocalsep.melody.notes import _running_median

    values = np.random.default_rng(size).standard_normal(23)
    np.testing.assert_array_equal(_running_median(values, size), median_filter(values, size=size, mode="nearest"))


# --- MIDI on the song's beats -------------------------------------------------------------------


def _ticks_of(path: Path) -> list[tuple[int, object]]:
    import mido

    now, events = 0, []
    for message in mido.MidiFile(path).tracks[0]:
        now += message.time
        events.append((now, message))
    return events


@pytest.mark.parametrize("first_beat", [0.0, 0.1, 0.37, 0.6])
def test_midi_on_a_beat_grid_keeps_the_times_and_puts_beats_on_the_ticks(tmp_path: Path, first_beat: float) -> None:
    from vocalsep.melody.grid import BeatGrid

    period = 60 / 93.0
    beats = first_beat + np.concatenate([[0.0], np.cumsum(period * np.linspace(1.0, 1.03, 39))])  # slowing a little
    grid = BeatGrid(beats, 93.0, first_downbeat=2)
    notes = [Note(round(beats[k], 4), round(beats[k] + 0.4, 4), 60 + k % 12, 262.0, 90) for k in range(0, 38, 3)]
    if first_beat > 0:
        notes.insert(0, Note(round(first_beat / 4, 4), round(first_beat / 2, 4), 59, 247.0, 80))  # before the first beat
    path = write_midi(notes, tmp_path / "notes.mid", grid=grid)
    back = read_midi(path)
    assert [n.pitch for n in back] == [n.pitch for n in notes]
    for original, read in zip(notes, back, strict=True):  # a tick is 1.3 ms at 93 BPM
        assert abs(read.onset - original.onset) < 1.5e-3 and abs(read.offset - original.offset) < 1.5e-3
    events = _ticks_of(path)
    # sung on the beat: on a DAW's beat line (a first beat within half a beat of 0 s shares the lead-in's)
    skip = (1 if first_beat > 0 else 0) + (1 if 0 < first_beat < period / 2 else 0)
    onsets = [tick for tick, m in events if m.type == "note_on"][skip:]
    assert all(tick % 480 == 0 for tick in onsets)
    tempos = [m.tempo for _, m in events if m.type == "set_tempo"]
    assert any(abs(t - 1e6 * period) < 1000 for t in tempos[:3]) and tempos[-1] > tempos[1]  # 93 BPM, slowing
    # bars start on the downbeat (beat index 2): a shorter first bar, then 4/4
    meters = [(tick, m.numerator) for tick, m in events if m.type == "time_signature"]
    downbeat_tick = round(480 * _midi_beats(grid, beats[2]))
    assert meters[-1] == (downbeat_tick % 1920, 4) or meters == [(0, 4)] and downbeat_tick % 1920 == 0


def _midi_beats(grid: object, seconds: float) -> float:
    from vocalsep.melody.notes import _TickMap

    return _TickMap(grid).beats(seconds)


def test_midi_with_a_key_and_without_a_grid(tmp_path: Path) -> None:
    import mido

    from vocalsep.melody.key import Key

    write_midi(NOTES, tmp_path / "key.mid", key=Key(10, "minor"))
    assert [m.key for m in mido.MidiFile(tmp_path / "key.mid") if m.type == "key_signature"] == ["Bbm"]
    plain = mido.MidiFile(tmp_path / "key.mid")  # no grid: 120 BPM from 0, as before
    assert [m.tempo for m in plain if m.type == "set_tempo"] == [500_000]
