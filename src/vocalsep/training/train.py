"""Training loop: seeded patches, periodic validation, resumable checkpoints, JSON-lines log.

One process, or data-parallel ranks under ``torchrun`` (``training.distributed``) that train
as one process with their global batch would.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from vocalsep.separation.checkpoint import model_payload, read_checkpoint, resolve_model, save_checkpoint
from vocalsep.config import ModelConfig, RunConfig
from vocalsep.training.distributed import Ranks, data_parallel, process_group, ranks_from_environment
from vocalsep.training.losses import magnitude_losses, masked_waveform_sdr_sum
from vocalsep.training.patches import DevicePatches, PatchSampler, magnitude
from vocalsep.training.vocal_production import read_produced_vocals
from vocalsep.training.widen import can_widen, widened_state
from vocalsep.datasets import extra_accompaniment, training_tracks
from vocalsep.errors import ConfigError
from vocalsep.files import atomic_write_bytes
from vocalsep.evaluation.validation import score, validate
from vocalsep.separation.model import MaskEstimator

WARMUP_STEPS = 100


def learning_rate(config: RunConfig, step: int) -> float:
    """Linear warm-up then cosine decay to 5 % of the peak, a function of the step alone."""
    peak = config.train.learning_rate
    if step < WARMUP_STEPS:
        return peak * (step + 1) / WARMUP_STEPS
    progress = (step - WARMUP_STEPS) / max(1, config.train.steps - WARMUP_STEPS)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def batch_generator(config: RunConfig, step: int) -> torch.Generator:
    """The generator of one step's batch: a resumed run draws the same data as an uninterrupted one."""
    return torch.Generator().manual_seed(config.train.seed * 1_000_003 + step)


class WeightAverage:
    """Exponential moving average of a model's parameters; buffers (batch-norm statistics) are copied.

    The decay ramps up as ``(1 + step) / (10 + step)`` so early averages do not drag in the
    random initial weights (as in TensorFlow's ``ExponentialMovingAverage``).
    """

    def __init__(self, model: MaskEstimator, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        self.model.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: MaskEstimator, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for average, current in zip(self.model.parameters(), model.parameters()):
            average.lerp_(current, 1 - decay)
        for average, current in zip(self.model.buffers(), model.buffers()):
            average.copy_(current)


class BackgroundValidation:
    """One validation at a time in a thread beside training, so the steps go on meanwhile.

    On two cores with one training thread, validation takes the other core instead of
    stalling the run (about 90 s per validation of the chain's recipe here). ``start`` first
    waits for the one before; ``join`` waits and re-raises its error. A run killed while a
    validation is under way loses that log entry; its ``best.pt`` is whole (atomic writes).
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self, job: Callable[[], None]) -> None:
        self.join()
        threads = torch.get_num_threads()

        def run() -> None:
            torch.set_num_threads(threads)  # OpenMP's thread count is per thread: the run's, not the default
            try:
                job()
            except BaseException as error:  # noqa: BLE001 - handed to the training thread by join
                self._error = error

        self._thread = threading.Thread(target=run, name="vocalsep-validation", daemon=True)
        self._thread.start()

    def join(self, *, quiet: bool = False) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None and not quiet:
            raise error


def training_device(name: str) -> torch.device:
    """The device to train on: ``cpu``, ``cuda`` (or ``cuda:N``), or ``auto`` (CUDA when present)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}: use cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda asked for, but torch sees no CUDA GPU here")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"unsupported device {name!r}: use cpu, cuda, cuda:N or auto")
    return device


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype of the network's convolutions while training, or None for float32 throughout.

    ``auto`` is bfloat16 on a CPU that computes it natively (AMX or AVX512-BF16: 2x faster
    than float32 there) and float32 elsewhere: on a GPU bfloat16 was not measured here.
    Weights, optimiser state, losses and validation stay float32 either way (autocast).
    """
    if precision == "float32":
        return None
    if precision == "bfloat16":
        return torch.bfloat16
    if device.type == "cpu" and _native_cpu_bfloat16():
        return torch.bfloat16
    return None


def _native_cpu_bfloat16() -> bool:
    cpu = torch.cpu
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # private, so looked up with care
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def _load_initial_weights(estimator: MaskEstimator, config: RunConfig, sampler: PatchSampler) -> None:
    """Start from ``config.train.init``, refusing another network.

    With the same STFT the input statistics come with the weights. With another STFT (a
    4096-point transform, say) the convolutions still fit, since they slide over any number
    of bins, but per-bin statistics do not: those are measured on this run's data. A mono
    network starts a stereo one of the same widths (``stereo_from_mono``), a narrow network a
    wider one (``widen.widened_state``: the same output at the first step).
    """
    payload = read_checkpoint(resolve_model(config.train.init))
    # mask_sharpness is an export-time calibration, not part of the architecture: train at 1
    theirs = ModelConfig.from_dict(payload.get("model_config", {}))
    theirs = dataclasses.replace(theirs, unet=dataclasses.replace(theirs.unet, mask_sharpness=1.0))
    state = payload["state_dict"]
    if theirs.unet.channels == 1 and config.model.unet.channels == 2:
        theirs = dataclasses.replace(theirs, unet=dataclasses.replace(theirs.unet, channels=2))
        state = stereo_from_mono(state, estimator.state_dict())
    if theirs.unet != config.model.unet and can_widen(theirs.unet, config.model.unet):
        state = widened_state(theirs, state, estimator)
        theirs = dataclasses.replace(theirs, unet=config.model.unet)
    if theirs.unet != config.model.unet:
        raise ConfigError(f"train.init {config.train.init!r} has another model configuration than this run")
    if theirs.stft == config.model.stft:
        estimator.load_state_dict(state, strict=True)
        return
    network = {k: v for k, v in state.items() if k not in ("input_mean", "input_scale")}
    estimator.load_state_dict(network, strict=False)  # all but the two statistics buffers
    estimator.set_input_statistics(*sampler.input_statistics())


def stereo_from_mono(mono: dict[str, torch.Tensor], stereo: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights of a mono network widened to a stereo one that computes the same for a centred input.

    Where the stereo layer reads the audio channels (the stem, the output level's skip of the
    input) the mono weight of the input is split in half over left and right; where it writes
    a mask per channel (the logits) the mono weights are repeated. With equal channels, each
    mask is then the mono network's mask of that input.
    """
    widened = {}
    for name, weight in mono.items():
        shape = stereo[name].shape
        if weight.shape == shape:
            widened[name] = weight
        elif weight.ndim == 4 and weight.shape[0] == shape[0] and shape[1] == weight.shape[1] + 1:
            # the last input channel is the audio: halve it over the two channels
            widened[name] = torch.cat([weight[:, :-1], weight[:, -1:] / 2, weight[:, -1:] / 2], dim=1)
        elif weight.shape[0] == 1 and shape[0] == 2 and weight.shape[1:] == shape[1:]:
            widened[name] = weight.repeat(2, *([1] * (weight.ndim - 1)))  # one mask per channel
        else:
            raise ConfigError(f"cannot widen {name} from {tuple(weight.shape)} to {tuple(shape)}")
    return widened


def train(
    config: RunConfig, run_dir: str | Path, *, progress: bool = True, device: str = "cpu",
    until: int | None = None, ranks: Ranks | None = None, deadline: float | None = None,
    on_checkpoint: Callable[[Path], None] | None = None,
) -> dict[str, Any]:
    """Train (or resume) a run in ``run_dir``; returns the training summary.

    ``run_dir`` receives ``config.json``, ``last.pt`` (resume state), ``best.pt`` (the best
    model by validation score) and ``log.jsonl`` (one line per logged event).

    ``device`` runs the network's steps there (see ``training_device``); patches are
    drawn on the CPU with the same seeded generators, validation runs on a CPU copy, and
    checkpoints hold CPU tensors, so a run can resume on another device.

    ``until`` stops after that many steps with a checkpoint, to resume later (a time slot
    on a shared machine); ``deadline`` (a ``time.monotonic()`` value) stops so after the step
    that passes it. ``on_checkpoint`` is called with ``run_dir`` after each ``last.pt`` is
    written (rank 0). ``ranks`` (default: what ``torchrun`` set in the environment) are
    the data-parallel processes: each computes its share of every global batch of
    ``config.train.batch_size`` per rank; only rank 0 validates, logs and writes files.
    """
    if until is not None and until < 1:
        raise ConfigError(f"--until must be a step of at least 1, not {until}")
    ranks = ranks or ranks_from_environment()
    target = ranks.device(training_device(device))
    with process_group(ranks, target):
        return _train(config, Path(run_dir), progress=progress and ranks.leader, target=target,
                      stop=min(config.train.steps, until or config.train.steps), ranks=ranks, deadline=deadline,
                      on_checkpoint=on_checkpoint)


def _check_run_folder(config: RunConfig, run_dir: Path) -> None:
    """Write the run's configuration, or refuse a folder that holds another run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "config.json"
    if config_path.exists():
        # Compared as configurations, so options added since the run started take their defaults.
        # Threads say how the run executes, not what it computes: a run resumes on another core count.
        saved = RunConfig.from_dict(json.loads(config_path.read_text()))
        if dataclasses.replace(saved, train=dataclasses.replace(saved.train, threads=config.train.threads)) != config:
            raise ConfigError(f"{run_dir} holds a run with another configuration; use a new folder")
    else:
        atomic_write_bytes(config_path, json.dumps(config.to_dict(), indent=2).encode())  # a kill never leaves half


def _train(config: RunConfig, run_dir: Path, *, progress: bool, target: torch.device, stop: int,
           ranks: Ranks, deadline: float | None, on_checkpoint: Callable[[Path], None] | None) -> dict[str, Any]:
    from tqdm import tqdm

    if ranks.leader:
        _check_run_folder(config, run_dir)
    ranks.barrier()  # the others read the folder once rank 0 has accepted it
    if config.train.threads:
        torch.set_num_threads(config.train.threads)

    train_tracks, valid_tracks = training_tracks(config.data)
    produced = read_produced_vocals(config.data.produced_vocals, train_tracks) if config.data.produced_vocals else None
    sampler = PatchSampler(train_tracks, config.model.stft, config.data, extra_accompaniment(config.data),
                           channels=config.model.unet.channels, produced=produced)
    # on a GPU, batches are cut in its memory: drawing them on the CPU would be the bottleneck
    patches = sampler if target.type == "cpu" else DevicePatches(sampler, target)
    with torch.random.fork_rng():  # seeded initial weights without touching the caller's RNG
        torch.manual_seed(config.train.seed)
        estimator = MaskEstimator(config.model)
    # channels last: oneDNN's (and cuDNN's) native layout, no reorder around each convolution (1.5x on a CPU)
    estimator.to(target, memory_format=torch.channels_last)
    network = data_parallel(estimator, ranks, target)  # what the steps run; ``estimator`` is its module
    optimizer = torch.optim.AdamW(  # fused: one kernel for all parameters, not a dozen per tensor
        estimator.parameters(), lr=config.train.learning_rate, weight_decay=config.train.weight_decay, fused=True
    )
    state = {"step": 0, "best_score": -math.inf, "seconds": 0.0, "best_metrics": {}}
    last_path = run_dir / "last.pt"
    resumed = read_checkpoint(last_path) if last_path.exists() else None
    if resumed is not None:
        estimator.load_state_dict(resumed["state_dict"], strict=True)
        optimizer.load_state_dict(resumed["optimizer"])
        state.update(resumed["run_state"])
        _best_so_far(run_dir / "best.pt", state)
    elif config.train.init:
        _load_initial_weights(estimator, config, sampler)
    else:
        estimator.set_input_statistics(*sampler.input_statistics())  # copy_ crosses devices
    average = WeightAverage(estimator, config.train.ema_decay) if config.train.ema_decay else None
    if average is not None and resumed is not None:
        average.model.load_state_dict(resumed["ema_state_dict"], strict=True)
    # what validation scores and best.pt keeps: the average when there is one
    evaluated = average.model if average is not None else estimator

    dtype = autocast_dtype(config.train.precision, target)
    log = (run_dir / "log.jsonl").open("a") if ranks.leader else None
    summary_base = {
        "train_tracks": len(train_tracks),
        "train_seconds_of_audio": round(sum(t.seconds for t in train_tracks), 1),
        "valid_tracks": [t.name for t in valid_tracks],
        "extra_accompaniment_seconds": round(sampler.extra.seconds, 1) if sampler.extra is not None else 0.0,
        "device": str(target),
        "precision": str(dtype or torch.float32).removeprefix("torch."),
        "ranks": ranks.world,
        "config": config.to_dict(),
    }
    synthesis_window = torch.hann_window(config.model.stft.n_fft, device=target)
    bar = tqdm(total=config.train.steps, initial=state["step"], disable=not progress, desc=config.name)
    running = []
    validation = BackgroundValidation()
    try:
        while state["step"] < stop:
            started = time.perf_counter()
            step = state["step"]
            estimator.train()
            vocal_spectra, accompaniment_spectra = patches.spectra(config.train.batch_size, batch_generator(config, step),
                                                                   rank=ranks.rank, ranks=ranks.world)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step)
            loss = batch_loss(network, config, vocal_spectra, accompaniment_spectra, window=synthesis_window,
                              ranks=ranks, dtype=dtype)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if average is not None:
                average.update(estimator, step)
            running.append(loss.detach())  # read back only when shown: each read waits for a GPU
            state["step"] = step + 1
            state["seconds"] += time.perf_counter() - started
            bar.update(1)
            if state["step"] % 50 == 0:
                bar.set_postfix(loss=f"{float(torch.stack(running[-50:]).mean()):.4f}")

            done = state["step"]
            if done % config.train.validate_every == 0 or done == config.train.steps:
                train_loss = float(ranks.mean(torch.stack(running).mean()))
                running = []
                if ranks.leader:
                    # scored beside the next steps, on a snapshot (on the CPU) of the weights of this step
                    snapshot = copy.deepcopy(evaluated).cpu()
                    entry = {"step": done, "train_loss": train_loss, "lr": learning_rate(config, step),
                             "train_seconds": round(state["seconds"], 1)}
                    validation.start(lambda snapshot=snapshot, entry=entry: _validate_and_log(
                        snapshot, valid_tracks, state, log, bar if progress else None, entry,
                        best_path=run_dir / "best.pt", model_config=config.model, summary_base=summary_base))
                ranks.barrier()
            if _past(deadline, ranks):
                stop = done  # this step is the last: checkpointed below
            if ranks.leader and (done % config.train.checkpoint_every == 0 or done in (stop, config.train.steps)):
                _save_last(last_path, estimator, optimizer, average, config.model, state)
                if on_checkpoint is not None:
                    on_checkpoint(run_dir)
    except BaseException:
        validation.join(quiet=True)  # nothing writes into the folder once the run stopped
        raise
    validation.join()
    bar.close()
    if log is not None:
        log.close()
    ranks.barrier()  # last.pt is whole before any rank returns
    return {**summary_base, "steps": state["step"], "train_seconds": round(state["seconds"], 1),
            "validation": state["best_metrics"], "rank": ranks.rank}


def batch_loss(
    network: torch.nn.Module, config: RunConfig, vocal_spectra: torch.Tensor, accompaniment_spectra: torch.Tensor,
    *, window: torch.Tensor, ranks: Ranks, dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """The training loss of one batch of patch spectra (this rank's share of it).

    Parameters
    ----------
    network : Module
        The mask estimator (or its data-parallel wrapper), in training mode.
    vocal_spectra, accompaniment_spectra : Tensor, shape (patches, input_bins, frames), complex64
    window : Tensor, shape (n_fft,)
        The synthesis window of the waveform term.
    dtype : torch.dtype, optional
        The network runs under autocast to it (``autocast_dtype``); the loss is float32.
    """
    mixture_spectra = vocal_spectra + accompaniment_spectra
    mixture = magnitude(mixture_spectra)
    with torch.autocast(mixture.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        mask = network(mixture)
    # The accompaniment is what the mask leaves, (1 - mask)·|X|; scoring it penalises voice left behind.
    voice, rest = magnitude_losses(mask, mixture, magnitude(vocal_spectra), magnitude(accompaniment_spectra),
                                   loss=config.train.loss)
    loss = voice + config.train.accompaniment_weight * rest
    if config.train.waveform_weight:
        # the voice as it is heard: the mask on the mixture's phase, synthesised, against the true voice;
        # the mean over the global batch's voiced patches (times the ranks: their gradients are averaged)
        sdr, voiced = masked_waveform_sdr_sum(mask, mixture_spectra, vocal_spectra, config.model.stft, window)
        loss = loss - config.train.waveform_weight * ranks.world * sdr / ranks.sum(voiced).clamp_min(1)
    return loss


def _save_last(path: Path, estimator: MaskEstimator, optimizer: torch.optim.Optimizer, average: WeightAverage | None,
               model_config: ModelConfig, state: dict[str, Any]) -> None:
    """The resume state: weights, optimiser, weight average and the run's counters."""
    payload = model_payload(estimator, model_config, {})
    payload["optimizer"] = optimizer.state_dict()
    if average is not None:
        payload["ema_state_dict"] = average.model.state_dict()
    payload["run_state"] = dict(state)
    save_checkpoint(path, payload)


def _best_so_far(best_path: Path, state: dict[str, Any]) -> None:
    """Raise ``state``'s best score to that of ``best_path``: its validation may have ended after ``last.pt``."""
    if not best_path.exists():
        return
    validation = read_checkpoint(best_path).get("training_summary", {}).get("validation", {})
    metrics = {k: v for k, v in validation.items() if k.endswith("_sdr")}
    if metrics and score(metrics) > state["best_score"]:
        state["best_score"], state["best_metrics"] = score(metrics), validation


def _past(deadline: float | None, ranks: Ranks) -> bool:
    """Whether ``deadline`` has passed; the ranks agree (any rank past it stops them all)."""
    if deadline is None:
        return False
    return bool(ranks.sum(torch.tensor(float(time.monotonic() >= deadline))) > 0)


def _validate_and_log(
    evaluated: MaskEstimator, valid_tracks: list, state: dict[str, Any], log: Any,
    bar: Any, entry: dict[str, Any], *, best_path: Path, model_config: ModelConfig, summary_base: dict[str, Any],
) -> None:
    """Score the model (on the CPU) on the validation tracks, log the entry, and keep it in ``best_path`` if best."""
    started = time.perf_counter()
    evaluated.eval()
    metrics = validate(evaluated, valid_tracks) if valid_tracks else {}
    current = score(metrics)
    entry = {**entry, "validate_seconds": round(time.perf_counter() - started, 1), **metrics}
    log.write(json.dumps(entry) + "\n")
    log.flush()
    if bar is not None:
        bar.write(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items()))
    if current > state["best_score"] or not valid_tracks:
        state["best_score"] = current
        state["best_metrics"] = {**metrics, "step": entry["step"]}
        summary = {**summary_base, "steps": entry["step"], "train_seconds": entry["train_seconds"],
                   "validation": state["best_metrics"]}
        save_checkpoint(best_path, model_payload(evaluated, model_config, summary))
