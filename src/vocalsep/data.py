"""Stem datasets (MUSDB18, MIR-1K, plain folders) and seeded random-patch sampling."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vocalsep.audio import load_audio, load_stream, resample
from vocalsep.config import DataConfig, STFTConfig
from vocalsep.errors import DatasetError
from vocalsep.transforms import Spectrogram

#: The standard MUSDB18 validation split: 14 tracks taken from ``train``.
MUSDB_VALIDATION = (
    "Actions - One Minute Smile",
    "Clara Berry And Wooldog - Waltz For My Victims",
    "Johnny Lokke - Promises & Lies",
    "Patrick Talbot - A Reason To Leave",
    "Triviul - Angelsaint",
    "Alexander Ross - Goodbye Bolero",
    "Fergessen - Nos Palpitants",
    "Leaf - Summerghost",
    "Skelpolu - Human Mistakes",
    "Young Griffo - Pennies",
    "ANiMAL - Rockshow",
    "James May - On The Line",
    "Meaxic - Take A Step",
    "Traffic Experiment - Sirens",
)
MUSDB_STEMS = ("mixture", "drums", "bass", "other", "vocals")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".aiff")


@dataclass(frozen=True)
class StemTrack:
    """A song split into voice and accompaniment.

    Attributes
    ----------
    name : str
    vocals, accompaniment : ndarray, shape (channels, samples), float32
    sample_rate : int
    source : str
        The dataset it came from (``musdb``, ``mir1k``, ``stems``); validation reports per source.
    """

    name: str
    vocals: np.ndarray
    accompaniment: np.ndarray
    sample_rate: int
    source: str = "stems"

    @property
    def mixture(self) -> np.ndarray:
        """The sum of the stems (MUSDB18's mixture equals it up to codec noise)."""
        return self.vocals + self.accompaniment

    @property
    def seconds(self) -> float:
        return self.vocals.shape[1] / self.sample_rate


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


def musdb_tracks(root: str | Path, split: str = "train") -> list[StemTrack]:
    """Tracks of a MUSDB18 folder (``*.stem.mp4`` files or folders of stem wavs).

    Parameters
    ----------
    root : str or Path
        Folder holding ``train/`` (and optionally ``test/``).
    split : {"train", "valid", "test"}
        ``train`` excludes, ``valid`` keeps only, the 14 standard validation tracks.
    """
    folder = Path(root) / ("test" if split == "test" else "train")
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no MUSDB18 folder there")
    entries = sorted(p for p in folder.iterdir() if p.name.endswith(".stem.mp4") or p.is_dir())
    tracks = []
    for entry in entries:
        name = entry.name.removesuffix(".stem.mp4")
        if split != "test" and (name in MUSDB_VALIDATION) != (split == "valid"):
            continue
        tracks.append(_read_musdb_track(entry, name))
    if not tracks:
        raise DatasetError(f"{folder}: no MUSDB18 tracks for split {split!r}")
    return tracks


def _read_musdb_track(entry: Path, name: str) -> StemTrack:
    if entry.is_dir():
        stems = {s: load_audio(_find_stem(entry, s)) for s in MUSDB_STEMS[1:]}
    else:
        stems = {s: load_stream(entry, i) for i, s in enumerate(MUSDB_STEMS) if i > 0}
    rate = stems["vocals"][1]
    length = min(w.shape[1] for w, _ in stems.values())
    vocals = stems["vocals"][0][:, :length]
    accompaniment = sum(stems[s][0][:, :length] for s in ("drums", "bass", "other"))
    return StemTrack(name, vocals, np.asarray(accompaniment, dtype=np.float32), rate, "musdb")


def _find_stem(folder: Path, stem: str) -> Path:
    for suffix in AUDIO_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    raise DatasetError(f"{folder}: no {stem} stem")


def mir1k_tracks(
    root: str | Path,
    *,
    songs: tuple[str, ...] | None = None,
    exclude: tuple[str, ...] = (),
    singers: tuple[str, ...] | None = None,
    exclude_singers: tuple[str, ...] = (),
) -> list[StemTrack]:
    """MIR-1K clips: left channel = accompaniment, right channel = singing voice.

    Parameters
    ----------
    root : str or Path
        The MIR-1K folder (holding ``Wavfile/``).
    songs : tuple of str, optional
        Keep only clips of these songs (``singer_song``, e.g. ``"abjones_3"``).
    exclude : tuple of str
        Drop clips of these songs.
    singers : tuple of str, optional
        Keep only clips of these singers (the name before the first ``_``, e.g. ``"Ani"``).
    exclude_singers : tuple of str
        Drop clips of these singers.

    Clips are ``.wav`` or ``.flac`` (the newer singers ship as FLAC).
    """
    folder = Path(root) / "Wavfile"
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no MIR-1K folder there")
    tracks = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in (".wav", ".flac")):
        song = path.stem.rsplit("_", 1)[0]
        singer = path.stem.split("_", 1)[0]
        if (songs is not None and song not in songs) or song in exclude:
            continue
        if (singers is not None and singer not in singers) or singer in exclude_singers:
            continue
        waveform, rate = load_audio(path)
        if waveform.shape[0] != 2:
            raise DatasetError(f"{path}: MIR-1K clips have two channels")
        tracks.append(StemTrack(path.stem, waveform[1:2], waveform[0:1], rate, "mir1k"))
    if not tracks:
        raise DatasetError(f"{folder}: no MIR-1K clips selected")
    return tracks


def stem_folder_tracks(root: str | Path) -> list[StemTrack]:
    """Sub-folders of ``root`` that each hold ``vocals.*`` and ``accompaniment.*``."""
    root = Path(root)
    tracks = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        vocals, rate = load_audio(_find_stem(folder, "vocals"))
        accompaniment, other_rate = load_audio(_find_stem(folder, "accompaniment"))
        if other_rate != rate or vocals.shape[0] != accompaniment.shape[0]:
            raise DatasetError(f"{folder}: stems differ in sample rate or channel count")
        length = min(vocals.shape[1], accompaniment.shape[1])
        tracks.append(StemTrack(folder.name, vocals[:, :length], accompaniment[:, :length], rate))
    if not tracks:
        raise DatasetError(f"{root}: no folders with vocals and accompaniment stems")
    return tracks


def discover_tracks(root: str | Path, split: str = "valid") -> list[StemTrack]:
    """Read a dataset folder of any supported layout (MUSDB18, MIR-1K or stem folders)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder")
    if (root / "Wavfile").is_dir():
        return mir1k_tracks(root)
    if (root / "train").is_dir() or (root / "test").is_dir():
        return musdb_tracks(root, split)
    return stem_folder_tracks(root)


def training_tracks(config: DataConfig) -> tuple[list[StemTrack], list[StemTrack]]:
    """The configured (training, validation) tracks, from every source that exists."""
    return training_set(config), validation_tracks(config)


def training_set(config: DataConfig) -> list[StemTrack]:
    """The configured training tracks alone, without the validation tracks and songs."""
    train: list[StemTrack] = []
    if config.musdb_root and Path(config.musdb_root).is_dir():
        train += musdb_tracks(config.musdb_root, "train")
    if config.mir1k_root and Path(config.mir1k_root).is_dir():
        train += mir1k_tracks(config.mir1k_root, exclude=tuple(config.mir1k_validation_songs),
                              exclude_singers=tuple(config.mir1k_validation_singers))
    for folder in config.stem_folders:
        train += stem_folder_tracks(folder)
    if not train:
        raise DatasetError("no training data found: set data.musdb_root, mir1k_root or stem_folders")
    return train


def validation_tracks(config: DataConfig) -> list[StemTrack]:
    """The configured validation tracks alone (MUSDB18 split, held-out MIR-1K songs, folders)."""
    valid: list[StemTrack] = []
    if config.musdb_root and Path(config.musdb_root).is_dir():
        valid += musdb_tracks(config.musdb_root, "valid")
    if config.mir1k_root and Path(config.mir1k_root).is_dir() and config.mir1k_validation_songs:
        valid += mir1k_tracks(config.mir1k_root, songs=tuple(config.mir1k_validation_songs))
    if config.mir1k_root and Path(config.mir1k_root).is_dir() and config.mir1k_validation_singers:
        valid += [dataclasses.replace(track, source="mir1k_unseen") for track in
                  mir1k_tracks(config.mir1k_root, singers=tuple(config.mir1k_validation_singers))]
    for folder in config.validation_folders:
        valid += stem_folder_tracks(folder)
    return valid


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
