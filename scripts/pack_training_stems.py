"""Pack the training stems into small lossless stem folders, to train on another machine.

A remote GPU machine receives only a few tens of MB, and the MUSDB18 ``.stem.mp4`` files
hold five streams of which training needs the sum of three. This writes one folder per
training track with ``vocals.flac`` and ``accompaniment.flac`` (16-bit FLAC), the layout
``data.stem_folders`` reads, leaving out the validation tracks and songs exactly as
``vocalsep train`` does.

``--musdb-rate`` resamples MUSDB18 (44.1 kHz) before packing. The models here see only
the lowest ``input_bins`` = 512 of 1025 bins (up to 11.0 kHz). 32 kHz keeps every one of
them: down to 32 kHz and back up (as training does) changes a sine by under 0.01 dB up to
11.5 kHz. 24 kHz does not: ``audio.resample``'s filter rolls off before its 12 kHz Nyquist,
and the round trip loses 1 dB at 10 kHz and 7 dB at 11 kHz. The default keeps 44.1 kHz.
MIR-1K stays at its own 16 kHz.

Usage::

    python scripts/pack_training_stems.py --config configs/fast.toml --out .gpu/stems --musdb-rate 32000
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile

from vocalsep.audio.io import resample
from vocalsep.config import RunConfig
from vocalsep.datasets import StemTrack, training_set


def pack(track: StemTrack, folder: Path, rate: int | None) -> int:
    """Write one track's two stems as FLAC; return the bytes written."""
    folder.mkdir(parents=True, exist_ok=True)
    target = rate or track.sample_rate
    written = 0
    for stem in ("vocals", "accompaniment"):
        waveform = resample(getattr(track, stem), track.sample_rate, target)
        path = folder / f"{stem}.flac"
        soundfile.write(path, np.clip(waveform, -1, 1).T, target, subtype="PCM_16")
        written += path.stat().st_size
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="run configuration whose [data] sources to pack")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--musdb-rate", type=int, help="resample MUSDB18 to this rate (default: keep 44.1 kHz)")
    args = parser.parse_args()
    tracks = [(t, args.musdb_rate if t.source == "musdb" else None)
              for t in training_set(RunConfig.from_file(args.config).data)]
    total = 0
    for track, rate in tracks:
        total += pack(track, args.out / f"{track.source}-{track.name}", rate)
    print(f"{len(tracks)} tracks, {total / 2**20:.1f} MiB in {args.out}")


if __name__ == "__main__":
    main()
