"""Fit the learned voicing decision (``melody.voicing``) on labelled remix songs.

The songs are ``train-pitch``'s remix songs (``training.pitch_remix``: the training singers'
labelled voices over other recordings' accompaniments), separated by the shipped separator and
cached by it; each is tracked as ``vocalsep pitch`` tracks a song (the shipped tracker hearing the
separated voice and the mixture), and every labelled frame gives the decision's features and
whether the singer sings there. The unseen singers are in none of the songs.

Those songs sing most of the time, over accompaniments the separator knows. Music where nobody
sings, and that the separator never heard, teaches what its leak sounds like: instrumental clips
(the screened game music of ``scripts/fetch_instrumentals.py``), every frame unsung. Clips are
split by their track (``instrumental_tracks``), one half to fit on, the other to measure the
false alarms on (``benchmarks/instrumental_voicing.py``).

    vocalsep train-voicing --cache runs/pitch-data --songs 2000 --instrumentals .data/instrumentals/clips -o voicing-mlp.npz
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from vocalsep.errors import ConfigError, DatasetError
from vocalsep.melody.tracking import MELODY_HOP, frame_energy, frame_slope_energy, track_pitch
from vocalsep.melody.voicing import VoicingModel, voicing_features
from vocalsep.training.pitch_remix import LABEL_HOP, CachedSong

#: Width of the hidden layer.
HIDDEN_UNITS = 32


def song_frames(song: CachedSong, *, network: object | None = None, hop: float = MELODY_HOP) -> tuple[np.ndarray, np.ndarray]:
    """The features and the sung / not sung label of every labelled frame of one remix song."""
    from vocalsep.melody.trackers.base import ANALYSIS_RATE

    separated, mixture = song.separated.astype(np.float32), song.mixture.astype(np.float32)
    track = track_pitch(separated, ANALYSIS_RATE, hop=hop, network=network, mixture=mixture, threshold=0.0,
                        gate_db=None, voicing=None)
    hop_samples = int(round(hop * ANALYSIS_RATE))
    features = voicing_features(track.confidence, track.frequency, frame_energy(separated, hop_samples),
                                frame_energy(mixture, hop_samples), frame_slope_energy(separated, hop_samples), hop)
    label = np.rint(track.times / LABEL_HOP).astype(int) - 1  # label i sits at (i + 1) * LABEL_HOP s
    inside = (label >= 0) & (label < song.known.size) & np.isclose(track.times, (label + 1) * LABEL_HOP)
    inside[inside] &= song.known[label[inside]]
    return features[inside], song.frequency[label[inside]] > 0


def voicing_frames(songs: Iterable[CachedSong], *, network: object | None = None,
                   log: Callable[[str], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``song_frames`` of every song, stacked."""
    features, labels = [], []
    for number, song in enumerate(songs):
        x, y = song_frames(song, network=network)
        features.append(x)
        labels.append(y)
        if log is not None and (number + 1) % 200 == 0:
            log(f"{number + 1} songs tracked")
    if not features or sum(y.size for y in labels) == 0:
        raise DatasetError("no labelled frames to fit the voicing on")
    return np.concatenate(features), np.concatenate(labels)


def fit_voicing(features: np.ndarray, labels: np.ndarray, *, hidden: int = HIDDEN_UNITS, steps: int = 3000,
                batch_size: int = 8192, learning_rate: float = 3e-3, threshold: float = 0.5,
                seed: int = 0) -> VoicingModel:
    """Fit ``VoicingModel`` by Adam on the binary cross-entropy of random batches of frames.

    Parameters
    ----------
    features : ndarray, shape (frames, features)
    labels : ndarray, shape (frames,), bool
        Whether each frame is sung.
    hidden, steps, batch_size, learning_rate, seed
        The network's width and its optimisation (deterministic for a seed).
    threshold : float
        The probability from which the fitted model calls a frame voiced.
    """
    import torch

    if features.ndim != 2 or features.shape[0] != labels.size or labels.size == 0:
        raise ConfigError("fit_voicing needs one label per row of features")
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"the voicing threshold must be in (0, 1), not {threshold}")
    mean = features.mean(axis=0)
    scale = np.maximum(features.std(axis=0), 1e-6)
    generator = torch.Generator().manual_seed(seed)
    x = torch.from_numpy((features - mean) / scale).float()
    y = torch.from_numpy(labels.astype(np.float32))
    first, second = torch.nn.Linear(x.shape[1], hidden), torch.nn.Linear(hidden, 1)
    with torch.no_grad():
        for layer in (first, second):  # seeded here, not by torch's global generator
            bound = 1.0 / np.sqrt(layer.in_features)
            layer.weight.copy_(torch.empty_like(layer.weight).uniform_(-bound, bound, generator=generator))
            layer.bias.copy_(torch.empty_like(layer.bias).uniform_(-bound, bound, generator=generator))
    parameters = [*first.parameters(), *second.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=learning_rate)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for _ in range(steps):
        rows = torch.randint(0, x.shape[0], (min(batch_size, x.shape[0]),), generator=generator)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(second(torch.relu(first(x[rows]))).squeeze(1), y[rows])
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return VoicingModel(mean, scale, first.weight.double().numpy().copy(), first.bias.double().numpy().copy(),
                            second.weight[0].double().numpy().copy(), float(second.bias[0]), threshold)


def instrumental_tracks(folders: Iterable[str | Path], half: int) -> list[Path]:
    """Instrumental clips of ``folders`` whose track (the name before the last ``-``) falls in ``half``
    (0: fitting, 1: measuring) of the sorted tracks, taken alternately, so no track is in both."""
    from vocalsep.datasets import accompaniment_files

    files = [path for folder in folders for path in accompaniment_files(folder)]
    tracks = sorted({(path.parent, path.stem.rsplit("-", 1)[0]) for path in files})
    chosen = set(tracks[half::2])
    return [path for path in files if (path.parent, path.stem.rsplit("-", 1)[0]) in chosen]


def instrumental_song(path: str | Path, separator: object) -> CachedSong:
    """An instrumental clip as a song where nobody sings: its separation and every label unsung."""
    from vocalsep.audio.io import load_audio, resample
    from vocalsep.melody.trackers.base import ANALYSIS_RATE

    waveform, rate = load_audio(path)
    mixture = resample(waveform.mean(axis=0), rate, ANALYSIS_RATE).astype(np.float32)
    separated = separator.separate(mixture[None], ANALYSIS_RATE).vocals[0]  # type: ignore[attr-defined]
    labels = max(0, mixture.size // int(LABEL_HOP * ANALYSIS_RATE) - 1)
    return CachedSong(np.zeros_like(mixture), mixture, separated.astype(np.float32), np.zeros(labels), np.ones(labels, bool))


def remix_songs(mir1k_root: str | Path, cache: str | Path, count: int, *, separator: object,
                seed: int = 0, log: Callable[[str], None] | None = None) -> Iterator[CachedSong]:
    """``train-pitch``'s first ``count`` MIR-1K remix songs, separated by ``separator``
    (``pitch_train.separator_for``; cached by its weights, or built), read 200 at a time."""
    from vocalsep.training.pitch_remix import RemixCache, RemixSongs, mir1k_voices
    from vocalsep.training.pitch_train import REMIX_KEY_VERSION

    voices, accompaniments = mir1k_voices(mir1k_root)
    songs = RemixSongs(voices, accompaniments, seed=seed)
    remix = RemixCache(Path(cache) / "remix", songs, f"mir1k-v{REMIX_KEY_VERSION}-seed{seed}", separator)
    if log is not None:
        log(f"{count} remix songs from {len(voices)} voices, cached in {remix.folder}")
    for start in range(0, count, 200):
        yield from remix.load(range(start, min(count, start + 200)), log=log)
