"""Seconds per second of audio on a GPU against the CPU (`--device cuda` against `--device cpu`), and how far
the GPU's outputs are from the CPU's.

For each generated song (stereo 44.1 kHz, ``memory.write_song``), in this one process, each device's
models loaded once and warmed up on a 5 s song first:

- ``separate``: ``api.separate_file`` (decode, streamed separation, float wav writes), as
  ``vocalsep separate --device D``;
- ``pitch``: ``api.transcribe_file`` (separation, then CREPE tiny), as ``vocalsep pitch --device D``;
- ``tracker``: ``transcribe_file(separate=False)`` on the CPU's separated voice, the tracker alone.

Then the differences: the largest sample difference between the GPU's and the CPU's stems (the
promise: below 1e-4), the largest difference of CREPE's activations on the GPU from the CPU's float32
ones (the GPU runs float32; the CPU's default is int8), and the F0 of the two ``pitch`` runs (CPU int8,
as users get it, against the GPU): frames voiced in one and not the other, and the largest
difference in cents where both are voiced.

Without a GPU it says so and exits with status 2 (nothing is measured). Usage::

    python benchmarks/gpu_speed.py --lengths 30,300            # the table of docs/SPEED.md
    python benchmarks/gpu_speed.py --lengths 30 --engine torch  # the mask network on torch, not ONNX Runtime
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).parent))
from memory import write_song  # noqa: E402  (benchmarks/ is not a package)

WARMUP_SECONDS = 5.0
TASKS = ("separate", "pitch", "tracker")


@dataclass(frozen=True)
class Timing:
    """Seconds per second of audio of one task on one device, and where its outputs went."""

    task: str
    device: str
    per_second: float
    folder: Path


def gpu_or_exit(name: str) -> str:
    """``name`` resolved to a GPU, or a clear message and exit status 2."""
    from vocalsep.device import resolve_device
    from vocalsep.errors import ConfigError

    try:
        device = resolve_device(name)
    except ConfigError as error:
        print(f"gpu_speed: {error}: nothing measured; run this on a machine with a CUDA GPU", file=sys.stderr)
        sys.exit(2)
    if device == "cpu":
        print("gpu_speed: no CUDA GPU on this machine (--device auto chose the CPU): nothing measured", file=sys.stderr)
        sys.exit(2)
    return device


def engines(device: str, separator: object) -> str:
    """What runs each network on ``device``: ONNX Runtime's CUDA provider or torch."""
    from vocalsep.device import cuda_index
    from vocalsep.onnx_export import onnx_cuda_available
    from vocalsep.separation.onnx_runtime import onnx_cuda_network

    mask = separator.engine != "torch" and onnx_cuda_network(separator.estimator, cuda_index(device)) is not None
    return (f"mask network: {'ONNX Runtime CUDA' if mask else 'torch CUDA'}; "
            f"CREPE: {'ONNX Runtime CUDA (float32)' if onnx_cuda_available() else 'torch CUDA (float32)'}")


def time_task(task: str, song: Path, seconds: float, folder: Path, separator: object, device: str,
              voice: Path | None) -> float:
    """Seconds per audio second of one task (after the same task's warm-up, on the same models)."""
    from vocalsep.api import separate_file, transcribe_file

    started = time.perf_counter()
    if task == "separate":
        separate_file(song, folder, separator=separator, overwrite=True, device=device)
    elif task == "pitch":
        transcribe_file(song, folder, separator=separator, overwrite=True, device=device)
    else:
        assert voice is not None
        transcribe_file(voice, folder, separate=False, overwrite=True, device=device)
    return (time.perf_counter() - started) / seconds


def measure(songs: dict[float, Path], warm: Path, work: Path, device: str, model: str, engine: str,
            tasks: tuple[str, ...]) -> list[tuple[float, Timing]]:
    """Every task on every song on ``device``; the tracker alone hears the CPU's separated voice."""
    from vocalsep.api import Separator

    separator = Separator.from_pretrained(model, engine=engine, device=device)
    warm_voice = work / "warm-cpu" / "separate" / warm.stem / "vocals.wav"
    for task in tasks:  # exports, sessions, cuDNN's first calls
        time_task(task, warm, WARMUP_SECONDS, work / f"warm-{device}" / task, separator, device, warm_voice)
    timings = []
    for seconds, song in songs.items():
        voice = work / "cpu" / f"{seconds:g}" / "separate" / song.stem / "vocals.wav"
        for task in tasks:
            folder = work / device / f"{seconds:g}" / task
            timings.append((seconds, Timing(task, device, time_task(task, song, seconds, folder, separator, device,
                                                                        voice), folder)))
    print(f"  {device}: " + ("; ".join(f"{t.task} {t.per_second:.4f} s/s" for s, t in timings)), file=sys.stderr)
    if device != "cpu":
        print(f"  {device}: {engines(device, separator)}", file=sys.stderr)
    return timings


def stem_difference(cpu: Path, gpu: Path, song: str) -> float:
    """The largest sample difference between two runs' stems (float wav: exact)."""
    largest = 0.0
    for stem in ("vocals", "accompaniment"):
        a, _ = soundfile.read(cpu / song / f"{stem}.wav", dtype="float32")
        b, _ = soundfile.read(gpu / song / f"{stem}.wav", dtype="float32")
        largest = max(largest, float(np.abs(a - b).max()))
    return largest


def activation_difference(voice: Path, device: str) -> float:
    """The largest difference of CREPE's activations on ``device`` from the CPU's float32 ones, on a voice."""
    from vocalsep.audio.io import load_audio, resample
    from vocalsep.melody.trackers.crepe import crepe_activation

    audio, rate = load_audio(voice)
    mono = resample(audio.mean(axis=0), rate, 16000).astype(np.float32)[: 16000 * 60]
    cpu = crepe_activation(mono, 320, precision="float32")
    gpu = crepe_activation(mono, 320, device=device)
    return float(np.abs(cpu - gpu).max())


def f0_agreement(cpu: Path, gpu: Path) -> tuple[float, float]:
    """(share of frames voiced in one run only, largest |cents| difference where both are voiced)."""
    from vocalsep.melody.tracking import read_f0_csv

    a, b = read_f0_csv(cpu), read_f0_csv(gpu)
    both = a.voiced & b.voiced
    cents = 1200 * np.abs(np.log2(a.frequency[both] / b.frequency[both])) if both.any() else np.zeros(1)
    return float((a.voiced != b.voiced).mean()), float(cents.max())


def table(timings: list[tuple[float, Timing]], device: str, songs: dict[float, Path]) -> str:
    """The markdown table of docs/SPEED.md: per song and task, CPU and GPU seconds per second and the differences."""
    by = {(s, t.task, t.device): t for s, t in timings}
    lines = ["| song | task | CPU s/s | GPU s/s | GPU speed-up | GPU − CPU |", "| --- | --- | --- | --- | --- | --- |"]
    for seconds, song in songs.items():
        for task in TASKS:
            cpu, gpu = by.get((seconds, task, "cpu")), by.get((seconds, task, device))
            if cpu is None or gpu is None:
                continue
            if task == "separate":
                note = f"stems ≤ {stem_difference(cpu.folder, gpu.folder, song.stem):.1e}"
            elif task == "pitch":
                changed, cents = f0_agreement(cpu.folder / song.stem / "f0.csv", gpu.folder / song.stem / "f0.csv")
                note = f"voicing differs on {100 * changed:.2f} % of frames; F0 ≤ {cents:.1f} cents apart"
            else:
                voice = by[(seconds, "separate", "cpu")].folder / song.stem / "vocals.wav"
                note = f"activations ≤ {activation_difference(voice, device):.1e} from CPU float32"
            lines.append(f"| {seconds:g} s | {task} | {cpu.per_second:.4f} | {gpu.per_second:.4f} | "
                         f"{cpu.per_second / gpu.per_second:.1f}× | {note} |")
    return "\n".join(lines)


def describe_machine(device: str, threads: int) -> str:
    import onnxruntime
    import torch

    from vocalsep.device import cuda_index

    return (f"GPU: {torch.cuda.get_device_name(cuda_index(device))}; CPU: {os.cpu_count()} cores, {threads} thread(s); "
            f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__} "
            f"({', '.join(onnxruntime.get_available_providers())})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="30,300", help="song lengths in seconds, comma-separated (default 30,300)")
    parser.add_argument("--device", default="cuda", help="the GPU: cuda or cuda:N (default cuda)")
    parser.add_argument("--engine", default="auto", choices=("auto", "torch", "onnx"), help="the mask network's engine")
    parser.add_argument("--model", default="default")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads (default: all cores)")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated: {', '.join(TASKS)}")
    args = parser.parse_args()
    device = gpu_or_exit(args.device)
    tasks = tuple(t for t in TASKS if t in args.tasks.split(","))
    if "tracker" in tasks and "separate" not in tasks:
        parser.error("the tracker alone hears the CPU's separated voice: keep separate in --tasks")

    from vocalsep.threads import set_threads

    set_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="vocalsep-gpu-speed-") as scratch:
        work = Path(scratch)
        warm = work / "warm.wav"
        write_song(warm, WARMUP_SECONDS / 60)
        songs = {}
        for seconds in (float(x) for x in args.lengths.split(",")):
            songs[seconds] = work / f"song{seconds:g}.wav"
            write_song(songs[seconds], seconds / 60)
        timings = [*measure(songs, warm, work, "cpu", args.model, args.engine, tasks),
                   *measure(songs, warm, work, device, args.model, args.engine, tasks)]
        print(describe_machine(device, args.threads))
        print()
        print(table(timings, device, songs))


if __name__ == "__main__":
    main()
