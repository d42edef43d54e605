"""The numpy constant-Q transform under the melody picture: bins, levels, frames."""

from __future__ import annotations

import numpy as np
import pytest

from vocalsep.pipeline.constant_q import ConstantQGrid, constant_q_power

GRID = ConstantQGrid(16000, 160, 40.0, 359, 48)


@pytest.mark.parametrize("frequency", [41.0, 97.0, 220.0, 1234.0, 3000.0, 6900.0])
def test_a_sine_reads_half_its_amplitude_in_its_own_bin_at_every_octave(frequency: float) -> None:
    t = np.arange(16000 * 4) / 16000
    power = constant_q_power((0.6 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), GRID)
    assert power.shape == (1 + t.size // 160, 359) and power.dtype == np.float32
    steady = power[150:-150].mean(axis=0)  # away from the zero-padded ends
    peak = int(np.argmax(steady))
    assert abs(12 * 4 * np.log2(GRID.frequencies[peak] / frequency)) <= 0.5  # within half a bin
    # between two bins a sine reads a little less; on its bin, half its amplitude
    assert 0.6 / 2 * 0.8 <= np.sqrt(steady[peak]) <= 0.6 / 2 * 1.02
    # a quarter-tone and more away, the filters have mostly let go of it
    far = np.abs(np.arange(359) - peak) >= 8
    assert steady[far].max() < 0.01 * steady[peak]


def test_frames_are_centred_on_the_hop_grid() -> None:
    audio = np.zeros(16000, dtype=np.float32)
    audio[8000] = 1.0  # a click at 0.5 s
    power = constant_q_power(audio, GRID)
    assert power.shape[0] == 101
    top_octave = power[:, 311:].sum(axis=1)
    assert int(np.argmax(top_octave)) == 50
    assert np.isfinite(power).all() and constant_q_power(np.zeros(10, np.float32), GRID).shape == (1, 359)
