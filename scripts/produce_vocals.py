"""Render the dry MIR-1K training voices through seeded vocal production chains (issue 23).

Professional mixes carry produced vocals (EQ, compression, saturation, doubling, delay,
reverb); MIR-1K's karaoke voices are dry. This renders, once, each MIR-1K *training* track's
voice (the run config's training set: never a validation song or singer) through its own random
chain (``vocalsep.training.vocal_production``) into a git-ignored folder of stereo FLAC files.
A run reads them with ``data.produced_vocals`` and uses one instead of the dry voice with
``data.produced_probability``. Resumable: files already there are kept, and a track's chain
depends only on ``--seed`` and its name. Needs the ``produce`` extra (``pedalboard``).

Usage (from the repository root)::

    python scripts/produce_vocals.py --config configs/lever-production.toml   # writes data.produced_vocals
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from vocalsep.config import RunConfig
from vocalsep.datasets import training_set
from vocalsep.training.vocal_production import render_produced_vocals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="run config whose data section names the tracks and folder")
    parser.add_argument("--out", help="folder to write (default: the config's data.produced_vocals)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    config = RunConfig.from_file(args.config)
    folder = args.out or config.data.produced_vocals
    if not folder:
        parser.error("the config has no data.produced_vocals: give --out")
    # the dry voices only: the training set without the stem folders, MIR-1K's tracks
    data = dataclasses.replace(config.data, stem_folders=(), musdb_root="")
    tracks = [track for track in training_set(data) if track.source == "mir1k"]
    start = time.perf_counter()
    written = render_produced_vocals(tracks, folder, seed=args.seed)
    print(f"produced vocals: {written} written, {len(tracks) - written} already there, in {folder} "
          f"({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
