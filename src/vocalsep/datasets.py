"""Stem datasets (MUSDB18, MIR-1K, plain folders) and seeded random-patch sampling."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vocalsep.audio.io import load_audio, load_stream
from vocalsep.config import DataConfig
from vocalsep.errors import DatasetError

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
    def stems(self) -> dict[str, np.ndarray]:
        """The true stems by name, in the order ``Separator`` names its estimates."""
        return {"vocals": self.vocals, "accompaniment": self.accompaniment}

    @property
    def mixture(self) -> np.ndarray:
        """The sum of the stems (MUSDB18's mixture equals it up to codec noise)."""
        return self.vocals + self.accompaniment

    @property
    def seconds(self) -> float:
        return self.vocals.shape[1] / self.sample_rate




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


def accompaniment_files(root: str | Path) -> list[Path]:
    """The audio files under ``root`` (recursively, sorted): accompaniment-only clips.

    Raises
    ------
    DatasetError
        ``root`` is missing or holds no audio files.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no folder of accompaniment clips there "
                           "(scripts/fetch_instrumentals.py writes one)")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise DatasetError(f"{root}: no audio files in this folder of accompaniment clips")
    return files


def extra_accompaniment(config: DataConfig) -> Iterator[tuple[np.ndarray, int]]:
    """Decode the clips of ``config.accompaniment_folders`` one at a time.

    A generator, so a caller can store each clip compactly before the next is decoded
    (hours of music as float32 would take several GB). Nothing is read while
    ``extra_accompaniment_probability`` is 0.

    Yields
    ------
    waveform : ndarray, shape (channels, samples), float32
    sample_rate : int
    """
    if config.extra_accompaniment_probability == 0:
        return
    files = [path for folder in config.accompaniment_folders for path in accompaniment_files(folder)]
    for path in files:
        yield load_audio(path)


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












