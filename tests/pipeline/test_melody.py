"""``vocalsep pitch`` / ``transcribe_file``: notes on the song's tempo, beats.csv, sheet music, melody.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_wav
from support import drum_song, tiny_checkpoint

from vocalsep.apps.cli import main
from vocalsep.errors import OutputError
from vocalsep.melody.notes import read_midi, read_notes_csv
from vocalsep.melody.tracking import MELODY_FILES, read_f0_csv
from vocalsep.pipeline.melody import transcribe_file

#: A tune in G major, one note a beat, with rests.
TUNE = (67, 71, 74, 72, 71, None, 69, 67, 66, 67, 69, 71, 72, None, 74, 67)


def score_pitches(path: Path) -> list[int]:
    """The MIDI pitches of melody.musicxml as music21 reads them (a tied note once)."""
    music21 = pytest.importorskip("music21")
    score = music21.converter.parse(path)
    return [n.pitch.midi for n in score.recurse().notes if not (n.tie and n.tie.type in ("stop", "continue"))]


def tempos(path: Path) -> list[int]:
    import mido

    return [m.tempo for m in mido.MidiFile(path) if m.type == "set_tempo"]


@pytest.fixture(scope="module")
def song_93(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """20 s at 93 BPM: drums on the beat and a sung tune, stereo 22.05 kHz."""
    song, beats = drum_song(93.0, rate=22050, melody=TUNE)
    path = write_wav(tmp_path_factory.mktemp("song") / "song93.wav", np.stack([song, song]), 22050)
    return path, beats


def test_pitch_on_a_93_bpm_song_writes_its_tempo_beats_and_score(tmp_path: Path, song_93, capsys) -> None:
    path, beats = song_93
    model = str(tiny_checkpoint(tmp_path / "model"))  # the beats come from the mixture: any separator will do
    assert main(["pitch", str(path), "-o", str(tmp_path / "out"), "--model", model]) == 0
    folder = tmp_path / "out" / "song93"
    assert {p.name for p in folder.iterdir()} == set(MELODY_FILES)
    summary = json.loads((folder / "melody.json").read_text())
    assert abs(summary["tempo_bpm"] / 93.0 - 1) < 0.02, summary
    assert summary["meter"] == "4/4" and summary["beats"] >= beats.size - 3
    line = capsys.readouterr().out
    assert "93 BPM" in line and f"key {summary['key']}" in line and "range" in line
    # notes.mid carries the song's tempo, not MIDI's default 120
    assert abs(np.median(tempos(folder / "notes.mid")) / (1e6 * 60 / 93.0) - 1) < 0.02
    rows = np.loadtxt(folder / "beats.csv", delimiter=",", skiprows=1)
    inner = beats[2:-2]
    assert np.abs(rows[np.abs(rows[:, 0, None] - inner).argmin(axis=0), 0] - inner).max() < 0.02
    assert set(rows[:, 2]) == {1, 2, 3, 4}
    # the score holds the notes of notes.csv, in order
    notes = read_notes_csv(folder / "notes.csv")
    assert score_pitches(folder / "melody.musicxml") == [n.pitch for n in notes]


def test_voice_alone_key_quantize_and_the_score(tmp_path: Path, capsys) -> None:
    voice = drum_song(93.0, seconds=14.0, melody=TUNE, drums=False)[0]  # the beats come from the voice alone
    write_wav(tmp_path / "voice.wav", voice, 16000)
    result = transcribe_file(tmp_path / "voice.wav", tmp_path / "out", separate=False, quantize=4)
    folder = tmp_path / "out" / "voice"
    summary = json.loads((folder / "melody.json").read_text())
    assert summary["key"] == "G major" and result.key is not None and result.key.name == "G major"
    assert summary["notes"] == len(result.notes) and summary["octave_shift"] == 0
    notes = read_notes_csv(folder / "notes.csv")
    assert [n.pitch for n in notes] == [n.pitch for n in result.notes]
    assert score_pitches(folder / "melody.musicxml") == [n.pitch for n in notes]
    # --quantize 4: every onset and offset on a sixteenth of the beat grid
    steps = result.grid.position([t for n in result.notes for t in (n.onset, n.offset)]) * 4
    np.testing.assert_allclose(steps, np.round(steps), atol=0.01)
    # MIDI and csv agree on the quantised times
    back = read_midi(folder / "notes.mid")
    np.testing.assert_allclose([n.onset for n in back], [n.onset for n in notes], atol=2e-3)


def test_octave_shift_moves_the_contour_notes_and_summary(tmp_path: Path) -> None:
    voice = drum_song(100.0, seconds=6.0, melody=(60, 64, 67, None), drums=False)[0]
    write_wav(tmp_path / "voice.wav", voice, 16000)
    plain = transcribe_file(tmp_path / "voice.wav", tmp_path / "plain", separate=False)
    up = transcribe_file(tmp_path / "voice.wav", tmp_path / "up", separate=False, octave_shift=1)
    assert [n.pitch + 12 for n in plain.notes] == [n.pitch for n in up.notes]
    np.testing.assert_allclose(read_f0_csv(tmp_path / "up" / "voice" / "f0.csv").frequency,
                               2 * read_f0_csv(tmp_path / "plain" / "voice" / "f0.csv").frequency, rtol=1e-5)
    assert up.summary.median_hz == pytest.approx(2 * plain.summary.median_hz)
    assert json.loads((tmp_path / "up" / "voice" / "melody.json").read_text())["octave_shift"] == 1


def test_the_cli_and_the_api_write_the_same_files(tmp_path: Path) -> None:
    voice = drum_song(110.0, seconds=6.0, melody=(62, 66, 69, 66), drums=False)[0]
    write_wav(tmp_path / "voice.wav", voice, 16000)
    assert main(["pitch", str(tmp_path / "voice.wav"), "-o", str(tmp_path / "cli"), "--no-separate", "--plot",
                 "--quantize", "2", "--octave-shift", "-1"]) == 0
    result = transcribe_file(tmp_path / "voice.wav", tmp_path / "api", separate=False, plot=True, quantize=2,
                             octave_shift=-1)
    names = sorted(p.name for p in (tmp_path / "cli" / "voice").iterdir())
    assert names == sorted(p.name for p in result.paths.values()) == sorted([*MELODY_FILES, "melody.png"])
    for name in names:
        assert (tmp_path / "cli" / "voice" / name).read_bytes() == result.paths[name].read_bytes(), name


def test_options_out_of_range_are_one_line(tmp_path: Path, capsys) -> None:
    write_wav(tmp_path / "voice.wav", drum_song(100.0, seconds=2.0, melody=(60,), drums=False)[0], 16000)
    for option, reason in ((["--quantize", "5"], "not one of 1, 2, 3, 4, 6, 8"), (["--quantize", "x"], "not one of"),
                           (["--octave-shift", "4"], "outside -3..3"), (["--octave-shift", "1.5"], "not a whole number")):
        with pytest.raises(SystemExit):
            main(["pitch", str(tmp_path / "voice.wav"), "--no-separate", *option])
        last = capsys.readouterr().err.strip().splitlines()[-1]  # argparse: usage, then the one line
        assert f"argument {option[0]}" in last and reason in last
    from vocalsep.errors import ConfigError

    with pytest.raises(ConfigError):
        transcribe_file(tmp_path / "voice.wav", tmp_path / "out", separate=False, quantize=5)
    with pytest.raises(ConfigError):
        transcribe_file(tmp_path / "voice.wav", tmp_path / "out", separate=False, octave_shift=7)
    assert not (tmp_path / "out").exists()


def test_a_failing_score_publishes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import vocalsep.pipeline.song as song

    def broken(*args: object, **kwargs: object) -> bytes:
        raise OutputError("the score could not be written as MusicXML (test)")

    monkeypatch.setattr(song, "musicxml_bytes", broken)
    write_wav(tmp_path / "voice.wav", drum_song(100.0, seconds=3.0, melody=(60, 62), drums=False)[0], 16000)
    assert main(["pitch", str(tmp_path / "voice.wav"), "-o", str(tmp_path / "out"), "--no-separate", "--plot"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "vocalsep: error: the score could not be written as MusicXML (test)", "vocalsep: 1 of 1 file(s) failed"]
    folder = tmp_path / "out" / "voice"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_float_file_near_float32_max_is_one_line(tmp_path: Path, capsys) -> None:
    """Samples of 3e38 overflowed the analyses' squares: six numpy warnings. Now the analyses hear
    the song scaled by a power of two, and the melody of the sine is found as for any level."""
    import soundfile

    t = np.arange(3 * 16000) / 16000
    sine = (3.0e38 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    soundfile.write(tmp_path / "huge.wav", np.stack([sine, sine], axis=1), 16000, subtype="FLOAT")
    # the bundled separator, whose mask does not depend on the level (a random tiny one's does, and the
    # learned voicing compares the voice with the song)
    assert main(["pitch", str(tmp_path / "huge.wav"), "-o", str(tmp_path / "out"), "--plot"]) == 0
    captured = capsys.readouterr()
    assert "warning" not in captured.err and len(captured.out.strip().splitlines()) == 1
    notes = read_notes_csv(tmp_path / "out" / "huge" / "notes.csv")
    quiet = tmp_path / "quiet.wav"
    soundfile.write(quiet, np.stack([sine, sine], axis=1) / np.float32(3.0e38) * np.float32(0.5), 16000, subtype="FLOAT")
    assert main(["pitch", str(quiet), "-o", str(tmp_path / "out")]) == 0
    assert [n.pitch for n in notes] == [n.pitch for n in read_notes_csv(tmp_path / "out" / "quiet" / "notes.csv")] == [57]
