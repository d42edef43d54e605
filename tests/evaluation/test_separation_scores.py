"""Evaluation: BSS Eval v4 through museval, baselines ordered as they must be, reports."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
from support import song, tiny_checkpoint

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="museval imports need the ffmpeg binary")


def _dataset(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for index in range(2):
        folder = root / f"track{index}"
        folder.mkdir(parents=True)
        vocals = song(3.0, 16000, channels=2, seed=index) * 0.6
        accompaniment = (rng.standard_normal(vocals.shape) * 0.1).astype(np.float32)
        soundfile.write(folder / "vocals.wav", vocals.T, 16000, subtype="FLOAT")
        soundfile.write(folder / "accompaniment.wav", accompaniment.T, 16000, subtype="FLOAT")
    return root


def test_evaluate_prints_the_table_and_writes_reports(tmp_path: Path, capsys) -> None:
    from vocalsep.apps.cli import main

    dataset = _dataset(tmp_path / "data")
    model = tiny_checkpoint(tmp_path)
    code = main(["evaluate", str(dataset), "--model", str(model), "--baselines", "mixture,oracle",
                 "-o", str(tmp_path / "report")])
    out = capsys.readouterr().out
    assert code == 0
    for name in ("tiny", "mixture", "oracle", "vocal SDR", "2 tracks"):
        assert name in out
    scores = json.loads((tmp_path / "report" / "scores.json").read_text())
    assert set(scores) == {"tiny", "mixture", "oracle"}
    oracle = scores["oracle"]["tracks"]["track0"]["vocals"]["SDR"]
    mixture = scores["mixture"]["tracks"]["track0"]["vocals"]["SDR"]
    # The mixture holds the voice about 10 dB over the noise; the oracle mask must beat it clearly.
    assert oracle > mixture + 5
    rows = list(csv.DictReader((tmp_path / "report" / "scores.csv").open()))
    assert len(rows) == 3 * 2 * 2 and {"SDR", "SIR", "SAR"} <= set(rows[0])


def test_mixture_baseline_scores_match_bss_eval_of_the_input(tmp_path: Path) -> None:
    from vocalsep.datasets import stem_folder_tracks
    from vocalsep.evaluation.separation import bss_eval_track, mixture_baseline

    track = stem_folder_tracks(_dataset(tmp_path / "data"))[0]
    scores = bss_eval_track(track, mixture_baseline(track))
    voice_to_noise = 10 * np.log10(np.sum(track.vocals**2) / np.sum(track.accompaniment**2))
    assert scores["vocals"]["SDR"] == pytest.approx(voice_to_noise, abs=3.0)
    assert scores["accompaniment"]["SDR"] == pytest.approx(-voice_to_noise, abs=3.0)


def test_the_scores_keep_every_window_beside_the_medians(tmp_path: Path) -> None:
    from vocalsep.datasets import stem_folder_tracks
    from vocalsep.evaluation.separation import WINDOW_SDR, bss_eval_track, mixture_baseline

    track = stem_folder_tracks(_dataset(tmp_path / "data"))[0]
    scores = bss_eval_track(track, mixture_baseline(track))
    for stem in ("vocals", "accompaniment"):
        windows = scores[stem][WINDOW_SDR]
        assert len(windows) == 3  # 3 s in 1 s windows
        assert scores[stem]["SDR"] == pytest.approx(np.nanmedian(windows))


def test_unknown_baseline_is_one_line(tmp_path: Path, capsys) -> None:
    from vocalsep.apps.cli import main

    dataset = _dataset(tmp_path / "data")
    model = tiny_checkpoint(tmp_path)
    assert main(["evaluate", str(dataset), "--model", str(model), "--baselines", "magic"]) == 1
    assert "unknown baseline 'magic'" in capsys.readouterr().err


def test_repet_sim_finds_a_voice_over_a_repeating_loop() -> None:
    from vocalsep.datasets import StemTrack
    from vocalsep.evaluation.separation import bss_eval_track, mixture_baseline, repet_sim_baseline

    rate = 16000
    rng = np.random.default_rng(0)
    loop = rng.standard_normal(rate // 2).astype(np.float32) * np.exp(-np.arange(rate // 2) / 3000.0)
    accompaniment = np.tile(loop, 16)[None]  # an exactly repeating drum loop, 8 s
    t = np.arange(8 * rate) / rate
    pitch = 150 * 2 ** (t / 4)  # a two-octave glide: no frame of the voice ever repeats
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    vocals = (0.3 * sum(np.sin(k * phase) / k for k in range(1, 6)))[None].astype(np.float32)
    track = StemTrack("loop", vocals, accompaniment.astype(np.float32), rate)
    repet = bss_eval_track(track, repet_sim_baseline(track))
    floor = bss_eval_track(track, mixture_baseline(track))
    assert repet["vocals"]["SDR"] > floor["vocals"]["SDR"] + 3


def test_mir1k_protocol_reports_gnsdr(tmp_path: Path, capsys) -> None:
    from vocalsep.apps.cli import main

    folder = tmp_path / "MIR-1K" / "Wavfile"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in ("singer_1_01", "singer_1_02", "singer_2_01"):
        voice = song(2.0, 16000, channels=1, seed=len(name))[0] * 0.5
        accompaniment = (rng.standard_normal(voice.shape) * 0.1).astype(np.float32)
        soundfile.write(folder / f"{name}.wav", np.stack([accompaniment, voice], axis=1), 16000)
    model = tiny_checkpoint(tmp_path)
    code = main(["evaluate", str(tmp_path / "MIR-1K"), "--songs", "singer_1", "--model", str(model),
                 "--baselines", "mixture,oracle"])
    out = capsys.readouterr().out
    assert code == 0 and "GNSDR" in out and "2 clips" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split() and line.split()[0] in ("mixture", "oracle")}
    assert float(rows["mixture"][1]) == 0.0  # NSDR of the mixture against itself
    assert float(rows["oracle"][1]) > 5.0
