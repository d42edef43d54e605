"""Fine-tuning CREPE tiny on separated vocals (``vocalsep train-pitch``).

CREPE hears pitch well in a clean voice and surprisingly well in a mixture, but a separator's
output is neither: soft masks leave residue of the accompaniment, hard ones leave gaps and
"musical noise". This module adapts the bundled CREPE tiny to that domain:

* **data**: MIR-1K clips of the training singers (``evaluation.melody.TRAINING_SINGERS``: never the
  unseen singers that ``vocalsep evaluate-pitch`` scores) other than the tuning clips
  (``tuning_clips``, drawn among the same singers and kept for choosing the step, the voicing
  threshold and the silence gate). Every clip is rendered as
  several *sources*: the clean voice, the mixture, and the separated vocals of the mixture by one or
  more separators (``"default"``, ``"default@2.0"`` = with ``mask_sharpness`` 2.0, a checkpoint
  path, ...). Rendered audio is cached as 16 kHz mono ``.npy`` files;
* **targets**: CREPE's own, a Gaussian of ``blur_cents`` (25) over the 360 bins around the
  labelled pitch; unvoiced frames get an all-zero target (``unvoiced="zero"``, as CREPE was
  trained) or are left out (``"skip"``);
* **training**: binary cross-entropy, Adam, from the bundled weights. The batch-norm layers stay
  in inference mode (their statistics are frozen; only weights and affine parameters move), so
  what is trained is exactly what runs later.

A run folder holds ``config.json``, ``log.jsonl`` (loss, tuning-clip scores), ``last.pt``
(resumable: network, optimiser, step, random state) and ``weights-<step>.pth`` (plain state dicts
that ``pitch.load_crepe_tiny(path)`` reads).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vocalsep.errors import ConfigError, DatasetError
from vocalsep.files import atomic_output
from vocalsep.melody.trackers.base import ANALYSIS_RATE
from vocalsep.melody.trackers.crepe import CREPE_WINDOW
from vocalsep.separation.checkpoint import read_checkpoint, save_checkpoint
# the remix module holds the labels, clips and targets both recipes read; importable from here as before
from vocalsep.training.pitch_remix import (  # noqa: F401
    crepe_target, label_window, read_labels, song_of, training_clips, tuning_clips,
)

FORMAT_VERSION = 1
#: Sources understood by ``render_source`` besides separation models.
PLAIN_SOURCES = ("clean", "mixture")
#: Frames of MIR-1K labels are 20 ms apart, frame ``i`` (1-based) at ``0.02 * i`` s.
LABEL_HOP = 0.02


@dataclass(frozen=True)
class PitchTrainConfig:
    """Hyper-parameters of ``vocalsep train-pitch`` (stored in the run's ``config.json``).

    Attributes
    ----------
    sources : tuple of (str, float)
        Training sources and their sampling weights: ``"clean"``, ``"mixture"``, or a separation
        model (bundled name or checkpoint path) with an optional ``@sharpness`` override of its mask.
    steps, batch_size, learning_rate
        Adam steps, frames per step, learning rate.
    unvoiced : {"zero", "skip"}
        Unvoiced frames as all-zero targets (CREPE's choice) or not trained on at all (the
        default: better RPA and OA on the tuning clips, see ``docs/MELODY.md``).
    blur_cents : float
        Standard deviation of the Gaussian target around the labelled pitch.
    checkpoint_every : int
        Steps between ``last.pt`` / ``weights-<step>.pth`` saves (and tuning-clip scores).
    validate : bool
        Score every checkpoint on the tuning clips (clean and separated by ``validation_model``).
    tuning_clip_count : int
        How many tuning clips are set aside (and used for validation).
    validation_model : str
        The separation model of the ``separated`` tuning condition (the one shipped).
    seed : int
    remix_songs : int
        Train on this many remix songs (``pitch_remix``: the training singers' voices over
        other recordings' accompaniments, separated by ``validation_model`` once and cached)
        instead of the MIR-1K clips as they are (0, with ``sources``).
    inputs : {1, 2}
        2: the tracker hears the mixture beside the separated voice (``crepe.song_hearing``).
    voicing_weight : float
        Weight of the learned voicing output's loss; above 0 the network gets that output.
    clean_share : float
        Share of remix frames given as the clean voice (heard as its own mixture).
    new_learning_rate : float
        Learning rate of the layers a two-input or voicing network adds (``NEW_LAYERS``).
    remix_separators : tuple of str
        Separators of the remix songs, as ``sources`` names them (``"default@2.0"``: a harsher
        mask, which drops quiet voices as the separator does on singers it never heard); song
        ``i`` goes to separator ``i`` modulo their number. Empty: ``validation_model``.
    unvoiced_weight : float
        Remix songs: weight, in [0, 1], of the all-zero pitch target on unvoiced frames (0: they
        teach only the voicing output, as ``unvoiced="skip"``; above 0 the confidence learns to
        fall where nobody sings, over whatever the separator leaks there).
    leak_probability : float
        Share of remix frames whose separated voice gets some of the song's accompaniment added
        (``pitch_remix.LEAK_DB``), as a separator leaks it on songs it never heard.
    remix_accompaniment_folders, remix_accompaniment_clips : tuple of str, int
        Folders of accompaniment-only music the separator never trained on (the screened game
        music of ``scripts/fetch_instrumentals.py``): the MIR-1K voices' remix songs take their
        accompaniment from ``remix_accompaniment_clips`` of its clips instead of MIR-1K's.
    musdb_root, musdb_songs : str, int
        Also ``musdb_songs`` songs of MUSDB18's training vocals, pseudo-labelled by the
        clean-voice tracker on frames whose confidence reaches ``pseudo_threshold`` (0.7: on the
        tuning clips 99 % of its voiced labels are right, ``benchmarks/pseudo_labels.py``).
    """

    sources: tuple[tuple[str, float], ...] = (
        ("clean", 0.3),
        ("mixture", 0.1),
        ("default", 0.3),
        ("default@2.0", 0.3),
    )
    steps: int = 2000
    batch_size: int = 64
    learning_rate: float = 1e-4
    unvoiced: str = "skip"
    blur_cents: float = 25.0
    checkpoint_every: int = 500
    validate: bool = True
    tuning_clip_count: int = 40
    validation_model: str = "default"
    seed: int = 0
    remix_songs: int = 0
    inputs: int = 1
    voicing_weight: float = 0.0
    clean_share: float = 0.2
    musdb_root: str = ""
    musdb_songs: int = 0
    pseudo_threshold: float = 0.7
    new_learning_rate: float = 1e-3
    remix_separators: tuple[str, ...] = ()
    leak_probability: float = 0.0
    unvoiced_weight: float = 0.0
    remix_accompaniment_folders: tuple[str, ...] = ()
    remix_accompaniment_clips: int = 300

    def __post_init__(self) -> None:
        if self.inputs not in (1, 2) or (self.inputs == 2 and self.remix_songs == 0):
            raise ConfigError("inputs must be 1 or 2 (2 needs remix_songs, where the mixture is known)")
        if (self.remix_songs < 0 or self.voicing_weight < 0 or not 0 <= self.clean_share <= 1
                or not 0 <= self.unvoiced_weight <= 1):
            raise ConfigError("remix_songs and voicing_weight must be >= 0, clean_share and unvoiced_weight in [0, 1]")
        if self.unvoiced not in ("zero", "skip"):
            raise ConfigError(f"unvoiced must be 'zero' or 'skip', not {self.unvoiced!r}")
        if not self.sources or any(weight <= 0 for _, weight in self.sources):
            raise ConfigError("train-pitch needs at least one source, every weight positive")
        if self.steps < 1 or self.batch_size < 1 or self.checkpoint_every < 1:
            raise ConfigError("steps, batch_size and checkpoint_every must be positive")
        if not (self.learning_rate >= 0 and self.new_learning_rate >= 0 and self.blur_cents > 0):
            raise ConfigError("learning rates must be >= 0 (0 freezes those layers) and blur_cents positive")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["sources"] = [[name, weight] for name, weight in self.sources]
        data["remix_separators"] = list(self.remix_separators)
        data["remix_accompaniment_folders"] = list(self.remix_accompaniment_folders)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PitchTrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown train-pitch settings: {', '.join(sorted(unknown))}")
        values = dict(data)
        if "sources" in values:
            values["sources"] = tuple((str(name), float(weight)) for name, weight in values["sources"])
        for key in ("remix_separators", "remix_accompaniment_folders"):
            if key in values:
                values[key] = tuple(str(name) for name in values[key])
        return cls(**values)


# ---------------------------------------------------------------------------------------------
# Targets


# ---------------------------------------------------------------------------------------------
# Clips and sources


def separator_for(source: str):  # noqa: ANN201
    """The separator of a source spec ``model[@sharpness]``."""
    from vocalsep.separation.separator import Separator

    model, _, sharpness = source.partition("@")
    separator = Separator.from_pretrained(model)
    if sharpness:
        config = separator.estimator.config
        unet = dataclasses.replace(config.unet, mask_sharpness=float(sharpness))
        separator.estimator.config = dataclasses.replace(config, unet=unet)
    return separator


def render_source(clip: Path, source: str, separator: object | None = None) -> np.ndarray:
    """One MIR-1K clip as a source: 16 kHz mono float32 audio, shape (samples,)."""
    from vocalsep.audio.io import load_audio, resample

    waveform, rate = load_audio(clip)
    if waveform.shape[0] != 2:
        raise DatasetError(f"{clip}: MIR-1K clips have two channels")
    clean, mixture = waveform[1:2], waveform[0:1] + waveform[1:2]
    if source == "clean":
        audio = clean
    elif source == "mixture":
        audio = mixture
    else:
        separator = separator_for(source) if separator is None else separator
        audio = separator.separate(mixture, rate).vocals  # type: ignore[attr-defined]
    return np.ascontiguousarray(resample(audio.mean(axis=0), rate, ANALYSIS_RATE), dtype=np.float32)


def source_folder(cache: Path, source: str) -> Path:
    """Cache folder of a source: path characters replaced so that any spec is one folder name."""
    return Path(cache) / "".join(c if c.isalnum() or c in "-_.@" else "_" for c in source)


def cache_sources(
    clips: Sequence[Path], sources: Sequence[str], cache: str | Path, *, log: Callable[[str], None] | None = None
) -> None:
    """Render every (source, clip) not yet in ``cache`` (``<cache>/<source>/<clip>.npy``)."""
    for source in sources:
        folder = source_folder(Path(cache), source)
        missing = [clip for clip in clips if not (folder / f"{clip.stem}.npy").is_file()]
        if not missing:
            continue
        if log is not None:
            log(f"rendering {len(missing)} clip(s) as {source!r}")
        separator = None if source in PLAIN_SOURCES else separator_for(source)
        folder.mkdir(parents=True, exist_ok=True)
        for clip in missing:
            audio = render_source(clip, source, separator)
            with atomic_output(folder / f"{clip.stem}.npy", suffix=".npy") as temp_name:
                np.save(temp_name, audio)


# ---------------------------------------------------------------------------------------------
# Frames


@dataclass
class FrameSampler:
    """Random training frames: (source, clip, labelled frame) -> 1024-sample window and target.

    Parameters
    ----------
    audio : dict of str to list of ndarray
        For each source, one 16 kHz mono signal per clip (all sources share the clip order).
    labels : list of ndarray
        For each clip, F0 in Hz per label frame; label ``i`` centred at ``(i + 1) * label_hop`` s.
    weights : dict of str to float
        Sampling weight of each source.
    """

    audio: dict[str, list[np.ndarray]]
    labels: list[np.ndarray]
    weights: dict[str, float]
    label_hop: float = LABEL_HOP
    unvoiced: str = "zero"
    blur_cents: float = 25.0

    def __post_init__(self) -> None:
        self.sources = list(self.audio)
        if set(self.sources) != set(self.weights) or not self.labels:
            raise ConfigError("every source needs a weight, and there must be labelled clips")
        probabilities = np.array([self.weights[s] for s in self.sources], dtype=np.float64)
        self.source_p = probabilities / probabilities.sum()
        self.frames = []  # (clip, label index) pairs eligible for training
        for clip, label in enumerate(self.labels):
            usable = np.flatnonzero(label > 0) if self.unvoiced == "skip" else np.arange(label.size)
            self.frames.append(np.stack([np.full(usable.size, clip), usable], axis=1))
        self.frames = np.concatenate(self.frames)
        if self.frames.size == 0:
            raise DatasetError("no labelled frames to train on")

    def batch(self, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``size`` random frames: windows (size, 1024) float32 and targets (size, 360) float32."""
        picks = self.frames[rng.integers(0, len(self.frames), size)]
        sources = rng.choice(len(self.sources), size=size, p=self.source_p)
        windows = np.zeros((size, CREPE_WINDOW), dtype=np.float32)
        frequency = np.empty(size, dtype=np.float64)
        for row, ((clip, index), source) in enumerate(zip(picks, sources, strict=True)):
            signal = self.audio[self.sources[source]][clip]
            inside, placed = label_window(index, signal.size, self.label_hop)
            windows[row, placed] = signal[inside]
            frequency[row] = self.labels[clip][index]
        return windows, crepe_target(frequency, blur_cents=self.blur_cents)


def synthetic_tones(count: int = 4, seconds: float = 1.0, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Harmonic tones with known pitch (16 kHz) and their 20 ms labels, for tests and smoke runs."""
    rng = np.random.default_rng(seed)
    audio, labels = [], []
    t = np.arange(int(seconds * ANALYSIS_RATE)) / ANALYSIS_RATE
    for _ in range(count):
        f0 = float(rng.uniform(120.0, 600.0))
        phase = 2 * np.pi * f0 * t
        tone = sum(np.sin(k * phase) / k for k in range(1, 6)) * 0.3 + 0.01 * rng.standard_normal(t.size)
        audio.append(tone.astype(np.float32))
        labels.append(np.full(int(seconds / LABEL_HOP) - 1, f0))
    return audio, labels


# ---------------------------------------------------------------------------------------------
# Training


def train_pitch(
    run_dir: str | Path,
    config: PitchTrainConfig | None = None,
    *,
    mir1k_root: str | Path | None = None,
    cache: str | Path | None = None,
    sampler: FrameSampler | None = None,
    init: str | Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Fine-tune CREPE tiny; resumes from ``run_dir/last.pt`` when it exists.

    Parameters
    ----------
    run_dir : str or Path
        Output folder (``config.json``, ``log.jsonl``, ``last.pt``, ``weights-<step>.pth``).
    config : PitchTrainConfig, optional
        Default: the run's ``config.json`` when resuming, else ``PitchTrainConfig()``.
    mir1k_root : str or Path
        MIR-1K (used unless a ``sampler`` is given).
    cache : str or Path, optional
        Where rendered sources are cached; default ``run_dir/data``.
    sampler : FrameSampler, optional
        Frames to train on instead of MIR-1K (tests, synthetic runs); no validation then.
    init : str or Path, optional
        Starting weights; default the bundled CREPE tiny.
    progress : bool
        Print one line per checkpoint on stderr.

    Returns
    -------
    dict
        ``steps``, ``loss`` (mean of the last logging window), ``seconds``, ``best`` (step and
        tuning score, when validated).
    """
    import torch

    from vocalsep.files import atomic_write_text
    from vocalsep.melody.trackers.crepe import load_crepe_tiny, normalize_frames

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path, last_path, log_path = run_dir / "config.json", run_dir / "last.pt", run_dir / "log.jsonl"
    if config is None:
        config = (PitchTrainConfig.from_dict(json.loads(config_path.read_text())) if config_path.is_file()
                  else PitchTrainConfig())
    atomic_write_text(config_path, json.dumps(config.to_dict(), indent=2) + "\n")

    def say(message: str) -> None:
        if progress:
            print(f"train-pitch: {message}", file=sys.stderr, flush=True)

    validation = None
    if sampler is None:
        if mir1k_root is None:
            raise ConfigError("train-pitch needs a MIR-1K folder (mir1k_root) or a sampler")
        make = _remix_sampler if config.remix_songs else _mir1k_sampler
        sampler, validation = make(config, Path(mir1k_root), Path(cache) if cache else run_dir / "data", say)

    network = copy.deepcopy(load_crepe_tiny(init))  # never train the cached bundled network in place
    voicing = config.voicing_weight > 0
    if (config.inputs, voicing) != (getattr(network, "inputs", 1), getattr(network, "voicing", False)):
        from vocalsep.melody.trackers.crepe import voice_path, widened

        if config.inputs < getattr(network, "inputs", 1):  # a one-input run from a network that hears the song
            network = voice_path(network)
        network = widened(network, config.inputs, voicing)  # the layers it adds start as no change
    network.eval()  # frozen batch-norm statistics: train exactly what runs at inference
    optimizer = torch.optim.Adam(parameter_groups(network, config), lr=config.learning_rate)
    step, rng = 0, np.random.default_rng(config.seed)
    if last_path.is_file():
        state = read_checkpoint(last_path, FORMAT_VERSION, "train-pitch")
        network.load_state_dict(state["network"], strict=True)
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
        rng.bit_generator.state = json.loads(state["rng"])
        say(f"resuming at step {step}")
    if step == 0 and validation is not None and not log_path.is_file():
        entry0 = {"step": 0, "tuning": validation(network)}  # the starting point, for comparison
        with log_path.open("a") as log:
            log.write(json.dumps(entry0) + "\n")
        say(json.dumps(entry0))
    loss_fn = torch.nn.BCELoss()
    losses: list[float] = []
    start_time = time.time()
    logged = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()] if log_path.is_file() else []
    last_loss = next((float(e["loss"]) for e in reversed(logged) if "loss" in e), float("nan"))
    while step < config.steps:
        batch = sampler.batch(config.batch_size, rng)
        prediction = network(normalize_frames(torch.from_numpy(batch[0])))
        if len(batch) == 3:  # remix frames: masked targets, with a voicing column
            loss = remix_loss(prediction, torch.from_numpy(batch[1]), torch.from_numpy(batch[2]), config.voicing_weight)
        else:
            loss = loss_fn(prediction, torch.from_numpy(batch[1]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        losses.append(loss.item())
        if step % config.checkpoint_every == 0 or step == config.steps:
            last_loss = float(np.mean(losses))
            entry: dict[str, Any] = {"step": step, "loss": last_loss, "seconds": round(time.time() - start_time, 1)}
            losses = []
            # both atomic and digested: a kill or a full disk never leaves a file that loads wrong
            save_checkpoint(run_dir / f"weights-{step}.pth", {"format_version": FORMAT_VERSION,
                                                              "network": network.state_dict()})
            save_checkpoint(last_path, {
                "format_version": FORMAT_VERSION, "config": config.to_dict(), "step": step,
                "network": network.state_dict(), "optimizer": optimizer.state_dict(),
                "rng": json.dumps(rng.bit_generator.state),
            })
            if validation is not None:
                entry["tuning"] = validation(network)
            with log_path.open("a") as log:
                log.write(json.dumps(entry) + "\n")
            say(json.dumps(entry))
    summary = {"steps": step, "loss": last_loss, "seconds": time.time() - start_time}
    best = best_step(log_path)
    if best is not None:
        summary["best"] = best
    return summary


#: The layers ``crepe.widened`` adds to the shipped network; they start at zero and learn at ``new_learning_rate``.
NEW_LAYERS = ("conv1_song.", "voicing_head.")


def parameter_groups(network: Any, config: PitchTrainConfig) -> list[dict[str, Any]]:
    """Adam's groups: the shipped layers at ``learning_rate``, the added ones at ``new_learning_rate``
    (Adam moves every weight by about its learning rate a step: the mixture's convolution, started at
    zero, would need thousands of steps at the fine-tuning rate to reach the voice's weights' size)."""
    named = list(network.named_parameters())
    new = [p for name, p in named if name.startswith(NEW_LAYERS)]
    old = [p for name, p in named if not name.startswith(NEW_LAYERS)]
    groups = [{"params": old, "lr": config.learning_rate}]  # 0: the shipped layers stay as they are
    if new:
        groups.append({"params": new, "lr": config.new_learning_rate})
    return groups


def remix_loss(prediction, targets, weights, voicing_weight: float):  # noqa: ANN001, ANN201 - torch tensors
    """Binary cross-entropy of a remix batch: CREPE's over the 360 bins of voiced frames with a
    known label, plus ``voicing_weight`` times the voicing output's over frames with a known label."""
    import torch.nn.functional as F

    from vocalsep.melody.trackers.crepe import CREPE_BINS

    bce = F.binary_cross_entropy(prediction, targets[:, : prediction.shape[1]], reduction="none")
    pitch_weights = weights[:, :CREPE_BINS]
    loss = (bce[:, :CREPE_BINS] * pitch_weights).sum() / pitch_weights.sum().clamp_min(1.0)
    if prediction.shape[1] > CREPE_BINS:
        loss = loss + voicing_weight * (bce[:, CREPE_BINS] * weights[:, CREPE_BINS]).sum() / weights[:, CREPE_BINS].sum().clamp_min(1.0)
    return loss


def blend_weights(start: dict[str, Any], tuned: dict[str, Any], alpha: float) -> dict[str, Any]:
    """``alpha * tuned + (1 - alpha) * start`` for every floating-point tensor of two state dicts.

    Averaging the fine-tuned weights with the ones they started from (Wortsman et al. 2022,
    "WiSE-FT") keeps most of the gain on the new domain and much of what the start knew outside it
    (here: confident pitch on steady tones above 550 Hz and below 100 Hz, which MIR-1K hardly has).
    Integer buffers (batch-norm counters) are taken from ``start``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"blend must be in [0, 1], not {alpha}")
    if set(start) != set(tuned):
        raise ConfigError("cannot blend state dicts of different networks")
    return {name: (alpha * tuned[name].double() + (1 - alpha) * value.double()).to(value.dtype)
            if value.is_floating_point() else value.clone() for name, value in start.items()}


def export_blend(
    run_dir: str | Path, output: str | Path, *, init: str | Path | None = None, alpha: float = 0.6,
    step: int | None = None,
) -> tuple[Path, int]:
    """Write the blend of a run's weights (``step``, default the best on the tuning clips, else the
    last) with its starting weights (``init``, default the bundled ones) to ``output``."""
    import torch

    from vocalsep.melody.trackers.crepe import load_crepe_tiny

    run_dir = Path(run_dir)
    if step is None:
        best = best_step(run_dir / "log.jsonl")
        saved = sorted(int(p.stem.split("-")[1]) for p in run_dir.glob("weights-*.pth"))
        if best is None and not saved:
            raise ConfigError(f"{run_dir}: no weights-<step>.pth to export")
        step = best["step"] if best is not None else saved[-1]
    tuned = load_crepe_tiny(run_dir / f"weights-{step}.pth").state_dict()
    start = load_crepe_tiny(init).state_dict()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(blend_weights(start, tuned, alpha), output)
    return output, step


def tuning_score(scores: dict[str, dict[str, float]]) -> float:
    """The number a step is chosen by: mean of RPA and OA over the tuning conditions."""
    return float(np.mean([(s["RPA"] + s["OA"]) / 2 for s in scores.values()]))


def best_step(log_path: str | Path) -> dict[str, Any] | None:
    """The logged step with the highest ``tuning_score``, or None without tuning scores."""
    path = Path(log_path)
    if not path.is_file():
        return None
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    scored = [e for e in entries if "tuning" in e]
    if not scored:
        return None
    best = max(scored, key=lambda e: tuning_score(e["tuning"]))
    return {"step": best["step"], "score": tuning_score(best["tuning"]), "tuning": best["tuning"]}


def _mir1k_sampler(
    config: PitchTrainConfig, root: Path, cache: Path, say: Callable[[str], None]
) -> tuple[FrameSampler, Callable[[Any], dict[str, dict[str, float]]] | None]:
    if not (root / "Wavfile").is_dir():
        raise DatasetError(f"{root}: not a MIR-1K folder (needs Wavfile/ and PitchLabel/)")
    clips = training_clips(root, config.tuning_clip_count)
    names = [name for name, _ in config.sources]
    cache_sources(clips, names, cache, log=say)
    audio = {name: [np.load(source_folder(cache, name) / f"{c.stem}.npy") for c in clips] for name in names}
    labels = [read_labels(root, c.stem) for c in clips]
    sampler = FrameSampler(audio, labels, dict(config.sources), unvoiced=config.unvoiced, blur_cents=config.blur_cents)
    say(f"{len(clips)} training clips, {len(sampler.frames)} frames, sources {', '.join(names)}")
    if not config.validate:
        return sampler, None
    tuning = tuning_clips(root, config.tuning_clip_count)
    conditions = {"clean": "clean", "separated": config.validation_model}
    cache_sources(tuning, list(conditions.values()), cache, log=say)
    references = {c.stem: _reference(root, c.stem) for c in tuning}
    signals = {cond: {c.stem: np.load(source_folder(cache, src) / f"{c.stem}.npy") for c in tuning}
               for cond, src in conditions.items()}

    def validate(network: Any) -> dict[str, dict[str, float]]:
        return score_network(network, signals, references)

    return sampler, validate


def _remix_sampler(
    config: PitchTrainConfig, root: Path, cache: Path, say: Callable[[str], None]
) -> tuple[Any, Callable[[Any], dict[str, dict[str, float]]] | None]:
    """Frames of ``config.remix_songs`` remix songs, and the tuning clips' validation (as the song is heard)."""
    from vocalsep.training.pitch_remix import (RemixCache, RemixFrameSampler, RemixSongs, folder_accompaniments,
                                               mir1k_voices, musdb_stems, musdb_voices)

    separators = [separator_for(name) for name in (config.remix_separators or (config.validation_model,))]
    voices, accompaniments = mir1k_voices(root, config.tuning_clip_count)
    voices_key = f"mir1k-v{REMIX_KEY_VERSION}"
    bands = accompaniments
    if config.remix_accompaniment_folders:  # music the separator never heard, instead of MIR-1K's bands
        bands = folder_accompaniments(config.remix_accompaniment_folders, config.remix_accompaniment_clips)
        voices_key = f"mir1k-music{len(bands)}-v{REMIX_KEY_VERSION}"
    sets = [(RemixSongs(voices, bands, seed=config.seed), voices_key, config.remix_songs)]
    if config.musdb_songs:  # MUSDB18's voices, pseudo-labelled, over MUSDB18's and MIR-1K's accompaniments
        if not config.musdb_root:
            raise ConfigError("musdb_songs needs musdb_root")
        more_voices, more_bands = musdb_voices(musdb_stems(config.musdb_root), threshold=config.pseudo_threshold)
        sets.append((RemixSongs(more_voices, more_bands + accompaniments, seed=config.seed),
                     f"musdb-v{REMIX_KEY_VERSION}-t{config.pseudo_threshold:g}", config.musdb_songs))
    cached = []
    for songs, key, count in sets:
        for offset, separator in enumerate(separators):  # song i is separated by separator i mod their number
            remix = RemixCache(cache / "remix", songs, f"{key}-seed{config.seed}", separator)
            indices = range(offset, count, len(separators))
            say(f"remix songs: {len(indices)} from {len(songs.voices)} voices, cached in {remix.folder}")
            cached += remix.load(indices, log=say)
    sampler = RemixFrameSampler(cached, inputs=config.inputs, clean_share=config.clean_share,
                                blur_cents=config.blur_cents, leak_probability=config.leak_probability,
                                unvoiced_weight=config.unvoiced_weight)
    say(f"{len(sampler.frames)} labelled frames")
    if not config.validate:
        return sampler, None
    tuning = tuning_clips(root, config.tuning_clip_count)
    cache_sources(tuning, ["clean", "mixture", config.validation_model], cache, log=say)

    def load(source: str, clip: Path) -> np.ndarray:
        return np.load(source_folder(cache, source) / f"{clip.stem}.npy")

    references = {c.stem: _reference(root, c.stem) for c in tuning}
    signals: dict[str, dict[str, Any]] = {
        "clean": {c.stem: load("clean", c) for c in tuning},
        "separated": {c.stem: (load(config.validation_model, c), load("mixture", c)) if config.inputs == 2
                      else load(config.validation_model, c) for c in tuning},
    }

    def validate(network: Any) -> dict[str, dict[str, float]]:
        return score_network(network, signals, references)

    return sampler, validate


#: Part of the remix cache's key: changes when the voices or accompaniments read change.
REMIX_KEY_VERSION = "1"


def _reference(root: Path, clip: str) -> tuple[np.ndarray, np.ndarray]:
    from vocalsep.evaluation.melody import read_mir1k_pitch

    return read_mir1k_pitch(root / "PitchLabel" / f"{clip}.pv")


def score_network(
    network: Any,
    signals: dict[str, dict[str, np.ndarray]],
    references: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    thresholds: Sequence[float] | None = None,
    gates: Sequence[float | None] | None = None,
) -> dict[str, dict[str, float]]:
    """Mean mir_eval scores of a CREPE network per condition (16 kHz signals, with the shipped
    voicing threshold and gate unless ``thresholds``/``gates`` are swept; swept keys are
    ``"<condition> t=<threshold> g=<gate>"``)."""
    from vocalsep.melody.trackers.crepe import CREPE_VOICING_THRESHOLD, SILENCE_GATE_DB
    from vocalsep.melody.tracking import PitchTrack, frame_levels_db, track_pitch
    from vocalsep.evaluation.melody import score

    thresholds = [CREPE_VOICING_THRESHOLD] if thresholds is None else list(thresholds)
    gates = [SILENCE_GATE_DB] if gates is None else list(gates)
    swept = len(thresholds) > 1 or len(gates) > 1
    rows: dict[str, list[dict[str, float]]] = {}
    for condition, clips in signals.items():
        for clip, audio in clips.items():
            voice, mixture = audio if isinstance(audio, tuple) else (audio, None)  # (voice, mixture): the song heard
            track = track_pitch(voice, ANALYSIS_RATE, gate_db=None, network=network, mixture=mixture)
            levels = frame_levels_db(voice, int(round(track.hop * ANALYSIS_RATE)) or 160)[: len(track)]
            for threshold in thresholds:
                for gate in gates:
                    voiced = (track.confidence >= threshold) & (track.frequency > 0)
                    if gate is not None:
                        voiced &= levels >= gate
                    gated = PitchTrack(track.times, track.frequency, track.confidence, voiced, track.tracker)
                    key = f"{condition} t={threshold:g} g={gate}" if swept else condition
                    rows.setdefault(key, []).append(score(references[clip], gated))
    return {key: {m: round(100 * float(np.mean([r[m] for r in rs])), 2) for m in rs[0]} for key, rs in rows.items()}


def tone_sampler(unvoiced: str = "zero", seed: int = 0) -> FrameSampler:
    """A ``FrameSampler`` over ``synthetic_tones`` (one source, ``"clean"``)."""
    audio, labels = synthetic_tones(seed=seed)
    return FrameSampler({"clean": audio}, labels, {"clean": 1.0}, unvoiced=unvoiced)

