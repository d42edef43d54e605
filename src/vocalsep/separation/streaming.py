"""Bounded-memory separation: the whole-signal path applied to a stream, block by block.

Three stages, each equal to its whole-signal counterpart: resampling to the model's rate
(soxr's stream), ``VoiceStream`` (STFT, network windows, mask, overlap-add) and resampling
back; the accompaniment is the mixture minus the voice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from vocalsep.audio.io import Resampler
from vocalsep.device import is_cuda
from vocalsep.errors import SampleRangeError, VocalsepError
from vocalsep.separation.chunking import crossfade_window, window_frames
from vocalsep.separation.model import pair_channels
from vocalsep.separation.onnx_runtime import onnx_network
from vocalsep.audio.spectrogram import extend_mask

if TYPE_CHECKING:  # the separator calls this engine: a type only, not an import at run time
    from vocalsep.separation.separator import Separator

#: Gain applied to the mixture before the transforms, undone exactly on the voice. The STFT,
#: the inverse FFT and the resampler's sums grow a sample by up to ~2^20, which overflows
#: float32 for samples near its maximum (3e38); a power of two commutes exactly with every
#: float operation, so ordinary input gives the same bits (only magnitudes below ~1e-28
#: lose precision in the subnormal range).
HEADROOM = 2.0**-32
#: What can run the mask network: ONNX Runtime when installed (``auto``), torch, or ONNX Runtime only.
ENGINES = ("auto", "torch", "onnx")
#: On a GPU, mixture blocks are joined into blocks of this many seconds, and up to
#: ``GPU_WINDOWS_PER_CALL`` network windows (5.2 s each) go in one call: a 10 s block holds two
#: windows, too small a batch to keep a GPU busy. Memory stays bounded (60 s of stereo: 21 MB).
GPU_BLOCK_SECONDS = 60
GPU_WINDOWS_PER_CALL = 16


def resampling_stage(source_rate: int, target_rate: int) -> Resampler:
    """Streaming ``audio.resample``: identical to resampling the whole signal at once."""
    return Resampler(source_rate, target_rate)


class VoiceStream:
    """Streaming voice estimate at the model's rate, equal to ``separator`` over the whole signal.

    Every step of the in-memory path runs once per frame, as soon as its inputs are final:
    STFT frames as their samples arrive; network windows on the same grid as
    the in-memory chunking this replaced (kept as the tests' oracle) (``segment + 2 * context`` frames every ``segment -
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
    headroom : float
        The gain already applied to the pushed samples (a power of two): the network sees
        the magnitudes divided by it (clamped to float32's maximum), the voice keeps it.
    """

    def __init__(
        self,
        separator: Separator,
        *,
        network: Callable[[torch.Tensor], torch.Tensor] | None = None,
        windows_per_call: int = 1,
        headroom: float = 1.0,
    ) -> None:
        stft = separator.config.stft
        self.n_fft, self.hop, self.input_bins = stft.n_fft, stft.hop_length, stft.input_bins
        self.bins = stft.bins
        self.segment, self.crossfade, self.context = separator.segment, separator.crossfade, separator.context
        self.step = self.segment - self.crossfade
        self.grid = separator.config.unet.downsampling
        self.network = network or separator.estimator
        self.mask_power = 2.0 ** separator.aggressiveness
        self.stereo_network = separator.config.unet.channels == 2
        self.windows_per_call = windows_per_call
        self.headroom = headroom
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
        if self.stereo_network:  # the song's channels in pairs; an odd one paired with itself
            self.network = pair_channels(self.network, channels)
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
        """Beyond the last frame the network sees zeros, as a one-pass network over the song would."""
        missing = frame - (self.spec_start + self.spec.shape[-1])
        if missing > 0:
            assert self.channels is not None
            zeros = torch.zeros(self.channels, self.bins, missing, dtype=torch.complex64)
            self.spec = torch.cat([self.spec, zeros], dim=-1)

    def _band(self, start: int, frames: int) -> torch.Tensor:
        offset = start - self.spec_start
        magnitude = self.spec[:, : self.input_bins, offset : offset + frames].abs()
        if self.headroom != 1.0:  # beyond float32 the network sees its largest value, not inf
            magnitude = (magnitude / self.headroom).clamp(max=torch.finfo(torch.float32).max)
        return magnitude

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
        if self.mask_power != 1.0:  # the aggressiveness knob (Separator)
            mask = mask.pow(self.mask_power)
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
    """The network runner for ``engine`` on the separator's device; None means the torch module itself."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if is_cuda(separator.device):
        from vocalsep.separation.gpu import cuda_network

        return cuda_network(separator.estimator, separator.device, engine)
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
    1e-6) or ``"auto"`` (ONNX Runtime when installed, else torch), on ``separator.device``: on a
    GPU (``separation.gpu``) the blocks are joined into ``GPU_BLOCK_SECONDS`` and the network's
    windows batched, with the same output within float rounding.

    Yields
    ------
    vocals, accompaniment : ndarray, shape (channels, n)
        Consecutive pieces at ``sample_rate``; together as long as the input, and equal to
        a one-pass separation of the whole input within float rounding (the tests' oracle).

    Raises
    ------
    SampleRangeError
        A stem exceeds float32's range (only for input near float32's maximum, ~3e38).
    """
    model_rate = separator.sample_rate
    resampled = model_rate != sample_rate
    to_model = resampling_stage(sample_rate, model_rate) if resampled else None
    back = resampling_stage(model_rate, sample_rate) if resampled else None
    gpu = is_cuda(separator.device)
    if gpu:
        blocks = joined_blocks(blocks, GPU_BLOCK_SECONDS * sample_rate)
    separation = VoiceStream(separator, network=_network(separator, engine), headroom=HEADROOM,
                             windows_per_call=GPU_WINDOWS_PER_CALL if gpu else 1)
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
        with np.errstate(over="ignore"):
            voice = voice / np.float32(HEADROOM)
            accompaniment = mixture[:, : voice.shape[1]] - voice
        if not (np.isfinite(voice).all() and np.isfinite(accompaniment).all()):
            raise SampleRangeError(f"the stems exceed the range of 32-bit floats (input peak "
                                   f"{np.abs(mixture).max():.3g}); scale the input down")
        yield voice, accompaniment

    def through(samples: np.ndarray) -> np.ndarray:
        samples = samples * np.float32(HEADROOM)
        at_model_rate = to_model.push(samples) if to_model else samples
        voice = separation.push(at_model_rate)
        return back.push(voice) if back else voice

    for block in blocks:
        block = np.asarray(block, dtype=np.float32)
        pending.append(block)
        total += block.shape[1]
        yield from pair(through(block), final=False)
    tail = [separation.push(to_model.finish())] if to_model else []  # already scaled
    tail.append(separation.finish())
    voice = np.concatenate(tail, axis=1)
    if back:
        voice = np.concatenate([back.push(voice), back.finish()], axis=1)
    yield from pair(voice, final=True)


def joined_blocks(blocks: Iterable[np.ndarray], samples: int) -> Iterator[np.ndarray]:
    """``blocks`` (channels, n) joined into blocks of at least ``samples`` (the last one may be shorter)."""
    pending: list[np.ndarray] = []
    held = 0
    for block in blocks:
        pending.append(np.asarray(block, dtype=np.float32))
        held += pending[-1].shape[1]
        if held >= samples:
            yield np.concatenate(pending, axis=1)
            pending, held = [], 0
    if pending:
        yield np.concatenate(pending, axis=1)
