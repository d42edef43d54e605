"""``evaluate-pitch``: MIR-1K labels, mir_eval scores, the three conditions on a synthetic MIR-1K folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import accompaniment_noise, voice_tone, write_wav
from support import tiny_checkpoint, tiny_estimator

from vocalsep.apps.cli import main
from vocalsep.errors import ConfigError, DatasetError
from vocalsep.melody.tracking import PitchTrack, hz_to_midi
from vocalsep.evaluation.melody import HELD_OUT_SONGS, UNSEEN_SINGERS, evaluate_pitch, mir1k_clips, read_f0_annotation, read_mir1k_pitch, score
from vocalsep.separation.separator import Separator

RATE = 16000


def fake_mir1k(root: Path, clips: dict[str, float]) -> Path:
    """Stereo clips (left noise, right a sung tone) with ``.pv`` labels, as in MIR-1K."""
    for i, (name, f0) in enumerate(clips.items()):
        voice = voice_tone(1.0, RATE, f0=f0, vibrato_cents=0.0, seed=i)
        write_wav(root / "Wavfile" / f"{name}.wav", np.stack([accompaniment_noise(1.0, RATE, seed=i), voice]), RATE)
        frames = int(1.0 / 0.02) - 1  # labels end a frame early, as in MIR-1K
        labels = np.full(frames, float(hz_to_midi(f0)))
        labels[:5] = 0.0
        (root / "PitchLabel" / f"{name}.pv").parent.mkdir(parents=True, exist_ok=True)
        (root / "PitchLabel" / f"{name}.pv").write_text("\n".join(f"{v:.4f}" for v in labels) + "\n")
    return root


def test_read_mir1k_pitch(tmp_path: Path) -> None:
    (tmp_path / "a.pv").write_text("0\n0\n69\n57.5\n")
    times, frequency = read_mir1k_pitch(tmp_path / "a.pv")
    np.testing.assert_allclose(times, [0.0, 0.02, 0.04, 0.06, 0.08])  # frame i (1-based) at 0.02 i
    np.testing.assert_allclose(frequency, [0, 0, 0, 440.0, 440.0 * 2 ** (-11.5 / 12)])
    (tmp_path / "b.pv").write_text("x\n")
    with pytest.raises(DatasetError):
        read_mir1k_pitch(tmp_path / "b.pv")


def test_read_f0_annotation(tmp_path: Path) -> None:
    (tmp_path / "f0.csv").write_text("0.0,0.0\n0.0058,220.5\n")
    times, frequency = read_f0_annotation(tmp_path / "f0.csv")
    np.testing.assert_allclose(frequency, [0.0, 220.5])


def test_scores_of_a_perfect_and_a_wrong_estimate() -> None:
    ref_times = np.arange(50) * 0.02
    ref = np.where(np.arange(50) < 25, 0.0, 220.0)
    est_times = np.arange(100) * 0.01
    perfect = np.interp(est_times, ref_times, ref)
    voiced = perfect > 0
    good = score((ref_times, ref), PitchTrack(est_times, np.where(voiced, 220.0, 0.0), voiced.astype(float), voiced))
    assert good["RPA"] == pytest.approx(1.0) and good["OA"] > 0.95 and good["VFA"] < 0.05
    octave = score((ref_times, ref), PitchTrack(est_times, np.full(100, 440.0), np.ones(100), np.ones(100, bool)))
    assert octave["RPA"] == 0.0 and octave["RCA"] == pytest.approx(1.0) and octave["VR"] == 1.0


def test_clip_selection_defaults_to_the_unseen_singers(tmp_path: Path) -> None:
    root = fake_mir1k(tmp_path, {"abjones_3_01": 220.0, "amy_9_02": 330.0, "abjones_1_01": 262.0,
                                 "Ani_1_01": 250.0, "ariel_2_03": 300.0})
    (root / "Wavfile" / "ariel_2_03.wav").rename(root / "Wavfile" / "ariel_2_03.flac")  # the new singers are FLAC
    assert UNSEEN_SINGERS == ("Ani", "annar", "ariel")
    assert [p.name for p in mir1k_clips(root)] == ["Ani_1_01.wav", "ariel_2_03.flac"]
    assert [p.stem for p in mir1k_clips(root, HELD_OUT_SONGS, singers=None)] == ["abjones_3_01", "amy_9_02"]
    assert len(mir1k_clips(root, singers=None)) == 5
    with pytest.raises(DatasetError, match="songs nobody_1"):
        mir1k_clips(root, songs=("nobody_1",), singers=None)
    with pytest.raises(DatasetError, match="singers bug"):
        mir1k_clips(root, singers=("bug",))


def test_three_conditions_on_a_synthetic_mir1k(tmp_path: Path) -> None:
    root = fake_mir1k(tmp_path / "mir", {"Ani_3_01": 220.0, "annar_9_01": 311.0, "amy_9_01": 311.0})
    separator = Separator(tiny_estimator())  # by default the unseen singers only: amy_9_01 is not scored
    scores = evaluate_pitch(root, trackers=["crepe-tiny"], separator=separator)
    table = {row["condition"]: row for row in scores.table()}
    assert set(table) == {"clean", "mixture", "separated"}
    assert all(row["clips"] == 2 for row in table.values())
    assert table["clean"]["RPA"] > 0.9 and table["clean"]["VR"] > 0.9
    written = scores.write(tmp_path / "report")
    assert len(written["per_clip"].read_text().splitlines()) == 1 + 2 * 3
    assert json.loads(written["summary"].read_text())[0]["dataset"] == "MIR-1K"
    assert "| MIR-1K | crepe-tiny | clean | 2 |" in scores.markdown()


def test_invalid_requests() -> None:
    with pytest.raises(ConfigError):
        evaluate_pitch(None)
    with pytest.raises(ConfigError):
        evaluate_pitch("x", trackers=["nope"])
    with pytest.raises(ConfigError):
        evaluate_pitch("x", conditions=["karaoke"])


def test_cli_evaluate_pitch(tmp_path: Path, capsys) -> None:
    root = fake_mir1k(tmp_path / "mir", {"amy_9_01": 247.0, "abjones_1_01": 262.0})
    model = str(tiny_checkpoint(tmp_path / "model"))
    code = main(["evaluate-pitch", "--mir1k", str(root), "--datasets", "mir1k", "--model", model,
                 "--tracker", "crepe-tiny", "--singers", "all", "-q", "-o", str(tmp_path / "report")])
    assert code == 0
    out = capsys.readouterr().out
    assert "| MIR-1K | crepe-tiny | separated | 2 |" in out
    assert (tmp_path / "report" / "summary.md").is_file()


def test_cli_evaluate_pitch_errors_are_one_line(tmp_path: Path, capsys) -> None:
    assert main(["evaluate-pitch", "--mir1k", str(tmp_path / "absent"), "--datasets", "mir1k",
                 "--conditions", "clean"]) == 1
    assert main(["evaluate-pitch", "--datasets", "musdb"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("vocalsep: error:") for line in err)


def test_real_mir1k_clean_voice(shared_data: Path) -> None:
    """Regression on real data: CREPE tiny on two clean clips of the unseen singers."""
    scores = evaluate_pitch(shared_data / "MIR-1K", trackers=["crepe-tiny"], conditions=["clean"], limit=2)
    row = scores.table()[0]
    assert row["clips"] == 2 and row["RPA"] > 0.85 and row["OA"] > 0.75


def test_note_scores_count_onsets_pitches_and_offsets(tmp_path: Path) -> None:
    from vocalsep.evaluation.melody import note_scores, read_note_annotation
    from vocalsep.melody.notes import Note

    path = tmp_path / "notes.csv"
    path.write_text("0.5,220.0,0.5\n1.2,246.9,0.3\n2.0,261.6,1.0\n")
    reference = read_note_annotation(path)
    np.testing.assert_allclose(reference[0], [[0.5, 1.0], [1.2, 1.5], [2.0, 3.0]])
    notes = [Note(0.52, 1.0, 57, 221.0), Note(1.2, 1.9, 59, 247.0), Note(2.3, 3.0, 60, 261.6)]
    scores = note_scores(reference, notes)
    # onsets: the first two within 50 ms with their pitch, the third 300 ms late
    assert scores["onset_F"] == pytest.approx(2 / 3) and scores["notes"] == 3
    # with offsets: only the first (the second ends 400 ms late)
    assert scores["onset_offset_F"] == pytest.approx(1 / 3)
    bad = tmp_path / "bad.csv"
    bad.write_text("0.5,220.0,-1\n")
    with pytest.raises(DatasetError, match="positive durations"):
        read_note_annotation(bad)


def test_peers_in_the_same_run_on_spleeters_vocals(tmp_path: Path) -> None:
    from vocalsep.evaluation.pitch_peers import PEERS, register_peers

    from vocalsep.melody.trackers import unregister

    register_peers()
    root = fake_mir1k(tmp_path / "mir", {"Ani_3_01": 220.0})
    try:
        scores = evaluate_pitch(root, trackers=["crepe-tiny", "fcpe"], conditions=["clean", "spleeter"])
    finally:
        for name in PEERS:  # later tests see only the product's trackers
            unregister(name)
    table = {(row["tracker"], row["condition"]): row for row in scores.table()}
    assert set(table) == {(t, c) for t in ("crepe-tiny", "fcpe") for c in ("clean", "spleeter")}
    assert table[("fcpe", "clean")]["RPA"] > 0.9 and table[("crepe-tiny", "spleeter")]["RPA"] > 0.8
