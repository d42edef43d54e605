"""``vocalsep separate --ray``: a music library separated on a Ray cluster, one whole file per task.

Each worker is a Ray actor that loads the model once and separates files through
``pipeline.separate.separate_one``, the code path of the single-process CLI, so its outputs,
atomic writes, ``--skip-existing`` and folder locks are the same. The driver keeps every
worker busy with one file at a time and owns the retry policy:

- a worker that dies (killed, out of memory, its node lost) is replaced, and its file goes
  back to the front of the queue for the next free worker, up to ``RETRIES`` times;
- a file that fails because it is bad (a ``VocalsepError``) fails once, with its reason,
  and the others go on.

Inputs and outputs must be on a path every node reads and writes the same way (a shared
file system): the driver sends absolute paths, never audio. With ``--device cuda`` every worker
asks Ray for a GPU (a share of one when there are more workers than GPUs), and Ray hands each
worker its own (``CUDA_VISIBLE_DEVICES``); the driver itself needs none.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from vocalsep.device import parse_device
from vocalsep.errors import ConfigError, VocalsepError
from vocalsep.files import describe
from vocalsep.pipeline.separate import FileOutcome, separate_one

#: How many times a file is started on a fresh worker after its worker died.
RETRIES = 3
ADDRESS = re.compile(r"^(ray://)?[A-Za-z0-9.\-]+:\d{1,5}$")


class WorkerDiedError(VocalsepError):
    """The workers given a file kept dying (killed or out of memory) before it was done."""


def check_address(address: str) -> str:
    """``local`` (start a cluster on this machine), ``auto`` (the one this machine is part of) or ``HOST:PORT``.

    Raises
    ------
    ConfigError
        Anything else, such as an input file that ``--ray`` took for its address.
    """
    if address in ("local", "auto") or ADDRESS.match(address):
        return address
    raise ConfigError(f"--ray takes local, auto or HOST:PORT, not {address!r} "
                      "(write --ray after the inputs, or --ray local)")


@dataclasses.dataclass(frozen=True)
class WorkerPlan:
    """How a batch is spread: ``count`` workers, each on ``device`` with ``gpus`` of a GPU (0: CPU only)."""

    device: str
    count: int
    gpus: float = 0.0


def cluster_device(name: str) -> str:
    """``--device`` for a cluster: ``cpu``, ``auto`` or ``cuda``, checked before a cluster starts.

    Raises
    ------
    ConfigError
        An unknown word, or ``cuda:N``: Ray, not the command, picks each worker's GPU.
    """
    device = parse_device(name)
    if device.startswith("cuda:"):
        raise ConfigError(f"with --ray, Ray gives each worker its GPU: use --device cuda or auto, not {name}")
    return device


def plan_workers(device: str, resources: dict[str, float], *, threads: int, workers: int | None) -> WorkerPlan:
    """The workers for ``device`` (``cluster_device``'s word) on a cluster with ``resources`` (``ray.cluster_resources()``).

    On the CPU: ``workers``, or as many as the CPUs hold at ``threads`` each. On GPUs (``cuda``, or
    ``auto`` where the cluster has any): ``workers``, or one per GPU; with more workers than GPUs,
    each asks for an equal share of one, so that every worker fits.

    Raises
    ------
    ConfigError
        ``cuda`` on a cluster without GPUs.
    """
    gpus = float(resources.get("GPU", 0))
    if device == "cuda" and gpus == 0:
        raise ConfigError("the Ray cluster has no GPU (--device cuda)")
    if device == "cpu" or gpus == 0:
        return WorkerPlan("cpu", workers or max(1, int(resources.get("CPU", 1)) // threads))
    count = workers or max(1, int(gpus))
    return WorkerPlan("cuda", count, 1.0 / math.ceil(count / gpus) if count > gpus else 1.0)


class SeparationWorker:
    """One Ray actor: a loaded model that separates whole files (``separate_one``)."""

    def __init__(self, model: str, threads: int, device: str = "cpu") -> None:
        import torch

        from vocalsep.separation.separator import Separator

        torch.set_num_threads(threads)
        self.separator = Separator.from_pretrained(model, device=device)

    def separate(self, input_path: str, output_dir: str, options: dict[str, Any]) -> FileOutcome:
        return separate_one(Path(input_path), output_dir, separator=self.separator, **options)


def separate_on_ray(
    inputs: Sequence[Path],
    output_dir: str | Path,
    *,
    address: str = "local",
    workers: int | None = None,
    threads: int = 1,
    model: str = "default",
    device: str = "cpu",
    **options: Any,
) -> Iterator[FileOutcome]:
    """Separate ``inputs`` on a Ray cluster, yielding each file's outcome as it finishes.

    Parameters
    ----------
    inputs : sequence of Path
        Audio files on a shared file system.
    output_dir : str or Path
        As ``separate_file``'s, on the same shared file system.
    address : str
        ``local`` starts a Ray cluster on this machine for the batch; ``auto`` or
        ``HOST:PORT`` joins a running one (``ray start``), which stays up afterwards.
    workers : int, optional
        Actors to start (default: as many as the cluster's CPUs hold at ``threads`` each, or
        one per GPU on GPUs).
    threads : int
        Torch threads (and Ray CPUs) per worker.
    model : str
        Bundled model name or checkpoint path (on the shared file system); every worker loads it once.
    device : {"cpu", "auto", "cuda"}
        Where the workers run the network (``plan_workers``); ``auto``: GPUs where the cluster has any.
    options
        Those of ``separate_file`` (format, bits, clip, overwrite, skip_existing, plot...).

    Yields
    ------
    FileOutcome
        One per input, in the order they finish; ``input`` is the path as given.
    """
    import ray

    if threads < 1:
        raise ConfigError(f"--threads must be at least 1, not {threads}")
    check_address(address)
    device = cluster_device(device)
    model = _model_for_workers(model)
    output_dir = str(Path(output_dir).resolve())  # the same folder on every node
    options = {**options, "progress": False}  # the driver shows one bar over the files
    ray.init(address=address, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)
    try:
        plan = plan_workers(device, ray.cluster_resources(), threads=threads, workers=workers)
        resources = {"num_cpus": threads, **({"num_gpus": plan.gpus} if plan.gpus else {})}
        actor = ray.remote(**resources)(SeparationWorker)
        yield from _drive(lambda: actor.remote(model, threads, plan.device), plan.count, list(inputs), output_dir,
                          options)
    finally:
        ray.shutdown()


def _model_for_workers(model: str) -> str:
    """The model as every node finds it: a bundled name, or the checkpoint's absolute path; checked here first.

    Raises
    ------
    ModelLoadError
        It does not load: one line before any cluster starts, not one per worker.
    """
    from vocalsep.separation.checkpoint import bundled_models, resolve_model
    from vocalsep.separation.separator import Separator

    Separator.from_pretrained(model)
    return model if model in bundled_models() else str(resolve_model(model).resolve())


def _drive(start_worker: Callable[[], Any], count: int, inputs: list[Path], output_dir: str,
           options: dict[str, Any]) -> Iterator[FileOutcome]:
    """Keep ``count`` workers busy with one file each until every file has an outcome."""
    import ray
    from ray.exceptions import OutOfMemoryError, RayActorError, RayTaskError, WorkerCrashedError

    queue = collections.deque(range(len(inputs)))
    deaths: collections.Counter[int] = collections.Counter()
    idle = [start_worker() for _ in range(min(count, len(inputs)))]
    running: dict[Any, tuple[Any, int]] = {}
    while queue or running:
        while idle and queue:
            worker, index = idle.pop(), queue.popleft()
            running[worker.separate.remote(str(inputs[index].resolve()), output_dir,
                                           _retry_options(options) if deaths[index] else options)] = (worker, index)
        (finished,), _ = ray.wait(list(running), num_returns=1)
        worker, index = running.pop(finished)
        try:
            outcome = ray.get(finished)
        except (RayActorError, WorkerCrashedError, OutOfMemoryError) as died:
            ray.kill(worker)
            idle.append(start_worker())  # a fresh process; Ray places it where there is room
            deaths[index] += 1
            if deaths[index] < RETRIES:
                queue.appendleft(index)  # first in line for the next free worker
                continue
            outcome = FileOutcome(inputs[index], error=WorkerDiedError(
                f"{inputs[index]}: its worker died {RETRIES} times (killed or out of memory?): {describe(died)}"))
        except RayTaskError as bug:  # not a bad file but a defect: this file fails, the batch goes on
            idle.append(worker)
            outcome = FileOutcome(inputs[index], error=VocalsepError(f"{inputs[index]}: {_first_line(bug)}"))
        else:
            idle.append(worker)
            # after a death, outputs found whole are the dead worker's work of this batch: separated, not skipped
            skipped = outcome.skipped and not (deaths[index] and not options.get("skip_existing"))
            outcome = dataclasses.replace(outcome, input=inputs[index], skipped=skipped)
        yield outcome


def _retry_options(options: dict[str, Any]) -> dict[str, Any]:
    """Options for a file whose worker died: it may have died after publishing the outputs.

    Outputs are published whole (atomic renames), so a complete set is kept and a partial
    one is redone (``skip_existing``) rather than refused as existing.
    """
    return options if options.get("overwrite") else {**options, "skip_existing": True}


def _first_line(error: BaseException) -> str:
    cause = getattr(error, "cause", None) or error
    lines = [line for line in str(cause).splitlines() if line.strip()]
    return (lines[-1] if lines else type(cause).__name__)[:200]
