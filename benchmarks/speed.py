"""Separation speed and peak memory of vocalsep beside Spleeter, Open-Unmix and HT-Demucs.

Generates stereo 44.1 kHz songs of the given lengths and separates each one with every
system, each in a fresh process (so one system's memory does not pollute another's), all
in this one run (so the ratios compare like with like on a shared, noisy CPU). Prints
seconds per second of audio (real-time factor), the ratio to vocalsep's own row and the
peak resident memory of the process that separated.

Systems:

- ``vocalsep``: our model (``--model``, default the bundled one) through the real file
  path, ``api.separate_file``: block decode, streamed separation, block writes. Its
  seconds include decoding and writing; the peers' do not.
- ``vocalsep:<model>``: the same file path with another model (bundled name or checkpoint),
  e.g. ``vocalsep:runs/fast/best.pt``, a checkpoint.
- ``vocalsep-torch``: the same with the network on torch instead of ONNX Runtime.
- ``vocalsep@base``: the file path of another checkout (``--baseline-src its/src``, e.g. a
  ``git worktree`` of the commit before a change) with that checkout's bundled model, to
  measure a change (of code or of the shipped model) in the same run.
- ``vocalsep-mem``: ``Separator.separate`` on the whole waveform in memory (the reference
  that the streamed path must equal).
- ``spleeter``: Deezer's pretrained Spleeter 2-stems (``vocalsep.spleeter_peer``).
- ``openunmix``: the Open-Unmix architecture (umxhq sizes: 512 hidden units, 16 kHz
  band) for the vocals target with its own STFT front end, residual accompaniment and one
  Wiener iteration (``openunmix.model.Separator``). RANDOM WEIGHTS: timing only.
- ``htdemucs``: ``demucs.htdemucs.HTDemucs`` with its constructor defaults (4 sources) and
  demucs' own ``apply_model`` (segments, 25 % overlap, one shift). RANDOM WEIGHTS: timing only.

Open-Unmix imports ``torchaudio`` at module level although its model and STFT do not
use it; the worker that times it puts an empty stand-in module under that name in its own
process (torchaudio wheels pin other torch versions, so it cannot be installed here).

Each worker separates 5 s first (warm-up: lazy initialisation, allocator), then times the
whole song once. Peak memory is ``ru_maxrss`` of the worker, which includes Python,
torch, the model and, for the in-memory systems, the whole decoded song.

Usage::

    taskset -c 1 python benchmarks/speed.py                          # 30 s and 5 min
    taskset -c 1 python benchmarks/speed.py --lengths 30,300,3600    # the full run (~1 h)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from memory import write_song  # noqa: E402  (benchmarks/ is not a package)

SYSTEMS = ("vocalsep", "vocalsep-torch", "vocalsep@base", "vocalsep-mem", "spleeter", "openunmix", "htdemucs")
RATE = 44100
WARMUP_SECONDS = 5.0


# --------------------------------------------------------------------------- workers


def _separate_vocalsep_file(song: Path, model: str, output: Path, options: dict[str, int]) -> float:
    try:
        from vocalsep.pipeline.separate import separate_file
        from vocalsep.separation.separator import Separator
    except ImportError:  # vocalsep@base: a checkout from before the package's subpackages
        from vocalsep.api import separate_file
        from vocalsep.separator import Separator

    separator = Separator.from_pretrained(model, **options)
    warm = output / "warm.wav"
    write_song(warm, WARMUP_SECONDS / 60)
    separate_file(warm, output, separator=separator, overwrite=True)
    started = time.perf_counter()
    separate_file(song, output, separator=separator, overwrite=True)
    return time.perf_counter() - started


def _array_system(name: str, model: str, options: dict[str, int]):  # noqa: ANN202  (a callable on (2, samples) arrays)
    import torch

    if name == "vocalsep-mem":
        from vocalsep.separation.separator import Separator

        separator = Separator.from_pretrained(model, **options)
        return lambda audio: separator.separate(audio, RATE)
    if name == "spleeter":
        from vocalsep.evaluation.spleeter_peer import SpleeterPeer

        peer = SpleeterPeer()
        return lambda audio: peer.separate(audio, RATE)
    if name == "openunmix":
        sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))  # see the module docstring
        from openunmix.model import OpenUnmix
        from openunmix.model import Separator as UnmixSeparator

        torch.manual_seed(0)
        vocals = OpenUnmix(nb_bins=4096 // 2 + 1, nb_channels=2, hidden_size=512, max_bin=1487)
        unmix = UnmixSeparator({"vocals": vocals.eval()}, niter=1, residual=True, n_fft=4096, n_hop=1024).eval()

        def run_unmix(audio: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return unmix(torch.from_numpy(audio)[None]).numpy()

        return run_unmix
    if name == "htdemucs":
        from demucs.apply import apply_model
        from demucs.htdemucs import HTDemucs

        torch.manual_seed(0)
        demucs = HTDemucs(sources=["drums", "bass", "other", "vocals"]).eval()

        def run_demucs(audio: np.ndarray) -> np.ndarray:
            wav = torch.from_numpy(audio)
            reference = wav.mean(0)
            wav = (wav - reference.mean()) / (reference.std() + 1e-8)  # as demucs.separate does
            with torch.inference_mode():
                return apply_model(demucs, wav[None], shifts=1, split=True, overlap=0.25, progress=False).numpy()

        return run_demucs
    raise ValueError(f"unknown system {name!r}")


def worker(name: str, song: Path, model: str, threads: int, segment: int | None = None) -> None:
    """Separate ``song`` with one system in this process; print seconds and peak RSS as JSON."""
    import torch

    torch.set_num_threads(threads)
    options = {} if segment is None else {"segment": segment}
    if name == "vocalsep-torch":
        import vocalsep.separation.streaming

        vocalsep.separation.streaming.onnx_network = lambda estimator: None  # the "auto" engine falls back to torch
    if name.startswith("vocalsep:"):
        name, model = "vocalsep", name.partition(":")[2]
    if name in ("vocalsep", "vocalsep-torch", "vocalsep@base"):
        with tempfile.TemporaryDirectory() as folder:
            seconds = _separate_vocalsep_file(song, model, Path(folder), options)
    else:
        from vocalsep.audio.io import load_audio

        separate = _array_system(name, model, options)
        audio, rate = load_audio(song)
        assert rate == RATE
        separate(np.ascontiguousarray(audio[:, : int(WARMUP_SECONDS * RATE)]))
        started = time.perf_counter()
        separate(audio)
        seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))


# --------------------------------------------------------------------------- driver


def measure(
    name: str, song: Path, model: str, threads: int, timeout: float, baseline_src: str | None = None,
    segment: int | None = None,
) -> dict[str, float] | str:
    """Run one worker process; its JSON result, or why there is none."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    if name == "vocalsep@base":
        if not baseline_src:
            return "needs --baseline-src"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [baseline_src, env.get("PYTHONPATH")]))
        model = "default"  # the other checkout's own bundled model: the state before a change
    command = [sys.executable, __file__, "--worker", name, "--song", str(song), "--model", model,
               "--threads", str(threads)]
    if segment is not None and name != "vocalsep@base":
        command += ["--segment", str(segment)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"over {timeout:.0f} s"
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["?"])[-1]
        return f"failed: {last[:60]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def length_limit(name: str, args: argparse.Namespace) -> float:
    """Longest song a system separates: the in-memory ones hold it whole, htdemucs is slow."""
    if name == "htdemucs":
        return args.demucs_max_seconds
    if name in ("vocalsep-mem", "spleeter", "openunmix"):
        return args.peer_max_seconds
    return float("inf")  # the streamed file paths are what long songs are for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="30,300", help="song lengths in seconds, comma-separated")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--model", default="default", help="bundled model name or checkpoint of ours")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--segment", type=int, help="vocalsep's network window in frames (default: Separator's)")
    parser.add_argument("--peer-max-seconds", type=float, default=300.0,
                        help="longest song the peers and vocalsep-mem separate (they hold it all in memory)")
    parser.add_argument("--demucs-max-seconds", type=float, default=30.0,
                        help="longest song htdemucs separates (about 5 s per second of audio on one thread)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="per worker, seconds")
    parser.add_argument("--baseline-src", help="src/ folder of another checkout, timed as vocalsep@base")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--song", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.song, args.model, args.threads, args.segment)
        return
    lengths = [float(x) for x in args.lengths.split(",")]
    systems = [s for s in args.systems.split(",") if s and (s != "vocalsep@base" or args.baseline_src)]
    print(f"threads={args.threads} (torch.set_num_threads, OMP_NUM_THREADS); model={args.model}; "
          f"segment={args.segment or 'default'}; "
          f"cpu affinity={sorted(os.sched_getaffinity(0))}", flush=True)
    print(f"{'seconds':>8} {'system':>15} {'s per s audio':>14} {'x vocalsep':>11} {'peak RSS MB':>12}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        for seconds in lengths:
            song = Path(folder) / f"song_{seconds:g}s.wav"
            write_song(song, seconds / 60)
            ours: float | None = None
            for name in systems:
                if seconds > length_limit(name, args):
                    print(f"{seconds:>8g} {name:>15} {'skipped (song longer than its limit)':>40}", flush=True)
                    continue
                result = measure(name, song, args.model, args.threads, args.timeout, args.baseline_src, args.segment)
                if isinstance(result, str):
                    print(f"{seconds:>8g} {name:>15} {result:>40}", flush=True)
                    continue
                factor = result["seconds"] / seconds
                if name == "vocalsep":
                    ours = factor
                ratio = f"{factor / ours:.2f}" if ours else "-"
                print(f"{seconds:>8g} {name:>15} {factor:>14.4f} {ratio:>11} {result['peak_mb']:>12.0f}", flush=True)
            song.unlink()
    print("x vocalsep: the system's seconds over vocalsep's on the same song (> 1: vocalsep is faster). "
          "openunmix and htdemucs have random weights (timing only).")


if __name__ == "__main__":
    main()
