"""Free heap memory handed back to the system while a long song streams (glibc's ``malloc_trim``).

A streamed song allocates and frees the same few-megabyte blocks for an hour. glibc raises its
mmap threshold to the largest block freed so far (up to 32 MB), so those blocks come from the
heap, where the free space between live ones stays in the process: ``vocalsep pitch --plot``
peaked at 1024 MiB on an hour against 854 MiB on ten minutes. Trimming every 30 s of audio
returns that space (864 MiB on the hour) at no measurable cost; a fixed threshold instead cost
13-30 % of the time (``docs/SPEED.md``). Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:  # no C library to open (not Linux)
        return None


def release_free_memory() -> None:
    """Give the heap's free pages back to the system (glibc only; otherwise nothing)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class HeapTrimmer:
    """``release_free_memory`` once every ``every`` samples of a stream.

    Parameters
    ----------
    every : int
        Samples between trims (30 s of the stream's rate in ``process_song``).
    """

    def __init__(self, every: int) -> None:
        self.every, self.pending = max(1, int(every)), 0

    def advance(self, samples: int) -> None:
        """Count ``samples`` more of the stream; trim when ``every`` have passed since the last trim."""
        self.pending += samples
        if self.pending >= self.every:
            release_free_memory()
            self.pending %= self.every
