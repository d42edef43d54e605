"""Render pitch-shifted and time-stretched copies of the training stems, offline, into stem folders.

Speed perturbation (as in Ko et al. 2015 for speech, and the repitch augmentation of Demucs):
each copy plays a training track ``f`` times faster, so its pitch moves by ``12·log2(f)``
semitones and its tempo by the same factor. It is one band-limited resampling of both stems
(soxr, ``audio.resample``), so it adds no phase-vocoder artefacts, and it is far too slow to
do per training step over hours of stems, hence rendered once and cached. Each track gets
``--variants`` copies with shifts drawn uniformly in ±``--max-semitones`` (at least
``--min-semitones`` away from the original), seeded, written as 16-bit FLAC into
``OUT/<source>-<track>~<shift>/{vocals,accompaniment}.flac``: the layout
``data.stem_folders`` reads (the folder is git-ignored; never committed).

Usage::

    python scripts/render_speed_variants.py --config configs/unseen-ft1.toml --out .data/speed-variants
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vocalsep.audio.io import resample, save_audio
from vocalsep.config import RunConfig
from vocalsep.datasets import StemTrack, training_set


def speed_variant(track: StemTrack, semitones: float) -> StemTrack:
    """``track`` played ``2 ** (semitones / 12)`` times faster: higher and shorter for a positive shift."""
    factor = 2 ** (semitones / 12)
    # read as if recorded at rate·f and resampled back to the rate: f times fewer samples
    source_rate = round(track.sample_rate * factor)
    stems = [resample(stem, source_rate, track.sample_rate) for stem in (track.vocals, track.accompaniment)]
    length = min(stem.shape[1] for stem in stems)
    return StemTrack(f"{track.name}~{semitones:+.2f}", stems[0][:, :length], stems[1][:, :length],
                     track.sample_rate, track.source)


def draw_shifts(count: int, low: float, high: float, rng: np.random.Generator) -> list[float]:
    """``count`` shifts uniform in ±``high`` semitones, each at least ``low`` from zero."""
    magnitudes = rng.uniform(low, high, count)
    signs = rng.choice([-1.0, 1.0], count)
    return [float(np.round(s * m, 2)) for s, m in zip(signs, magnitudes)]


def write_track(track: StemTrack, folder: Path) -> None:
    """Both stems as 16-bit FLAC (clipped to full scale), each written atomically (``save_audio``)."""
    for stem in ("vocals", "accompaniment"):
        save_audio(folder / f"{stem}.flac", getattr(track, stem), track.sample_rate, subtype="PCM_16", overwrite=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="run configuration whose training tracks to render")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variants", type=int, default=2, help="copies per track (default 2)")
    parser.add_argument("--max-semitones", type=float, default=2.0)
    parser.add_argument("--min-semitones", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not 0 <= args.min_semitones <= args.max_semitones <= 12:
        parser.error("need 0 <= --min-semitones <= --max-semitones <= 12")
    rng = np.random.default_rng(args.seed)
    tracks = training_set(RunConfig.from_file(args.config).data)
    written = skipped = 0
    for track in tracks:
        for shift in draw_shifts(args.variants, args.min_semitones, args.max_semitones, rng):
            folder = args.out / f"{track.source}-{track.name}~{shift:+.2f}"
            if (folder / "accompaniment.flac").exists() and (folder / "vocals.flac").exists():
                skipped += 1  # a rerun finishes what is missing
                continue
            write_track(speed_variant(track, shift), folder)
            written += 1
    print(f"{len(tracks)} tracks: {written} copies written, {skipped} already there, in {args.out}")


if __name__ == "__main__":
    main()
