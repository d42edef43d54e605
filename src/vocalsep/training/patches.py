"""Seeded random spectrogram patches of stem tracks, with augmentation, on the CPU or a GPU."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace

import numpy as np
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
        Where the accompaniment patch starts: in a stem track, or where ``extra`` is set in
        an extra accompaniment clip (``PatchSampler.extra``).
    vocal_gain, accompaniment_gain : Tensor of float64
        Linear gains applied to each stem.
    extra : Tensor of bool
        Whether the accompaniment comes from the extra accompaniment clips.
    vocal_eq, accompaniment_eq : Tensor of float32, shape (patches, EQ_BANDS), or None
        Random equaliser gains in dB at ``EQ_BANDS`` log-spaced frequencies (``eq_db`` > 0).
    """

    vocal_track: torch.Tensor
    vocal_channel: torch.Tensor
    vocal_offset: torch.Tensor
    accompaniment_track: torch.Tensor
    accompaniment_channel: torch.Tensor
    accompaniment_offset: torch.Tensor
    vocal_gain: torch.Tensor
    accompaniment_gain: torch.Tensor
    extra: torch.Tensor
    vocal_eq: torch.Tensor | None = None
    accompaniment_eq: torch.Tensor | None = None

    def share(self, rank: int, ranks: int) -> PatchDraws:
        """The ``rank``-th of ``ranks`` equal consecutive parts of the patches (one data-parallel process's)."""
        size = len(self.vocal_track) // ranks
        rows = slice(rank * size, (rank + 1) * size)
        return replace(self, **{f.name: getattr(self, f.name)[rows] for f in fields(self)
                                if getattr(self, f.name) is not None})


#: Anchor frequencies of the random equaliser: a gain per band, interpolated in log frequency.
EQ_BANDS = 8
EQ_LOWEST_HZ = 60.0


def equaliser_matrix(stft: STFTConfig) -> torch.Tensor:
    """Weights (input_bins, EQ_BANDS) that turn band gains into a gain per bin, in dB.

    The anchors are log-spaced from ``EQ_LOWEST_HZ`` to the top bin the network sees; each
    bin interpolates linearly in log frequency between its two anchors (bins below the
    lowest anchor take its gain), so a random curve is smooth, as a few EQ bands would be.
    """
    top = (stft.input_bins - 1) * stft.sample_rate / stft.n_fft
    anchors = np.log(np.geomspace(EQ_LOWEST_HZ, top, EQ_BANDS))
    frequencies = np.log(np.maximum(np.arange(stft.input_bins) * stft.sample_rate / stft.n_fft, EQ_LOWEST_HZ))
    weights = np.stack([np.interp(frequencies, anchors, np.eye(EQ_BANDS)[band]) for band in range(EQ_BANDS)], axis=1)
    return torch.from_numpy(weights.astype(np.float32))


def equalise(spectra: torch.Tensor, band_db: torch.Tensor | None, matrix: torch.Tensor) -> torch.Tensor:
    """``spectra`` (patches, bins, frames) times each patch's equaliser curve; unchanged without one."""
    if band_db is None:
        return spectra
    gain = 10 ** ((band_db.to(matrix.device) @ matrix.T) / 20)  # (patches, bins)
    return spectra * gain[:, :, None]


class WaveformClips:
    """Accompaniment-only clips kept as 16-bit waveforms; a patch's spectrum is computed when drawn.

    Hours of music do not fit as spectra: 8.7 h at 44.1 kHz is 2.7 M frames per channel,
    22 GB as complex64 over 512 bins in two channels (11 GB as complex32, and mono or
    magnitudes cannot be summed with a voice phase-correctly). As int16 samples the same
    music takes a quarter of that, 5.5 GB (2 bytes per sample and channel; the 6.2 h that
    ``scripts/fetch_instrumentals.py`` keeps, 3.9 GB), and FLAC-16 clips lose nothing.
    A patch's frames are cut from the waveform and transformed by ``patch_spectra``, equal
    within float rounding to the frames of ``Spectrogram`` over the whole clip: each clip is
    stored with ``n_fft // 2`` zeros before it and zeros after it to ``Spectrogram``'s
    (zero-padded, centred) frame grid; a clip shorter than a patch is extended with silence
    to ``patch_frames`` frames.

    Every clip is stored with two channels (a mono clip twice), so all clips stack into
    one buffer for ``DevicePatches``.

    Parameters
    ----------
    clips : iterable of (waveform, sample_rate)
        ``waveform`` of shape (channels, samples), float in [-1, 1]; consumed one at a time.
    stft : STFTConfig
    patch_frames : int
    """

    def __init__(self, clips: Iterable[tuple[np.ndarray, int]], stft: STFTConfig, patch_frames: int) -> None:
        self.stft = stft
        self.patch_frames = patch_frames
        self.waveforms: list[torch.Tensor] = []
        #: Frames of each clip (``Spectrogram.frames_for`` its samples, at least ``patch_frames``).
        self.frames: list[int] = []
        #: Root-mean-square level of each clip (over its samples and channels), for level matching.
        self.rms: list[float] = []
        for waveform, rate in clips:
            waveform = resample(waveform, rate, stft.sample_rate)
            stereo = np.concatenate([waveform, waveform]) if waveform.shape[0] == 1 else waveform[:2]
            frames = max(stereo.shape[1] // stft.hop_length + 1, patch_frames)
            length = max((frames - 1) * stft.hop_length + stft.n_fft, stft.n_fft // 2 + stereo.shape[1])
            padded = np.zeros((2, length), dtype=np.int16)
            samples = np.clip(np.round(stereo * 32768), -32768, 32767)  # FLAC-16 samples exactly
            padded[:, stft.n_fft // 2 : stft.n_fft // 2 + stereo.shape[1]] = samples
            self.waveforms.append(torch.from_numpy(padded))
            self.frames.append(frames)
            self.rms.append(float(np.sqrt(np.mean(np.square(samples / 32768, dtype=np.float64)))))
        self.window = torch.hann_window(stft.n_fft)

    def __len__(self) -> int:
        return len(self.waveforms)

    @property
    def nbytes(self) -> int:
        """Memory the clips hold."""
        return sum(w.numel() * w.element_size() for w in self.waveforms)

    @property
    def seconds(self) -> float:
        """Duration of the clips (with their padding), at the model's rate."""
        return sum(w.shape[1] for w in self.waveforms) / self.stft.sample_rate

    @property
    def span(self) -> int:
        """Samples under one patch of ``patch_frames`` frames."""
        return (self.patch_frames - 1) * self.stft.hop_length + self.stft.n_fft

    def samples(self, clip: int, channel: int, offset: int) -> torch.Tensor:
        """The int16 samples under the patch starting at frame ``offset``, shape (span,)."""
        start = offset * self.stft.hop_length
        return self.waveforms[clip][channel, start : start + self.span]


def patch_spectra(samples: torch.Tensor, window: torch.Tensor, stft: STFTConfig) -> torch.Tensor:
    """Complex spectra of int16 patch waveforms, as ``Spectrogram`` frames them.

    Parameters
    ----------
    samples : Tensor, shape (patches, span), int16
        ``span = (patch_frames - 1) * hop_length + n_fft`` samples each (``WaveformClips``).
    window : Tensor, shape (n_fft,)
        The Hann window, on the device of ``samples``.

    Returns
    -------
    Tensor, shape (patches, input_bins, patch_frames), complex64
    """
    frames = (samples.to(torch.float32) / 32768).unfold(-1, stft.n_fft, stft.hop_length)
    spectra = torch.fft.rfft(frames * window, dim=-1)[..., : stft.input_bins]
    return spectra.transpose(1, 2)


def magnitude(spectra: torch.Tensor) -> torch.Tensor:
    """``spectra.abs()``, bit for bit, in half the time on a CPU (torch's complex ``abs`` is slower than ``hypot``)."""
    return torch.hypot(spectra.real, spectra.imag)


class _Magnitudes:
    """What a source of complex patch spectra (``spectra_of``) also gives: seeded batches, shares, magnitudes."""

    sampler: PatchSampler  # whose ``draw`` makes the random choices

    def spectra_of(self, draws: PatchDraws) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def spectra(
        self, size: int, generator: torch.Generator, *, rank: int = 0, ranks: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The complex spectra of ``size`` seeded patches (see ``PatchSampler.spectra_of``).

        With ``ranks`` > 1 (data-parallel training) the choices of ``size * ranks`` patches
        are drawn, the same global batch as one process with ``size * ranks``, and only the
        ``rank``-th share is computed: the shares of the ranks are disjoint and together are
        that batch.
        """
        return self.spectra_of(self.sampler.draw(size * ranks, generator).share(rank, ranks))

    def batch_with_accompaniment(
        self, size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Magnitudes of the mixture, the voice and the accompaniment of ``spectra``'s draws."""
        vocals, accompaniment = self.spectra(size, generator)
        return magnitude(vocals + accompaniment), magnitude(vocals), magnitude(accompaniment)


class PatchSampler(_Magnitudes):
    """Random spectrogram patches with augmentation, drawn from a seeded generator.

    Each track's stems are transformed once at the model's rate; a patch is one
    channel of ``patch_frames`` frames. Augmentation: random channel (which subsumes a
    channel swap), random gain per stem, and with ``remix_probability`` the voice of one
    track over the accompaniment of another. STFT is linear, so mixing spectra equals
    transforming the mixed waveform.

    With ``extra_accompaniment_probability`` (and extra clips given) the accompaniment comes
    instead from an accompaniment-only clip, under a stem track's voice; the clips are held
    as waveforms (``WaveformClips``: 2 bytes per sample and channel). With
    ``match_extra_level`` each clip is scaled to the median level of the stem tracks'
    accompaniments before the random gain, so extra music is neither louder nor softer
    than the accompaniment the voices were recorded with.

    With produced voices (``vocal_production.read_produced_vocals``: track index -> the voice
    rendered through a vocal production chain) a drawn track that has one uses it instead of its
    dry voice with ``produced_probability``, over the same accompaniment; the produced voices
    follow the tracks in ``vocals`` (``accompaniment`` holds the tracks' only), but only the
    tracks are drawn from (``len``).

    With ``eq_db`` > 0 each stem of a patch also passes a random smooth equaliser
    (``equaliser_matrix``: ``EQ_BANDS`` gains uniform in ±``eq_db``), drawn independently
    for the voice and the accompaniment.

    Parameters
    ----------
    tracks : list of StemTrack
    stft : STFTConfig
    config : DataConfig
    accompaniments : iterable of (waveform, sample_rate)
        Extra accompaniment-only clips (``datasets.extra_accompaniment``); not read while
        ``config.extra_accompaniment_probability`` is 0.
    channels : int
        1: a patch is one channel (the drawn one). 2: a patch is a stereo pair, both channels
        of the drawn place (a mono track's channel twice), as rows 2i and 2i + 1 of the batch,
        for a stereo network (``UNetConfig.channels``); the same draws either way.
    produced : dict of int to ndarray, shape (channels, samples)
        Produced voices of some tracks (by index in ``tracks``, at the track's rate); none by default.
    """

    def __init__(
        self,
        tracks: list[StemTrack],
        stft: STFTConfig,
        config: DataConfig,
        accompaniments: Iterable[tuple[np.ndarray, int]] = (),
        channels: int = 1,
        produced: dict[int, np.ndarray] | None = None,
    ) -> None:
        transform = Spectrogram(stft)
        self.config = config
        self.channels = channels
        self.stft = stft
        self.vocals: list[torch.Tensor] = []
        self.accompaniment: list[torch.Tensor] = []
        for track in tracks:
            for stem, store in ((track.vocals, self.vocals), (track.accompaniment, self.accompaniment)):
                waveform = torch.from_numpy(resample(stem, track.sample_rate, stft.sample_rate))
                spec = transform(waveform)[:, : stft.input_bins]
                spec = _pad_frames(spec, config.patch_frames)
                store.append(spec)
        self.track_count = len(tracks)
        #: Track index -> index in ``vocals`` of its produced voice (none: draws as without them).
        self.produced_index: dict[int, int] = {}
        for index, voice in sorted((produced or {}).items()):
            waveform = torch.from_numpy(resample(voice, tracks[index].sample_rate, stft.sample_rate))
            self.produced_index[index] = len(self.vocals)
            self.vocals.append(_pad_frames(transform(waveform)[:, : stft.input_bins], config.patch_frames))
        use_extra = config.extra_accompaniment_probability > 0
        clips = WaveformClips(accompaniments if use_extra else (), stft, config.patch_frames)
        #: The extra accompaniment clips, or None: then draws are those of a sampler without them.
        self.extra = clips if len(clips) else None
        #: Gain that brings each extra clip to the stem accompaniments' median level (or 1).
        self.extra_level = [1.0] * len(clips)
        if config.match_extra_level and len(clips):
            target = float(np.median([np.sqrt(np.mean(np.square(t.accompaniment, dtype=np.float64))) for t in tracks]))
            self.extra_level = [target / max(rms, 1e-4) for rms in clips.rms]  # a near-silent clip: at most x1e4
        self.eq_matrix = equaliser_matrix(stft)

    def __len__(self) -> int:
        """The number of tracks (produced voices are alternatives of theirs, not tracks)."""
        return self.track_count

    def batch(self, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``size`` patches.

        Returns
        -------
        mixture, vocals : Tensor, shape (size, input_bins, patch_frames), float32
            Magnitudes of the mixture and of the voice in it.
        """
        mixture, vocals, _ = self.batch_with_accompaniment(size, generator)
        return mixture, vocals

    @property
    def sampler(self) -> PatchSampler:  # type: ignore[override]
        return self

    def spectra_of(self, draws: PatchDraws) -> tuple[torch.Tensor, torch.Tensor]:
        """The complex spectra of drawn patches (``draw``), as ``batch_with_accompaniment`` gives them.

        Returns
        -------
        vocals, accompaniment : Tensor, shape (patches * channels, input_bins, patch_frames), complex64
            The mixture is their sum (the STFT is linear).
        """
        patch = self.config.patch_frames
        extra_spectra: dict[int, torch.Tensor] = {}
        if bool(draws.extra.any()):  # all extra patches in one batched FFT
            rows = draws.extra.nonzero().flatten().tolist()
            samples = torch.stack([self.extra.samples(int(draws.accompaniment_track[row]), channel,
                                                      int(draws.accompaniment_offset[row]))
                                   for row in rows for channel in self._channels(int(draws.accompaniment_channel[row]), 2)])
            spectra = patch_spectra(samples, self.extra.window, self.stft)
            extra_spectra = dict(zip(rows, spectra.reshape(len(rows), -1, *spectra.shape[1:])))
        # (patches, channels, bins, frames), written in place: no stacked copy, no second pass for the gain
        shape = (len(draws.vocal_track), self.channels, self.stft.input_bins, patch)
        vocals, accompaniment = (torch.empty(shape, dtype=self.vocals[0].dtype) for _ in range(2))
        columns = (draws.vocal_track, draws.vocal_channel, draws.vocal_offset, draws.accompaniment_track,
                   draws.accompaniment_channel, draws.accompaniment_offset, draws.vocal_gain, draws.accompaniment_gain)
        for row, (i, channel, offset, j, other_channel, other_offset, vocal_gain, accompaniment_gain) in enumerate(
            zip(*(column.tolist() for column in columns))
        ):
            vocal = self.vocals[i]
            for k, c in enumerate(self._channels(channel, vocal.shape[0])):
                torch.mul(vocal[c, :, offset : offset + patch], vocal_gain, out=vocals[row, k])
            if row in extra_spectra:
                torch.mul(extra_spectra[row], accompaniment_gain, out=accompaniment[row])
                continue
            other = self.accompaniment[j]
            for k, c in enumerate(self._channels(other_channel, other.shape[0])):
                torch.mul(other[c, :, other_offset : other_offset + patch], accompaniment_gain, out=accompaniment[row, k])
        # patches -> rows; an equaliser curve is shared by a pair
        vocals, accompaniment = vocals.flatten(0, 1), accompaniment.flatten(0, 1)
        vocal_eq, accompaniment_eq = (None if eq is None else eq.repeat_interleave(self.channels, dim=0)
                                      for eq in (draws.vocal_eq, draws.accompaniment_eq))
        return (equalise(vocals, vocal_eq, self.eq_matrix), equalise(accompaniment, accompaniment_eq, self.eq_matrix))

    def _channels(self, drawn: int, available: int) -> list[int]:
        """The channels of a patch: the drawn one, or both of a stereo pair (a mono one twice)."""
        return [drawn] if self.channels == 1 else [0, min(1, available - 1)]

    def draw(self, size: int, generator: torch.Generator) -> PatchDraws:
        """The random choices of ``size`` patches, in a fixed order from ``generator``.

        Per patch: a track (its produced voice with ``produced_probability``, only drawn for a
        track that has one), channel and offset for the voice; with
        ``extra_accompaniment_probability`` (only drawn when there are extra clips, so a
        sampler without them draws exactly as before) a clip, channel and offset of the
        extra accompaniment; else with ``remix_probability`` a track, channel and offset for
        the accompaniment (else the voice's own, on the nearest channel); a gain for each
        stem, uniform in decibels (an extra clip's times its level match); and only with
        ``eq_db`` > 0, the equaliser gains of both stems, after all patches' other draws.
        """
        gain_db = self.config.gain_db
        columns: list[list[float]] = [[] for _ in range(9)]
        for _ in range(size):
            track = i = _randint(len(self), generator)
            if i in self.produced_index and _uniform(generator) < self.config.produced_probability:
                i = self.produced_index[i]
            channel, offset = self._place(self.vocals[i], generator)
            extra = self.extra is not None and _uniform(generator) < self.config.extra_accompaniment_probability
            if extra:
                j = _randint(len(self.extra), generator)
                other_channel = _randint(2, generator)
                other_offset = _randint(self.extra.frames[j] - self.config.patch_frames + 1, generator)
            elif _uniform(generator) < self.config.remix_probability:
                j = _randint(len(self), generator)
                other_channel, other_offset = self._place(self.accompaniment[j], generator)
            else:  # the voice's own track (a produced voice's accompaniment is its track's)
                j, other_offset = track, offset
                other_channel = min(channel, self.accompaniment[track].shape[0] - 1)
            vocal_gain = 10 ** (_uniform(generator, -gain_db, gain_db) / 20)
            accompaniment_gain = 10 ** (_uniform(generator, -gain_db, gain_db) / 20)
            if extra:
                accompaniment_gain *= self.extra_level[j]
            for column, value in zip(columns, (i, channel, offset, j, other_channel, other_offset,
                                               vocal_gain, accompaniment_gain, extra)):
                column.append(value)
        indices = [torch.tensor(column, dtype=torch.long) for column in columns[:6]]
        gains = [torch.tensor(column, dtype=torch.float64) for column in columns[6:8]]
        equaliser: list[torch.Tensor | None] = [None, None]
        if self.config.eq_db > 0:
            eq_db = self.config.eq_db
            equaliser = list((torch.rand(2, size, EQ_BANDS, generator=generator) * 2 - 1) * eq_db)
        return PatchDraws(*indices, *gains, torch.tensor(columns[8], dtype=torch.bool), *equaliser)

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


class DevicePatches(_Magnitudes):
    """A ``PatchSampler``'s spectra on a device (a GPU), cut into batches by one gather each.

    Drawing patch by patch costs about 2 ms of CPU per patch, more than a GPU step of these
    networks. Here every stem is padded to the longest track and stacked in device memory
    (complex64: 8 bytes per bin, frame, channel and stem), and a batch is one indexing
    operation on the same draws as ``PatchSampler.batch_with_accompaniment``, which it equals
    within float rounding. The extra accompaniment clips stay int16 waveforms, concatenated
    into one (2, samples) buffer (2 bytes per sample and channel); their patches are one
    gather and one batched FFT (``patch_spectra``, as on the CPU). A stereo sampler's pairs
    (``channels = 2``) are two rows per patch, gathered at once, as ``PatchSampler`` gives them.
    """

    def __init__(self, sampler: PatchSampler, device: torch.device) -> None:
        self.sampler = sampler
        self.vocals = _stack_padded(sampler.vocals, device)
        self.accompaniment = _stack_padded(sampler.accompaniment, device)
        # channels of each track: a stereo patch of a mono track is its one channel twice
        self.vocal_channels, self.accompaniment_channels = (
            torch.tensor([spec.shape[0] for spec in specs], device=device)
            for specs in (sampler.vocals, sampler.accompaniment))
        self.frames = torch.arange(sampler.config.patch_frames, device=device)
        self.device = device
        self.extra, self.extra_starts, self.span = None, None, None
        if sampler.extra is not None:
            lengths = [w.shape[1] for w in sampler.extra.waveforms]
            self.extra = torch.empty(2, sum(lengths), dtype=torch.int16, device=device)
            starts = [0]
            for waveform, length in zip(sampler.extra.waveforms, lengths):  # no second copy on the host
                self.extra[:, starts[-1] : starts[-1] + length] = waveform.to(device)
                starts.append(starts[-1] + length)
            self.extra_starts = torch.tensor(starts[:-1], device=device)
            self.span = torch.arange(sampler.extra.span, device=device)
            self.window = sampler.extra.window.to(device)
        self.eq_matrix = sampler.eq_matrix.to(device)

    def spectra_of(self, draws: PatchDraws) -> tuple[torch.Tensor, torch.Tensor]:
        """``PatchSampler.spectra_of``, computed on the device."""
        pair = self.sampler.channels
        vocal = self._gather(self.vocals, self.vocal_channels, draws.vocal_track, draws.vocal_channel,
                             draws.vocal_offset)
        extra = draws.extra
        if not bool(extra.any()):
            accompaniment = self._gather(self.accompaniment, self.accompaniment_channels, draws.accompaniment_track,
                                         draws.accompaniment_channel, draws.accompaniment_offset)
        else:
            accompaniment = torch.empty_like(vocal)
            stems = (~extra).repeat_interleave(pair).to(self.device)  # rows whose accompaniment is a stem's
            accompaniment[stems] = self._gather(
                self.accompaniment, self.accompaniment_channels, draws.accompaniment_track[~extra],
                draws.accompaniment_channel[~extra], draws.accompaniment_offset[~extra])
            clip, channel, offset = (t[extra].to(self.device) for t in (
                draws.accompaniment_track, draws.accompaniment_channel, draws.accompaniment_offset))
            if pair == 2:  # clips are stored stereo: both channels
                channel = torch.stack([torch.zeros_like(channel), torch.ones_like(channel)], dim=1).flatten()
                clip, offset = clip.repeat_interleave(2), offset.repeat_interleave(2)
            start = self.extra_starts[clip] + offset * self.sampler.stft.hop_length
            samples = self.extra[channel[:, None], start[:, None] + self.span]  # (extra rows, span)
            accompaniment[~stems] = patch_spectra(samples, self.window, self.sampler.stft)
        gains = (draws.vocal_gain, draws.accompaniment_gain)
        vocal_gain, accompaniment_gain = (g.repeat_interleave(pair).to(self.device, torch.float32) for g in gains)
        vocal = vocal * vocal_gain[:, None, None]
        accompaniment = accompaniment * accompaniment_gain[:, None, None]
        vocal_eq, accompaniment_eq = (None if eq is None else eq.repeat_interleave(pair, dim=0)
                                      for eq in (draws.vocal_eq, draws.accompaniment_eq))
        return (equalise(vocal, vocal_eq, self.eq_matrix), equalise(accompaniment, accompaniment_eq, self.eq_matrix))

    def _gather(self, stack: torch.Tensor, channels: torch.Tensor, track: torch.Tensor, channel: torch.Tensor,
                offset: torch.Tensor) -> torch.Tensor:
        """Rows (patches, or pairs of rows for a stereo sampler) of ``stack``, shape (rows, bins, patch_frames)."""
        track, channel, offset = (t.to(self.device) for t in (track, channel, offset))
        if self.sampler.channels == 2:  # channels 0 and 1, or 0 twice for a mono track
            channel = torch.stack([torch.zeros_like(track), (channels[track] - 1).clamp_max(1)], dim=1).flatten()
            track, offset = track.repeat_interleave(2), offset.repeat_interleave(2)
        frames = offset[:, None] + self.frames  # (rows, patch_frames)
        # advanced indices around a slice put their dimensions first: (rows, patch_frames, bins)
        return stack[track[:, None], channel[:, None], :, frames].transpose(1, 2)


def _stack_padded(specs: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    """(tracks, most channels, bins, longest) on ``device``; shorter or mono tracks are zero-padded."""
    longest = max(spec.shape[-1] for spec in specs)
    channels = max(spec.shape[0] for spec in specs)
    stack = torch.zeros(len(specs), channels, specs[0].shape[1], longest, dtype=specs[0].dtype, device=device)
    for index, spec in enumerate(specs):
        stack[index, : spec.shape[0], :, : spec.shape[-1]] = spec.to(device)
    return stack


