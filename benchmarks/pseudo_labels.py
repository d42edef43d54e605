"""How far the clean-voice tracker's labels can be trusted: the threshold for pseudo-labels.

On the MIR-1K tuning clips (``pitch_train.tuning_clips``: training singers, true labels) the
bundled tracker labels the clean voice as ``pitch_remix.pseudo_label`` does at each threshold;
printed per threshold: the share of true voiced frames it labels, and of its voiced labels how
many are right (true voiced, pitch within 50 cents), and of its unvoiced labels how many are
truly unvoiced. ``configs/pitch-remix-*.toml``'s ``pseudo_threshold`` comes from this table.

Usage::

    python benchmarks/pseudo_labels.py --thresholds 0.5,0.7,0.8,0.85,0.9,0.95
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vocalsep.training.pitch_remix import pseudo_label
from vocalsep.training.pitch_train import read_labels, render_source, tuning_clips

MIR1K = Path(__file__).resolve().parents[2] / "shared" / "data" / "MIR-1K"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--thresholds", default="0.5,0.7,0.8,0.85,0.9,0.95")
    parser.add_argument("--mir1k", default=str(MIR1K))
    args = parser.parse_args()
    clips = tuning_clips(args.mir1k)
    voices = [render_source(clip, "clean") for clip in clips]
    truths = [read_labels(args.mir1k, clip.stem) for clip in clips]
    print("| threshold | true voiced frames labelled | voiced labels right | unvoiced labels right | frames labelled |")
    print("|---|---|---|---|---|")
    for threshold in (float(t) for t in args.thresholds.split(",")):
        counts = np.zeros(5)
        for voice, truth in zip(voices, truths, strict=True):
            frequency, known = pseudo_label(voice, threshold=threshold)
            frames = min(frequency.size, truth.size)
            frequency, known, truth = frequency[:frames], known[:frames], truth[:frames]
            labelled_voiced, labelled_unvoiced = known & (frequency > 0), known & (frequency <= 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                right = (truth > 0) & (np.abs(1200 * np.log2(frequency / truth)) <= 50)
            counts += [((truth > 0) & labelled_voiced).sum(), (labelled_voiced & right).sum(),
                       labelled_voiced.sum(), (labelled_unvoiced & (truth <= 0)).sum(), labelled_unvoiced.sum()]
        share = counts[0] / max(1, sum(int((t > 0).sum()) for t in truths))
        print(f"| {threshold:g} | {100 * share:.1f} % | {100 * counts[1] / max(counts[2], 1):.2f} % | "
              f"{100 * counts[3] / max(counts[4], 1):.2f} % | {int(counts[2] + counts[4])} |")


if __name__ == "__main__":
    main()
