"""BSS Eval v4 scores (museval) of models and baselines on a stem dataset."""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vocalsep.data import StemTrack, discover_tracks
from vocalsep.errors import VocalsepError
from vocalsep.metrics import is_silent
from vocalsep.separator import Separator, Stems
from vocalsep.transforms import Spectrogram

#: A system maps a track to its (vocals, accompaniment) estimate.
System = Callable[[StemTrack], Stems]
METRICS = ("SDR", "SIR", "SAR")
STEMS = ("vocals", "accompaniment")


def mixture_baseline(track: StemTrack) -> Stems:
    """The input itself as both estimates: the floor any separation must clear."""
    mixture = track.mixture
    return Stems(mixture, mixture.copy(), track.sample_rate)


def oracle_baseline(separator: Separator) -> System:
    """Ideal ratio mask |V| / (|V| + |A|) from the true stems, in the model's STFT.

    The ceiling of any method that masks that spectrogram with the mixture's phase.
    """
    spectrogram = Spectrogram(separator.config.stft)

    def oracle(track: StemTrack) -> Stems:
        vocals = spectrogram(torch.from_numpy(track.vocals))
        accompaniment = spectrogram(torch.from_numpy(track.accompaniment))
        mask = vocals.abs() / (vocals.abs() + accompaniment.abs() + 1e-10)
        length = track.vocals.shape[1]
        estimate = spectrogram.inverse(mask * (vocals + accompaniment), length).numpy()
        return Stems(estimate, track.mixture - estimate, track.sample_rate)

    return oracle


def repet_sim_baseline(track: StemTrack) -> Stems:
    """REPET-SIM (Rafii & Pardo 2012), as in librosa's vocal separation example.

    The accompaniment of each frame is the median of its most similar frames (cosine
    similarity, at least 2 s away), which keeps what repeats and drops the voice; a soft
    mask with margin 10 and power 2 then takes the voice from what does not repeat.
    """
    import librosa

    hop, n_fft = 512 * track.sample_rate // 44100 or 128, 2048 * track.sample_rate // 44100 or 512
    vocals = np.zeros_like(track.mixture)
    for channel, signal in enumerate(track.mixture):
        spec = librosa.stft(signal, n_fft=n_fft, hop_length=hop)
        magnitude = np.abs(spec)
        frames = magnitude.shape[1]
        width = max(1, min(int(2.0 * track.sample_rate / hop), frames // 4))
        if frames < 8:
            continue  # too short to find repetitions: no voice estimated
        repeating = librosa.decompose.nn_filter(magnitude, aggregate=np.median, metric="cosine", width=width)
        repeating = np.minimum(magnitude, repeating)
        mask = librosa.util.softmask(magnitude - repeating, 10 * repeating, power=2)
        vocals[channel] = librosa.istft(mask * spec, hop_length=hop, n_fft=n_fft, length=signal.shape[0])
    return Stems(vocals, track.mixture - vocals, track.sample_rate)


def model_system(separator: Separator) -> System:
    def separate(track: StemTrack) -> Stems:
        return separator.separate(track.mixture, track.sample_rate)

    return separate


def bss_eval_track(track: StemTrack, stems: Stems) -> dict[str, dict[str, float]]:
    """museval's BSS Eval v4 with 1 s windows; per stem the median over windows of each metric."""
    import museval

    references = np.stack([track.vocals.T, track.accompaniment.T]).astype(np.float64)
    estimates = np.stack([stems.vocals.T, stems.accompaniment.T]).astype(np.float64)
    sdr, _isr, sir, sar = museval.evaluate(
        references, estimates, win=track.sample_rate, hop=track.sample_rate
    )
    result = {}
    for index, stem in enumerate(STEMS):
        values = {"SDR": sdr[index], "SIR": sir[index], "SAR": sar[index]}
        result[stem] = {name: float(np.nanmedian(v)) if np.isfinite(v).any() else float("nan")
                        for name, v in values.items()}
    return result


@dataclass
class SystemScores:
    """Per-track scores of one system."""

    name: str
    tracks: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    seconds: float = 0.0
    audio_seconds: float = 0.0

    def median(self, stem: str, metric: str, names: list[str]) -> float:
        values = [self.tracks[n][stem][metric] for n in names if n in self.tracks]
        values = [v for v in values if np.isfinite(v)]
        return float(np.median(values)) if values else float("nan")


def evaluate_systems(
    tracks: list[StemTrack], systems: dict[str, System], *, progress: bool = True
) -> dict[str, SystemScores]:
    """Score every system on every track (the same tracks, in the same run)."""
    from tqdm import tqdm

    results = {name: SystemScores(name) for name in systems}
    for track in tqdm(tracks, desc="evaluate", disable=not progress, leave=False):
        for name, system in systems.items():
            started = time.perf_counter()
            stems = system(track)
            results[name].seconds += time.perf_counter() - started
            results[name].audio_seconds += track.seconds
            results[name].tracks[track.name] = bss_eval_track(track, stems)
    return results


def format_table(results: dict[str, SystemScores], tracks: list[StemTrack]) -> str:
    """Median over tracks of per-track medians; voice metrics skip silent-voice tracks."""
    voiced = [t.name for t in tracks if not is_silent(t.vocals)]
    everything = [t.name for t in tracks]
    header = f"{'system':<16}" + "".join(f"{s[:5]} {m:<5}" for s in STEMS for m in METRICS) + " s/s audio"
    lines = [header, "-" * len(header)]
    for scores in results.values():
        cells = [scores.median("vocals", m, voiced) for m in METRICS]
        cells += [scores.median("accompaniment", m, everything) for m in METRICS]
        speed = scores.seconds / max(scores.audio_seconds, 1e-9)
        lines.append(f"{scores.name:<16}" + "".join(f"{c:>11.2f}" for c in cells) + f" {speed:>9.3f}")
    silent = sorted(set(everything) - set(voiced))
    lines.append(f"{len(tracks)} tracks; medians over tracks of per-track medians over 1 s windows (BSS Eval v4).")
    if silent:
        lines.append(f"near-silent voice, left out of voice medians: {', '.join(silent)}")
    return "\n".join(lines)


def write_reports(results: dict[str, SystemScores], folder: Path) -> None:
    """``scores.json`` (everything) and ``scores.csv`` (one row per system, track and stem)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {name: {"tracks": s.tracks, "seconds": s.seconds, "audio_seconds": s.audio_seconds}
            for name, s in results.items()}
    (folder / "scores.json").write_text(json.dumps(data, indent=1))
    with (folder / "scores.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["system", "track", "stem", *METRICS])
        for name, scores in results.items():
            for track, stems in scores.tracks.items():
                for stem, values in stems.items():
                    writer.writerow([name, track, stem, *(f"{values[m]:.4f}" for m in METRICS)])


def system_name(model: str) -> str:
    """A short label: the bundled name, a file's stem, or a run folder for ``runs/X/best.pt``."""
    path = Path(model)
    if path.suffix != ".pt":
        return model
    return path.parent.name if path.stem in ("best", "last") and path.parent.name else path.stem


def build_systems(models: list[str], baselines: list[str]) -> dict[str, System]:
    """Systems by name: models (bundled names or paths) then baselines."""
    systems: dict[str, System] = {}
    separators = {model: Separator.from_pretrained(model) for model in models}
    for model, separator in separators.items():
        systems[system_name(model)] = model_system(separator)
    reference = next(iter(separators.values())) if separators else Separator.from_pretrained("default")
    for baseline in baselines:
        if baseline == "mixture":
            systems["mixture"] = mixture_baseline
        elif baseline == "oracle":
            systems["oracle"] = oracle_baseline(reference)
        elif baseline == "repet":
            systems["repet"] = repet_sim_baseline
        else:
            raise VocalsepError(f"unknown baseline {baseline!r} (known: mixture, oracle, repet)")
    return systems


def evaluate_command(args: argparse.Namespace) -> int:
    """``vocalsep evaluate``: print the table, optionally write per-track reports."""
    tracks = discover_tracks(args.dataset, args.split)
    if args.limit:
        tracks = tracks[: args.limit]
    baselines = [b.strip() for b in args.baselines.split(",") if b.strip()]
    systems = build_systems(args.models or ["default"], baselines)
    results = evaluate_systems(tracks, systems)
    print(format_table(results, tracks))
    if args.output:
        write_reports(results, Path(args.output))
        print(f"per-track scores: {Path(args.output) / 'scores.json'}, {Path(args.output) / 'scores.csv'}")
    return 0
