"""The helper scripts of training on another machine: packing stems, training within a budget."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import stems, write_wav
from support import TINY, stem_folders, tiny_checkpoint, tiny_run

from vocalsep.audio.io import resample
from vocalsep.separation.checkpoint import read_checkpoint
from vocalsep.config import DataConfig, RunConfig, TrainConfig
from vocalsep.datasets import MUSDB_VALIDATION, stem_folder_tracks

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _script(name: str):  # noqa: ANN202  (the module)
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def _datasets(root: Path) -> RunConfig:
    """A MUSDB18 folder (one training and one validation track) and a MIR-1K folder (one held-out song)."""
    for index, name in enumerate(["Artist - Song", MUSDB_VALIDATION[0]]):
        parts = {s: stems(0.5, 44100, channels=2, seed=index)[k % 2] * 0.5 for k, s in enumerate(("drums", "bass", "other", "vocals"))}
        for stem, waveform in parts.items():
            write_wav(root / "musdb" / "train" / name / f"{stem}.wav", waveform, 44100, "FLOAT")
    for clip in ("singer_1_01", "singer_2_01"):
        vocals, accompaniment = stems(0.5, 16000, channels=1)
        write_wav(root / "mir1k" / "Wavfile" / f"{clip}.wav", np.concatenate([accompaniment, vocals]), 16000, "FLOAT")
    data = DataConfig(musdb_root=str(root / "musdb"), mir1k_root=str(root / "mir1k"), mir1k_validation_songs=("singer_2",))
    return RunConfig(name="packed", data=data)


def test_packed_stems_hold_the_training_tracks_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    config_path = tmp_path / "run.toml"
    config_path.write_text(_datasets(tmp_path).to_toml())
    monkeypatch.setattr(sys, "argv", ["pack", "--config", str(config_path), "--out", str(tmp_path / "packed"),
                                      "--musdb-rate", "32000"])
    _script("pack_training_stems").main()
    assert "2 tracks" in capsys.readouterr().out
    tracks = {t.name: t for t in stem_folder_tracks(tmp_path / "packed")}
    assert sorted(tracks) == ["mir1k-singer_1_01", "musdb-Artist - Song"]  # validation track and song left out
    musdb = tracks["musdb-Artist - Song"]
    assert musdb.sample_rate == 32000 and musdb.vocals.shape[0] == 2
    assert soundfile.info(tmp_path / "packed" / "musdb-Artist - Song" / "vocals.flac").subtype == "PCM_16"
    vocals, _ = soundfile.read(tmp_path / "musdb" / "train" / "Artist - Song" / "vocals.wav", always_2d=True)
    np.testing.assert_allclose(musdb.vocals, resample(vocals.T.astype(np.float32), 44100, 32000), atol=1e-4)
    assert tracks["mir1k-singer_1_01"].sample_rate == 16000  # MIR-1K keeps its rate


def test_budget_training_probes_then_trains_each_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    budget = _script("train_in_budget")
    root = tmp_path / "stems"
    for name in ("a", "b"):
        vocals, accompaniment = stems(1.0, 16000, seed=ord(name))
        write_wav(root / name / "vocals.wav", vocals, 16000)
        write_wav(root / name / "accompaniment.wav", accompaniment, 16000)
    config = RunConfig(name="tiny", model=TINY,
                       data=DataConfig(musdb_root="", mir1k_root="", stem_folders=("elsewhere",), patch_frames=16),
                       train=TrainConfig(batch_size=2, threads=1))
    (tmp_path / "tiny.toml").write_text(config.to_toml())
    monkeypatch.setattr(sys, "argv", ["budget", str(tmp_path / "tiny.toml"), "--budget", "0.2", "--device", "cpu",
                                      "--runs", str(tmp_path / "runs"), "--stems", str(root), "--probe-steps", "4",
                                      "--logs", "2"])
    budget.main()
    out = capsys.readouterr().out
    steps = int(out.split("->")[1].split()[0])
    assert steps >= 4  # never fewer than the probe
    run = tmp_path / "runs" / "tiny"
    written = RunConfig.from_dict(json.loads((run / "config.json").read_text()))
    assert written == dataclasses.replace(config, data=dataclasses.replace(config.data, stem_folders=(str(root),)),
                                          train=dataclasses.replace(config.train, steps=steps, validate_every=steps // 2,
                                                                    checkpoint_every=steps // 2))
    assert read_checkpoint(run / "best.pt")["training_summary"]["steps"] == steps


def test_seconds_per_step_come_from_the_last_two_log_entries(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps({"step": s, "train_seconds": t}) for s, t in ((50, 9.0), (100, 10.0), (200, 12.0))))
    assert _script("train_in_budget").seconds_per_step(log) == pytest.approx(0.02)


# fetch_instrumentals.py: screening the game music and cutting it into clips.

FETCHED_CLIPS = Path(__file__).resolve().parents[1] / ".data" / "instrumentals" / "clips"


def test_kept_windows_become_clips_of_at_most_thirty_seconds() -> None:
    fetch = _script("fetch_instrumentals")
    share = [0.01] * 23 + [0.3] + [0.0] * 3 + [0.02, 0.5]
    rms = [-20.0] * len(share)
    rms[25] = -70.0  # silence splits a run too
    runs = fetch.kept_runs(fetch.Screen(share, rms), 0.05)
    assert runs == [(0, 8), (8, 15), (15, 23), (24, 25), (26, 28)]
    assert all(b - a <= fetch.CLIP_WINDOWS for a, b in runs)
    assert fetch.kept_runs(fetch.Screen(share, rms), 0.4) == [(0, 8), (8, 17), (17, 25), (26, 28)]
    assert fetch.slug(Path("a/Advanced Simulacra.ogg")) == "advanced_simulacra"


def test_tracks_are_screened_once_and_recut_for_a_new_threshold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fetch = _script("fetch_instrumentals")
    seconds = fetch.WINDOW_FRAMES * fetch.HOP / fetch.RATE
    rng = np.random.default_rng(0)
    music = (0.1 * rng.standard_normal((2, int(4.5 * seconds * 22050)))).astype(np.float32)
    source = tmp_path / "extract" / "pkg" / "usr" / "share" / "games" / "Some Track.ogg"
    source.parent.mkdir(parents=True)
    soundfile.write(source, music.T, 22050)  # Ogg Vorbis at another rate, as packages ship it
    assert fetch.music_files(tmp_path / "extract" / "pkg") == [source]
    shares = iter([fetch.Screen([0.0, 0.2, 0.01, 0.03], [-20.0] * 4)])
    monkeypatch.setattr(fetch, "screen", lambda separator, waveform: next(shares))  # a second call would fail
    entry = fetch.process_track(source, "pkg", tmp_path, None, 0.05)
    clips = sorted((tmp_path / "clips" / "pkg").glob("*.flac"))
    assert [c.name for c in clips] == ["some_track-000.flac", "some_track-001.flac"]
    info = soundfile.info(clips[1])
    assert (info.samplerate, info.channels, info.subtype) == (44100, 2, "PCM_16")
    assert info.frames == 2 * fetch.WINDOW_FRAMES * fetch.HOP
    assert entry["kept_minutes"] == round(3 * seconds / 60, 2)
    assert entry["dropped_vocal_minutes"] == round(seconds / 60, 2)
    assert entry["dropped_windows"] == [(1, 0.2)]
    fetch.process_track(source, "pkg", tmp_path, None, 0.05)  # done: neither screened nor cut again
    assert sorted((tmp_path / "clips" / "pkg").glob("*.flac")) == clips
    fetch.process_track(source, "pkg", tmp_path, None, 0.02)  # recut from the cached screen
    assert [c.name for c in sorted((tmp_path / "clips" / "pkg").glob("*.flac"))] == ["some_track-000.flac", "some_track-001.flac"]
    assert soundfile.info(tmp_path / "clips" / "pkg" / "some_track-001.flac").frames == fetch.WINDOW_FRAMES * fetch.HOP
    # a second screen (Spleeter's) drops what either finds; filling its cache alone cuts nothing
    peer_shares = iter([[0.0, 0.0, 0.0, 0.5]])
    monkeypatch.setattr(fetch, "screen_spleeter", lambda peer, waveform, windows: next(peer_shares))
    fetch.process_track(source, "pkg", tmp_path, None, 0.05, object(), 0.03, cut=False)
    assert len(list((tmp_path / "clips" / "pkg").glob("*.flac"))) == 2
    entry = fetch.process_track(source, "pkg", tmp_path, None, 0.05, object(), 0.03)  # from both caches
    assert json.loads((tmp_path / "clips" / "pkg" / "some_track.clips.json").read_text())["clips_windows"] == [[0, 1], [2, 3]]
    assert entry["dropped_by_spleeter_only_minutes"] == round(seconds / 60, 2)


def test_screening_finds_a_voice_over_music() -> None:
    from conftest import accompaniment_noise, voice_tone

    from vocalsep.separation.separator import Separator

    fetch = _script("fetch_instrumentals")
    window = fetch.WINDOW_FRAMES * fetch.HOP
    music = np.stack([accompaniment_noise(3.5 * window / fetch.RATE, fetch.RATE, seed=c) for c in range(2)])
    voice = np.zeros_like(music)
    voice[:, 2 * window :] = 2 * voice_tone(3.5 * window / fetch.RATE, fetch.RATE, f0=220.0)[: music.shape[1] - 2 * window]
    result = fetch.screen(Separator.from_pretrained("default"), (music + voice).astype(np.float32))
    assert len(result.vocal_share) == len(result.rms_db) == 3  # the partial fourth window is dropped
    assert max(result.vocal_share[:2]) < result.vocal_share[2]


@pytest.mark.skipif(not (FETCHED_CLIPS / "LICENSES.txt").is_file(), reason="run scripts/fetch_instrumentals.py first")
def test_fetched_clips_are_stereo_44k_and_licensed() -> None:
    from vocalsep.config import STFTConfig
    from vocalsep.datasets import accompaniment_files
    from vocalsep.training.patches import WaveformClips

    licences = (FETCHED_CLIPS / "LICENSES.txt").read_text()
    files = accompaniment_files(FETCHED_CLIPS)
    for package in ("warzone2100-music", "wesnoth-1.16-music", "nexuiz-music", "singularity-music"):
        assert f"/usr/share/doc/{package}/copyright" in licences
        assert any(path.parent.name == package for path in files)
    for path in files[:: max(1, len(files) // 20)]:
        info = soundfile.info(path)
        assert (info.samplerate, info.channels) == (44100, 2) and info.duration < 30.5
    clips = WaveformClips([(soundfile.read(p, dtype="float32", always_2d=True)[0].T, 44100) for p in files[:3]],
                          STFTConfig(), 128)
    assert len(clips) == 3 and clips.nbytes < 3 * 2 * 2 * 31 * 44100  # 2 bytes per sample and channel


def test_speed_variants_move_pitch_and_tempo_together(tmp_path: Path) -> None:
    render = _script("render_speed_variants")
    rate, seconds = 16000, 2.0
    t = np.arange(int(rate * seconds)) / rate
    voice = (0.5 * np.sin(2 * np.pi * 440 * t))[None].astype(np.float32)
    music = (0.3 * np.sin(2 * np.pi * 200 * t))[None].astype(np.float32)
    from vocalsep.datasets import StemTrack

    track = StemTrack("song", voice, music, rate, "stems")
    variant = render.speed_variant(track, 2.0)
    factor = 2 ** (2 / 12)
    assert variant.name == "song~+2.00" and variant.sample_rate == rate
    assert variant.vocals.shape[1] == pytest.approx(voice.shape[1] / factor, abs=2)
    spectrum = np.abs(np.fft.rfft(variant.vocals[0] * np.hanning(variant.vocals.shape[1])))
    peak = np.argmax(spectrum) * rate / variant.vocals.shape[1]
    assert peak == pytest.approx(440 * factor, abs=1.0)
    render.write_track(variant, tmp_path / "out" / "stems-song~+2.00")
    (again,) = stem_folder_tracks(tmp_path / "out")
    np.testing.assert_allclose(again.accompaniment, variant.accompaniment, atol=1 / 32768 + 1e-6)
    assert sorted(p.name for p in (tmp_path / "out" / "stems-song~+2.00").iterdir()) == ["accompaniment.flac", "vocals.flac"]
    shifts = render.draw_shifts(200, 0.5, 2.0, np.random.default_rng(0))
    assert all(0.5 <= abs(s) <= 2.0 for s in shifts) and min(shifts) < 0 < max(shifts)


# gpu_chain_run.py: the chain's recipe on a GPU machine, packed under the carry limit, resumable.


def test_a_returned_checkpoint_is_split_under_the_file_limit_and_joined_back(tmp_path: Path) -> None:
    gpu = _script("gpu_chain_run")
    data = np.random.default_rng(0).bytes(2500)
    (tmp_path / "last.pt").write_bytes(data)
    (tmp_path / "out").mkdir()
    parts = gpu.split_file(tmp_path / "last.pt", tmp_path / "out", part_mib=1000 / 2**20)
    assert [p.name for p in parts] == ["last.pt.part0", "last.pt.part1", "last.pt.part2"]
    assert gpu.join_file(tmp_path / "out", "last.pt", tmp_path / "joined.pt").read_bytes() == data


def test_gpu_run_stops_in_its_minutes_resumes_where_it_stopped_and_validates(tmp_path: Path) -> None:
    gpu = _script("gpu_chain_run")
    recipe = tiny_run(tmp_path, TrainConfig(steps=5000, batch_size=2, threads=1, learning_rate=1e-3,
                                            accompaniment_weight=1.0, waveform_weight=0.05, ema_decay=0.9))
    (tmp_path / "recipe.toml").write_text(recipe.to_toml())
    pack = tmp_path / "pack"
    described = gpu.pack(tmp_path / "recipe.toml", str(tiny_checkpoint(tmp_path)), pack, bits="auto", wheels=None,
                         budget_mib=64)
    assert (described["bits"], described["every"], described["tracks"]) == (16, 1, 3)  # lossless, all, when it fits
    assert sorted(p.name for p in (pack / "stems").iterdir()) == ["stems-track0", "stems-track1", "stems-track2"]

    started = time.monotonic()
    first = gpu.train(pack, tmp_path / "out1", minutes=0.15, stop_after=0.05, device="cpu", probe_steps=4,
                      work=tmp_path / "work")
    assert time.monotonic() - started < 3 + 20  # its 3 s of training, plus reading and validating
    assert 4 < first["step"] < first["steps"] and first["train_seconds"] <= 3 + 1  # stopped by its minutes
    returned = sorted(p.name for p in (tmp_path / "out1").iterdir())
    assert returned == ["config.json", "last.pt.part0", "log.jsonl", "validation.json"]
    assert "stems_vocals_sdr" in first["validation"]  # validated at the end, by source

    assert gpu.collect(tmp_path / "out1", pack, tmp_path / "run") == first["step"]
    assert not (pack / "start.pt").exists()  # the resume state replaces it in the budget
    second = gpu.train(pack, tmp_path / "out2", minutes=0.15, stop_after=5, device="cpu", probe_steps=4,
                       work=tmp_path / "work")
    assert second["steps"] == first["steps"] and second["step"] == second["steps"]  # the same schedule, finished
    log = [json.loads(line) for line in (tmp_path / "out2" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [second["steps"]]  # the run's own validation at its last step
    assert second["train_seconds"] > first["train_seconds"]  # resumed: the training seconds add up
    assert read_checkpoint(tmp_path / "out2" / "best.pt")["training_summary"]["steps"] == second["steps"]


def test_stems_that_do_not_fit_lose_bits_then_tracks(tmp_path: Path) -> None:
    gpu = _script("gpu_chain_run")
    tracks = stem_folder_tracks(stem_folders(tmp_path / "stems", 4, seed=3))
    depth, every, lossless = gpu._fitting_encoding(tracks, "16", room=10**9)
    size = lambda files: sum(len(d) for stems in files.values() for d in stems.values())  # noqa: E731
    depth, every, encoded = gpu._fitting_encoding(tracks, "auto", room=0.8 * size(lossless))
    assert 8 <= depth < 16 and every == 1 and size(encoded) <= 0.8 * size(lossless)
    depth, every, encoded = gpu._fitting_encoding(tracks, "auto", room=0.2 * size(lossless))
    assert depth == 8 and every > 1 and len(encoded) < 4  # 8 bits at least: tracks go instead
