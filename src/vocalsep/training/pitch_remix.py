"""Labelled training songs without limit: labelled voices remixed over other accompaniments.

Pitch labels survive remixing: a labelled voice over any accompaniment, at any level, is a new
labelled song, and a voice played faster by a ratio ``r`` (pitch times ``r``, length divided by
``r``) keeps its labels once they are scaled the same way. ``RemixSongs`` draws such songs from a
seed: song ``i`` is always the same voice, accompaniment, level and speed.

Voices (``LabelledVoice``):

* MIR-1K's training singers (``evaluation.melody.TRAINING_SINGERS``) with their hand labels, minus
  the tuning clips (``pitch_train.tuning_clips``); the unseen singers are never read here;
* MUSDB18-7's training vocals (the 14 validation tracks excluded) labelled by the clean-voice
  tracker, keeping only frames it is confident of (``pseudo_label``): the others carry no label.

Accompaniments: the left channels of the same MIR-1K clips and the accompaniment stems of the
same MUSDB18 tracks, each song taking one from another track than its voice; or accompaniment-only
music the separator never trained on (``folder_accompaniments``: the screened game music), whose
separations leak and drop the voice as those of new songs do.

The separation of every song by a separator is cached once (``RemixCache``, keyed by the
separator's weights), so a training step of the tracker costs the tracker alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vocalsep.errors import ConfigError, DatasetError
from vocalsep.melody.trackers.base import ANALYSIS_RATE
from vocalsep.melody.trackers.crepe import CREPE_WINDOW, crepe_bin_cents

#: Seconds between labels (MIR-1K's grid): label ``i`` is centred at ``(i + 1) * LABEL_HOP`` s.
LABEL_HOP = 0.02
#: Voice-to-accompaniment ratios (dB) songs are mixed at: uniform over this range, which reaches
#: the hard cases where the voice is 10-15 dB under the band.
RATIO_DB = (-15.0, 6.0)
#: Pitch shift in semitones (by playing the voice faster or slower), drawn for half of the songs.
SHIFT_SEMITONES = 3.0
#: Peak level of a song after mixing is drawn in this range (dBFS).
PEAK_DB = (-12.0, -1.0)
#: Level (dB re. the accompaniment as mixed) of the accompaniment leaked into the separated voice of a
#: training frame, drawn uniformly (``RemixFrameSampler(leak_probability=...)``).
LEAK_DB = (-30.0, -6.0)
#: Changes whenever the rendering of a song changes (it is part of the cache key).
REMIX_VERSION = "1"


@dataclass(frozen=True)
class LabelledVoice:
    """A voice and its pitch: 16 kHz mono audio and Hz per 20 ms label (0 = unvoiced).

    Attributes
    ----------
    name : str
    audio : ndarray, shape (samples,), float32
    frequency : ndarray, shape (labels,), float64
        Label ``i`` centred at ``(i + 1) * LABEL_HOP`` s; 0 = unvoiced.
    known : ndarray, shape (labels,), bool
        Whether the label is known (hand labels: always; pseudo-labels: confident frames only).
    group : str
        The recording it comes from (its song): accompaniments of the same group are not drawn
        under it.
    """

    name: str
    audio: np.ndarray
    frequency: np.ndarray
    known: np.ndarray
    group: str


@dataclass(frozen=True)
class Accompaniment:
    """A 16 kHz mono accompaniment and the recording it comes from."""

    name: str
    audio: np.ndarray
    group: str


# ---------------------------------------------------------------------------------------------
# Labels and clips


def crepe_target(frequency: np.ndarray, *, blur_cents: float = 25.0) -> np.ndarray:
    """CREPE's training target: a Gaussian over the 360 bins around each frequency.

    Parameters
    ----------
    frequency : ndarray, shape (frames,)
        Hz; non-positive = unvoiced (an all-zero row).
    blur_cents : float
        Standard deviation of the Gaussian in cents (CREPE: 25).

    Returns
    -------
    ndarray, shape (frames, 360), float32
        1 at the exact pitch, ``exp(-d**2 / (2 * blur**2))`` at ``d`` cents from it.
    """
    f = np.atleast_1d(np.asarray(frequency, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        cents = np.where(f > 0, 1200.0 * np.log2(f / 10.0), np.nan)
    distance = crepe_bin_cents()[None, :] - cents[:, None]
    target = np.exp(-(distance**2) / (2.0 * blur_cents**2))
    return np.nan_to_num(target, nan=0.0).astype(np.float32)


def song_of(clip: str) -> str:
    """MIR-1K song of a clip name: ``amy_9_03`` -> ``amy_9``."""
    return "_".join(clip.split("_")[:2])


def tuning_clips(mir1k_root: str | Path, count: int = 40) -> list[Path]:
    """The MIR-1K clips kept for tuning (threshold, gate, training step): ``count`` clips of the
    training singers (``TRAINING_SINGERS``) drawn with seed 0 (``benchmarks/pitch.py thresholds``)."""
    from vocalsep.evaluation.melody import TRAINING_SINGERS, mir1k_clips

    paths = mir1k_clips(mir1k_root, singers=TRAINING_SINGERS)
    rng = np.random.default_rng(0)
    chosen = sorted(rng.choice(len(paths), size=min(count, len(paths)), replace=False))
    return [paths[i] for i in chosen]


def training_clips(mir1k_root: str | Path, tuning_count: int = 40) -> list[Path]:
    """MIR-1K clips for fine-tuning: the training singers' clips that are not tuning clips.

    The unseen singers (``evaluation.melody.UNSEEN_SINGERS``) are never among them.
    """
    from vocalsep.evaluation.melody import TRAINING_SINGERS, mir1k_clips

    tuning = set(tuning_clips(mir1k_root, tuning_count))
    clips = [p for p in mir1k_clips(mir1k_root, singers=TRAINING_SINGERS) if p not in tuning]
    if not clips:
        raise DatasetError(f"{mir1k_root}: no MIR-1K clips left for training")
    return clips


def label_window(label: int, samples: int, label_hop: float = LABEL_HOP) -> tuple[slice, slice]:
    """Where CREPE's window centred on label ``label`` (0-based, at ``(label + 1) * label_hop`` s) lies:
    the part inside a signal of ``samples`` samples, and where that part goes in the zero-padded window."""
    half = CREPE_WINDOW // 2
    centre = int(round((label + 1) * label_hop * ANALYSIS_RATE))
    start, stop = max(centre - half, 0), min(centre + half, samples)
    stop = max(stop, start)  # a label past the signal's end: an empty part, the window stays zero
    return slice(start, stop), slice(start - (centre - half), stop - (centre - half))


def read_labels(mir1k_root: str | Path, clip: str) -> np.ndarray:
    """Labelled F0 of a clip in Hz (0 = unvoiced), label ``i`` (0-based) at ``0.02 * (i + 1)`` s."""
    from vocalsep.evaluation.melody import read_mir1k_pitch

    _, frequency = read_mir1k_pitch(Path(mir1k_root) / "PitchLabel" / f"{clip}.pv")
    return frequency[1:]


def mir1k_voices(mir1k_root: str | Path, tuning_count: int = 40) -> tuple[list[LabelledVoice], list[Accompaniment]]:
    """The training singers' MIR-1K clips (tuning clips left out) as voices and accompaniments."""
    from vocalsep.audio.io import load_audio, resample
    voices, accompaniments = [], []
    for clip in training_clips(mir1k_root, tuning_count):
        waveform, rate = load_audio(clip)
        if waveform.shape[0] != 2:
            raise DatasetError(f"{clip}: MIR-1K clips have two channels")
        voice = resample(waveform[1], rate, ANALYSIS_RATE).astype(np.float32)
        band = resample(waveform[0], rate, ANALYSIS_RATE).astype(np.float32)
        labels = read_labels(mir1k_root, clip.stem)
        voices.append(LabelledVoice(clip.stem, voice, labels, np.ones(labels.size, bool), song_of(clip.stem)))
        accompaniments.append(Accompaniment(clip.stem, band, song_of(clip.stem)))
    return voices, accompaniments


def folder_accompaniments(folders: Sequence[str | Path], clips: int) -> list[Accompaniment]:
    """Up to ``clips`` accompaniment-only clips of ``folders`` (e.g. the screened game music), 16 kHz mono.

    Clips are taken evenly over the sorted file list, so a subset spans every package and track
    rather than the first few; each clip is its own recording (``group``).
    """
    from vocalsep.audio.io import load_audio, resample
    from vocalsep.datasets import accompaniment_files

    files = [path for folder in folders for path in accompaniment_files(folder)]
    chosen = [files[int(k)] for k in np.unique(np.linspace(0, len(files) - 1, min(clips, len(files))).round())]
    out = []
    for path in chosen:
        waveform, rate = load_audio(path)
        band = resample(waveform.mean(axis=0), rate, ANALYSIS_RATE).astype(np.float32)
        out.append(Accompaniment(f"music:{path.stem}", band, f"music:{path.stem}"))
    return out


def musdb_stems(musdb_root: str | Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """MUSDB18 training tracks (validation split excluded) as (name, vocals, accompaniment), 16 kHz mono."""
    from vocalsep.audio.io import resample
    from vocalsep.datasets import musdb_tracks

    out = []
    for track in musdb_tracks(musdb_root, "train"):
        vocals = resample(track.vocals.mean(axis=0), track.sample_rate, ANALYSIS_RATE).astype(np.float32)
        band = resample(track.accompaniment.mean(axis=0), track.sample_rate, ANALYSIS_RATE).astype(np.float32)
        out.append((track.name, vocals, band))
    return out


def pseudo_label(
    audio: np.ndarray, *, threshold: float, gate_db: float = -30.0, network: object | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Labels of a clean voice by the clean-voice tracker, on the 20 ms label grid.

    Frames whose confidence reaches ``threshold`` are labelled with the tracker's pitch; frames
    more than ``-gate_db`` dB under the voice's loud frames are labelled unvoiced (silence is
    unvoiced whatever is sung around it); the rest are unknown.

    Returns
    -------
    frequency : ndarray, shape (labels,)
        Hz, 0 = unvoiced or unknown.
    known : ndarray, shape (labels,), bool
    """
    from vocalsep.melody.tracking import frame_levels_db, track_pitch

    track = track_pitch(audio, ANALYSIS_RATE, hop=LABEL_HOP, gate_db=None, network=network)
    levels = frame_levels_db(audio, int(LABEL_HOP * ANALYSIS_RATE))[: len(track)]
    # the tracker's frame k is at k * hop; label i at (i + 1) * hop
    confidence, frequency, levels = track.confidence[1:], track.frequency[1:], levels[1:]
    voiced = (confidence >= threshold) & (frequency > 0) & (levels >= gate_db)
    silent = levels < gate_db
    return np.where(voiced, frequency, 0.0), voiced | silent


def musdb_voices(
    stems: Sequence[tuple[str, np.ndarray, np.ndarray]], *, threshold: float, network: object | None = None,
) -> tuple[list[LabelledVoice], list[Accompaniment]]:
    """MUSDB18 training vocals pseudo-labelled (``pseudo_label``) and their accompaniments."""
    voices, accompaniments = [], []
    for name, vocals, band in stems:
        frequency, known = pseudo_label(vocals, threshold=threshold, network=network)
        voices.append(LabelledVoice(f"musdb:{name}", vocals, frequency, known, f"musdb:{name}"))
        accompaniments.append(Accompaniment(f"musdb:{name}", band, f"musdb:{name}"))
    return voices, accompaniments


@dataclass(frozen=True)
class RemixSong:
    """One generated song at 16 kHz: the voice as mixed, the mixture, and the voice's labels."""

    voice: np.ndarray
    mixture: np.ndarray
    frequency: np.ndarray
    known: np.ndarray
    description: dict


def speed_change(voice: LabelledVoice, ratio: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The voice played ``ratio`` times faster (pitch times ``ratio``) with its labels regridded.

    Returns audio, Hz per label and known per label, on the 20 ms grid of the new audio.
    """
    from vocalsep.audio.io import resample

    if ratio == 1.0:
        return voice.audio, voice.frequency, voice.known
    # read the samples as if recorded at rate * ratio: played at the rate, pitch rises by ratio
    source_rate = int(round(ANALYSIS_RATE * ratio))
    audio = resample(voice.audio, source_rate, ANALYSIS_RATE).astype(np.float32)
    ratio = source_rate / ANALYSIS_RATE  # the ratio the rounded rate really plays at
    labels = max(1, int(audio.size / (LABEL_HOP * ANALYSIS_RATE)) - 1)
    # new label j is at (j + 1) * hop s, which was (j + 1) * hop * ratio s in the original
    source = np.rint((np.arange(labels) + 1) * ratio - 1).astype(int)
    inside = (source >= 0) & (source < voice.frequency.size)
    source = np.clip(source, 0, voice.frequency.size - 1)
    frequency = np.where(inside, voice.frequency[source] * ratio, 0.0)
    known = inside & voice.known[source]
    return audio, frequency, known


class RemixSongs:
    """Songs drawn from a seed: song ``i`` is a voice over another recording's accompaniment.

    Parameters
    ----------
    voices : sequence of LabelledVoice
    accompaniments : sequence of Accompaniment
    seed : int
    ratio_db : (float, float)
        Range of the voice-to-accompaniment ratio.
    shift_probability : float
        Share of songs whose voice is pitch-shifted (up to ``SHIFT_SEMITONES`` either way).
    """

    def __init__(
        self, voices: Sequence[LabelledVoice], accompaniments: Sequence[Accompaniment], *, seed: int = 0,
        ratio_db: tuple[float, float] = RATIO_DB, shift_probability: float = 0.5,
    ) -> None:
        if not voices or not accompaniments:
            raise DatasetError("remixing needs at least one labelled voice and one accompaniment")
        self.voices, self.accompaniments = list(voices), list(accompaniments)
        self.seed, self.ratio_db, self.shift_probability = seed, ratio_db, shift_probability

    def song(self, index: int) -> RemixSong:
        """Song ``index``: the same arguments always give the same song."""
        rng = np.random.default_rng([self.seed, index])
        voice = self.voices[int(rng.integers(len(self.voices)))]
        others = [a for a in self.accompaniments if a.group != voice.group]
        band = (others or self.accompaniments)[int(rng.integers(len(others or self.accompaniments)))]
        semitones = float(rng.uniform(-SHIFT_SEMITONES, SHIFT_SEMITONES)) if rng.uniform() < self.shift_probability else 0.0
        audio, frequency, known = speed_change(voice, 2.0 ** (semitones / 12.0))
        ratio_db = float(rng.uniform(*self.ratio_db))
        accompaniment = _fit_length(band.audio, audio.size, rng)
        mixed_voice, mixture = _mix(audio, accompaniment, ratio_db, float(rng.uniform(*PEAK_DB)))
        description = {"voice": voice.name, "accompaniment": band.name, "semitones": round(semitones, 3),
                       "ratio_db": round(ratio_db, 2)}
        return RemixSong(mixed_voice, mixture, frequency, known, description)


def _fit_length(audio: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """``length`` samples of ``audio`` from a random start, looped when it is shorter."""
    if audio.size >= length:
        start = int(rng.integers(audio.size - length + 1))
        return audio[start : start + length]
    repeats = -(-length // audio.size)
    return np.tile(audio, repeats)[:length]


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0


def _mix(voice: np.ndarray, accompaniment: np.ndarray, ratio_db: float, peak_db: float) -> tuple[np.ndarray, np.ndarray]:
    """The voice and voice + accompaniment at ``ratio_db`` (RMS), scaled to a peak of ``peak_db``."""
    voice_rms, band_rms = _rms(voice), _rms(accompaniment)
    band = accompaniment * (voice_rms / band_rms * 10 ** (-ratio_db / 20)) if band_rms > 0 and voice_rms > 0 else accompaniment
    mixture = voice + band
    peak = float(np.max(np.abs(mixture))) if mixture.size else 0.0
    gain = 10 ** (peak_db / 20) / peak if peak > 0 else 1.0
    return (voice * gain).astype(np.float32), (mixture * gain).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The cache of rendered and separated songs


def separator_digest(separator: object) -> str:
    """A short digest of a separator's weights and mask settings (the cache key of its separations)."""
    from vocalsep.onnx_export import module_digest

    estimator = separator.estimator  # type: ignore[attr-defined]
    settings = f"{estimator.config!r}|{getattr(separator, 'aggressiveness', 0.0)!r}"
    return module_digest(estimator, settings)[:16]


@dataclass
class CachedSong:
    """A song as training reads it: float16 signals at 16 kHz and its labels."""

    voice: np.ndarray
    mixture: np.ndarray
    separated: np.ndarray
    frequency: np.ndarray
    known: np.ndarray


class RemixCache:
    """Songs of a ``RemixSongs`` with their separation, rendered once into ``folder``.

    Each song is one ``song-<index>.npz`` (float16 voice, mixture and separated voice, labels)
    under ``folder/<songs key>-<separator digest>/``, written atomically, so an interrupted build
    resumes where it stopped and another separator gets its own songs.
    """

    def __init__(self, folder: str | Path, songs: RemixSongs, key: str, separator: object) -> None:
        self.songs, self.separator = songs, separator
        self.folder = Path(folder) / f"{key}-{separator_digest(separator)}"

    def path(self, index: int) -> Path:
        return self.folder / f"song-{index:06d}.npz"

    def build(self, songs: int | Sequence[int], *, log: Callable[[str], None] | None = None) -> None:
        """Render and separate the songs (``0 .. songs - 1``, or these indices) not cached yet."""
        from vocalsep.files import atomic_output

        self.folder.mkdir(parents=True, exist_ok=True)
        indices = range(songs) if isinstance(songs, int) else songs
        missing = [i for i in indices if not self.path(i).is_file()]
        for done, index in enumerate(missing):
            song = self.songs.song(index)
            separated = self.separator.separate(song.mixture[None], ANALYSIS_RATE).vocals[0]  # type: ignore[attr-defined]
            with atomic_output(self.path(index), suffix=".npz") as temp_name:
                np.savez(temp_name, voice=song.voice.astype(np.float16), mixture=song.mixture.astype(np.float16),
                         separated=separated.astype(np.float16), frequency=song.frequency, known=song.known,
                         description=json.dumps(song.description))
            if log is not None and (done + 1) % 100 == 0:
                log(f"remix cache: {done + 1} of {len(missing)} songs rendered")

    def load(self, songs: int | Sequence[int], *, log: Callable[[str], None] | None = None) -> list[CachedSong]:
        """Songs ``0 .. songs - 1``, or these indices (built first if missing)."""
        self.build(songs, log=log)
        out = []
        for index in (range(songs) if isinstance(songs, int) else songs):
            with np.load(self.path(index)) as data:
                out.append(CachedSong(data["voice"], data["mixture"], data["separated"], data["frequency"],
                                      data["known"]))
        return out


# ---------------------------------------------------------------------------------------------
# Training frames


class RemixFrameSampler:
    """Random labelled frames of cached remix songs, as a tracker that hears the song takes them.

    Each frame is a pair of 1024-sample windows, (separated voice, mixture), or with probability
    ``clean_share`` (clean voice, clean voice): a clean voice is its own song, which is how
    ``vocalsep pitch --no-separate`` feeds the tracker. A one-input network (``inputs=1``) gets
    the first window of the pair alone.

    ``batch`` returns windows (size, inputs, 1024) (or (size, 1024) for one input), targets
    (size, 361): CREPE's Gaussian over the 360 bins and, last, whether the frame is voiced;
    and weights (size, 361): the pitch bins count on voiced frames with a known label (and with
    ``unvoiced_weight`` on unvoiced ones, whose target is all zero: CREPE's own voicing, taught
    on what a separator leaks where nobody sings), the voicing column on every frame with a
    known label.
    """

    def __init__(self, songs: Sequence[CachedSong], *, inputs: int = 2, clean_share: float = 0.2,
                 blur_cents: float = 25.0, leak_probability: float = 0.0, unvoiced_weight: float = 0.0) -> None:
        if not songs:
            raise DatasetError("no remix songs to train on")
        if not 0.0 <= unvoiced_weight <= 1.0:
            raise ConfigError(f"unvoiced_weight must be in [0, 1], not {unvoiced_weight}")
        self.songs, self.inputs, self.clean_share, self.blur_cents = list(songs), inputs, clean_share, blur_cents
        self.leak_probability, self.unvoiced_weight = leak_probability, unvoiced_weight
        frames = [np.stack([np.full(int(s.known.sum()), n), np.flatnonzero(s.known)], axis=1)
                  for n, s in enumerate(self.songs)]
        self.frames = np.concatenate(frames)
        if self.frames.size == 0:
            raise DatasetError("the remix songs hold no labelled frames")

    def batch(self, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:

        picks = self.frames[rng.integers(0, len(self.frames), size)]
        clean = rng.uniform(size=size) < self.clean_share
        # leaked accompaniment: the separator knows the training songs' bands and leaks little of them,
        # while on songs it never heard it leaks more (the false alarms of the unseen singers)
        leak = np.where(rng.uniform(size=size) < self.leak_probability, 10 ** (rng.uniform(*LEAK_DB, size) / 20), 0.0)
        windows = np.zeros((size, 2, CREPE_WINDOW), dtype=np.float32)
        frequency = np.empty(size, dtype=np.float64)
        for row, (song_index, label) in enumerate(picks):
            song = self.songs[song_index]
            pair = (song.voice, song.voice) if clean[row] else (song.separated, song.mixture)
            inside, placed = label_window(label, song.voice.size)
            for channel, signal in enumerate(pair):
                windows[row, channel, placed] = signal[inside]
            if leak[row] > 0 and not clean[row]:
                windows[row, 0, placed] += leak[row] * (song.mixture[inside].astype(np.float32) - song.voice[inside])
            frequency[row] = song.frequency[label]
        voiced = frequency > 0
        targets = np.concatenate([crepe_target(frequency, blur_cents=self.blur_cents),
                                  voiced[:, None].astype(np.float32)], axis=1)
        pitch_weight = np.where(voiced, 1.0, self.unvoiced_weight).astype(np.float32)
        weights = np.concatenate([np.repeat(pitch_weight[:, None], targets.shape[1] - 1, axis=1),
                                  np.ones((size, 1), np.float32)], axis=1)
        return (windows[:, 0] if self.inputs == 1 else windows), targets, weights
