"""Pitch trackers: speed, and the voicing threshold chosen on MIR-1K songs outside the held-out ones.

    nice python benchmarks/pitch.py speed                       # seconds of CPU per second of audio
    nice python benchmarks/pitch.py thresholds --clips 40       # sweep CREPE's voicing threshold and gate
    nice python benchmarks/pitch.py thresholds --model runs/default/best.pt   # ... also on separated vocals
    nice python benchmarks/pitch.py thresholds --model default --crepe-weights runs/crepe-ft/weights-1000.pth

The sweep uses the tuning clips (``vocalsep.pitch_train.tuning_clips``: 40 clips drawn with seed 0
from MIR-1K songs other than ``abjones_3`` and ``amy_9``, which are kept for
``vocalsep evaluate-pitch``; ``vocalsep train-pitch`` does not train on them either), in the clean and mixture conditions (and separated, with --model),
and prints the mean overall accuracy (OA), voicing recall (VR) and false alarm (VFA) for each
(confidence threshold, silence gate) pair.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vocalsep.audio.io import load_audio
from vocalsep.melody.trackers import TRACKERS
from vocalsep.melody.trackers.crepe import load_crepe_tiny
from vocalsep.melody.tracking import PitchTrack, _mono_at_analysis_rate, frame_levels_db, track_pitch
from vocalsep.evaluation.melody import read_mir1k_pitch, score
from vocalsep.training.pitch_train import tuning_clips

MIR1K = Path(__file__).resolve().parents[2] / "shared" / "data" / "MIR-1K"


def speed(seconds: float = 20.0) -> None:
    rate = 44100
    t = np.arange(int(seconds * rate)) / rate
    f0 = 220 * 2 ** (np.sin(2 * np.pi * 0.5 * t) / 2)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    audio = sum(np.sin(k * phase) / k for k in range(1, 8)).astype(np.float32) * 0.2
    for name in TRACKERS:
        track_pitch(audio[: rate // 2], rate, tracker=name)  # warm-up (numba compilation, weights)
        start = time.process_time()
        track_pitch(audio, rate, tracker=name)
        cpu = time.process_time() - start
        print(f"{name:12s} {cpu / seconds:.3f} s CPU per second of audio ({torch.get_num_threads()} thread(s))")


def thresholds(
    clips: int, steps: list[float], gates: list[float | None], model: str | None, crepe_weights: str | None = None
) -> None:
    paths = tuning_clips(MIR1K, clips)
    network = load_crepe_tiny(crepe_weights) if crepe_weights else None
    separator = None
    if model:
        from vocalsep.separation.separator import Separator

        separator = Separator.from_pretrained(model)
    results: dict[tuple[str, float, float | None], list[dict[str, float]]] = {}
    for n, path in enumerate(paths, 1):
        waveform, rate = load_audio(path)
        reference = read_mir1k_pitch(MIR1K / "PitchLabel" / f"{path.stem}.pv")
        mixture = waveform[0:1] + waveform[1:2]
        conditions = [("clean", waveform[1:2]), ("mixture", mixture)]
        if separator is not None:
            conditions.append(("separated", separator.separate(mixture, rate).vocals))
        for condition, audio in conditions:
            song = mixture if condition == "separated" else None  # a tracker that hears the song gets it
            track = track_pitch(audio, rate, tracker="crepe-tiny", gate_db=None, network=network, mixture=song)
            levels = frame_levels_db(_mono_at_analysis_rate(audio, rate), 160)[: len(track)]
            for threshold in steps:
                for gate in gates:
                    voiced = (track.confidence >= threshold) & (levels >= (gate if gate is not None else -np.inf))
                    gated = PitchTrack(track.times, track.frequency, track.confidence, voiced, track.tracker)
                    results.setdefault((condition, threshold, gate), []).append(score(reference, gated))
        print(f"\r{n}/{len(paths)}", end="", file=sys.stderr)
    print(file=sys.stderr)
    print("| condition | threshold | gate dB | OA | VR | VFA | RPA |\n|---|---|---|---|---|---|---|")
    for (condition, threshold, gate), rows in results.items():
        mean = {k: 100 * np.mean([r[k] for r in rows]) for k in ("OA", "VR", "VFA", "RPA")}
        print(f"| {condition} | {threshold:.2f} | {'off' if gate is None else f'{gate:.0f}'} | {mean['OA']:.1f} | "
              f"{mean['VR']:.1f} | {mean['VFA']:.1f} | {mean['RPA']:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("speed")
    sweep = sub.add_parser("thresholds")
    sweep.add_argument("--clips", type=int, default=40)
    sweep.add_argument("--steps", default="0.4,0.5,0.6")
    sweep.add_argument("--gates", default="off,-50,-40,-35,-30", help="silence gates in dB, 'off' = none")
    sweep.add_argument("--model", help="separation model: also sweep on its separated vocals")
    sweep.add_argument("--crepe-weights", help="CREPE tiny weights instead of the bundled ones (train-pitch)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.command == "speed":
        speed()
    else:
        gates = [None if g == "off" else float(g) for g in args.gates.split(",")]
        thresholds(args.clips, [float(s) for s in args.steps.split(",")], gates, args.model, args.crepe_weights)


if __name__ == "__main__":
    main()
