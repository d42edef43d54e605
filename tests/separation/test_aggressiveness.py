"""The aggressiveness knob: less accompaniment in the voice (SIR up) for more artefacts (SAR down), stems still summing."""

from __future__ import annotations

import warnings
from pathlib import Path

import mir_eval
import numpy as np
import pytest
import soundfile

from vocalsep.apps.cli import main
from vocalsep.audio.io import load_audio
from vocalsep.apps.demo import demo_song
from vocalsep.errors import ConfigError
from vocalsep.separation.separator import Separator


@pytest.fixture(scope="module")
def excerpt() -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Five seconds of the synthetic demo song, whose stems are known."""
    song = demo_song()
    part = slice(2 * song.sample_rate, 7 * song.sample_rate)
    return song.mixture[:, part], song.vocals[:, part], song.accompaniment[:, part], song.sample_rate


def _scores(estimate: np.ndarray, vocals: np.ndarray, accompaniment: np.ndarray) -> tuple[float, float]:
    """Vocal SIR and SAR (BSS Eval v3, channel average, every 4th sample for speed)."""
    references = np.stack([vocals.mean(0), accompaniment.mean(0)])[:, ::4]
    estimates = np.stack([estimate.mean(0), (accompaniment + vocals - estimate).mean(0)])[:, ::4]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        _, sir, sar, _ = mir_eval.separation.bss_eval_sources(references, estimates, compute_permutation=False)
    return float(sir[0]), float(sar[0])


def test_more_aggressive_means_less_accompaniment_in_the_voice_and_more_artefacts(excerpt) -> None:  # noqa: ANN001
    mixture, vocals, accompaniment, rate = excerpt
    scores, energies = {}, {}
    for level in (-1.0, 0.0, 1.0):
        stems = Separator.from_pretrained("default", aggressiveness=level).separate(mixture, rate)
        np.testing.assert_allclose(stems.vocals + stems.accompaniment, mixture, atol=1e-5)  # still the exact complement
        assert np.isfinite(stems.vocals).all()
        scores[level] = _scores(stems.vocals, vocals, accompaniment)
        energies[level] = float(np.square(stems.vocals).sum())
    # SIR rises at every step (the 4096-point default starts at ~32 dB here, where less is left to remove:
    # +0.6 dB from 0 to 1, the 2048-point one gained over 1 dB a step)
    assert scores[-1.0][0] < scores[0.0][0] - 0.5 < scores[1.0][0] - 1
    assert scores[-1.0][1] > scores[0.0][1] > scores[1.0][1]  # SAR falls
    assert energies[-1.0] > energies[0.0] > energies[1.0]


def test_zero_is_the_networks_own_mask(excerpt) -> None:  # noqa: ANN001
    mixture, _, _, rate = excerpt
    plain = Separator.from_pretrained("default").separate(mixture, rate)
    zero = Separator.from_pretrained("default").with_aggressiveness(0.0).separate(mixture, rate)
    np.testing.assert_array_equal(plain.vocals, zero.vocals)


@pytest.mark.parametrize("level", [2.5, -3.0, float("nan"), float("inf")])
def test_aggressiveness_outside_its_range_is_refused(level: float) -> None:
    with pytest.raises(ConfigError, match="aggressiveness must be in"):
        Separator.from_pretrained("default", aggressiveness=level)


def test_the_cli_knob_writes_stems_of_the_input_length_and_refuses_nonsense(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    song = demo_song()
    source = tmp_path / "song.wav"
    soundfile.write(source, song.mixture[:, : 3 * song.sample_rate].T, song.sample_rate)
    assert main(["separate", str(source), "-o", str(tmp_path / "out"), "--format", "mp3",
                 "--aggressiveness", "1", "-q"]) == 0
    for stem in ("vocals", "accompaniment"):
        decoded, rate = load_audio(tmp_path / "out" / "song" / f"{stem}.mp3")
        assert rate == song.sample_rate
        assert abs(decoded.shape[1] / rate - 3.0) < 0.05  # encoder delay and padding: tens of ms at most
    with pytest.raises(SystemExit):
        main(["separate", str(source), "-o", str(tmp_path / "bad"), "--aggressiveness", "5"])
    assert "outside -2..2" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
