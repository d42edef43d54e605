"""Voicing rules swept over a ``voicing_dump.py`` file, each chosen leaving one singer out.

A rule turns CREPE's per-frame confidence (and the separated voice's level) into voiced / unvoiced
frames: a threshold (what ships), hysteresis (a run of frames above a low threshold is voiced when
it reaches a high one somewhere), and a minimum run length. For each family, each singer's setting
is chosen (highest OA) on the other singers' clips and scored on this one's; the per-clip scores are
paired against the reference rule (mean difference, 90 % bootstrap interval over clips).

Usage::

    python benchmarks/voicing_rules.py report/voicing-dump.npz --reference 0.4/-20
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable

import numpy as np

from pitch_ladder import HOP_SAMPLES, paired_interval  # noqa: E402  (benchmarks/ is not a package)
from vocalsep.evaluation.melody import score
from vocalsep.melody.tracking import MELODY_HOP, PitchTrack, gate_passes

Rule = Callable[[np.ndarray], np.ndarray]  # confidence -> voiced


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def hysteresis(confidence: np.ndarray, low: float, high: float, min_frames: int) -> np.ndarray:
    """Runs above ``low`` that reach ``high`` and last ``min_frames`` frames or more."""
    voiced = np.zeros(confidence.size, bool)
    for start, stop in runs_of(confidence >= low):
        if stop - start >= min_frames and confidence[start:stop].max() >= high:
            voiced[start:stop] = True
    return voiced


def settings() -> dict[str, dict[str, tuple[float, float, float, int]]]:
    """Family -> setting name -> (low, high, gate dB, minimum frames)."""
    out: dict[str, dict[str, tuple[float, float, float, int]]] = {"threshold": {}, "hysteresis": {}, "minrun": {}}
    for t, g in itertools.product((0.3, 0.35, 0.4, 0.45, 0.5), (-17.5, -20.0, -22.5, -25.0)):
        out["threshold"][f"{t}/{g:g}"] = (t, t, g, 1)
    for low, high, g in itertools.product((0.2, 0.25, 0.3, 0.35), (0.4, 0.5, 0.6, 0.7), (-17.5, -20.0, -22.5, -25.0)):
        out["hysteresis"][f"{low}-{high}/{g:g}"] = (low, high, g, 1)
    for t, g, n in itertools.product((0.3, 0.35, 0.4, 0.45), (-17.5, -20.0, -22.5, -25.0), (2, 3, 5)):
        out["minrun"][f"{t}/{g:g}/{n}"] = (t, t, g, n)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dump")
    parser.add_argument("--reference", default="0.4/-20", help="threshold/gate of the reference row")
    args = parser.parse_args()
    data = np.load(args.dump)
    clips = sorted({key.split("/")[0] for key in data.files})
    singers = sorted({clip.split("_")[0] for clip in clips})
    gates: dict[tuple[str, float], np.ndarray] = {}

    def scores(clip: str, low: float, high: float, gate_db: float, min_frames: int) -> dict[str, float]:
        confidence, frequency = data[f"{clip}/confidence"], data[f"{clip}/frequency"]
        if (clip, gate_db) not in gates:
            gates[(clip, gate_db)] = gate_passes(data[f"{clip}/energy"], gate_db, HOP_SAMPLES)[: confidence.size]
        voiced = hysteresis(confidence, low, high, min_frames) & gates[(clip, gate_db)] & (frequency > 0)
        times = np.arange(frequency.size) * MELODY_HOP
        track = PitchTrack(times, frequency, confidence, voiced, "crepe-tiny")
        return score((data[f"{clip}/reference_times"], data[f"{clip}/reference"]), track)

    families = settings()
    table: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for family, grid in families.items():
        table[family] = {name: {clip: scores(clip, *setting) for clip in clips} for name, setting in grid.items()}
        print(f"{family}: {len(grid)} settings scored", flush=True)
    reference = table["threshold"][args.reference]
    ref_oa = np.array([reference[c]["OA"] for c in clips])
    print(f"\n{len(clips)} clips; reference threshold {args.reference}: "
          f"RPA {100 * np.mean([reference[c]['RPA'] for c in clips]):.2f} OA {100 * ref_oa.mean():.2f}\n")
    print("| family | chosen per singer | OA | VR | VFA | OA diff (90 % interval) | best in-sample setting, OA |")
    print("|---|---|---|---|---|---|---|")
    for family, rows in table.items():
        chosen, oa, vr, vfa = [], np.zeros(len(clips)), np.zeros(len(clips)), np.zeros(len(clips))
        for singer in singers:
            others = [i for i, c in enumerate(clips) if not c.startswith(singer + "_")]
            mine = [i for i, c in enumerate(clips) if c.startswith(singer + "_")]
            best = max(rows, key=lambda name: np.mean([rows[name][clips[i]]["OA"] for i in others]))
            chosen.append(best)
            for i in mine:
                oa[i], vr[i], vfa[i] = (rows[best][clips[i]][m] for m in ("OA", "VR", "VFA"))
        mean, low, high = paired_interval(100 * (oa - ref_oa))
        insample = max(rows, key=lambda name: np.mean([rows[name][c]["OA"] for c in clips]))
        print(f"| {family} | {', '.join(chosen)} | {100 * oa.mean():.2f} | {100 * vr.mean():.1f} | {100 * vfa.mean():.1f} | "
              f"{mean:+.2f} ({low:+.2f} to {high:+.2f}) | {insample}: {100 * np.mean([rows[insample][c]['OA'] for c in clips]):.2f} |")


if __name__ == "__main__":
    main()
