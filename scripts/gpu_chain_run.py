"""Train the chain's current recipe on a GPU machine for a number of minutes, resumably, from a small pack.

The device machine receives at most 64 MiB per call (the working tree and the carried folders
together) and has no ``../shared/data``; it has python3 with torch, numpy and tqdm, but not
soundfile or soxr. So this runs in three steps:

``pack`` (here) writes one folder: the recipe (``--config``, default ``configs/chain-3.toml``)
with its data pointed into the folder; its training stems (``data.training_set``, at the rates
``scripts/pack_training_stems.py`` packs: MUSDB18 at 32 kHz, MIR-1K at 16 kHz) as FLAC;
excerpts of its validation tracks (16-bit FLAC); the starting weights (the weight average of
the latest checkpoint, ``--from``); and the wheels that read FLAC there (``--wheels``). The
folder and the working tree must fit the budget also when a second invocation carries the
full resume state (``last.pt``: weights, optimiser moments, weight average: 4 copies of the
network). ``--bits auto`` takes the most bits per sample, 16 (lossless) down to 8, that fit
(FLAC stores the zero low bits free; fewer bits add white noise, 6 dB more per bit: 34 dB
under the signal in the network's band at 8 bits, measured on these stems); if 8 bits do not
fit, only every n-th training track is packed, the fewest left out. ``pack.json`` and the
printed line say which.

``train`` (there) trains for ``--minutes`` of GPU time in all: a first invocation times
``--probe-steps`` steps of the warm-up (whose learning rate does not depend on the step
count) and sets the run's step count to what fits; every invocation stops after
``--stop-after`` minutes of training (default: all of them), checkpoints about every minute
into ``--out`` (``last.pt`` in parts under the 16 MiB a returned file may have, ``log.jsonl``,
``config.json``, ``best.pt``), and validates the weight average on the packed excerpts at the
end (``validation.json``, per source as the training log names them).

``collect`` (here) joins the returned ``last.pt`` into the pack, so the next ``train`` resumes
it (the step count continues), and copies the returned files into a local run folder.

Usage (the device tool's ``run``; ``.gpu/`` is ignored by git, so it travels only as ``carry``)::

    python -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \\
        -d .gpu/wheels soundfile==0.14.0 cffi==2.0.0 pycparser==2.23 soxr==1.1.0
    python scripts/gpu_chain_run.py pack --from ../wt-chain/runs/chain-3 --out .gpu/chain --wheels .gpu/wheels
    # run(carry=[".gpu/chain"], timeout_s=600, command=
    #   "python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/chain/wheels/*.whl &&
    #    PYTHONPATH=/tmp/site:src python3 scripts/gpu_chain_run.py train --pack .gpu/chain --minutes 8 --out $OUT")
    python scripts/gpu_chain_run.py collect <files_at> --pack .gpu/chain --run runs/chain-3-gpu
    # the same run(...) again resumes; a longer run: --minutes 16 --stop-after 8, twice
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: What one call may carry (the working tree and the carried folders) and return (per file).
CARRY_BUDGET_MIB = 64.0
RETURNED_FILE_MIB = 15.0
#: Room kept free under the budget (files the tree gains, the pack's small text files).
MARGIN_MIB = 1.0
#: Seconds of each validation excerpt, from its middle, and at most how many tracks per source (evenly spaced);
#: the training singers' old songs (``mir1k``: a continuity row, never selecting) are left out.
EXCERPT_SECONDS = 2.0
PER_SOURCE = 12
UNPACKED_SOURCES = ("mir1k",)
#: Fewest bits per sample ``--bits auto`` goes down to (34 dB under the signal); below, tracks are left out.
LEAST_BITS = 8


# ---------------------------------------------------------------- pack (here)


def pack(config_path: Path, start: str, out: Path, *, bits: str, wheels: Path | None, budget_mib: float) -> dict:
    """Write the pack folder; returns its description (also written as ``pack.json``)."""
    from vocalsep.config import RunConfig
    from vocalsep.datasets import training_set, validation_tracks

    config = RunConfig.from_file(config_path)
    out.mkdir(parents=True, exist_ok=True)
    start_bytes = _write_start(start, config, out / "start.pt")
    valid_bytes = _write_validation(validation_tracks(config.data), out / "valid")
    wheel_bytes = _copy_wheels(wheels, out / "wheels")
    fixed = _tree_bytes() + wheel_bytes + valid_bytes + max(start_bytes, 4 * _network_bytes(config))
    room = (budget_mib - MARGIN_MIB) * 2**20 - fixed
    tracks = training_set(config.data)
    depth, every, encoded = _fitting_encoding(tracks, bits, room)
    for name, files in encoded.items():
        for stem, data in files.items():
            (out / "stems" / name).mkdir(parents=True, exist_ok=True)
            (out / "stems" / name / f"{stem}.flac").write_bytes(data)
    recipe = _recipe(config, [p.name for p in sorted((out / "valid").iterdir())])
    (out / "recipe.toml").write_text(recipe.to_toml())
    stems_bytes = sum(len(d) for files in encoded.values() for d in files.values())
    description = {"config": str(config_path), "start": start, "bits": depth, "every": every,
                   "tracks": len(encoded), "of_tracks": len(tracks),
                   "mib": {"stems": stems_bytes / 2**20, "validation": valid_bytes / 2**20, "start": start_bytes / 2**20,
                           "wheels": wheel_bytes / 2**20, "working tree": _tree_bytes() / 2**20,
                           "resume state": 4 * _network_bytes(config) / 2**20}}
    (out / "pack.json").write_text(json.dumps(description, indent=2))
    return description


def _write_start(start: str, config, path: Path) -> int:  # noqa: ANN001 - a RunConfig
    """The starting weights: a run folder's or checkpoint's weight average (else its weights), or a bundled name."""
    import torch

    from vocalsep.separation.checkpoint import FORMAT_VERSION, read_checkpoint, resolve_model, save_checkpoint

    source = Path(start)
    if source.is_dir():
        source = source / "last.pt"
    payload = read_checkpoint(resolve_model(str(source) if source.is_file() else start))
    state = payload.get("ema_state_dict") or payload["state_dict"]
    save_checkpoint(path, {"format_version": FORMAT_VERSION, "model_config": payload["model_config"],
                           "state_dict": {k: v.contiguous() for k, v in state.items()},
                           "training_summary": {"packed_from": str(start), "step": payload.get("run_state", {}).get("step")},
                           "library_versions": {"torch": str(torch.__version__)}})
    return path.stat().st_size


def _network_bytes(config) -> int:  # noqa: ANN001 - a RunConfig
    from vocalsep.separation.model import MaskEstimator

    network = MaskEstimator(config.model)
    return sum(t.numel() * t.element_size() for t in network.state_dict().values())


def _write_validation(tracks: list, folder: Path) -> int:
    """Middle excerpts of the validation tracks, at most ``PER_SOURCE`` per source (evenly chosen)."""
    from vocalsep.audio.io import resample

    written = 0
    by_source: dict[str, list] = {}
    for track in tracks:
        by_source.setdefault(track.source, []).append(track)
    for source, members in by_source.items():
        if source in UNPACKED_SOURCES:
            continue
        if len(members) > PER_SOURCE:
            members = members[:: len(members) // PER_SOURCE][:PER_SOURCE]
        for track in members:
            rate = 32000 if source == "musdb" else track.sample_rate  # as the training stems: every bin kept
            length = int(EXCERPT_SECONDS * track.sample_rate)
            begin = max(0, (track.vocals.shape[1] - length) // 2)
            for stem in ("vocals", "accompaniment"):
                excerpt = resample(getattr(track, stem)[:, begin : begin + length], track.sample_rate, rate)
                data = _flac(excerpt, rate, 16)
                (folder / source / track.name).mkdir(parents=True, exist_ok=True)
                (folder / source / track.name / f"{stem}.flac").write_bytes(data)
                written += len(data)
    return written


def _copy_wheels(wheels: Path | None, folder: Path) -> int:
    if wheels is None:
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    for wheel in sorted(wheels.glob("*.whl")):
        shutil.copy2(wheel, folder / wheel.name)
    return sum(p.stat().st_size for p in folder.glob("*.whl"))


def _tree_bytes() -> int:
    """What the device tool sends besides the carried folders: tracked and untracked, not ignored, files."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.split(b"\0")
    return sum((ROOT / name.decode()).stat().st_size for name in listed if name and (ROOT / name.decode()).is_file())


def _fitting_encoding(tracks: list, bits: str, room: float) -> tuple[int, int, dict[str, dict[str, bytes]]]:
    """The stems as FLAC at ``bits``, or with ``auto`` at the most bits from 16 down to ``LEAST_BITS`` that fit
    ``room`` bytes, and then, if even those do not fit, of every n-th track only (the fewest dropped).

    Returns
    -------
    depth, every, encoded : the bits, the n of every n-th track kept, the files by track folder name
    """
    from vocalsep.audio.io import resample

    rates = {t.name: 32000 if t.source == "musdb" else t.sample_rate for t in tracks}
    waveforms = {f"{t.source}-{t.name}": {stem: (resample(getattr(t, stem), t.sample_rate, rates[t.name]), rates[t.name])
                                          for stem in ("vocals", "accompaniment")} for t in tracks}
    samples = sum(w.size for files in waveforms.values() for w, _ in files.values())
    depth = 16 if bits == "auto" else int(bits)
    while True:
        encoded = {name: {stem: _flac(w, rate, depth) for stem, (w, rate) in files.items()}
                   for name, files in waveforms.items()}
        size = sum(len(d) for files in encoded.values() for d in files.values())
        if size <= room or bits != "auto" or depth == LEAST_BITS:
            break
        # each bit dropped saves at most one bit per sample: skip the depths that cannot fit
        depth = max(LEAST_BITS, min(depth - 1, depth - int(np.ceil((size - room) * 8 / samples))))
    names = list(encoded)
    for every in range(1, len(names) + 1):
        kept = {name: encoded[name] for name in names[::every]}
        if sum(len(d) for files in kept.values() for d in files.values()) <= room:
            return depth, every, kept
    raise SystemExit(f"not even one track fits the {room / 2**20:.1f} MiB left at {depth} bits")


def _flac(waveform: np.ndarray, rate: int, bits: int) -> bytes:
    """16-bit FLAC of ``waveform`` (channels, samples) rounded to ``bits`` bits (FLAC stores the zero low bits free)."""
    import soundfile

    step = 2.0 ** (16 - bits)
    samples = np.clip(np.round(np.clip(waveform, -1, 1) * 32768 / step) * step, -32768, 32767).astype(np.int16)
    buffer = io.BytesIO()
    soundfile.write(buffer, samples.T, rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def _recipe(config, sources: list[str]):  # noqa: ANN001, ANN202 - RunConfig in and out
    """The run's configuration over the pack (paths relative to it, made absolute by ``train``)."""
    if config.data.accompaniment_folders and config.data.extra_accompaniment_probability > 0:
        raise SystemExit("the recipe's extra accompaniment clips are not packed (hours of music do not fit)")
    data = dataclasses.replace(config.data, musdb_root="", mir1k_root="", stem_folders=("stems",),
                               validation_folders=tuple(f"valid/{s}" for s in sources))
    return dataclasses.replace(config, data=data, train=dataclasses.replace(config.train, init="start.pt"))


# ---------------------------------------------------------------- train (there)


def train(pack_dir: Path, out: Path, *, minutes: float, stop_after: float | None, device: str, probe_steps: int,
          work: Path) -> dict:
    """Train (or resume) the packed run, mirroring its files into ``out``; validate at the end."""
    import functools

    from vocalsep.training import train as training

    # the probe and the run read the stems once
    training.training_tracks = functools.lru_cache(maxsize=None)(training.training_tracks)
    run_training = training.train
    config = _packed_config(pack_dir)
    _start_work_folder(pack_dir, work)
    started = time.monotonic()
    stop_after = minutes if stop_after is None else stop_after
    config = _resumed_config(work, config) or _probe(config, work, device, probe_steps, minutes)
    mirror = _mirror(out)
    mirror(work)
    run_training(config, work, progress=False, device=device, deadline=started + 60 * stop_after, on_checkpoint=mirror)
    mirror(work)
    state = _run_state(work)
    result = {"step": state["step"], "steps": config.train.steps, "train_seconds": round(state["seconds"], 1),
              "validation": _validate(work, config)}
    (out / "validation.json").write_text(json.dumps(result, indent=2))
    return result


def _packed_config(pack_dir: Path):  # noqa: ANN202 - a RunConfig
    from vocalsep.config import RunConfig

    config = RunConfig.from_file(pack_dir / "recipe.toml")
    absolute = lambda path: str((pack_dir / path).resolve())  # noqa: E731
    data = dataclasses.replace(config.data, stem_folders=tuple(map(absolute, config.data.stem_folders)),
                               validation_folders=tuple(map(absolute, config.data.validation_folders)))
    return dataclasses.replace(config, data=data, train=dataclasses.replace(config.train, init=absolute("start.pt")))


def _start_work_folder(pack_dir: Path, work: Path) -> None:
    """A fresh run folder, holding the resume state that ``collect`` put in the pack, if any."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    resume = pack_dir / "resume"
    if (resume / "last.pt").is_file():
        for name in ("last.pt", "config.json", "log.jsonl", "best.pt"):
            if (resume / name).is_file():
                shutil.copy2(resume / name, work / name)


def _resumed_config(work: Path, packed):  # noqa: ANN001, ANN202 - RunConfig in, RunConfig or None out
    """A resumed run's configuration: its schedule, over this pack's paths (the folder may have moved)."""
    from vocalsep.config import RunConfig
    from vocalsep.files import atomic_write_bytes

    if not (work / "last.pt").is_file():
        return None
    saved = RunConfig.from_dict(json.loads((work / "config.json").read_text())).train
    config = dataclasses.replace(packed, train=dataclasses.replace(
        packed.train, steps=saved.steps, checkpoint_every=saved.checkpoint_every, validate_every=saved.validate_every))
    atomic_write_bytes(work / "config.json", json.dumps(config.to_dict(), indent=2).encode())
    return config


def _probe(config, work: Path, device: str, probe_steps: int, minutes: float):  # noqa: ANN001, ANN202
    """Time the first steps, then write the step count that fits ``minutes`` into the run's configuration."""
    from vocalsep.files import atomic_write_bytes
    from vocalsep.training import train as training

    run_training, WARMUP_STEPS = training.train, training.WARMUP_STEPS  # noqa: N806

    probe_steps = min(probe_steps, WARMUP_STEPS)  # in the warm-up the learning rate ignores the step count
    provisional = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=10**9))
    run_training(provisional, work, progress=False, device=device, until=probe_steps)
    per_step = _run_state(work)["seconds"] / probe_steps
    steps = max(probe_steps + 1, int(60 * minutes / per_step))
    every = max(1, min(steps, int(60 / per_step)))  # a checkpoint about every minute
    fitted = dataclasses.replace(config, train=dataclasses.replace(
        config.train, steps=steps, checkpoint_every=every, validate_every=steps))
    atomic_write_bytes(work / "config.json", json.dumps(fitted.to_dict(), indent=2).encode())
    print(f"{per_step * 1000:.1f} ms per step -> {steps} steps in {minutes:g} min, a checkpoint every {every}",
          flush=True)
    return fitted


def _mirror(out: Path):  # noqa: ANN202 - a callback
    """A checkpoint callback: copy the run's files into ``out``, ``last.pt`` in returnable parts."""
    out.mkdir(parents=True, exist_ok=True)

    def copy(work: Path) -> None:
        for name in ("config.json", "log.jsonl", "best.pt"):
            if (work / name).is_file():
                shutil.copy2(work / name, out / name)
        if (work / "last.pt").is_file():
            split_file(work / "last.pt", out)

    return copy


def _run_state(work: Path) -> dict:
    import torch

    return torch.load(work / "last.pt", map_location="cpu", weights_only=True)["run_state"]


def _validate(work: Path, config) -> dict[str, float]:  # noqa: ANN001 - a RunConfig
    """Median SDRs of the weight average (else the weights) on the packed excerpts, per source."""
    from vocalsep.datasets import stem_folder_tracks
    from vocalsep.evaluation.validation import score, validate
    from vocalsep.separation.checkpoint import read_checkpoint
    from vocalsep.separation.model import MaskEstimator

    payload = read_checkpoint(work / "last.pt")
    estimator = MaskEstimator(config.model)
    estimator.load_state_dict(payload.get("ema_state_dict") or payload["state_dict"], strict=True)
    tracks = [dataclasses.replace(track, source=Path(folder).name)
              for folder in config.data.validation_folders for track in stem_folder_tracks(folder)]
    metrics = validate(estimator.eval(), tracks)
    return {**metrics, "score": score(metrics)}


# ---------------------------------------------------------------- collect (here)


def collect(returned: Path, pack_dir: Path, run: Path | None) -> int:
    """Put a ``train`` call's returned state into the pack (the next call resumes it); returns the step."""
    import torch

    resume = pack_dir / "resume"
    resume.mkdir(parents=True, exist_ok=True)
    join_file(returned, "last.pt", resume / "last.pt")
    for name in ("config.json", "log.jsonl"):
        shutil.copy2(returned / name, resume / name)
    (resume / "best.pt").unlink(missing_ok=True)  # neither is needed to resume: both left out of the budget
    (pack_dir / "start.pt").unlink(missing_ok=True)
    if run is not None:
        run.mkdir(parents=True, exist_ok=True)
        shutil.copy2(resume / "last.pt", run / "last.pt")
        for name in ("config.json", "log.jsonl", "best.pt", "validation.json"):
            if (returned / name).is_file():
                shutil.copy2(returned / name, run / name)
    return int(torch.load(resume / "last.pt", map_location="cpu", weights_only=True)["run_state"]["step"])


def split_file(path: Path, folder: Path, part_mib: float = RETURNED_FILE_MIB) -> list[Path]:
    """``path`` as ``NAME.part0``, ``NAME.part1``, ... in ``folder`` (older parts of it removed)."""
    for old in folder.glob(f"{path.name}.part*"):
        old.unlink()
    data, size = path.read_bytes(), int(part_mib * 2**20)
    parts = []
    for index, begin in enumerate(range(0, max(1, len(data)), size)):
        part = folder / f"{path.name}.part{index}"
        part.write_bytes(data[begin : begin + size])
        parts.append(part)
    return parts


def join_file(folder: Path, name: str, target: Path) -> Path:
    """Join ``split_file``'s parts of ``name`` from ``folder`` into ``target``."""
    parts = sorted(folder.glob(f"{name}.part*"), key=lambda p: int(p.suffix.removeprefix(".part")))
    if not parts:
        raise SystemExit(f"{folder}: no {name}.part0 (was this a train call's returned folder?)")
    target.write_bytes(b"".join(p.read_bytes() for p in parts))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    packing = commands.add_parser("pack", help="here: the recipe, stems, validation excerpts, start weights, wheels")
    packing.add_argument("--config", type=Path, default=ROOT / "configs" / "chain-3.toml")
    packing.add_argument("--from", dest="start", default="default",
                         help="run folder or checkpoint whose weight average starts the run (default: the bundled model)")
    packing.add_argument("--out", type=Path, default=ROOT / ".gpu" / "chain")
    packing.add_argument("--bits", default="auto", help="bits per sample of the stems: auto (the most that fit, 16 to 8) or 1-16")
    packing.add_argument("--wheels", type=Path, help="folder of wheels to install there (soundfile, cffi, pycparser, soxr)")
    packing.add_argument("--budget-mib", type=float, default=CARRY_BUDGET_MIB)
    training = commands.add_parser("train", help="there: train for --minutes, checkpoint into --out, validate")
    training.add_argument("--pack", type=Path, default=ROOT / ".gpu" / "chain")
    training.add_argument("--minutes", type=float, required=True, help="training minutes of the whole run")
    training.add_argument("--stop-after", type=float, help="training minutes of this invocation (default: --minutes)")
    training.add_argument("--out", type=Path, required=True, help="where the run's files go ($OUT there)")
    training.add_argument("--device", default="auto")
    training.add_argument("--probe-steps", type=int, default=50)
    training.add_argument("--work", type=Path, default=Path("/tmp/vocalsep-gpu-run"), help="the run folder while training")
    collecting = commands.add_parser("collect", help="here: the returned files into the pack, to resume")
    collecting.add_argument("returned", type=Path, help="the folder the train call's files came back in")
    collecting.add_argument("--pack", type=Path, default=ROOT / ".gpu" / "chain")
    collecting.add_argument("--run", type=Path, help="also copy the run's files here")
    args = parser.parse_args()
    if args.command == "pack":
        description = pack(args.config, args.start, args.out, bits=args.bits, wheels=args.wheels,
                           budget_mib=args.budget_mib)
        sizes = ", ".join(f"{k} {v:.1f}" for k, v in description["mib"].items())
        print(f"{description['tracks']} of {description['of_tracks']} tracks (every {description['every']}) at "
              f"{description['bits']} bits; MiB: {sizes}")
    elif args.command == "train":
        result = train(args.pack, args.out, minutes=args.minutes, stop_after=args.stop_after, device=args.device,
                       probe_steps=args.probe_steps, work=args.work)
        print(f"step {result['step']} of {result['steps']} ({result['train_seconds']} s of training); "
              f"validation {json.dumps(result['validation'])}", flush=True)
    else:
        print(f"resumes at step {collect(args.returned, args.pack, args.run)}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
