"""Training speed: patches per second of this checkout's training loop against another checkout's.

Both sides train the same recipe (one config file, by default ``configs/chain-3.toml``: the
stereo network, the waveform and accompaniment terms, batch 16, the weight average, from the
shipped weights, on ``../shared/data``), each in its own process that imports its own
``vocalsep`` (``PYTHONPATH=<src>``), through the public ``train(config, run, until=...)``.
Each side reads the data once; a measurement resumes the side's run for ``--steps`` more
steps and takes the training seconds that ``train`` itself adds up (the steps alone: no data
loading, validation or checkpoint writing). Before the first measurement at a thread count,
``--warmup`` steps train untimed. The two sides take turns, round after round at each thread
count, so a load on the machine falls on both alike; the median round is reported.

The config file is read by each side's own ``RunConfig``: use keys that both understand.

Usage::

    git worktree add /tmp/base-7a1b01f 7a1b01f
    python benchmarks/training_speed.py --baseline-src /tmp/base-7a1b01f/src

The last line reads ``patches per second: A (this checkout) vs B (baseline), speedup X.XX``,
with each side at its fastest thread count (the table has both).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class Side:
    """A worker process training with one checkout's ``vocalsep``; answers one measurement per request."""

    def __init__(self, name: str, src: Path, config: Path, folder: Path, threads: int) -> None:
        self.name = name
        env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": str(threads)}
        command = [sys.executable, __file__, "--worker", "--config", str(config), "--runs", str(folder / name)]
        # the working directory is this checkout's, so the config's relative data paths mean the same to both
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        self.batch = self._answer()["batch_size"]

    def measure(self, threads: int, steps: int, warmup: int) -> float:
        """Patches per second over ``steps`` steps at ``threads`` threads."""
        self.process.stdin.write(json.dumps({"threads": threads, "steps": steps, "warmup": warmup}) + "\n")
        self.process.stdin.flush()
        answer = self._answer()
        return answer["steps"] * self.batch / answer["seconds"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()

    def _answer(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the {self.name} worker stopped (its error is above)")
        return json.loads(line)


def worker(config_path: Path, runs: Path) -> None:
    """Serve measurements on stdin/stdout: one JSON request per line, one JSON answer per line."""
    import dataclasses
    import functools

    from vocalsep.config import RunConfig
    from vocalsep.training import train as training

    # Data read and transformed once per process; ``train`` itself is what each checkout ships.
    training.training_tracks = functools.lru_cache(maxsize=None)(training.training_tracks)
    samplers: dict = {}
    sampler_class = training.PatchSampler

    def sampler(tracks, stft, data, accompaniments=(), channels=1):  # noqa: ANN001, ANN202 - its signature
        key = (id(tracks), stft, data, channels)
        if key not in samplers:
            samplers[key] = sampler_class(tracks, stft, data, accompaniments, channels=channels)
        return samplers[key]

    training.PatchSampler = sampler
    config = RunConfig.from_file(config_path)
    print(json.dumps({"batch_size": config.train.batch_size}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        threads = request["threads"]
        run = dataclasses.replace(config, train=dataclasses.replace(config.train, threads=threads))
        folder = runs / f"threads-{threads}"
        if not (folder / "last.pt").exists():
            training.train(run, folder, progress=False, until=request["warmup"])
        before = _run_state(folder)
        after = training.train(run, folder, progress=False, until=before["step"] + request["steps"])
        print(json.dumps({"steps": after["steps"] - before["step"],
                          "seconds": after["train_seconds"] - before["seconds"]}), flush=True)


def _run_state(folder: Path) -> dict:
    """Steps and training seconds so far, from the run's ``last.pt``."""
    import torch

    return torch.load(folder / "last.pt", weights_only=True)["run_state"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-src", type=Path, help="the other checkout's src folder")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "chain-3.toml")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per side and round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before a thread count's first round")
    parser.add_argument("--rounds", type=int, default=3, help="turns per side at each thread count (median kept)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.config.resolve(), args.runs)
        return
    if args.baseline_src is None:
        parser.error("--baseline-src is required")
    threads = [int(t) for t in args.threads.split(",")]
    config = args.config.resolve()
    with tempfile.TemporaryDirectory(prefix="training-speed-") as folder:
        sides = [Side("this", ROOT / "src", config, Path(folder), max(threads)),
                 Side("baseline", args.baseline_src.resolve(), config, Path(folder), max(threads))]
        rates: dict[tuple[str, int], list[float]] = {}
        for count in threads:
            for _ in range(args.rounds):
                for side in sides:
                    rate = side.measure(count, args.steps, args.warmup)
                    rates.setdefault((side.name, count), []).append(rate)
                    print(f"  {side.name:8s} {count} thread(s): {rate:.2f} patches/s", flush=True)
        for side in sides:
            side.close()
    report(rates, threads, config, args)


def report(rates: dict[tuple[str, int], list[float]], threads: list[int], config: Path, args: argparse.Namespace) -> None:
    """The table (median of the rounds) and the last line (each side at its fastest thread count)."""
    median = {key: statistics.median(values) for key, values in rates.items()}
    print(f"\n{config.name}, {args.steps} steps x {args.rounds} rounds per side and thread count "
          f"(patches per second, median round; the rounds: min-max)")
    print("| threads | this checkout | baseline | speedup |")
    print("|---|---|---|---|")
    for count in threads:
        mine, theirs = median[("this", count)], median[("baseline", count)]
        spread = {name: f"{min(rates[(name, count)]):.2f}-{max(rates[(name, count)]):.2f}" for name in ("this", "baseline")}
        print(f"| {count} | {mine:.2f} ({spread['this']}) | {theirs:.2f} ({spread['baseline']}) | {mine / theirs:.2f}x |")
    best = {name: max(median[(name, count)] for count in threads) for name in ("this", "baseline")}
    print(f"patches per second: {best['this']:.2f} (this checkout) vs {best['baseline']:.2f} (baseline), "
          f"speedup {best['this'] / best['baseline']:.2f}")


if __name__ == "__main__":
    main()
