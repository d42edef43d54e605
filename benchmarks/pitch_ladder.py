"""The melody's levers in one run: trackers (weights) x masks, song in, on MIR-1K's unseen singers.

Every clip of ``--singers`` (default the unseen ``Ani``, ``annar``, ``ariel``) is separated once per
``--aggressiveness`` by the bundled separator; then each tracker in ``--weights`` tracks the
separated vocals (and by each ``--separator``, e.g. a training run's checkpoint), hearing the
mixture beside them when its network takes two inputs, at 20 ms
with its own voicing: a threshold and silence gate, or a learned voicing model (``melody.voicing``;
``shipped`` is ``vocalsep pitch``, song in, with the bundled one). The
first row is the reference: every other row is printed with its paired difference per clip
(mean, 90 % bootstrap interval over clips) on RPA and OA. Then, for the best and the reference
rows, where the wrong frames are, by the separated voice's level re. the mixture.

Usage::

    python benchmarks/pitch_ladder.py --weights shipped --weights remix-b=runs/pitch-remix-b/weights-1500.pth \\
        --aggressiveness 0,-0.5 -o report/ladder          # ~10 minutes on one core
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from vocalsep.audio.io import load_audio, resample
from vocalsep.evaluation.melody import UNSEEN_SINGERS, mir1k_clips, read_mir1k_pitch, score
from vocalsep.melody.trackers.crepe import load_crepe_tiny
from vocalsep.melody.tracking import MELODY_HOP, frame_energy, track_pitch
from vocalsep.melody.voicing import VoicingModel
from vocalsep.separation.separator import Separator
from vocalsep.threads import set_threads

MIR1K = Path(__file__).resolve().parents[2] / "shared" / "data" / "MIR-1K"
HOP_SAMPLES = int(MELODY_HOP * 16000)
#: Bins of the separated voice's level re. the mixture (dB) for the error analysis.
RATIO_EDGES = (-np.inf, -20.0, -10.0, -5.0, 0.0, np.inf)


def paired_interval(differences: np.ndarray, *, resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of per-clip differences and its 90 % bootstrap interval (clips resampled)."""
    rng = np.random.default_rng(seed)
    means = differences[rng.integers(0, differences.size, (resamples, differences.size))].mean(axis=1)
    low, high = np.percentile(means, [5, 95])
    return float(differences.mean()), float(low), float(high)


def error_profile(reference: np.ndarray, estimate: np.ndarray, voiced: np.ndarray, ratio: np.ndarray) -> dict[str, list[int]]:
    """Per ratio bin: voiced reference frames, pitch errors (> 50 cents), octave errors, missed voicing."""
    frames = min(reference.size, estimate.size, ratio.size)
    reference, estimate, voiced, ratio = reference[:frames], estimate[:frames], voiced[:frames], ratio[:frames]
    sung = reference > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        cents = 1200 * np.abs(np.log2(np.where(estimate > 0, estimate, np.nan) / np.where(sung, reference, np.nan)))
    wrong = sung & ~(cents <= 50)
    octave = sung & (np.abs(cents - 1200) <= 100)
    missed = sung & ~voiced
    bins = np.digitize(ratio, RATIO_EDGES[1:-1])
    out = {}
    for index in range(len(RATIO_EDGES) - 1):
        inside = bins == index
        out[f"{RATIO_EDGES[index]:g}..{RATIO_EDGES[index + 1]:g}"] = [
            int((sung & inside).sum()), int((wrong & inside).sum()), int((octave & inside).sum()),
            int((missed & inside).sum()), int((~sung & voiced & inside).sum())]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", action="append", required=True,
                        help="NAME=PATH[@THRESHOLD[@GATE_DB]] of CREPE tiny weights (no PATH: the bundled ones, e.g. s0.6=@0.6), "
                             "NAME=PATH@v:VOICING.npz[@PROBABILITY] for a learned voicing model, or 'shipped' (the "
                             "bundled tracker and voicing); the first is the reference")
    parser.add_argument("--separator", action="append", default=[],
                        help="NAME=PATH of a separator (a bundled name or a checkpoint, e.g. a training run's "
                             "best.pt), rows named TRACKER @NAME a<aggressiveness>; default: the bundled one; the "
                             "first is the reference's")
    parser.add_argument("--aggressiveness", default="0", help="comma-separated mask settings (default 0)")
    parser.add_argument("--singers", default=",".join(UNSEEN_SINGERS))
    parser.add_argument("--mir1k", default=str(MIR1K))
    parser.add_argument("--limit", type=int)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("-o", "--output", help="folder for per_clip.json and summary.md")
    args = parser.parse_args()
    set_threads(args.threads)

    networks, voicing = {}, {}
    for spec in args.weights:
        name, _, rest = spec.partition("=")
        path, *settings = rest.split("@")  # PATH@THRESHOLD@GATE, or PATH@v:VOICING[@PROBABILITY]
        networks[name] = load_crepe_tiny(path) if path else None  # no path: the bundled weights
        if settings and settings[0].startswith("v:"):  # a learned voicing model, at its own or this threshold
            model = VoicingModel.load(settings[0][2:])
            voicing[name] = {"voicing": model.with_threshold(float(settings[1])) if len(settings) > 1 else model}
            continue
        voicing[name] = {"threshold": float(settings[0]) if settings else None,
                         "gate_db": float(settings[1]) if len(settings) > 1 else "tuned"}
    settings = [float(a) for a in args.aggressiveness.split(",")]
    bases = {}  # the first separator's first tracker is the reference row
    for spec in args.separator or ["=default"]:
        name, _, path = spec.partition("=")
        bases[f"@{name} " if name else ""] = Separator.from_pretrained(path)
    separators = {(label, a): base.with_aggressiveness(a) for label, base in bases.items() for a in settings}
    clips = mir1k_clips(args.mir1k, singers=args.singers.split(","))[: args.limit]

    rows: dict[str, list[dict[str, float]]] = {}
    profiles: dict[str, dict[str, np.ndarray]] = {}
    for number, clip in enumerate(clips):
        waveform, rate = load_audio(clip)
        mixture = waveform[0:1] + waveform[1:2]
        reference = read_mir1k_pitch(Path(args.mir1k) / "PitchLabel" / f"{clip.stem}.pv")
        mixture_energy = frame_energy(resample(mixture[0], rate, 16000), HOP_SAMPLES)
        for (label, aggressiveness), separator in separators.items():
            vocals = separator.separate(mixture, rate).vocals
            energy = frame_energy(resample(vocals.mean(axis=0), rate, 16000), HOP_SAMPLES)
            ratio = 10 * np.log10(np.maximum(energy, 1e-12) / np.maximum(mixture_energy[: energy.size], 1e-12))
            for name, network in networks.items():
                # a tracker that hears the song takes the mixture; track_pitch leaves it out for the others
                track = track_pitch(vocals, rate, hop=MELODY_HOP, network=network, mixture=mixture, **voicing[name])
                key = f"{name} {label or '@'}a{aggressiveness:g}"
                rows.setdefault(key, []).append(score(reference, track))
                profile = error_profile(reference[1][1:], track.frequency[1:], track.voiced[1:], ratio[1:])
                total = profiles.setdefault(key, {})
                for band, counts in profile.items():
                    total[band] = total.get(band, np.zeros(5, int)) + np.array(counts)
        print(f"{number + 1}/{len(clips)} {clip.stem}", flush=True)

    keys = list(rows)
    reference_key = keys[0]
    lines = [f"{len(clips)} clips of {args.singers}; reference row: {reference_key}", "",
             "| row | RPA | OA | VR | VFA | RPA diff (90 % interval) | OA diff (90 % interval) |", "|---|---|---|---|---|---|---|"]
    for key in keys:
        means = {m: 100 * np.mean([r[m] for r in rows[key]]) for m in ("RPA", "OA", "VR", "VFA")}
        diffs = []
        for metric in ("RPA", "OA"):
            d = 100 * (np.array([r[metric] for r in rows[key]]) - np.array([r[metric] for r in rows[reference_key]]))
            mean, low, high = paired_interval(d)
            diffs.append(f"{mean:+.2f} ({low:+.2f} to {high:+.2f})")
        lines.append(f"| {key} | {means['RPA']:.1f} | {means['OA']:.1f} | {means['VR']:.1f} | {means['VFA']:.1f} | "
                     f"{diffs[0]} | {diffs[1]} |")
    lines += ["", "Errors by the separated voice's level re. the mixture (dB): sung frames, wrong pitch (> 50 cents), "
              "octave errors, sung frames called unvoiced, unsung frames called voiced", ""]
    for key in keys:
        lines.append(f"{key}: " + "; ".join(f"{band}: {' / '.join(str(int(v)) for v in counts)}"
                                         for band, counts in profiles[key].items()))
    text = "\n".join(lines)
    print(text)
    if args.output:
        folder = Path(args.output)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "summary.md").write_text(text + "\n")
        (folder / "per_clip.json").write_text(json.dumps(rows) + "\n")


if __name__ == "__main__":
    main()
