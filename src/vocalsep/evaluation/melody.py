"""How well the sung melody is recognised with and without separation (``vocalsep evaluate-pitch``).

MIR-1K clips have the accompaniment on the left channel and the voice on the right, and a
hand-labelled pitch file (``PitchLabel/<clip>.pv``: MIDI semitones, 0 = unvoiced, one value
per 20 ms, frame ``i`` (1-based) at ``0.02 * i`` s). Each tracker is scored with
``mir_eval.melody`` in three conditions:

``clean``
    the voice channel alone (the ceiling);
``mixture``
    left + right, as one mono channel (what a pitch tracker gets without separation);
``separated``
    our model's vocals of that mixture.

By default only the singers that neither the separation model nor CREPE's fine-tuning ever
trained on (``UNSEEN_SINGERS``: ``Ani``, ``annar``, ``ariel``, 120 clips) are used, so no
condition is measured on voices the models have heard.
vocadito (a solo voice at 44.1 kHz) is scored too, as a check of the trackers at another rate.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vocalsep.errors import ConfigError, DatasetError, VocalsepError
from vocalsep.melody.trackers import DEFAULT_TRACKER, get_tracker
from vocalsep.melody.tracking import MELODY_HOP, PitchTrack, midi_to_hz, track_pitch

#: MIR-1K songs of training singers held out of the separation model's training (a continuity row).
HELD_OUT_SONGS = ("abjones_3", "amy_9")
#: MIR-1K singers never trained on, by the separator or by CREPE's fine-tuning: what is evaluated.
UNSEEN_SINGERS = ("Ani", "annar", "ariel")
#: MIR-1K singers that pitch fine-tuning and its tuning clips draw from (``training.pitch_train``).
TRAINING_SINGERS = ("abjones", "amy", "bobon", "bug")
#: ``spleeter``: Spleeter 2-stems' vocals of the mixture (the peer separator, ``spleeter_peer``).
CONDITIONS = ("clean", "mixture", "separated", "spleeter")
DEFAULT_CONDITIONS = ("clean", "mixture", "separated")
#: mir_eval.melody's names -> short column names.
METRICS = {
    "Raw Pitch Accuracy": "RPA",
    "Raw Chroma Accuracy": "RCA",
    "Overall Accuracy": "OA",
    "Voicing Recall": "VR",
    "Voicing False Alarm": "VFA",
}
MIR1K_HOP = 0.02


@dataclass
class PitchScores:
    """Per-clip scores and their means, for every (dataset, tracker, condition)."""

    rows: list[dict[str, object]] = field(default_factory=list)

    def add(self, dataset: str, clip: str, tracker: str, condition: str, scores: dict[str, float]) -> None:
        self.rows.append({"dataset": dataset, "clip": clip, "tracker": tracker, "condition": condition, **scores})

    def table(self) -> list[dict[str, object]]:
        """Mean over clips for each (dataset, tracker, condition), in first-seen order."""
        groups: dict[tuple[str, str, str], list[dict[str, object]]] = {}
        for row in self.rows:
            groups.setdefault((str(row["dataset"]), str(row["tracker"]), str(row["condition"])), []).append(row)
        out = []
        for (dataset, tracker, condition), rows in groups.items():
            means = {m: float(np.nanmean([float(r[m]) for r in rows])) for m in METRICS.values()}
            out.append({"dataset": dataset, "tracker": tracker, "condition": condition, "clips": len(rows), **means})
        return out

    def markdown(self) -> str:
        """The mean table as Markdown (percentages)."""
        header = "| dataset | tracker | condition | clips | " + " | ".join(METRICS.values()) + " |"
        lines = [header, "|" + "---|" * (4 + len(METRICS))]
        for row in self.table():
            values = " | ".join(_percent(row[m]) for m in METRICS.values())
            lines.append(f"| {row['dataset']} | {row['tracker']} | {row['condition']} | {row['clips']} | {values} |")
        return "\n".join(lines)

    def write(self, folder: str | Path) -> dict[str, Path]:
        """``per_clip.csv``, ``summary.json`` and ``summary.md`` in ``folder``."""
        from vocalsep.files import atomic_write_text

        folder = Path(folder)
        columns = ["dataset", "clip", "tracker", "condition", *METRICS.values()]
        lines = [",".join(columns)]
        for row in self.rows:
            lines.append(",".join(f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in columns))
        return {
            "per_clip": atomic_write_text(folder / "per_clip.csv", "\n".join(lines) + "\n"),
            "summary": atomic_write_text(folder / "summary.json", json.dumps(self.table(), indent=2) + "\n"),
            "markdown": atomic_write_text(folder / "summary.md", self.markdown() + "\n"),
        }


def _percent(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    return "n/a" if math.isnan(number) else f"{100 * number:.1f}"


def read_mir1k_pitch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A MIR-1K ``.pv`` file as (times in s, F0 in Hz with 0 = unvoiced).

    A leading unvoiced frame at t = 0 is added so the reference grid starts at zero.
    """
    path = Path(path)
    try:
        values = np.array([float(line) for line in path.read_text().split()], dtype=np.float64)
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path}: not a MIR-1K pitch file ({error})") from None
    times = MIR1K_HOP * np.arange(0, values.size + 1)
    frequency = np.concatenate([[0.0], np.where(values > 0, midi_to_hz(values), 0.0)])
    return times, frequency


def _numeric_csv(path: str | Path, columns: str) -> np.ndarray:
    """A headerless numeric CSV as a (rows, columns) array; ``DatasetError`` naming ``columns`` otherwise."""
    try:
        return np.loadtxt(Path(path), delimiter=",", dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path}: not a {columns} CSV ({error})") from None


def read_f0_annotation(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A two-column ``time,Hz`` CSV (vocadito, MDB), 0 Hz = unvoiced."""
    data = _numeric_csv(path, "time,frequency")
    return data[:, 0], np.maximum(data[:, 1], 0.0)


def mir1k_clips(
    root: str | Path, songs: Sequence[str] | None = None, *, singers: Sequence[str] | None = UNSEEN_SINGERS
) -> list[Path]:
    """MIR-1K clips (``.wav`` or ``.flac``) with pitch labels, of ``songs`` and of ``singers``.

    Parameters
    ----------
    songs : sequence of str, optional
        ``singer_song`` prefixes, e.g. ``abjones_3``; None: any song.
    singers : sequence of str, optional
        e.g. ``UNSEEN_SINGERS`` (the default); None: any singer.
    """
    root = Path(root)
    wavs, labels = root / "Wavfile", root / "PitchLabel"
    if not wavs.is_dir() or not labels.is_dir():
        raise DatasetError(f"{root}: not a MIR-1K folder (needs Wavfile/ and PitchLabel/)")
    clips = [
        p for p in sorted(p for p in wavs.iterdir() if p.suffix.lower() in (".wav", ".flac"))
        if (labels / f"{p.stem}.pv").is_file()
        and (songs is None or any(p.stem.startswith(f"{song}_") for song in songs))
        and (singers is None or p.stem.split("_")[0] in singers)
    ]
    if not clips:
        wanted = [f"songs {', '.join(songs)}" if songs else "", f"singers {', '.join(singers)}" if singers else ""]
        raise DatasetError(f"{root}: no MIR-1K clips of {' and '.join(w for w in wanted if w) or 'any song'}")
    return clips


def _mir_eval():  # noqa: ANN202
    try:
        import mir_eval.melody
    except ImportError:
        raise VocalsepError("pitch evaluation needs mir_eval: pip install 'vocalsep[eval]'") from None
    return mir_eval


def score(reference: tuple[np.ndarray, np.ndarray], estimate: PitchTrack) -> dict[str, float]:
    """mir_eval.melody scores (RPA, RCA, OA, VR, VFA) of a contour against a reference."""
    import warnings

    mir_eval = _mir_eval()
    ref_time, ref_freq = reference
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "reference has no voiced frames"
        result = mir_eval.melody.evaluate(ref_time, ref_freq, estimate.times, estimate.mir_eval_frequency())
    return {short: float(result[name]) for name, short in METRICS.items()}


def evaluate_pitch(
    mir1k_root: str | Path | None = None,
    *,
    vocadito_root: str | Path | None = None,
    trackers: Iterable[str] = (DEFAULT_TRACKER,),
    conditions: Iterable[str] = DEFAULT_CONDITIONS,
    songs: Sequence[str] | None = None,
    singers: Sequence[str] | None = UNSEEN_SINGERS,
    model: str | Path = "default",
    separator: object | None = None,
    limit: int | None = None,
    progress: bool = False,
    crepe_weights: str | Path | None = None,
    hop: float = MELODY_HOP,
) -> PitchScores:
    """Score pitch trackers on MIR-1K (three conditions) and vocadito (clean and separated).

    Parameters
    ----------
    mir1k_root : str or Path, optional
        The MIR-1K folder; skipped when None.
    vocadito_root : str or Path, optional
        The vocadito folder (holding ``Audio/`` and ``Annotations/F0/``); skipped when None.
    trackers : iterable of str
        Names from ``vocalsep.melody.trackers.TRACKERS``.
    conditions : iterable of str
        Subset of ``clean``, ``mixture``, ``separated``.
    songs, singers : sequence of str, optional
        MIR-1K songs (``singer_song``) and singers to score (``mir1k_clips``); None = any.
        Default: every song of the unseen singers (``UNSEEN_SINGERS``).
    model, separator
        The separation model for ``separated`` (a loaded ``Separator`` wins over ``model``).
    limit : int, optional
        Only the first ``limit`` MIR-1K clips (quick checks).
    progress : bool
        A progress bar on stderr.
    crepe_weights : str or Path, optional
        CREPE tiny weights to use instead of the bundled ones (e.g. a ``vocalsep train-pitch``
        run's ``weights-<step>.pth``).
    hop : float
        Seconds between the trackers' frames (``track_pitch(hop=...)``); a peer that runs at one
        rate only (``Tracker.native_hop``: FCPE, Melodia) keeps its own.

    Returns
    -------
    PitchScores
    """
    trackers = list(trackers)
    conditions = list(conditions)
    for name in trackers:
        get_tracker(name)  # an unknown name fails here, before any audio is read
    for name in conditions:
        if name not in CONDITIONS:
            raise ConfigError(f"unknown condition {name!r} (use one of: {', '.join(CONDITIONS)})")
    if mir1k_root is None and vocadito_root is None:
        raise ConfigError("nothing to evaluate: give a MIR-1K folder and/or a vocadito folder")
    _mir_eval()  # fail before minutes of separation, not after
    network = None
    if crepe_weights is not None:
        from vocalsep.melody.trackers.crepe import load_crepe_tiny

        network = load_crepe_tiny(crepe_weights)
    if "separated" in conditions and separator is None:
        from vocalsep.separation.separator import Separator

        separator = Separator.from_pretrained(model)
    peer = None
    if "spleeter" in conditions:
        from vocalsep.evaluation.spleeter_peer import SpleeterPeer

        peer = SpleeterPeer()
    results = PitchScores()
    jobs: list[tuple[str, Path, tuple[np.ndarray, np.ndarray]]] = []
    if mir1k_root is not None:
        clips = mir1k_clips(mir1k_root, songs, singers=singers)[:limit]
        jobs += [("MIR-1K", p, read_mir1k_pitch(Path(mir1k_root) / "PitchLabel" / f"{p.stem}.pv")) for p in clips]
    if vocadito_root is not None:
        jobs += _vocadito_jobs(Path(vocadito_root))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc="evaluate-pitch", unit="clip", file=sys.stderr, leave=False)
    for dataset, path, reference in jobs:
        for condition, audio, song, rate in _condition_audio(dataset, path, conditions, separator, peer):
            for name in trackers:
                # a separated voice comes with its song, which a tracker that hears the song takes too
                track = track_pitch(audio, rate, tracker=name, hop=get_tracker(name).native_hop or hop,
                                    network=network if name == "crepe-tiny" else None, mixture=song)
                results.add(dataset, path.stem, name, condition, score(reference, track))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return results


def _vocadito_jobs(root: Path) -> list[tuple[str, Path, tuple[np.ndarray, np.ndarray]]]:
    audio = sorted((root / "Audio").glob("*.wav"))
    jobs = []
    for path in audio:
        annotation = root / "Annotations" / "F0" / f"{path.stem}_f0.csv"
        if annotation.is_file():
            jobs.append(("vocadito", path, read_f0_annotation(annotation)))
    if not jobs:
        raise DatasetError(f"{root}: no vocadito audio with F0 annotations (Audio/*.wav, Annotations/F0/*_f0.csv)")
    return jobs


def _condition_audio(
    dataset: str, path: Path, conditions: list[str], separator: object | None, peer: object | None = None
) -> Iterable[tuple[str, np.ndarray, np.ndarray | None, int]]:
    """(condition, voice, the song it was separated from or None, rate) of one clip per condition."""
    from vocalsep.audio.io import load_audio

    waveform, rate = load_audio(path)
    if dataset == "MIR-1K":
        if waveform.shape[0] != 2:
            raise DatasetError(f"{path}: MIR-1K clips have two channels")
        clean, mixture = waveform[1:2], waveform[0:1] + waveform[1:2]
    else:  # a solo voice: the mixture is the voice itself
        clean = mixture = waveform
    for condition in conditions:
        if condition == "clean":
            yield condition, clean, None, rate
        elif condition == "mixture" and dataset == "MIR-1K":
            yield condition, mixture, None, rate
        elif condition == "separated":
            if separator is None:
                raise VocalsepError("the separated condition needs a separation model")
            yield condition, separator.separate(mixture, rate).vocals, mixture, rate  # type: ignore[attr-defined]
        elif condition == "spleeter" and peer is not None:
            yield condition, peer.separate(mixture, rate).vocals, mixture, rate  # type: ignore[attr-defined]



# ---------------------------------------------------------------------------------------------
# Notes


def read_note_annotation(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A vocadito note file: ``onset,Hz,duration`` rows -> (intervals (notes, 2) in s, pitches in Hz)."""
    data = _numeric_csv(path, "onset,frequency,duration")
    if data.shape[1] != 3 or (data[:, 2] <= 0).any() or (data[:, 1] <= 0).any():
        raise DatasetError(f"{path}: needs onset,frequency,duration rows with positive durations and pitches")
    return np.stack([data[:, 0], data[:, 0] + data[:, 2]], axis=1), data[:, 1]


def note_scores(reference: tuple[np.ndarray, np.ndarray], notes: Sequence) -> dict[str, float]:
    """``mir_eval.transcription`` F-measures of notes against reference notes.

    ``onset_F``: onsets within 50 ms and pitch within 50 cents; ``onset_offset_F``: also the
    offset within 20 % of the note's duration (or 50 ms). Precision and recall beside them.
    """
    import mir_eval.transcription

    _mir_eval()
    intervals, pitches = reference
    estimated = np.array([[n.onset, n.offset] for n in notes], dtype=np.float64).reshape(-1, 2)
    estimated_hz = np.array([n.frequency for n in notes], dtype=np.float64)  # the median F0, not the rounded note
    onset = mir_eval.transcription.precision_recall_f1_overlap(intervals, pitches, estimated, estimated_hz,
                                                               offset_ratio=None)
    both = mir_eval.transcription.precision_recall_f1_overlap(intervals, pitches, estimated, estimated_hz)
    return {"notes": float(len(notes)), "onset_P": onset[0], "onset_R": onset[1], "onset_F": onset[2],
            "onset_offset_P": both[0], "onset_offset_R": both[1], "onset_offset_F": both[2]}
