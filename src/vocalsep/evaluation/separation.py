"""BSS Eval v4 scores (museval) of models and baselines on a stem dataset."""

from __future__ import annotations

import csv
import json
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from vocalsep.config import STFTConfig
from vocalsep.datasets import StemTrack, discover_tracks
from vocalsep.errors import VocalsepError
from vocalsep.evaluation.metrics import is_silent
from vocalsep.separation.separator import STEM_NAMES, Separator, Stems
from vocalsep.audio.spectrogram import Spectrogram

#: A system maps a track to its (vocals, accompaniment) estimate.
System = Callable[[StemTrack], Stems]
METRICS = ("SDR", "SIR", "SAR")
#: The stem whose scores skip tracks where it is near-silent.
VOICE = STEM_NAMES[0]


def _mono(track: StemTrack) -> StemTrack:
    return StemTrack(track.name, track.vocals.mean(axis=0, keepdims=True),
                     track.accompaniment.mean(axis=0, keepdims=True), track.sample_rate, track.source)


def mixture_baseline(track: StemTrack) -> Stems:
    """The input itself as both estimates: the floor any separation must clear."""
    mixture = track.mixture
    return Stems(dict(zip(STEM_NAMES, (mixture, mixture.copy()))), track.sample_rate)


def oracle_baseline(stft: STFTConfig) -> System:
    """Ideal ratio mask |V| / (|V| + |A|) from the true stems, in the STFT ``stft`` (the model's).

    The ceiling of any method that masks that spectrogram with the mixture's phase.
    """
    spectrogram = Spectrogram(stft)

    def oracle(track: StemTrack) -> Stems:
        vocals = spectrogram(torch.from_numpy(track.vocals))
        accompaniment = spectrogram(torch.from_numpy(track.accompaniment))
        mask = vocals.abs() / (vocals.abs() + accompaniment.abs() + 1e-10)
        length = track.vocals.shape[1]
        estimate = spectrogram.inverse(mask * (vocals + accompaniment), length).numpy()
        return Stems.of_voice(track.mixture, estimate, track.sample_rate)

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
    return Stems.of_voice(track.mixture, vocals, track.sample_rate)


class WaveformSeparator(Protocol):
    """What ``model_system`` needs: ``Separator`` and the Spleeter peer both have it."""

    def separate(self, mixture: np.ndarray, sample_rate: int) -> Stems: ...


def model_system(separator: WaveformSeparator) -> System:
    """A system from anything with ``separate(mixture, sample_rate) -> Stems``."""

    def separate(track: StemTrack) -> Stems:
        return separator.separate(track.mixture, track.sample_rate)

    return separate


#: Key of each stem's per-window SDR values (a list, NaN where museval scores no window), kept beside
#: the medians so that two systems can be compared window by window (evaluation.paired).
WINDOW_SDR = "SDR_windows"


def bss_eval_track(track: StemTrack, stems: Stems) -> dict[str, dict[str, float | list[float]]]:
    """museval's BSS Eval v4 with 1 s windows; per stem the median over windows of each metric,
    and the SDR of every window under ``WINDOW_SDR``."""
    import museval

    names = list(stems)
    references = np.stack([track.stems[name].T for name in names]).astype(np.float64)
    estimates = np.stack([stems[name].T for name in names]).astype(np.float64)
    sdr, _isr, sir, sar = museval.evaluate(
        references, estimates, win=track.sample_rate, hop=track.sample_rate
    )
    result = {}
    for index, stem in enumerate(names):
        values = {"SDR": sdr[index], "SIR": sir[index], "SAR": sar[index]}
        result[stem] = {name: float(np.nanmedian(v)) if np.isfinite(v).any() else float("nan")
                        for name, v in values.items()}
        result[stem][WINDOW_SDR] = [float(v) for v in sdr[index]]
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
    tracks: list[StemTrack],
    systems: dict[str, System],
    *,
    metric: Callable[[StemTrack, Stems], dict[str, dict[str, float]]] = bss_eval_track,
    progress: bool = True,
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
            results[name].tracks[track.name] = metric(track, stems)
    return results


def stem_names(results: dict[str, SystemScores]) -> list[str]:
    """The stems scored, in the order the systems returned them."""
    for scores in results.values():
        for stems in scores.tracks.values():
            return list(stems)
    return list(STEM_NAMES)


def format_table(results: dict[str, SystemScores], tracks: list[StemTrack]) -> str:
    """Median over tracks of per-track medians; voice metrics skip silent-voice tracks."""
    voiced = [t.name for t in tracks if not is_silent(t.vocals)]
    everything = [t.name for t in tracks]
    names = stem_names(results)
    header = f"{'system':<16}" + "".join(f"{s[:5]} {m:<5}" for s in names for m in METRICS) + " s/s audio"
    lines = [header, "-" * len(header)]
    for scores in results.values():
        cells = [scores.median(stem, m, voiced if stem == VOICE else everything) for stem in names for m in METRICS]
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
            systems["oracle"] = oracle_baseline(reference.config.stft)
        elif baseline == "repet":
            systems["repet"] = repet_sim_baseline
        elif baseline == "spleeter":
            from vocalsep.evaluation.spleeter_peer import SpleeterPeer

            systems["spleeter"] = model_system(SpleeterPeer())
        else:
            raise VocalsepError(f"unknown baseline {baseline!r} (known: mixture, oracle, repet, spleeter)")
    return systems


def bss_eval_sources_track(track: StemTrack, stems: Stems) -> dict[str, dict[str, float]]:
    """The classic MIR-1K protocol: ``bss_eval_sources`` (BSS Eval v3) over the whole mono clip."""
    import mir_eval

    names = list(stems)
    references = np.stack([track.stems[name].mean(axis=0) for name in names]).astype(np.float64)
    estimates = np.stack([stems[name].mean(axis=0) for name in names]).astype(np.float64)
    with warnings.catch_warnings():  # mir_eval announces the module's future move on every call
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        sdr, sir, sar, _ = mir_eval.separation.bss_eval_sources(references, estimates, compute_permutation=False)
    return {stem: {"SDR": float(sdr[i]), "SIR": float(sir[i]), "SAR": float(sar[i])} for i, stem in enumerate(names)}


def gnsdr(scores: SystemScores, floor: SystemScores | None, weights: dict[str, float], stem: str,
          metric: str = "SDR") -> float:
    """Clip-length-weighted mean of ``metric`` (``NSDR``: SDR minus the mixture's SDR) of one stem."""
    names = [n for n in scores.tracks if n in weights]
    w = np.array([weights[n] for n in names])
    if metric == "NSDR":
        if floor is None:
            return float("nan")
        values = np.array([scores.tracks[n][stem]["SDR"] - floor.tracks[n][stem]["SDR"] for n in names])
    else:
        values = np.array([scores.tracks[n][stem][metric] for n in names])
    return float(np.average(values, weights=w))


def format_gnsdr_table(results: dict[str, SystemScores], tracks: list[StemTrack]) -> str:
    """GNSDR/GSIR/GSAR of the voice and GNSDR of the accompaniment: clip-length-weighted means,
    NSDR against the mixture's SDR."""
    weights = {t.name: t.seconds for t in tracks}
    floor = results.get("mixture")
    header = f"{'system':<16}{'GNSDR':>8}{'GSIR':>8}{'GSAR':>8}{'acc GNSDR':>10}{'mean SDR':>10} s/s audio"
    lines = [header, "-" * len(header)]
    for scores in results.values():
        speed = scores.seconds / max(scores.audio_seconds, 1e-9)
        cells = [gnsdr(scores, floor, weights, VOICE, metric) for metric in ("NSDR", "SIR", "SAR")]
        lines.append(f"{scores.name:<16}" + "".join(f"{c:>8.2f}" for c in cells)
                     + f"{gnsdr(scores, floor, weights, STEM_NAMES[1], 'NSDR'):>10.2f}"
                     + f"{gnsdr(scores, floor, weights, VOICE):>10.2f} {speed:>9.3f}")
    lines.append(f"{len(tracks)} clips, mono 0 dB mixtures (left + right); BSS Eval v3 bss_eval_sources over whole clips;"
                 " G* = clip-length-weighted means; NSDR = SDR - SDR of the mixture.")
    return "\n".join(lines)


def select_tracks(
    dataset: str | Path, split: str = "valid", *, songs: Iterable[str] | None = None, limit: int | None = None
) -> list[StemTrack]:
    """The tracks ``vocalsep evaluate`` scores: a dataset's split, optionally only some songs, the first ``limit``.

    MIR-1K clips become their mono 0 dB mixtures (the classic protocol).
    """
    tracks = discover_tracks(dataset, split)
    if songs is not None:
        wanted = {song.strip() for song in songs if song.strip()}
        tracks = [t for t in tracks if t.name.rsplit("_", 1)[0] in wanted or t.name in wanted]
        if not tracks:
            raise VocalsepError(f"no tracks of songs {', '.join(sorted(wanted))!r} in {dataset}")
    if limit:
        tracks = tracks[:limit]
    if tracks and all(t.source == "mir1k" for t in tracks):
        tracks = [_mono(t) for t in tracks]
    return tracks


def evaluate_tracks(
    tracks: list[StemTrack], *, models: Iterable[str] = ("default",), baselines: Iterable[str] = ()
) -> tuple[dict[str, SystemScores], str]:
    """Score models and baselines on ``tracks``; return the scores and the printed table.

    MIR-1K tracks are scored with BSS Eval v3 over whole clips and tabled as GNSDR (the
    mixture baseline is added: NSDR needs it); other datasets with BSS Eval v4.
    """
    mir1k = bool(tracks) and all(t.source == "mir1k" for t in tracks)
    baselines = list(baselines)
    if mir1k and "mixture" not in baselines:
        baselines.insert(0, "mixture")  # NSDR needs the mixture's own SDR on every clip
    systems = build_systems(list(models) or ["default"], baselines)
    results = evaluate_systems(tracks, systems, metric=bss_eval_sources_track if mir1k else bss_eval_track)
    return results, format_gnsdr_table(results, tracks) if mir1k else format_table(results, tracks)
