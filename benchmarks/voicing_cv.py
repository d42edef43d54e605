"""A voicing setting chosen on some unseen singers, scored on another: leave one singer out.

``pitch_ladder.py`` scores rows ``NAME @SEPARATOR a<aggressiveness>`` whose tracker carries a voicing
threshold and gate (``--weights FAMILY<threshold>/<gate>=PATH@THRESHOLD@GATE``). Choosing the best
setting on the same clips it is reported on flatters it; here, for each singer of the validation
set, the setting is chosen (highest OA) on the *other* singers' clips and scored on this one's, so
every clip's score comes from a setting that never saw it. The per-clip scores of the three folds
are then compared with the reference row, paired per clip (mean, 90 % bootstrap interval).

Usage::

    python benchmarks/pitch_ladder.py ... -o report/ladder-voicing
    python benchmarks/voicing_cv.py report/ladder-voicing --family s --family b --alias shipped=s0.5/-30
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from pitch_ladder import MIR1K, paired_interval  # noqa: E402  (benchmarks/ is not a package)
from vocalsep.evaluation.melody import UNSEEN_SINGERS, mir1k_clips

ROW = re.compile(r"^(?P<family>[A-Za-z]+)(?P<setting>[-0-9.]+/[-0-9.]+) (?P<condition>.+)$")


def singer_of(clip: str) -> str:
    """MIR-1K clip names are ``singer_song_part``."""
    return clip.split("_")[0]


def cross_validated(rows: dict[str, list[dict[str, float]]], singers: list[str], family: str,
                    condition: str) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """Per-clip RPA and OA of ``family`` under ``condition``, each singer's from the setting best on the others."""
    candidates = {m["setting"]: key for key in rows if (m := ROW.match(key))
                  and m["family"] == family and m["condition"] == condition}
    if not candidates:
        raise SystemExit(f"no rows of family {family!r} under {condition!r}")
    clips = len(singers)
    rpa, oa, chosen = np.zeros(clips), np.zeros(clips), {}
    for held in sorted(set(singers)):
        inside = np.array([s == held for s in singers])
        best = max(candidates, key=lambda setting: np.mean(
            [r["OA"] for r, keep in zip(rows[candidates[setting]], ~inside) if keep]))
        chosen[held] = best
        scores = rows[candidates[best]]
        rpa[inside] = [scores[i]["RPA"] for i in np.flatnonzero(inside)]
        oa[inside] = [scores[i]["OA"] for i in np.flatnonzero(inside)]
    return rpa, oa, chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", help="pitch_ladder.py's output folder (per_clip.json)")
    parser.add_argument("--family", action="append", required=True, help="row-name prefix of a swept tracker")
    parser.add_argument("--alias", action="append", default=[],
                        help="NAME=FAMILYSETTING: rows of NAME are also that family's setting, e.g. "
                             "shipped=s0.5/-30 (the bundled tracker at its own voicing)")
    parser.add_argument("--reference", help="FOLDER:ROW of another pitch_ladder report on the same clips, whose "
                        "row is the reference (default: this report's first row)")
    parser.add_argument("--mir1k", default=str(MIR1K))
    parser.add_argument("--singers", default=",".join(UNSEEN_SINGERS))
    args = parser.parse_args()
    rows = json.loads((Path(args.report) / "per_clip.json").read_text())
    clips = mir1k_clips(args.mir1k, singers=args.singers.split(","))
    reference_key = next(iter(rows))
    for alias in args.alias:
        name, _, as_row = alias.partition("=")
        for key in list(rows):
            if key.startswith(name + " "):
                rows[as_row + key[len(name):]] = rows[key]
    if len(rows[reference_key]) != len(clips):
        raise SystemExit(f"{len(rows[reference_key])} clips in the report, {len(clips)} here: another --limit?")
    singers = [singer_of(c.stem) for c in clips]
    if args.reference:  # a row of an earlier run on the same clips (the ladder is deterministic)
        folder, _, reference_key = args.reference.partition(":")
        reference_rows = json.loads((Path(folder) / "per_clip.json").read_text())[reference_key]
    else:
        reference_rows = rows[reference_key]
    reference = {m: np.array([r[m] for r in reference_rows]) for m in ("RPA", "OA")}
    conditions = sorted({m["condition"] for key in rows if (m := ROW.match(key))})
    print(f"{len(clips)} clips; reference row: {reference_key}; each singer's setting chosen on the others (OA)\n")
    print("| tracker | condition | settings chosen | RPA | OA | RPA diff (90 % interval) | OA diff (90 % interval) |")
    print("|---|---|---|---|---|---|---|")
    for family in args.family:
        for condition in conditions:
            try:
                rpa, oa, chosen = cross_validated(rows, singers, family, condition)
            except SystemExit:
                continue
            diffs = [paired_interval(100 * (values - reference[m])) for m, values in (("RPA", rpa), ("OA", oa))]
            text = [f"{mean:+.2f} ({low:+.2f} to {high:+.2f})" for mean, low, high in diffs]
            settings = ", ".join(f"{s}: {v}" for s, v in chosen.items())
            print(f"| {family} | {condition} | {settings} | {100 * rpa.mean():.1f} | {100 * oa.mean():.1f} | "
                  f"{text[0]} | {text[1]} |")


if __name__ == "__main__":
    main()
