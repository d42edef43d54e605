"""Train several run configurations side by side on one GPU within a wall-clock budget.

A cosine schedule needs its step count in advance, and a GPU's speed for these small
networks is unknown until measured. So each configuration first trains ``--probe-steps``
steps (all at once, as they will share the GPU), its seconds per step are read from the
log, and then each trains for as many steps as fit ``--budget`` seconds. Each run folder
holds its log and ``best.pt``; the step counts used are printed and stored in the
run folder's ``config.json``.

Usage::

    python scripts/train_in_budget.py configs/fast-gpu.toml configs/default-gpu.toml \
        --budget 330 --device cuda --runs runs/gpu --stems /root/stems
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

from vocalsep.config import RunConfig

def with_steps(config: RunConfig, steps: int, stems: str | None, logs: int) -> RunConfig:
    """``config`` trained for ``steps`` steps, logging ``logs`` times, on ``stems`` if given."""
    data = dataclasses.replace(config.data, stem_folders=(stems,)) if stems else config.data
    every = max(1, steps // logs)
    train = dataclasses.replace(config.train, steps=steps, validate_every=every, checkpoint_every=every)
    return dataclasses.replace(config, data=data, train=train)


def run_all(configs: dict[str, RunConfig], folder: Path, device: str, deadline: float) -> None:
    """Train every configuration in its own process at once; stop any still running at ``deadline``."""
    processes = {}
    for name, config in configs.items():
        toml = folder / f"{name}.toml"
        folder.mkdir(parents=True, exist_ok=True)
        toml.write_text(config.to_toml())
        log = (folder / f"{name}.out").open("w")
        command = [sys.executable, "-m", "vocalsep", "train", "--config", str(toml), "--run", str(folder / name),
                   "--device", device, "-q"]
        processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    for name, process in processes.items():
        try:
            process.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            process.kill()
            print(f"stopped at the deadline: {name}", flush=True)


def seconds_per_step(log: Path) -> float:
    """From the last two entries of a run's log.jsonl."""
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    first, last = entries[-2], entries[-1]
    # the log rounds seconds to 0.1: a tiny network can show none, so never below a millisecond
    return max(1e-3, (last["train_seconds"] - first["train_seconds"]) / (last["step"] - first["step"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--budget", type=float, required=True, help="seconds of training for the real runs")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--runs", type=Path, default=Path("runs/budget"))
    parser.add_argument("--stems", help="stem folder root replacing each config's data.stem_folders")
    parser.add_argument("--probe-steps", type=int, default=200)
    parser.add_argument("--probe-timeout", type=float, default=180.0, help="seconds the probes may take")
    parser.add_argument("--logs", type=int, default=4, help="log entries (and best.pt saves) per real run")
    args = parser.parse_args()
    configs = {path.stem: RunConfig.from_file(path) for path in args.configs}

    started = time.time()
    probes = {name: with_steps(c, args.probe_steps, args.stems, 2) for name, c in configs.items()}
    run_all(probes, args.runs / "probe", args.device, started + args.probe_timeout)
    rates = {name: seconds_per_step(args.runs / "probe" / name / "log.jsonl") for name in configs}
    print(f"probe took {time.time() - started:.0f} s", flush=True)

    real = {}
    for name, config in configs.items():
        steps = max(args.probe_steps, int(args.budget / rates[name]))
        real[name] = with_steps(config, steps, args.stems, args.logs)
        print(f"{name}: {rates[name] * 1000:.1f} ms per step -> {steps} steps", flush=True)
    started = time.time()
    # slack for loading the data and for the GPU being shared a little unevenly
    run_all(real, args.runs, args.device, started + 1.3 * args.budget + 60)
    print(f"training took {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
