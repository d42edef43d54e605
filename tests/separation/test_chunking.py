"""The tests' oracle of chunked overlap-add: exact around an identity network, equal to one pass around a
real one (the streamed engine is checked against it in separation/test_streaming.py)."""

from __future__ import annotations

import pytest
import torch

from vocalsep.config import ModelConfig, STFTConfig, UNetConfig
from chunking_oracle import apply_in_chunks, apply_once

from vocalsep.separation.chunking import crossfade_window
from vocalsep.separation.model import MaskEstimator


def _spec(frames: int, bins: int = 8, batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, bins, frames, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("frames", [1, 5, 12, 48, 97, 1001])
@pytest.mark.parametrize(("segment", "crossfade", "context"), [(16, 4, 8), (12, 0, 0), (20, 8, 3)])
def test_identity_network_returns_input(frames, segment, crossfade, context):
    spec = _spec(frames)
    out = apply_in_chunks(lambda x: x, spec, segment=segment, crossfade=crossfade, context=context)
    assert out.shape == spec.shape
    torch.testing.assert_close(out, spec, atol=1e-6, rtol=0)


def test_identity_with_grid_multiple():
    spec = _spec(101)
    out = apply_in_chunks(lambda x: x, spec, segment=16, crossfade=4, context=8, multiple=4)
    torch.testing.assert_close(out, spec, atol=1e-6, rtol=0)


def test_windows_have_fixed_size_and_real_neighbours():
    """Every call but the last sees segment + 2 * context frames; context comes from the real signal."""
    frames, segment, crossfade, context = 50, 10, 2, 3
    spec = torch.arange(1, frames + 1, dtype=torch.float32).expand(1, 1, frames).clone()
    seen = []

    def network(x):
        seen.append(x.clone())
        return x

    apply_in_chunks(network, spec, segment=segment, crossfade=crossfade, context=context)
    step = segment - crossfade
    assert len(seen) == -(-frames // step)
    assert {x.shape[-1] for x in seen[:-1]} == {segment + 2 * context}
    # The last window starts at frame 48 of 50: it stops after the signal plus its context.
    assert seen[-1].shape[-1] == 2 + 2 * context
    assert torch.equal(seen[-1][0, 0], torch.tensor([46, 47, 48, 49, 50, 0, 0, 0], dtype=torch.float32))
    # The second window starts `step` frames in, with `context` real frames before it.
    second = seen[1][0, 0]
    assert torch.equal(second[:context], torch.arange(step - context + 1, step + 1, dtype=torch.float32))
    # Zeros only before the signal's start.
    assert torch.equal(seen[0][0, 0, :context], torch.zeros(context))


def test_output_bins_may_differ_and_input_is_untouched():
    spec = _spec(30, bins=6)
    copy = spec.clone()
    out = apply_in_chunks(lambda x: 2 * x[:, :3], spec, segment=8, crossfade=2, context=2)
    assert out.shape == (2, 3, 30)
    torch.testing.assert_close(out, 2 * spec[:, :3])
    assert torch.equal(spec, copy)


def test_crossfade_window():
    window = crossfade_window(10, 3)
    torch.testing.assert_close(window[:3], torch.tensor([0.25, 0.5, 0.75]))
    torch.testing.assert_close(window[-3:], torch.tensor([0.75, 0.5, 0.25]))
    assert torch.equal(window[3:7], torch.ones(4))
    assert window.min() > 0
    assert torch.equal(crossfade_window(5, 0), torch.ones(5))
    # Overlapping ramps of consecutive segments sum to one.
    torch.testing.assert_close(window[-3:] + window[:3], torch.ones(3))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"segment": 8, "crossfade": 8, "context": 0},
        {"segment": 8, "crossfade": 10, "context": 0},
        {"segment": 10, "crossfade": 2, "context": 4, "multiple": 4},
        {"segment": 12, "crossfade": 2, "context": 4, "multiple": 4},
        {"segment": 12, "crossfade": 4, "context": 6, "multiple": 4},
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        apply_in_chunks(lambda x: x, _spec(20), **kwargs)


def _seed_estimator() -> MaskEstimator:
    torch.manual_seed(0)
    config = ModelConfig(
        stft=STFTConfig(sample_rate=8000, n_fft=256, hop_length=64, input_bins=32),
        unet=UNetConfig(architecture="seed", width=8),
    )
    estimator = MaskEstimator(config)
    mean = torch.rand(32, generator=torch.Generator().manual_seed(1))
    estimator.set_input_statistics(mean, 0.5 + mean)
    return estimator.eval()


def _receptive_radius(network, bins: int, frames: int = 96) -> int:
    """Frames on either side of an output frame that can change it (measured by gradient)."""
    x = torch.rand(1, bins, frames, requires_grad=True)
    network(x)[0, :, frames // 2].sum().backward()
    touched = (x.grad.abs().sum(dim=(0, 1)) > 0).nonzero().flatten()
    return int(max(frames // 2 - touched.min(), touched.max() - frames // 2))


def test_seed_receptive_field_fits_context():
    radius = _receptive_radius(_seed_estimator(), 32)
    assert 8 <= radius <= 32  # non-trivial, and covered by the context used below


@pytest.mark.parametrize("frames", [1, 7, 40, 101])
def test_chunked_equals_one_pass_for_seed_network(frames):
    estimator = _seed_estimator()
    magnitude = 3 * torch.rand(1, 32, frames, generator=torch.Generator().manual_seed(frames))
    with torch.no_grad():
        chunked = apply_in_chunks(estimator, magnitude, segment=16, crossfade=4, context=32, multiple=4)
        once = apply_once(estimator, magnitude, context=32, multiple=4)
    assert chunked.shape == once.shape == magnitude.shape
    torch.testing.assert_close(chunked, once, atol=1e-4, rtol=0)


def test_too_little_context_differs():
    """The equality above is not vacuous: without context the segment edges change."""
    estimator = _seed_estimator()
    magnitude = 3 * torch.rand(1, 32, 64, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        chunked = apply_in_chunks(estimator, magnitude, segment=16, crossfade=0, context=0, multiple=4)
        once = apply_once(estimator, magnitude, context=0, multiple=4)
    assert (chunked - once).abs().max() > 1e-3


def test_the_last_window_is_trimmed_to_the_grid():
    """A short signal costs a window of its own length rounded to the grid, not a whole segment."""
    seen = []

    def network(x):
        seen.append(x.shape[-1])
        return x

    spec = _spec(70)
    out = apply_in_chunks(network, spec, segment=64, crossfade=16, context=8, multiple=8)
    torch.testing.assert_close(out, spec)
    # windows at 0 and 48: a full one, then 22 frames left -> 24 on the grid, plus context
    assert seen == [64 + 16, 24 + 16]
    assert all(length % 8 == 0 for length in seen)
