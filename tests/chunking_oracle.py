"""The in-memory separation the streamed engine replaced, kept as the tests' oracle.

``apply_in_chunks`` runs a network over a whole spectrogram in windows on the same grid as
``separation.streaming.VoiceStream``; ``in_memory_voice`` is the old whole-song
``Separator.forward``. Tests check that the one engine equals them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from vocalsep.audio.io import fit_length, resample
from vocalsep.audio.spectrogram import extend_mask
from vocalsep.separation.chunking import crossfade_window, window_frames
from vocalsep.separation.separator import Separator


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


def voice_mask(separator: Separator, magnitude: torch.Tensor) -> torch.Tensor:
    """Full-band voice mask of (channels, bins, frames) magnitudes, chunked as the separator chunks."""
    band = magnitude[:, : separator.config.stft.input_bins]
    mask = apply_in_chunks(separator.estimator, band, segment=separator.segment, crossfade=separator.crossfade,
                           context=separator.context, multiple=separator.config.unet.downsampling)
    return extend_mask(mask, magnitude.shape[1])


@torch.inference_mode()
def in_memory_voice(separator: Separator, mixture: torch.Tensor) -> torch.Tensor:
    """Voice of a (channels, samples) mixture at the model's rate: whole-song STFT, chunked mask, iSTFT."""
    spec = separator.spectrogram(mixture)
    return separator.spectrogram.inverse(voice_mask(separator, spec.abs()) * spec, mixture.shape[-1])


def in_memory_separate(separator: Separator, mixture: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(vocals, accompaniment) of a mixture at any rate, all in memory."""
    at_model_rate = resample(mixture, sample_rate, separator.sample_rate)
    vocals = in_memory_voice(separator, torch.from_numpy(np.ascontiguousarray(at_model_rate))).numpy()
    vocals = fit_length(resample(vocals, separator.sample_rate, sample_rate), mixture.shape[1])
    return vocals, mixture - vocals
