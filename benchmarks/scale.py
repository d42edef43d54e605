"""Songs per minute of `vocalsep separate` in one process and on a local Ray cluster of 1 and 2 workers.

Writes a small library of stereo 44.1 kHz songs (the melody-over-noise songs of
`memory.py`), then separates all of it with each system in a fresh process, in one run,
and prints songs per minute with the ratio to the single-process CLI (same threads per
worker), the fixed cost of a batch (cluster start, one model load per actor), and the
bytes read and written per song by output format: what a cluster's shared storage must
carry. Usage::

    python benchmarks/scale.py --songs 8 --seconds 60
    python benchmarks/scale.py --songs 8 --seconds 60 --systems cli,ray-1,ray-2 --formats wav,flac,opus
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from memory import write_song  # noqa: E402

#: The command line of each system (inputs, -o and the format are appended).
SYSTEMS = {
    "cli": ["--threads", "1"],
    "cli-2-threads": ["--threads", "2"],
    "ray-1": ["--ray", "--workers", "1", "--threads", "1"],
    "ray-2": ["--ray", "--workers", "2", "--threads", "1"],
}


def run_batch(songs: Path, output: Path, system: str, audio_format: str = "wav") -> float:
    """Wall seconds of one `vocalsep separate` over the whole folder, start-up included."""
    shutil.rmtree(output, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vocalsep", "separate", str(songs), "-o", str(output), "-q",
                    "--format", audio_format, *SYSTEMS[system]], check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def fixed_costs() -> tuple[float, float]:
    """Seconds to start (and stop) a local Ray cluster with no work, and to load the model once."""
    code = ("import logging, time, ray; t = time.perf_counter(); "
            "ray.init(address='local', include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR); "
            "ray.shutdown(); print(time.perf_counter() - t)")
    cluster = float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
                    .stdout.strip().splitlines()[-1])
    code = ("import time; t = time.perf_counter(); from vocalsep.separation.separator import Separator; "
            "Separator.from_pretrained('default'); print(time.perf_counter() - t)")
    model = float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
                  .stdout.strip().splitlines()[-1])
    return cluster, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--songs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each song")
    parser.add_argument("--systems", default="cli,ray-1,ray-2", help=f"comma-separated, of {', '.join(SYSTEMS)}")
    parser.add_argument("--formats", default="wav", help="output formats whose bytes per song are measured")
    args = parser.parse_args()
    systems = args.systems.split(",")
    with tempfile.TemporaryDirectory(prefix="vocalsep-scale-") as scratch:
        songs = Path(scratch) / "songs"
        songs.mkdir()
        for index in range(args.songs):
            write_song(songs / f"song{index}.wav", args.seconds / 60, seed=index)
        audio_seconds = args.songs * args.seconds
        print(f"{args.songs} songs of {args.seconds:.0f} s (stereo 44.1 kHz), one run\n")
        print("| system | wall s | songs / min | s per s of audio | vs cli |")
        print("|---|---|---|---|---|")
        reference = None
        for system in systems:
            seconds = run_batch(songs, Path(scratch) / "out", system)
            reference = reference or seconds
            print(f"| {system} | {seconds:.1f} | {60 * args.songs / seconds:.2f} | {seconds / audio_seconds:.4f} "
                  f"| {reference / seconds:.2f}x |", flush=True)
        cluster, model = fixed_costs()
        print(f"\nfixed costs: local Ray cluster start and stop {cluster:.1f} s; one model load {model:.2f} s")
        read = sum(p.stat().st_size for p in songs.iterdir()) / args.songs
        print("\n| output format | MB read per song | MB written per song | per minute of audio |")
        print("|---|---|---|---|")
        for audio_format in args.formats.split(","):
            run_batch(songs, Path(scratch) / "out", "cli", audio_format)
            written = sum(p.stat().st_size for p in (Path(scratch) / "out").rglob("*") if p.is_file()) / args.songs
            print(f"| {audio_format} | {read / 1e6:.1f} | {written / 1e6:.1f} | "
                  f"{written / 1e6 / (args.seconds / 60):.1f} MB |", flush=True)


if __name__ == "__main__":
    main()
