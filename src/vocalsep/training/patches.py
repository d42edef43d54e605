"""Seeded random spectrogram patches of stem tracks, with augmentation, on the CPU or a GPU."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from vocalsep.audio.io import resample
from vocalsep.config import DataConfig, STFTConfig
from vocalsep.audio.spectrogram import Spectrogram
from vocalsep.datasets import StemTrack


@dataclass(frozen=True)
class PatchDraws:
    """The random choices behind a batch of patches (``PatchSampler.draw``); one entry per patch.

    Attributes
    ----------
    vocal_track, vocal_channel, vocal_offset : Tensor of int64
        Where the voice patch starts (track index, channel, first frame).
    accompaniment_track, accompaniment_channel, accompaniment_offset : Tensor of int64
        Where the accompaniment patch starts.
    vocal_gain, accompaniment_gain : Tensor of float64
        Linear gains applied to each stem.
    """

    vocal_track: torch.Tensor
    vocal_channel: torch.Tensor
    vocal_offset: torch.Tensor
    accompaniment_track: torch.Tensor
    accompaniment_channel: torch.Tensor
    accompaniment_offset: torch.Tensor
    vocal_gain: torch.Tensor
    accompaniment_gain: torch.Tensor


class PatchSampler:
    """Random spectrogram patches with augmentation, drawn from a seeded generator.

    Each track's stems are transformed once at the model's rate; a patch is one
    channel of ``patch_frames`` frames. Augmentation: random channel (which subsumes a
    channel swap), random gain per stem, and with ``remix_probability`` the voice of one
    track over the accompaniment of another. STFT is linear, so mixing spectra equals
    transforming the mixed waveform.

    Parameters
    ----------
    tracks : list of StemTrack
    stft : STFTConfig
    config : DataConfig
    """

    def __init__(self, tracks: list[StemTrack], stft: STFTConfig, config: DataConfig) -> None:
        transform = Spectrogram(stft)
        self.config = config
        self.vocals: list[torch.Tensor] = []
        self.accompaniment: list[torch.Tensor] = []
        for track in tracks:
            for stem, store in ((track.vocals, self.vocals), (track.accompaniment, self.accompaniment)):
                waveform = torch.from_numpy(resample(stem, track.sample_rate, stft.sample_rate))
                spec = transform(waveform)[:, : stft.input_bins]
                spec = _pad_frames(spec, config.patch_frames)
                store.append(spec)

    def __len__(self) -> int:
        return len(self.vocals)

    def batch(self, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``size`` patches.

        Returns
        -------
        mixture, vocals : Tensor, shape (size, input_bins, patch_frames), float32
            Magnitudes of the mixture and of the voice in it.
        """
        mixture, vocals, _ = self.batch_with_accompaniment(size, generator)
        return mixture, vocals

    def batch_with_accompaniment(
        self, size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Like ``batch`` (the same draws), plus the accompaniment's magnitudes."""
        draws = self.draw(size, generator)
        patch = self.config.patch_frames
        mixtures, voices, accompaniments = [], [], []
        for i, channel, offset, j, other_channel, other_offset, vocal_gain, accompaniment_gain in zip(
            *(column.tolist() for column in dataclasses.astuple(draws))
        ):
            vocal = self.vocals[i][channel, :, offset : offset + patch] * vocal_gain
            accompaniment = self.accompaniment[j][other_channel, :, other_offset : other_offset + patch] * accompaniment_gain
            mixtures.append((vocal + accompaniment).abs())
            voices.append(vocal.abs())
            accompaniments.append(accompaniment.abs())
        return torch.stack(mixtures), torch.stack(voices), torch.stack(accompaniments)

    def draw(self, size: int, generator: torch.Generator) -> PatchDraws:
        """The random choices of ``size`` patches, in a fixed order from ``generator``.

        Per patch: a track, channel and offset for the voice; with ``remix_probability`` a
        track, channel and offset for the accompaniment (else the voice's own, on the
        nearest channel); a gain for each stem, uniform in decibels.
        """
        gain_db = self.config.gain_db
        columns: list[list[float]] = [[] for _ in range(8)]
        for _ in range(size):
            i = _randint(len(self), generator)
            channel, offset = self._place(self.vocals[i], generator)
            if _uniform(generator) < self.config.remix_probability:
                j = _randint(len(self), generator)
                other_channel, other_offset = self._place(self.accompaniment[j], generator)
            else:
                j, other_offset = i, offset
                other_channel = min(channel, self.accompaniment[i].shape[0] - 1)
            vocal_gain = 10 ** (_uniform(generator, -gain_db, gain_db) / 20)
            accompaniment_gain = 10 ** (_uniform(generator, -gain_db, gain_db) / 20)
            for column, value in zip(columns, (i, channel, offset, j, other_channel, other_offset,
                                               vocal_gain, accompaniment_gain)):
                column.append(value)
        indices = [torch.tensor(column, dtype=torch.long) for column in columns[:6]]
        gains = [torch.tensor(column, dtype=torch.float64) for column in columns[6:]]
        return PatchDraws(*indices, *gains)

    def _place(self, spec: torch.Tensor, generator: torch.Generator) -> tuple[int, int]:
        channel = _randint(spec.shape[0], generator)
        offset = _randint(spec.shape[-1] - self.config.patch_frames + 1, generator)
        return channel, offset

    def input_statistics(self, max_frames: int = 200_000) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-bin mean and standard deviation of ``log1p`` mixture magnitudes."""
        features = []
        for vocal, accompaniment in zip(self.vocals, self.accompaniment):
            channels = min(vocal.shape[0], accompaniment.shape[0])
            mixture = (vocal[:channels] + accompaniment[:channels]).abs()
            features.append(torch.log1p(mixture).transpose(0, 1).reshape(mixture.shape[1], -1))
        stacked = torch.cat(features, dim=1)[:, :max_frames]
        return stacked.mean(dim=1), stacked.std(dim=1)


def _pad_frames(spec: torch.Tensor, frames: int) -> torch.Tensor:
    missing = frames - spec.shape[-1]
    return torch.nn.functional.pad(spec, (0, missing)) if missing > 0 else spec


def _randint(high: int, generator: torch.Generator) -> int:
    return int(torch.randint(high, (1,), generator=generator))


def _uniform(generator: torch.Generator, low: float = 0.0, high: float = 1.0) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


class DevicePatches:
    """A ``PatchSampler``'s spectra on a device (a GPU), cut into batches by one gather each.

    Drawing patch by patch costs about 2 ms of CPU per patch, more than a GPU step of these
    networks. Here every stem is padded to the longest track and stacked in device memory
    (complex64: 8 bytes per bin, frame, channel and stem), and a batch is one indexing
    operation on the same draws as ``PatchSampler.batch_with_accompaniment``, which it equals
    within float rounding.
    """

    def __init__(self, sampler: PatchSampler, device: torch.device) -> None:
        self.sampler = sampler
        self.vocals = _stack_padded(sampler.vocals, device)
        self.accompaniment = _stack_padded(sampler.accompaniment, device)
        self.frames = torch.arange(sampler.config.patch_frames, device=device)
        self.device = device

    def batch_with_accompaniment(
        self, size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``PatchSampler.batch_with_accompaniment``, computed on the device."""
        draws = self.sampler.draw(size, generator)
        vocal = self._gather(self.vocals, draws.vocal_track, draws.vocal_channel, draws.vocal_offset)
        accompaniment = self._gather(self.accompaniment, draws.accompaniment_track, draws.accompaniment_channel,
                                     draws.accompaniment_offset)
        vocal = vocal * draws.vocal_gain.to(self.device, torch.float32)[:, None, None]
        accompaniment = accompaniment * draws.accompaniment_gain.to(self.device, torch.float32)[:, None, None]
        return (vocal + accompaniment).abs(), vocal.abs(), accompaniment.abs()

    def _gather(self, stack: torch.Tensor, track: torch.Tensor, channel: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        track, channel, offset = (t.to(self.device) for t in (track, channel, offset))
        frames = offset[:, None] + self.frames  # (size, patch_frames)
        # advanced indices around a slice put their dimensions first: (size, patch_frames, bins)
        return stack[track[:, None], channel[:, None], :, frames].transpose(1, 2)


def _stack_padded(specs: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    """(tracks, most channels, bins, longest) on ``device``; shorter or mono tracks are zero-padded."""
    longest = max(spec.shape[-1] for spec in specs)
    channels = max(spec.shape[0] for spec in specs)
    stack = torch.zeros(len(specs), channels, specs[0].shape[1], longest, dtype=specs[0].dtype, device=device)
    for index, spec in enumerate(specs):
        stack[index, : spec.shape[0], :, : spec.shape[-1]] = spec.to(device)
    return stack


