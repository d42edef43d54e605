"""Training losses on patch spectra: magnitude terms and a waveform-domain SDR term."""

from __future__ import annotations

import torch

from vocalsep.config import STFTConfig
from vocalsep.separation.streaming import overlap_add

#: A patch whose voice is this far (energy ratio) below its mixture has no SDR worth fitting:
#: silence in the voice would make minus the SDR unbounded, so such patches are left out.
SILENT_VOICE = 1e-6
#: SDR is capped at 10·log10(1 / SDR_FLOOR) = 50 dB, so a near-perfect patch cannot dominate.
SDR_FLOOR = 1e-5


def magnitude_losses(
    mask: torch.Tensor, mixture: torch.Tensor, vocals: torch.Tensor, accompaniment: torch.Tensor, *, loss: str = "l1"
) -> torch.Tensor:
    """The voice's and the accompaniment's magnitude terms of a mask, in cache-sized chunks.

    Parameters
    ----------
    mask : Tensor, shape (patches, input_bins, frames)
        What is differentiated.
    mixture, vocals, accompaniment : Tensor, shape (patches, input_bins, frames)
        Magnitudes (targets).
    loss : {"l1", "l2"}

    Returns
    -------
    Tensor, shape (2,)
        ``loss(mask * mixture, vocals)`` and ``loss((1 - mask).clamp_min(0) * mixture, accompaniment)``
        as ``torch.nn.functional.l1_loss`` / ``mse_loss`` give them (means), within float rounding, and
        their gradients as autograd gives them. Chunked on a CPU: the same dozen elementwise passes
        over the batch, each on a few patches at a time, stay in cache (``CHUNK_BYTES``).
    """
    return _MagnitudeLosses.apply(mask, mixture, vocals, accompaniment, loss == "l2")


class _MagnitudeLosses(torch.autograd.Function):
    """``magnitude_losses``: sums by chunks; the backward recomputes the errors chunk by chunk."""

    @staticmethod
    def forward(ctx, mask: torch.Tensor, mixture: torch.Tensor, vocals: torch.Tensor,  # noqa: ANN001
                accompaniment: torch.Tensor, squared: bool) -> torch.Tensor:
        rows = _rows(mask, mask[0].numel() * mask.element_size())
        sums = mask.new_zeros(2)
        for r in rows:
            voice, rest, _ = _errors(mask[r], mixture[r], vocals[r], accompaniment[r])
            sums += torch.stack([voice.square().sum() if squared else voice.abs().sum(),
                                 rest.square().sum() if squared else rest.abs().sum()])
        ctx.save_for_backward(mask, mixture, vocals, accompaniment)
        ctx.rows, ctx.squared = rows, squared
        return sums / mask.numel()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None, None]:  # noqa: ANN001
        mask, mixture, vocals, accompaniment = ctx.saved_tensors
        out = torch.empty_like(mask)
        weight = grad / mask.numel()
        for r in ctx.rows:
            voice, rest, kept = _errors(mask[r], mixture[r], vocals[r], accompaniment[r])
            slope = (lambda e: 2 * e) if ctx.squared else torch.sgn  # d loss / d error
            # d/dmask: the voice's error grows with the mask, the remainder's (where 1 - mask >= 0) shrinks
            out[r] = (weight[0] * slope(voice) - weight[1] * slope(rest) * kept) * mixture[r]
        return out, None, None, None, None


def _errors(mask: torch.Tensor, mixture: torch.Tensor, vocals: torch.Tensor,
            accompaniment: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The errors of the masked mixture and of the remainder, and where clamp_min passes a gradient."""
    remainder = 1 - mask
    return mask * mixture - vocals, remainder.clamp_min(0) * mixture - accompaniment, remainder >= 0


def synthesise(spectra: torch.Tensor, stft: STFTConfig, window: torch.Tensor) -> torch.Tensor:
    """Overlap-add waveforms of patch spectra (the bins above ``input_bins`` taken as zero).

    Parameters
    ----------
    spectra : Tensor, shape (patches, input_bins, frames), complex
    stft : STFTConfig
    window : Tensor, shape (n_fft,)
        The synthesis window (the analysis Hann window).

    Returns
    -------
    Tensor, shape (patches, (frames - 1) * hop_length + n_fft)
        The same linear synthesis for estimate and reference, so their SDR compares like
        with like; without window-sum normalisation (the patch edges are faded, identically
        for both).
    """
    # bins last: irfft zero-pads the bins above input_bins itself and writes each frame contiguously
    segments = torch.fft.irfft(spectra.transpose(1, 2), n=stft.n_fft, dim=-1) * window  # (patches, frames, n_fft)
    # the separator's overlap-add; on this layout its pieces are contiguous hop-long runs of each frame
    return overlap_add(segments.transpose(1, 2), stft.hop_length)


#: Bytes of one chunk of the synthesis energies: a few patches' frames at a time stay in a CPU
#: core's L2 cache (4 MiB here), where the same arithmetic on the whole batch waits on memory (3x slower).
CHUNK_BYTES = 2 * 2**20


def synthesis_energy(spectra: torch.Tensor, stft: STFTConfig, window: torch.Tensor) -> torch.Tensor:
    """The energy of each patch's ``synthesise`` waveform, differentiable, in cache-sized chunks.

    Parameters
    ----------
    spectra : Tensor, shape (patches, input_bins, frames), complex
    stft : STFTConfig
    window : Tensor, shape (n_fft,)

    Returns
    -------
    Tensor, shape (patches,)
        ``synthesise(spectra, stft, window).square().sum(dim=1)``, equal within float rounding;
        its gradient is the synthesis's adjoint (frames of the waveform, windowed, ``rfft``)
        applied to twice the waveform, computed chunk by chunk as well.
    """
    return _SynthesisEnergy.apply(spectra, stft, window)


def masked_error_energy(
    mask: torch.Tensor, mixture: torch.Tensor, reference: torch.Tensor, stft: STFTConfig, window: torch.Tensor
) -> torch.Tensor:
    """``synthesis_energy(reference - mask * mixture)``, differentiable in ``mask`` only.

    The masked mixture is formed chunk by chunk too, so neither it nor the difference ever
    takes the whole batch's memory.

    Parameters
    ----------
    mask : Tensor, shape (patches, input_bins, frames), real
    mixture, reference : Tensor, shape (patches, input_bins, frames), complex
        Targets: no gradient reaches them.
    """
    return _MaskedErrorEnergy.apply(mask, mixture, reference, stft, window)


class _SynthesisEnergy(torch.autograd.Function):
    """``synthesis_energy``: forward and backward over chunks of patches; keeps only the waveforms."""

    @staticmethod
    def forward(ctx, spectra: torch.Tensor, stft: STFTConfig, window: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        rows = _chunks(spectra, stft)
        energy, ctx.waves = _energies([spectra[r] for r in rows], stft, window)
        ctx.save_for_backward(window)
        ctx.stft, ctx.rows, ctx.shape = stft, rows, spectra.shape
        return energy

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # noqa: ANN001
        (window,) = ctx.saved_tensors
        out = torch.empty(ctx.shape, dtype=torch.promote_types(grad.dtype, torch.complex64), device=grad.device)
        for rows, wave in zip(ctx.rows, ctx.waves):
            out[rows] = _adjoint(wave * (2 * grad[rows, None]), ctx.shape[1], ctx.stft, window)
        return out, None, None


class _MaskedErrorEnergy(torch.autograd.Function):
    """``masked_error_energy``: as ``_SynthesisEnergy``, with the chain rule to the real mask."""

    @staticmethod
    def forward(ctx, mask: torch.Tensor, mixture: torch.Tensor, reference: torch.Tensor,  # noqa: ANN001
                stft: STFTConfig, window: torch.Tensor) -> torch.Tensor:
        rows = _chunks(mixture, stft)
        energy, ctx.waves = _energies([reference[r] - mask[r] * mixture[r] for r in rows], stft, window)
        ctx.save_for_backward(mixture, window)
        ctx.stft, ctx.rows = stft, rows
        return energy

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None, None]:  # noqa: ANN001
        mixture, window = ctx.saved_tensors
        out = torch.empty(mixture.shape, dtype=grad.dtype, device=grad.device)
        for rows, wave in zip(ctx.rows, ctx.waves):
            spectra = _adjoint(wave * (2 * grad[rows, None]), mixture.shape[1], ctx.stft, window)
            # d/dmask of reference - mask * mixture, against the complex gradient g: -Re(g * conj(mixture))
            chunk = mixture[rows]
            out[rows] = -(spectra.real * chunk.real + spectra.imag * chunk.imag)
        return out, None, None, None, None


def _energies(chunks: list[torch.Tensor], stft: STFTConfig, window: torch.Tensor) -> tuple[torch.Tensor, list]:
    """The synthesis energies of chunks of spectra, and their waveforms (what the adjoint needs)."""
    waves = [synthesise(chunk, stft, window) for chunk in chunks]
    return torch.cat([wave.square().sum(dim=1) for wave in waves]), waves


def _adjoint(weight: torch.Tensor, bins: int, stft: STFTConfig, window: torch.Tensor) -> torch.Tensor:
    """The synthesis's adjoint: the gradient of spectra (patches, bins, frames) from that of their waveforms."""
    frames = weight.unfold(-1, stft.n_fft, stft.hop_length) * window
    spectra = torch.fft.rfft(frames, dim=-1)[..., :bins].transpose(1, 2)
    # irfft's adjoint: rfft / n_fft, doubled for the bins that stand for a conjugate pair too
    spectra = spectra * (2 / stft.n_fft)
    spectra[:, 0] /= 2
    if bins == stft.n_fft // 2 + 1:
        spectra[:, -1] /= 2
    return spectra


def _chunks(spectra: torch.Tensor, stft: STFTConfig) -> list[slice]:
    """Rows per chunk of a synthesis: as many as ``CHUNK_BYTES`` of their frames hold."""
    return _rows(spectra, spectra.shape[-1] * stft.n_fft * 4)


def _rows(batch: torch.Tensor, row_bytes: int) -> list[slice]:
    """Chunks of rows of ``row_bytes`` each within ``CHUNK_BYTES``; on a GPU all rows at once."""
    patches = batch.shape[0]
    size = patches if batch.device.type != "cpu" else max(1, CHUNK_BYTES // row_bytes)
    return [slice(start, start + size) for start in range(0, patches, size)]


def waveform_sdr_loss(
    estimate: torch.Tensor, reference: torch.Tensor, mixture: torch.Tensor, stft: STFTConfig, window: torch.Tensor
) -> torch.Tensor:
    """Minus the mean SDR in dB of synthesised voice estimates, over patches with a voice.

    Parameters
    ----------
    estimate, reference, mixture : Tensor, shape (patches, input_bins, frames), complex
        The masked mixture, the true voice, and the mixture (which sets what counts as silence).

    Returns
    -------
    Tensor, scalar
        0 when no patch of the batch holds a voice.
    """
    total, voiced = waveform_sdr_sum(estimate, reference, mixture, stft, window)
    return -total / voiced.clamp_min(1)


def waveform_sdr_sum(
    estimate: torch.Tensor, reference: torch.Tensor, mixture: torch.Tensor, stft: STFTConfig, window: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The SDR in dB summed over the patches with a voice, and their count (``waveform_sdr_loss``'s parts).

    Data-parallel training divides the sum by the count over every rank's patches, so the
    mean is that of the global batch.
    """
    # the synthesis is linear: the error's waveform is that of the spectra's difference (one synthesis
    # in the graph instead of two)
    return _sdr_sum(synthesis_energy(reference - estimate, stft, window), reference, mixture, stft, window)


def masked_waveform_sdr_sum(
    mask: torch.Tensor, mixture: torch.Tensor, reference: torch.Tensor, stft: STFTConfig, window: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``waveform_sdr_sum(mask * mixture, reference, mixture, ...)``, never holding the masked mixture whole.

    Parameters
    ----------
    mask : Tensor, shape (patches, input_bins, frames), real
        What training differentiates.
    mixture, reference : Tensor, shape (patches, input_bins, frames), complex
    """
    return _sdr_sum(masked_error_energy(mask, mixture, reference, stft, window), reference, mixture, stft, window)


def _sdr_sum(error: torch.Tensor, reference: torch.Tensor, mixture: torch.Tensor, stft: STFTConfig,
             window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    energy = synthesis_energy(reference, stft, window)
    mixture_energy = synthesis_energy(mixture, stft, window)
    voiced = energy > SILENT_VOICE * mixture_energy
    # a silent patch adds 0 with a zero gradient (no data-dependent branch: a GPU need not wait);
    # its ratio is 1, not 0 / 0, so the unused logarithm has a finite gradient
    ratio = torch.where(voiced, energy, 1) / torch.where(voiced, error + SDR_FLOOR * energy, 1)
    sdr = torch.where(voiced, 10 * torch.log10(ratio), 0)
    return sdr.sum(), voiced.sum().to(energy.dtype)
