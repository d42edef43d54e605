"""Peak memory and speed of `vocalsep separate`, `separate --plot` and `pitch --plot` against the song's length.

Generates stereo 44.1 kHz songs of several lengths (written block by block, so the
generator itself stays small), runs each command on each in a fresh process, and prints
seconds per second of audio and peak resident memory, with ratios to the shortest run of
the same command, then the peaks of every command side by side by length. Usage::

    python benchmarks/memory.py --minutes 0.5 5 60 --threads 2
    python benchmarks/memory.py --minutes 5 60 --commands separate-plot pitch-plot
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile


def write_song(path: Path, minutes: float, rate: int = 44100, seed: int = 0) -> None:
    """A stereo song of ``minutes``: harmonic melody over noise bursts, written in 10 s blocks."""
    rng = np.random.default_rng(seed)
    total = int(minutes * 60 * rate)
    block = 10 * rate
    with soundfile.SoundFile(path, "w", rate, 2, subtype="PCM_16") as handle:
        for start in range(0, total, block):
            t = (np.arange(start, min(total, start + block)) / rate)[:, None]
            pitch = 220 * 2 ** (np.floor(t % 8) / 12)
            voice = sum(np.sin(2 * np.pi * k * pitch * t) / k for k in range(1, 8))
            drums = rng.standard_normal((t.shape[0], 2)) * np.exp(-(t % 0.5) * 20)
            handle.write(0.2 * voice + 0.2 * drums)


#: Command lines measured, by name (the song and the output folder are appended).
COMMANDS = {
    "separate": ["separate", "-q", "--overwrite"],
    "separate-plot": ["separate", "-q", "--overwrite", "--plot"],
    "pitch-plot": ["pitch", "--overwrite", "--plot"],
}


def measure(song: Path, output: Path, threads: int, command: str = "separate") -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `vocalsep <command>` process."""
    code = (
        "import resource, sys, torch; torch.set_num_threads(int(sys.argv[1])); "
        "from vocalsep.apps.cli import main; code = main(sys.argv[2:]); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)"
    )
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code, str(threads), *COMMANDS[command], str(song), "-o", str(output)],
        check=True, capture_output=True, text=True,
    )
    seconds = time.perf_counter() - started
    peak_kb = int(result.stdout.strip().splitlines()[-1])  # this process's own peak
    return seconds, peak_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[0.5, 5.0, 60.0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--commands", nargs="+", choices=sorted(COMMANDS), default=["separate"])
    args = parser.parse_args()
    rows: dict[str, list[tuple[float, float, float]]] = {command: [] for command in args.commands}
    with tempfile.TemporaryDirectory() as folder:
        for minutes in sorted(args.minutes):
            song = Path(folder) / f"song_{minutes:g}min.wav"
            write_song(song, minutes)
            for command in args.commands:
                seconds, peak = measure(song, Path(folder) / "out", args.threads, command)
                rows[command].append((minutes, seconds / (minutes * 60), peak))
                print(f"{command} {minutes:g} min: {seconds:.0f} s, peak {peak:.0f} MB", file=sys.stderr, flush=True)
            song.unlink()
    print(f"threads={args.threads}; peak RSS is the whole process (python, torch, models, buffers)")
    for command, table in rows.items():
        base_speed, base_peak = table[0][1], table[0][2]
        print(f"\nvocalsep {' '.join(c for c in COMMANDS[command] if c not in ('-q', '--overwrite'))}")
        print(f"{'minutes':>8} {'s per s audio':>14} {'peak RSS MB':>12} {'RSS / first':>12} {'speed / first':>14}")
        for minutes, speed, peak in table:
            print(f"{minutes:>8g} {speed:>14.4f} {peak:>12.0f} {peak / base_peak:>12.2f} {speed / base_speed:>14.2f}")
    lengths = sorted(args.minutes)
    print("\npeak RSS MB by length")
    print(f"{'command':>14} " + " ".join(f"{f'{m:g} min':>10}" for m in lengths))
    for command, table in rows.items():
        print(f"{command:>14} " + " ".join(f"{peak:>10.0f}" for _, _, peak in table))


if __name__ == "__main__":
    main()
