"""What the melody costs beside the separation: `vocalsep pitch` against `vocalsep separate`, in one run.

On the same generated songs (stereo 44.1 kHz, ``memory.write_song``), each in a fresh process
with the same thread count, and each timed as a user would time the command (start-up and
model loading included):

- ``separate``: ``vocalsep separate SONG``, the reference every ratio is taken to;
- ``pitch``: ``vocalsep pitch SONG`` (its own separation, then the tracker);
- ``tracker``: ``vocalsep pitch --no-separate vocals.wav`` on the separated voice, the tracking
  stage alone;
- ``tracker@base``: the same command with an older checkout's ``src`` (``--baseline-src``, e.g.
  a worktree of 9f2bd69, the tracker before ONNX Runtime);
- ``pyin``: ``vocalsep pitch --no-separate --tracker pyin vocals.wav``;
- ``fcpe``: FCPE (torchfcpe 0.0.4, its bundled model) on the same voice, through the evaluation's
  peer tracker (``evaluation.pitch_peers``), where ``pip install --no-deps -r
  requirements-pitch-peers.txt`` was run.

Usage::

    python benchmarks/melody_speed.py --lengths 30,300 --threads 1 --baseline-src ../wt-base/src
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memory import write_song

#: Runs an older checkout's `python -m vocalsep ...` with a fixed torch thread count (before
#: `pitch --threads`; its tracker imported torch anyway). This checkout gets `--threads` instead.
OLD_CLI = ("import sys, runpy, torch; torch.set_num_threads(int(sys.argv[1])); "
           "sys.argv = ['vocalsep', *sys.argv[2:]]; runpy.run_module('vocalsep', run_name='__main__')")

#: FCPE through the evaluation's peer tracker (``evaluation.pitch_peers``), on the same voice file.
FCPE = ("import sys, torch; torch.set_num_threads(int(sys.argv[1])); "
        "from vocalsep.audio.io import load_audio; from vocalsep.evaluation.pitch_peers import register_peers; "
        "from vocalsep.melody.tracking import track_pitch; register_peers(); "
        "audio, rate = load_audio(sys.argv[2]); print(len(track_pitch(audio, rate, tracker='fcpe')), 'frames')")


def timed(arguments: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one process; a failure stops the benchmark with its error."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, *arguments], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(arguments[:4])}... failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - started


def fcpe_available() -> bool:
    code = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torchfcpe') is None)"
    return subprocess.run([sys.executable, "-c", code]).returncode == 0


def run(seconds: float, threads: int, baseline_src: Path | None, folder: Path) -> list[tuple[str, float]]:
    """Time every system on one song of ``seconds``; returns (system, seconds) rows."""
    song = folder / f"song-{seconds:g}s.wav"
    write_song(song, seconds / 60)
    here = dict(os.environ)
    vocals = folder / "separated" / song.stem / "vocals.wav"

    def ours(command: str, *arguments: str) -> list[str]:
        return ["-m", "vocalsep", command, "--threads", str(threads), *arguments]

    rows = [("separate", timed(ours("separate", "-q", "--overwrite", str(song), "-o", str(folder / "separated")),
                               here))]
    rows.append(("pitch", timed(ours("pitch", "--overwrite", str(song), "-o", str(folder / "pitch")), here)))
    tracker = ["--overwrite", "--no-separate", str(vocals)]
    rows.append(("tracker", timed(ours("pitch", *tracker, "-o", str(folder / "tracker")), here)))
    if baseline_src is not None:
        base = {**here, "PYTHONPATH": str(baseline_src.resolve())}
        rows.append(("tracker@base", timed(["-c", OLD_CLI, str(threads), "pitch", *tracker, "-o",
                                            str(folder / "tracker-base")], base)))
    rows.append(("pyin", timed(ours("pitch", *tracker, "--tracker", "pyin", "-o", str(folder / "pyin")), here)))
    if fcpe_available():
        rows.append(("fcpe", timed(["-c", FCPE, str(threads), str(vocals)], here)))
    else:
        print("fcpe: skipped (pip install --no-deps -r requirements-pitch-peers.txt)")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="30,300", help="song lengths in seconds, comma-separated")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline-src", type=Path, help="src/ of an older checkout, timed as tracker@base")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:  # the exports are cached once per machine: not timed
        run(2.0, args.threads, args.baseline_src, Path(folder))
    print(f"{'seconds':>8} {'system':>14} {'wall s':>8} {'s per s':>8} {'x separate':>11} {'x tracker@base':>15}")
    for seconds in (float(s) for s in args.lengths.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            rows = run(seconds, args.threads, args.baseline_src, Path(folder))
        times = dict(rows)
        for system, wall in rows:
            base = f"{wall / times['tracker@base']:.2f}" if "tracker@base" in times else "-"
            print(f"{seconds:>8g} {system:>14} {wall:>8.1f} {wall / seconds:>8.4f} {wall / times['separate']:>11.2f} "
                  f"{base:>15}", flush=True)


if __name__ == "__main__":
    main()
