"""Bounded-memory separation: whole-signal functions applied to a stream, block by block.

Each stage is an ``OverlapSave``: it runs a function over a block plus real neighbouring
samples on both sides and keeps only the block, so its output equals what the function
returns over the whole signal, as long as the margins cover the function's reach and the
blocks start on the function's grid (STFT hop times network step; resampling phase).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction

import numpy as np
import torch

from vocalsep.audio import resample, resample_reach
from vocalsep.separator import Separator

Function = Callable[[np.ndarray], np.ndarray]


class OverlapSave:
    """Apply ``function`` to an unbounded stream of (channels, samples) blocks.

    Parameters
    ----------
    function : callable
        Maps (channels, n) samples to (channels, ceil(n * ratio)) samples.
    block : int
        Input samples per call (a multiple of the function's grid).
    left, right : int
        Input samples of context on each side (multiples of the grid).
    ratio : Fraction
        Output samples per input sample; ``block * ratio`` and ``left * ratio`` must be whole.
    """

    def __init__(self, function: Function, *, block: int, left: int, right: int, ratio: Fraction = Fraction(1)) -> None:
        if (block * ratio).denominator != 1 or (left * ratio).denominator != 1:
            raise ValueError("block and left margin must map to whole output samples")
        self.function = function
        self.block, self.left, self.right, self.ratio = block, left, right, ratio
        self.buffer: np.ndarray | None = None
        self.buffer_start = 0  # stream index of buffer[:, 0]
        self.next_block = 0  # stream index of the next block to emit
        self.received = 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Feed samples; return the output samples that are now final."""
        self.buffer = samples if self.buffer is None else np.concatenate([self.buffer, samples], axis=1)
        self.received += samples.shape[1]
        outputs = []
        while self.received >= self.next_block + self.block + self.right:
            outputs.append(self._emit(self.next_block + self.block))
        return self._join(outputs, samples.shape[0])

    def finish(self) -> np.ndarray:
        """End of stream: return the rest of the output."""
        channels = 0 if self.buffer is None else self.buffer.shape[0]
        outputs = []
        while self.next_block < self.received:
            outputs.append(self._emit(min(self.next_block + self.block, self.received)))
        return self._join(outputs, channels)

    def _emit(self, block_end: int) -> np.ndarray:
        assert self.buffer is not None
        start = max(0, self.next_block - self.left)
        stop = min(self.received, block_end + self.right)
        result = self.function(self.buffer[:, start - self.buffer_start : stop - self.buffer_start])
        offset = int((self.next_block - start) * self.ratio)
        count = _ceil(block_end * self.ratio) - int(self.next_block * self.ratio)
        self.next_block = block_end
        keep_from = max(0, self.next_block - self.left)
        self.buffer = self.buffer[:, keep_from - self.buffer_start :]
        self.buffer_start = keep_from
        return result[:, offset : offset + count]

    @staticmethod
    def _join(outputs: list[np.ndarray], channels: int) -> np.ndarray:
        if not outputs:
            return np.zeros((channels, 0), np.float32)
        return np.concatenate(outputs, axis=1)


def _ceil(value: Fraction) -> int:
    return -((-value.numerator) // value.denominator)


def resampling_stage(source_rate: int, target_rate: int, block_seconds: float = 4.0) -> OverlapSave:
    """Streaming ``audio.resample``: identical to resampling the whole signal at once."""
    ratio = Fraction(target_rate, source_rate)
    down, up = ratio.denominator, ratio.numerator
    margin = down * -(-resample_reach(source_rate, target_rate) // down)
    block = down * max(1, int(block_seconds * source_rate) // down)
    return OverlapSave(
        lambda x: resample(x, source_rate, target_rate), block=block, left=margin, right=margin, ratio=ratio
    )


def separation_stage(separator: Separator, block_steps: int = 12) -> OverlapSave:
    """Streaming voice estimate at the model's rate, identical to ``separator`` over the whole signal.

    Blocks start on the network's window grid (``segment - crossfade`` frames of ``hop``
    samples). A frame's mask comes from windows starting up to one step before it and
    reaching ``crossfade + context`` frames after the block, plus half an STFT frame each
    side for the transform.
    """
    hop = separator.config.stft.hop_length
    step = separator.segment - separator.crossfade
    transform_frames = -(-separator.config.stft.n_fft // hop) + 1
    left_frames = step + separator.context + transform_frames
    right_frames = separator.crossfade + separator.context + transform_frames
    left = step * hop * -(-left_frames // step)
    right = hop * right_frames

    def voice(samples: np.ndarray) -> np.ndarray:
        return separator(torch.from_numpy(np.ascontiguousarray(samples))).numpy()

    return OverlapSave(voice, block=step * hop * block_steps, left=left, right=right)


def separate_stream(
    separator: Separator,
    blocks: Iterable[np.ndarray],
    sample_rate: int,
    *,
    progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Separate a stream of mixture blocks at ``sample_rate``.

    Yields
    ------
    vocals, accompaniment : ndarray, shape (channels, n)
        Consecutive pieces at ``sample_rate``; together as long as the input, and equal to
        ``separator.separate`` of the whole input within float rounding.
    """
    model_rate = separator.sample_rate
    resampled = model_rate != sample_rate
    to_model = resampling_stage(sample_rate, model_rate) if resampled else None
    back = resampling_stage(model_rate, sample_rate) if resampled else None
    separation = separation_stage(separator)
    pending: list[np.ndarray] = []  # mixture samples waiting for their voice estimate
    emitted = 0
    total = 0

    def pair(voice: np.ndarray, final: bool) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        nonlocal emitted, pending
        if final:  # the resampled voice may be a few samples longer than the input
            voice = voice[:, : total - emitted]
            missing = total - emitted - voice.shape[1]
            if missing > 0:
                voice = np.pad(voice, ((0, 0), (0, missing)))
        if voice.shape[1] == 0:
            return
        mixture = np.concatenate(pending, axis=1)
        pending = [mixture[:, voice.shape[1] :]]
        emitted += voice.shape[1]
        if progress is not None:
            progress(voice.shape[1])
        yield voice, mixture[:, : voice.shape[1]] - voice

    def through(samples: np.ndarray) -> np.ndarray:
        at_model_rate = to_model.push(samples) if to_model else samples
        voice = separation.push(at_model_rate)
        return back.push(voice) if back else voice

    for block in blocks:
        block = np.asarray(block, dtype=np.float32)
        pending.append(block)
        total += block.shape[1]
        yield from pair(through(block), final=False)
    tail = [separation.push(to_model.finish())] if to_model else []
    tail.append(separation.finish())
    voice = np.concatenate(tail, axis=1)
    if back:
        voice = np.concatenate([back.push(voice), back.finish()], axis=1)
    yield from pair(voice, final=True)
