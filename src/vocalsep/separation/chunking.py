"""The window grid of chunked inference: crossfade weights and the length of the last window."""

from __future__ import annotations

import torch


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


def window_frames(remaining: int, segment: int, multiple: int) -> int:
    """Output frames of a window with ``remaining`` signal frames from its start: a full
    ``segment``, or for the last window the remainder rounded up to the network's grid."""
    return min(segment, -(-remaining // multiple) * multiple)


