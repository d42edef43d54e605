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
import torch.nn.functional as F

from vocalsep.audio.io import resample, resample_reach
from vocalsep.errors import VocalsepError
from vocalsep.separation.chunking import crossfade_window, window_frames
from vocalsep.separation.onnx_runtime import onnx_network
from vocalsep.separation.separator import Separator
from vocalsep.audio.spectrogram import extend_mask

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
    down = ratio.denominator
    margin = down * -(-resample_reach(source_rate, target_rate) // down)
    block = down * max(1, int(block_seconds * source_rate) // down)
    return OverlapSave(
        lambda x: resample(x, source_rate, target_rate), block=block, left=margin, right=margin, ratio=ratio
    )


class VoiceStream:
    """Streaming voice estimate at the model's rate, equal to ``separator`` over the whole signal.

    Every step of the in-memory path runs once per frame, as soon as its inputs are final:
    STFT frames as their samples arrive; network windows on the same grid as
    ``inference.apply_in_chunks`` (``segment + 2 * context`` frames every ``segment -
    crossfade``, the last one trimmed), blended with the same crossfade weights; mask extension; inverse STFT by
    overlap-add, divided by the summed squared window of the frames that exist. Only the
    frames and samples still waiting for a later window are kept, so memory does not grow
    with the signal's length, and nothing is computed twice.

    Parameters
    ----------
    separator : Separator
        Supplies the transform settings, the chunking and the network.
    network : callable, optional
        Runs the mask network; default ``separator.estimator`` (torch). ``onnx_network``
        gives the same function on ONNX Runtime.
    windows_per_call : int
        Network windows stacked into one batch (same output; fewer, larger calls).
    """

    def __init__(
        self,
        separator: Separator,
        *,
        network: Callable[[torch.Tensor], torch.Tensor] | None = None,
        windows_per_call: int = 1,
    ) -> None:
        stft = separator.config.stft
        self.n_fft, self.hop, self.input_bins = stft.n_fft, stft.hop_length, stft.input_bins
        self.bins = stft.bins
        self.segment, self.crossfade, self.context = separator.segment, separator.crossfade, separator.context
        self.step = self.segment - self.crossfade
        self.grid = separator.config.unet.downsampling
        self.network = network or separator.estimator
        self.windows_per_call = windows_per_call
        self.window = torch.hann_window(self.n_fft)  # Spectrogram's window
        self.weights = crossfade_window(self.segment, self.crossfade)
        self.channels: int | None = None
        self.samples = torch.zeros(0, self.n_fft // 2)  # padded stream, from index samples_start
        self.samples_start = 0
        self.frames: int | None = None  # total STFT frames, known at the end of the stream
        self.spec = torch.zeros(0, self.bins, 0, dtype=torch.complex64)  # frames from spec_start
        self.spec_start = -self.context  # the first window's left context is zeros
        self.next_window = 0  # first frame of the next network window
        self.mask = torch.zeros(0, self.input_bins, 0)  # weighted mask sums from mask_start
        self.mask_weight = torch.zeros(0)
        self.mask_start = 0
        self.output = torch.zeros(0, 0)  # overlap-added samples from output_start (padded index)
        self.envelope = torch.zeros(0)
        self.output_start = 0
        self.received = 0
        self.emitted = 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Feed (channels, n) samples; return the voice samples that are now final."""
        block = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
        if self.channels is None:
            self._start(block.shape[0])
        self.received += block.shape[1]
        self.samples = torch.cat([self.samples, block], dim=1)
        return self._advance()

    def finish(self) -> np.ndarray:
        """End of stream: return the rest of the voice, as many samples as were pushed."""
        if self.channels is None:
            return np.zeros((0, 0), np.float32)
        self.frames = self.received // self.hop + 1  # torch.stft(center=True)
        zeros = torch.zeros(self.channels, self.n_fft // 2)
        self.samples = torch.cat([self.samples, zeros], dim=1)
        return self._advance()

    def _start(self, channels: int) -> None:
        self.channels = channels
        self.samples = torch.zeros(channels, self.n_fft // 2)
        self.spec = torch.zeros(channels, self.bins, self.context, dtype=torch.complex64)
        self.mask = torch.zeros(channels, self.input_bins, 0)
        self.output = torch.zeros(channels, 0)

    @torch.inference_mode()
    def _advance(self) -> np.ndarray:
        self._transform()
        final = self._run_windows()
        if final > self.mask_start:
            self._synthesise(final)
        return self._emit()

    def _transform(self) -> None:
        """STFT of every frame whose samples have all arrived."""
        done = self.spec_start + self.spec.shape[-1]
        available = (self.samples_start + self.samples.shape[1] - self.n_fft) // self.hop + 1
        if self.frames is not None:
            available = min(available, self.frames)
        if available > done:
            first = done * self.hop - self.samples_start
            piece = self.samples[:, first : first + (available - done - 1) * self.hop + self.n_fft]
            spec = torch.stft(piece, self.n_fft, self.hop, window=self.window, center=False, return_complex=True)
            self.spec = torch.cat([self.spec, spec], dim=-1)
            keep = available * self.hop - self.samples_start
            self.samples = self.samples[:, keep:]
            self.samples_start += keep

    def _run_windows(self) -> int:
        """Run every network window whose input frames are final; return the first non-final mask frame."""
        windows: list[tuple[int, int]] = []  # (first frame, output frames)
        while True:
            start = self.next_window + len(windows) * self.step
            frames = self.segment
            if self.frames is not None:
                if start >= self.frames:
                    break
                frames = window_frames(self.frames - start, self.segment, self.grid)
                self._pad_spec_to(start + frames + self.context)
            if start + frames + self.context > self.spec_start + self.spec.shape[-1]:
                break
            windows.append((start, frames))
        first = 0
        while first < len(windows):  # batches of equal windows: only the last one can be shorter
            group = [w for w in windows[first : first + self.windows_per_call] if w[1] == windows[first][1]]
            frames = group[0][1]
            inputs = [self._band(start - self.context, frames + 2 * self.context) for start, _ in group]
            result = self.network(torch.cat(inputs))[..., self.context : self.context + frames]
            for index, (start, _) in enumerate(group):
                self._accumulate(start, result[index * self.channels : (index + 1) * self.channels])
            first += len(group)
        if windows:
            self.next_window = windows[-1][0] + self.step
            keep = self.next_window - self.context - self.spec_start
            # frames before the next window's context are still needed for masking
            keep = min(keep, self.mask_start - self.spec_start)
            self.spec = self.spec[..., keep:]
            self.spec_start += keep
        final = self.next_window
        if self.frames is not None and self.next_window >= self.frames:
            final = self.frames
        return final

    def _pad_spec_to(self, frame: int) -> None:
        """Beyond the last frame the network sees zeros, as ``apply_in_chunks`` pads."""
        missing = frame - (self.spec_start + self.spec.shape[-1])
        if missing > 0:
            assert self.channels is not None
            zeros = torch.zeros(self.channels, self.bins, missing, dtype=torch.complex64)
            self.spec = torch.cat([self.spec, zeros], dim=-1)

    def _band(self, start: int, frames: int) -> torch.Tensor:
        offset = start - self.spec_start
        return self.spec[:, : self.input_bins, offset : offset + frames].abs()

    def _accumulate(self, start: int, result: torch.Tensor) -> None:
        frames = result.shape[-1]
        grow = start + frames - (self.mask_start + self.mask.shape[-1])
        if grow > 0:
            self.mask = torch.cat([self.mask, self.mask.new_zeros(*self.mask.shape[:-1], grow)], dim=-1)
            self.mask_weight = torch.cat([self.mask_weight, self.mask_weight.new_zeros(grow)])
        offset = start - self.mask_start
        self.mask[..., offset : offset + frames] += result * self.weights[:frames]
        self.mask_weight[offset : offset + frames] += self.weights[:frames]

    def _synthesise(self, final: int) -> None:
        """Mask frames ``mask_start .. final`` and overlap-add their inverse transforms."""
        count = final - self.mask_start
        mask = self.mask[..., :count] / self.mask_weight[:count]
        offset = self.mask_start - self.spec_start
        spec = self.spec[..., offset : offset + count]
        masked = extend_mask(mask, self.bins) * spec
        frames = torch.fft.irfft(masked, n=self.n_fft, dim=-2) * self.window[:, None]
        length = (count - 1) * self.hop + self.n_fft
        added = overlap_add(frames, self.hop)
        envelope = overlap_add(self.window.square()[None, :, None].expand(1, self.n_fft, count), self.hop)[0]
        first = self.mask_start * self.hop - self.output_start
        grow = first + length - self.output.shape[1]
        if grow > 0:
            self.output = torch.cat([self.output, self.output.new_zeros(self.output.shape[0], grow)], dim=1)
            self.envelope = torch.cat([self.envelope, self.envelope.new_zeros(grow)])
        self.output[:, first : first + length] += added
        self.envelope[first : first + length] += envelope
        self.mask = self.mask[..., count:]
        self.mask_weight = self.mask_weight[count:]
        self.mask_start = final

    def _emit(self) -> np.ndarray:
        """Samples no later frame will add to, in the input's time (without the STFT padding)."""
        assert self.channels is not None
        if self.frames is not None and self.mask_start >= self.frames:
            ready = self.received
        else:  # later frames start at mask_start * hop in the padded signal
            ready = min(self.received, self.mask_start * self.hop - self.n_fft // 2)
        if ready <= self.emitted:
            return np.zeros((self.channels, 0), np.float32)
        first = self.emitted + self.n_fft // 2 - self.output_start
        count = ready - self.emitted
        voice = self.output[:, first : first + count] / self.envelope[first : first + count]
        self.emitted = ready
        self.output = self.output[:, first + count :]
        self.envelope = self.envelope[first + count :]
        self.output_start += first + count
        return voice.numpy()


def overlap_add(frames: torch.Tensor, hop: int) -> torch.Tensor:
    """Sum of frames placed every ``hop`` samples.

    Parameters
    ----------
    frames : Tensor, shape (channels, frame_length, count)

    Returns
    -------
    Tensor, shape (channels, (count - 1) * hop + frame_length)
        Equal to ``F.fold`` with stride ``hop``; when ``frame_length`` is a multiple of
        ``hop`` it is a few strided additions instead (col2im was ~8 % of a separation).
    """
    channels, frame_length, count = frames.shape
    length = (count - 1) * hop + frame_length
    if frame_length % hop:
        return F.fold(frames, (1, length), kernel_size=(1, frame_length), stride=(1, hop))[:, 0, 0]
    pieces = frame_length // hop
    output = frames.new_zeros(channels, count + pieces - 1, hop)
    # piece k of frame j covers samples (j + k) * hop ... (j + k + 1) * hop
    for k, piece in enumerate(frames.unflatten(1, (pieces, hop)).unbind(1)):
        output[:, k : k + count] += piece.transpose(1, 2)
    return output.reshape(channels, length)


def _network(separator: Separator, engine: str) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The network runner for ``engine``; None means the torch module itself."""
    if engine not in ("auto", "torch", "onnx"):
        raise ValueError(f"engine must be auto, torch or onnx, not {engine!r}")
    if engine == "torch":
        return None
    runner = onnx_network(separator.estimator)
    if runner is None and engine == "onnx":
        raise VocalsepError("the onnx engine needs onnxruntime: pip install onnxruntime")
    return runner


def separate_stream(
    separator: Separator,
    blocks: Iterable[np.ndarray],
    sample_rate: int,
    *,
    progress: Callable[[int], None] | None = None,
    engine: str = "auto",
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Separate a stream of mixture blocks at ``sample_rate``.

    ``engine`` runs the network: ``"torch"``, ``"onnx"`` (ONNX Runtime, same output within
    1e-6) or ``"auto"`` (ONNX Runtime when installed, else torch).

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
    separation = VoiceStream(separator, network=_network(separator, engine))
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
