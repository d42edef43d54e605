"""Dump, per MIR-1K clip, what a voicing rule needs: CREPE's pitch and confidence, the separated
voice's frame energies and the reference, so that voicing rules can be swept without tracking again.

Usage::

    python benchmarks/voicing_dump.py --weights PATH -o report/voicing-dump.npz   # ~4 minutes on one core
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pitch_ladder import HOP_SAMPLES, MIR1K  # noqa: E402  (benchmarks/ is not a package)
from vocalsep.audio.io import load_audio, resample
from vocalsep.evaluation.melody import UNSEEN_SINGERS, mir1k_clips, read_mir1k_pitch
from vocalsep.melody.trackers.crepe import load_crepe_tiny
from vocalsep.melody.tracking import MELODY_HOP, frame_energy, track_pitch
from vocalsep.separation.separator import Separator
from vocalsep.threads import set_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="", help="CREPE tiny weights (default: the bundled ones)")
    parser.add_argument("--separator", default="default")
    parser.add_argument("--singers", default=",".join(UNSEEN_SINGERS))
    parser.add_argument("--mir1k", default=str(MIR1K))
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    set_threads(1)
    network = load_crepe_tiny(args.weights) if args.weights else None
    separator = Separator.from_pretrained(args.separator)
    data: dict[str, np.ndarray] = {}
    clips = mir1k_clips(args.mir1k, singers=args.singers.split(","))
    for number, clip in enumerate(clips):
        waveform, rate = load_audio(clip)
        mixture = waveform[0:1] + waveform[1:2]
        vocals = separator.separate(mixture, rate).vocals
        track = track_pitch(vocals, rate, hop=MELODY_HOP, network=network, mixture=mixture, threshold=0.0, gate_db=None)
        times, reference = read_mir1k_pitch(Path(args.mir1k) / "PitchLabel" / f"{clip.stem}.pv")
        data[f"{clip.stem}/frequency"] = track.frequency
        data[f"{clip.stem}/confidence"] = track.confidence
        data[f"{clip.stem}/energy"] = frame_energy(resample(vocals.mean(axis=0), rate, 16000), HOP_SAMPLES)
        data[f"{clip.stem}/mixture_energy"] = frame_energy(resample(mixture[0], rate, 16000), HOP_SAMPLES)
        data[f"{clip.stem}/reference_times"] = times
        data[f"{clip.stem}/reference"] = reference
        print(f"{number + 1}/{len(clips)} {clip.stem}", flush=True)
    np.savez_compressed(args.output, **data)


if __name__ == "__main__":
    main()
