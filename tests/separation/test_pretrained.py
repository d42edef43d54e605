"""The bundled models: load offline, verify their hashes, and separate real and synthetic songs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vocalsep.separation.checkpoint import bundled_models, read_checkpoint, sha256_of
from vocalsep.apps.demo import demo_song
from vocalsep.evaluation.metrics import global_sdr
from vocalsep.separation.separator import Separator

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
#: The shipped models (MODEL_CARD.md).
MODELS = ("default",)


def test_every_shipped_model_is_bundled_in_the_package() -> None:
    # a missing weights file is a broken package, not a reason to skip the tests below
    assert set(MODELS) <= set(bundled_models()), f"bundled: {sorted(bundled_models())}"


@pytest.mark.parametrize("name", MODELS)
def test_bundled_model_is_small_verified_and_documented(name: str) -> None:
    path = bundled_models()[name]
    assert path.stat().st_size < 10 * 2**20
    assert sha256_of(path).startswith(path.stem.rsplit("-", 1)[1])
    payload = read_checkpoint(path)
    summary = payload["training_summary"]
    assert summary["steps"] > 0 and summary["validation"]["musdb_vocals_sdr"] > 0
    assert "optimizer" not in payload


@pytest.mark.parametrize("name", MODELS)
def test_demo_song_is_separated_well(name: str) -> None:
    song = demo_song(seconds=6.0)
    stems = Separator.from_pretrained(name).separate(song.mixture, song.sample_rate)
    vocals_gain = global_sdr(song.vocals, stems.vocals) - global_sdr(song.vocals, song.mixture)
    accompaniment_gain = global_sdr(song.accompaniment, stems.accompaniment) - global_sdr(song.accompaniment, song.mixture)
    assert vocals_gain > 10.0
    assert accompaniment_gain > 8.0


@pytest.mark.skipif(not (SHARED_DATA / "MUSDB18-7").is_dir(), reason="../shared/data absent")
@pytest.mark.parametrize("name", MODELS)
def test_real_songs_beat_the_mixture_by_a_wide_margin(name: str) -> None:
    from vocalsep.datasets import musdb_tracks

    tracks = [t for t in musdb_tracks(SHARED_DATA / "MUSDB18-7", "valid") if t.name in CHECKED_TRACKS]
    separator = Separator.from_pretrained(name)
    gains = []
    for track in tracks:
        stems = separator.separate(track.mixture, track.sample_rate)
        gains.append(global_sdr(track.vocals, stems.vocals) - global_sdr(track.vocals, track.mixture))
    assert len(gains) == len(CHECKED_TRACKS)
    assert float(np.median(gains)) > MIN_MUSDB_VOCALS_GAIN_DB


CHECKED_TRACKS = ("Actions - One Minute Smile", "Leaf - Summerghost", "Triviul - Angelsaint")
# measured 7.9 dB (median of 7.9, 10.6, 5.3) for default-f9f8b219, demo song 13.8 / 10.2 dB;
# 6.9 dB (6.9, 10.0, 5.0) for default-8a8ebe0e, the 4096-point model, which the shipping rule chose
# for its gains on unseen singers and the melody while MUSDB's medians fell (MODEL_CARD.md);
# the first default (default-0f1f697a) gave 6.6 dB here, so this bound still guards against it
MIN_MUSDB_VOCALS_GAIN_DB = 6.8
