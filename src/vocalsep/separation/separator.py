"""Waveform in, stems out: the model, its chunking and engine, and the stems it returns."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from vocalsep.audio.spectrogram import Spectrogram
from vocalsep.config import STEM_NAMES, ModelConfig
from vocalsep.device import resolve_device
from vocalsep.errors import ConfigError, VocalsepError
from vocalsep.separation.model import MaskEstimator
from vocalsep.separation.streaming import ENGINES, separate_stream


#: Seconds of an in-memory mixture handed to the streamed engine at a time.
BLOCK_SECONDS = 10


class Stems(Mapping[str, np.ndarray]):
    """Separated stems by name, at the input's rate and channel count.

    A read-only mapping ``{stem name: ndarray (channels, samples), float32}`` whose stems sum
    to the input mixture; each stem is also an attribute (``stems.vocals``).

    Parameters
    ----------
    waveforms : mapping of str to ndarray
    sample_rate : int
    """

    def __init__(self, waveforms: Mapping[str, np.ndarray], sample_rate: int) -> None:
        self._waveforms = dict(waveforms)
        self.sample_rate = sample_rate

    @classmethod
    def of_voice(cls, mixture: np.ndarray, vocals: np.ndarray, sample_rate: int) -> Stems:
        """The voice and its complement ``mixture - vocals``, named as ``Separator`` names them."""
        return cls(dict(zip(STEM_NAMES, (vocals, mixture - vocals))), sample_rate)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._waveforms[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._waveforms)

    def __len__(self) -> int:
        return len(self._waveforms)

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["_waveforms"][name]
        except KeyError:
            raise AttributeError(f"no stem {name!r} (stems: {', '.join(self.__dict__.get('_waveforms', {}))})") from None


#: The largest |aggressiveness|: mask powers from 1/4 to 4.
AGGRESSIVENESS_LIMIT = 2.0


class Separator(nn.Module):
    """Splits a mixture into voice and accompaniment.

    Every channel is separated on its own, so any channel count works. The voice is
    ``iSTFT(mask * X)`` and the accompaniment is the exact complement ``mixture - voice``.
    Songs in files and arrays in memory go through the same streamed engine
    (``separation.streaming``), so its working memory is bounded whatever the length.

    Parameters
    ----------
    estimator : MaskEstimator
        The trained network with its input statistics.
    segment, crossfade, context : int
        Chunking of the frame axis (network windows of ``segment`` frames every
        ``segment - crossfade``, each with ``context`` frames of real neighbours per side);
        rounded to the network's down-sampling grid. No context by default: on the validation
        sets and on a 95 s song, context frames changed SDR by under 0.05 dB while costing a
        quarter of the network's time on 30 s songs (docs/SPEED.md); the crossfade hides the edges.
    engine : {"auto", "torch", "onnx"}
        What runs the network: ONNX Runtime when installed (``auto``), or torch.
    aggressiveness : float
        How hard the voice is taken out, in [-2, 2]: the voice mask is raised to the power
        ``2 ** aggressiveness``. Above 0, bins the network is unsure of go to the
        accompaniment (less accompaniment left in the voice, more artefacts in it); below 0
        they go to the voice. 0, the network's own mask, scores the best SDR
        (MODEL_CARD.md has SDR/SIR/SAR at several settings).
    device : {"cpu", "auto", "cuda", "cuda:N"}
        Where the network runs (``device.resolve_device``; ``ConfigError`` where CUDA is
        missing). On a GPU only the network moves (``separation.gpu``): the stems equal the
        CPU's within 1e-4. The estimator itself stays on the CPU.
    """

    #: Stem names in output order: the network's target, then its complement.
    stem_names: tuple[str, ...] = STEM_NAMES

    def __init__(
        self,
        estimator: MaskEstimator,
        *,
        segment: int = 512,
        crossfade: int = 64,
        context: int = 0,
        engine: str = "auto",
        aggressiveness: float = 0.0,
        device: str = "cpu",
    ) -> None:
        super().__init__()
        if engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        if not -AGGRESSIVENESS_LIMIT <= aggressiveness <= AGGRESSIVENESS_LIMIT:  # also refuses NaN
            raise ConfigError(f"aggressiveness must be in [-{AGGRESSIVENESS_LIMIT:g}, {AGGRESSIVENESS_LIMIT:g}], "
                              f"not {aggressiveness}")
        self.aggressiveness = float(aggressiveness)
        self.device = resolve_device(device)  # "cpu" or "cuda:N"
        self.estimator = estimator.eval()
        self.config: ModelConfig = estimator.config
        self.spectrogram = Spectrogram(self.config.stft)
        self.engine = engine
        grid = self.config.unet.downsampling
        self.segment = _round_up(segment, grid)
        self.crossfade = _round_up(crossfade, grid) if crossfade else 0
        self.context = _round_up(context, grid) if context else 0

    def with_aggressiveness(self, aggressiveness: float) -> Separator:
        """This separator with another ``aggressiveness`` (the same network, not copied)."""
        if aggressiveness == self.aggressiveness:
            return self
        # the chunking is already on the network's grid: rounding it again keeps it
        return Separator(self.estimator, segment=self.segment, crossfade=self.crossfade, context=self.context,
                         engine=self.engine, aggressiveness=aggressiveness, device=self.device)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path = "default", **options: Any) -> Separator:
        """Load a bundled model by name (``"default"``) or a checkpoint file; ``options`` are the constructor's
        (``device="cuda"`` for a GPU)."""
        from vocalsep.separation.checkpoint import load_estimator

        resolve_device(options.get("device", "cpu"))  # a missing GPU is one line before the model loads
        return cls(load_estimator(name_or_path), **options)

    @property
    def sample_rate(self) -> int:
        """The rate the network was trained at; other rates are resampled for the mask."""
        return self.config.stft.sample_rate

    def stream(
        self,
        blocks: Iterable[np.ndarray],
        sample_rate: int,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[dict[str, np.ndarray]]:
        """Separate a stream of (channels, n) mixture blocks; yields ``{stem: block}`` pieces.

        See ``separation.streaming.separate_stream``.
        """
        for pieces in separate_stream(self, blocks, sample_rate, progress=progress, engine=self.engine):
            yield dict(zip(self.stem_names, pieces))

    def separate(
        self,
        mixture: np.ndarray,
        sample_rate: int,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> Stems:
        """Separate a waveform at any sample rate.

        Parameters
        ----------
        mixture : ndarray, shape (channels, samples)
        sample_rate : int
        progress : callable, optional
            Called with the number of input samples done, as the stems are produced.

        Returns
        -------
        Stems
            At ``sample_rate``, with the input's shape; ``vocals + accompaniment == mixture``.
        """
        mixture = _checked_mixture(mixture)
        if int(sample_rate) != sample_rate or sample_rate < 1:
            raise VocalsepError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        block = BLOCK_SECONDS * int(sample_rate)
        blocks = (mixture[:, start : start + block] for start in range(0, mixture.shape[1], block))
        pieces: dict[str, list[np.ndarray]] = {name: [] for name in self.stem_names}
        for piece in self.stream(blocks, int(sample_rate), progress=progress):
            for name, samples in piece.items():
                pieces[name].append(samples)
        return Stems({name: np.concatenate(parts, axis=1) for name, parts in pieces.items()}, int(sample_rate))


def _checked_mixture(mixture: np.ndarray) -> np.ndarray:
    """The mixture as float32 (channels, samples), or one clear error for anything else."""
    array = np.asarray(mixture)
    if array.ndim != 2 or 0 in array.shape:
        raise VocalsepError(f"mixture must be a non-empty array of shape (channels, samples), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise VocalsepError(f"mixture samples must be floats in [-1, 1], got dtype {array.dtype}")
    return array.astype(np.float32, copy=False)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
