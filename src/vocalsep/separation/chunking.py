"""Chunked overlap-add of a frame-wise network over long spectrograms."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def crossfade_window(segment: int, crossfade: int) -> torch.Tensor:
    """Weights of one segment: linear ramps over ``crossfade`` frames at both ends.

    The ramps never reach zero, so frames covered by a single segment (the signal's
    ends) still divide by a positive sum.
    """
    window = torch.ones(segment)
    if crossfade > 0:
        ramp = torch.arange(1, crossfade + 1, dtype=torch.float32) / (crossfade + 1)
        window[:crossfade] = ramp
        window[segment - crossfade :] = ramp.flip(0)
    return window


def apply_in_chunks(
    network: Callable[[torch.Tensor], torch.Tensor],
    spec: torch.Tensor,
    *,
    segment: int,
    crossfade: int,
    context: int,
    multiple: int = 1,
) -> torch.Tensor:
    """Run ``network`` over a long (batch, bins, frames) input in fixed-size windows.

    Each window holds ``segment`` frames of output plus ``context`` frames of real
    neighbouring input on both sides (zeros only beyond the signal's ends), so
    convolutions near a segment's edge see what they would see in one pass over the
    whole input. Segments overlap by ``crossfade`` frames and are blended with linear
    ramps, divided by the summed weights. A window that would reach past the signal's
    end stops at the first grid point after it (plus its context): the frames beyond
    would be zeros, and for a short song they were most of the work.

    Parameters
    ----------
    network : callable
        Maps (batch, bins, frames) to (batch, bins_out, frames).
    spec : Tensor, shape (batch, bins, frames)
    segment, crossfade, context : int
        Frames of output per window, of overlap between windows, and of context per side.
    multiple : int
        The network's frame-count divisor; windows start on its grid so down-sampling
        aligns with the one-pass computation.

    Returns
    -------
    Tensor, shape (batch, bins_out, frames)
    """
    step = segment - crossfade
    if step <= 0 or segment % multiple or step % multiple or context % multiple:
        raise ValueError("segment, segment - crossfade and context must be positive multiples")
    frames = spec.shape[-1]
    padded = F.pad(spec, (context, context + segment))
    weights = crossfade_window(segment, crossfade).to(spec)
    output: torch.Tensor | None = None
    total = torch.zeros(frames + segment, dtype=spec.dtype, device=spec.device)
    for start in range(0, frames, step):
        needed = window_frames(frames - start, segment, multiple)
        window = padded[..., start : start + needed + 2 * context]
        result = network(window)[..., context : context + needed]
        if output is None:
            output = result.new_zeros(*result.shape[:-1], frames + segment)
        output[..., start : start + needed] += result * weights[:needed]
        total[start : start + needed] += weights[:needed]
    assert output is not None  # frames >= 1 runs the loop at least once
    return output[..., :frames] / total[:frames]


def window_frames(remaining: int, segment: int, multiple: int) -> int:
    """Output frames of a window with ``remaining`` signal frames from its start: a full
    ``segment``, or for the last window the remainder rounded up to the network's grid."""
    return min(segment, -(-remaining // multiple) * multiple)


def apply_once(
    network: Callable[[torch.Tensor], torch.Tensor],
    spec: torch.Tensor,
    *,
    context: int,
    multiple: int = 1,
) -> torch.Tensor:
    """One pass over the whole input, padded as ``apply_in_chunks`` pads it (reference)."""
    frames = spec.shape[-1]
    right = context + (-(frames + 2 * context)) % multiple
    return network(F.pad(spec, (context, right)))[..., context : context + frames]
