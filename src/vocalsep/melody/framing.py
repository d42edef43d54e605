"""Frame-wise analysis of a stream of mono samples, block by block, equal to analysing the whole signal.

An analysis maps n samples to ``1 + n // hop`` frames centred on ``k * hop`` (the input is
zero-padded at both ends, as ``center=True`` analyses do). Given real neighbouring samples
that cover its reach, its frames inside a block equal those over the whole signal.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Analysis = Callable[[np.ndarray], tuple[np.ndarray, ...]]


class FrameBlocks:
    """Run ``analysis`` over fixed blocks of frames with ``context`` samples of real audio on each side.

    Blocks lie on a fixed grid of frames (``block_frames`` each from frame 0), whatever the
    sizes of the pushed pieces, so one signal always gives the same calls (and the same
    floating-point results).

    Parameters
    ----------
    analysis : callable
        ``analysis(samples) -> tuple of arrays`` whose first axis has ``1 + n // hop`` frames.
    hop : int
        Samples between frames.
    block_frames : int
        Frames kept from one call.
    context : int
        Samples on each side of a block that the analysis of its frames depends on.
    """

    def __init__(self, analysis: Analysis, *, hop: int, block_frames: int, context: int) -> None:
        if hop < 1 or block_frames < 1 or context < 0:
            raise ValueError("hop and block_frames must be positive, context non-negative")
        self.analysis, self.hop, self.block_frames, self.context = analysis, hop, block_frames, context
        self.buffer: np.ndarray | None = None  # (signals, samples); set by the first push
        self.mono = True  # pushed as (samples,): the analysis gets (samples,) too
        self.buffer_start = 0  # stream index of buffer[:, 0]
        self.received = 0
        self.next_frame = 0

    def push(self, samples: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        """Feed samples, (samples,) or (signals, samples) in step (the same shape every push);
        return the analyses of the blocks that are now complete."""
        samples = np.asarray(samples, dtype=np.float32)
        rows = samples.reshape(1, -1) if samples.ndim <= 1 else samples
        if self.buffer is None:
            self.mono, self.buffer = samples.ndim <= 1, np.zeros((rows.shape[0], 0), dtype=np.float32)
        elif rows.shape[0] != self.buffer.shape[0]:
            raise ValueError(f"pushed {rows.shape[0]} signal(s) to a stream of {self.buffer.shape[0]}")
        self.buffer = np.concatenate([self.buffer, rows], axis=1)
        self.received += rows.shape[1]
        out = []
        end = self.next_frame + self.block_frames
        while self.received >= end * self.hop + self.context:
            out.append(self._emit(end, end * self.hop + self.context))
            end = self.next_frame + self.block_frames
        return out

    def finish(self) -> list[tuple[np.ndarray, ...]]:
        """End of stream: the analyses of the remaining frames (``1 + samples // hop`` in all)."""
        total = 1 + self.received // self.hop
        out = []
        while self.next_frame < total:
            out.append(self._emit(min(total, self.next_frame + self.block_frames), self.received))
        return out

    def _emit(self, end_frame: int, stop: int) -> tuple[np.ndarray, ...]:
        if self.buffer is None:
            self.buffer = np.zeros((1, 0), dtype=np.float32)
        start = max(0, self.next_frame * self.hop - self.context)
        start -= start % self.hop  # the analysis's frame k sits on stream frame start / hop + k
        stop = min(stop, self.received)
        piece = self.buffer[:, start - self.buffer_start : stop - self.buffer_start]
        result = self.analysis(piece[0] if self.mono else piece)
        offset = self.next_frame - start // self.hop
        count = end_frame - self.next_frame
        self.next_frame = end_frame
        keep = max(0, self.next_frame * self.hop - self.context)
        keep -= keep % self.hop
        self.buffer = self.buffer[:, keep - self.buffer_start :]
        self.buffer_start = keep
        return tuple(np.asarray(part)[offset : offset + count] for part in result)
