"""The separator: identity reconstruction, chunking, rates, channel counts, edge lengths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import TINY, song, tiny_estimator

from vocalsep.separation.separator import Separator


class _PassEverything(torch.nn.Module):
    """A mask of ones: the separator must then return the mixture as the voice."""

    def forward(self, magnitude: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(magnitude)


def _identity_separator() -> Separator:
    estimator = tiny_estimator()
    estimator.net = None  # replaced below; keeps config and buffers
    separator = Separator(estimator, segment=16, crossfade=4, context=4, engine="torch")
    separator.estimator = _PassEverything()
    return separator


def test_identity_network_reproduces_the_input() -> None:
    mixture = song(0.7, 16000, channels=2)
    stems = _identity_separator().separate(mixture, 16000)
    np.testing.assert_allclose(stems.vocals, mixture, atol=1e-5)
    assert np.abs(stems.accompaniment).max() < 1e-5


def test_stems_sum_to_the_mixture_and_keep_its_shape() -> None:
    mixture = song(1.3, 16000, channels=2)
    stems = Separator(tiny_estimator()).separate(mixture, 16000)
    assert stems.vocals.shape == mixture.shape == stems.accompaniment.shape
    assert stems.vocals.dtype == np.float32
    np.testing.assert_allclose(stems.vocals + stems.accompaniment, mixture, atol=1e-6)
    assert not np.allclose(stems.vocals, 0) and not np.allclose(stems.vocals, mixture)


def test_chunked_output_equals_one_pass_output() -> None:
    # Context of 32 frames exceeds the tiny U-Net's receptive field, so chunks see what a
    # single pass sees; 4 s at hop 128 is 500 frames, many 32-frame segments.
    mixture = song(4.0, 16000, channels=1)
    estimator = tiny_estimator(seed=3)
    chunked = Separator(estimator, segment=32, crossfade=8, context=32).separate(mixture, 16000)
    one_pass = Separator(estimator, segment=1024, crossfade=0, context=32).separate(mixture, 16000)
    np.testing.assert_allclose(chunked.vocals, one_pass.vocals, atol=1e-4)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 96000, 192000])
def test_any_sample_rate_comes_back_at_its_own_rate(rate: int) -> None:
    mixture = song(0.5, rate, channels=2)
    stems = Separator(tiny_estimator()).separate(mixture, rate)
    assert stems.sample_rate == rate
    assert stems.vocals.shape == mixture.shape
    np.testing.assert_allclose(stems.vocals + stems.accompaniment, mixture, atol=1e-6)


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_channel_count_is_kept(channels: int) -> None:
    mixture = song(0.5, 16000, channels=channels)
    stems = Separator(tiny_estimator()).separate(mixture, 16000)
    assert stems.vocals.shape == (channels, mixture.shape[1])


@pytest.mark.parametrize("samples", [1, 100, 1600])
def test_very_short_inputs(samples: int) -> None:
    mixture = song(1.0, 16000, channels=2)[:, :samples]
    stems = Separator(tiny_estimator()).separate(mixture, 16000)
    assert stems.vocals.shape == mixture.shape
    assert np.isfinite(stems.vocals).all()


def test_silence_in_gives_silence_out() -> None:
    stems = Separator(tiny_estimator()).separate(np.zeros((2, 16000), np.float32), 16000)
    assert np.isfinite(stems.vocals).all()
    assert np.abs(stems.vocals).max() == 0.0 and np.abs(stems.accompaniment).max() == 0.0


def test_progress_reports_every_sample() -> None:
    separator = Separator(tiny_estimator(), segment=32, crossfade=8, context=8)
    mixture = song(25.0, 16000, channels=1)
    done: list[int] = []
    separator.separate(mixture, 16000, progress=done.append)
    assert len(done) > 1 and sum(done) == mixture.shape[1]


def test_segment_sizes_round_to_the_network_grid() -> None:
    separator = Separator(tiny_estimator(), segment=30, crossfade=5, context=3)
    grid = TINY.unet.downsampling
    assert separator.segment % grid == separator.crossfade % grid == separator.context % grid == 0


@pytest.mark.parametrize(
    ("mixture", "rate", "message"),
    [
        (np.zeros(100, dtype=np.float32), 16000, r"shape \(channels, samples\), got shape \(100,\)"),
        (np.zeros((1, 2, 100), dtype=np.float32), 16000, "got shape"),
        (np.zeros((2, 0), dtype=np.float32), 16000, "non-empty"),
        (np.zeros((1, 100), dtype=np.int16), 16000, "floats in"),
        (np.zeros((1, 100), dtype=np.float32), 0, "positive integer"),
        (np.zeros((1, 100), dtype=np.float32), 44100.5, "positive integer"),
    ],
)
def test_bad_arrays_are_one_clear_error(mixture: np.ndarray, rate: float, message: str) -> None:
    from vocalsep.errors import VocalsepError

    separator = Separator(tiny_estimator())
    with pytest.raises(VocalsepError, match=message):
        separator.separate(mixture, rate)
