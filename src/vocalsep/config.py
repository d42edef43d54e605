"""Hyperparameters in one place: frozen dataclasses stored inside every checkpoint."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from vocalsep.errors import ConfigError

T = TypeVar("T")

#: The stems of a separation: the network estimates the first; the second is its exact complement,
#: ``mixture - voice``.
STEM_NAMES = ("vocals", "accompaniment")


def _from_dict(cls: type[T], values: dict[str, Any]) -> T:
    """Build dataclass ``cls`` from ``values``, refusing unknown keys by name."""
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} option(s): {', '.join(unknown)}")
    kwargs = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in values:
            value = values[f.name]
            kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"invalid {cls.__name__}: {error}") from None


class _Section:
    """A configuration section of plain values: to and from a dict, unknown keys refused by name."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], values: dict[str, Any]) -> T:
        return _from_dict(cls, values)


@dataclass(frozen=True)
class STFTConfig(_Section):
    """Short-time Fourier transform settings shared by training and separation.

    The network sees the lowest ``input_bins`` frequency bins; the mask is extended
    over the bins above them so the output stays full-band.
    """

    sample_rate: int = 44100
    n_fft: int = 2048
    hop_length: int = 512
    input_bins: int = 512

    def __post_init__(self) -> None:
        if self.hop_length <= 0 or self.n_fft <= 0 or self.hop_length > self.n_fft:
            raise ValueError("need 0 < hop_length <= n_fft")
        if not 0 < self.input_bins <= self.n_fft // 2 + 1:
            raise ValueError("input_bins must lie in 1..n_fft // 2 + 1")

    @property
    def bins(self) -> int:
        """Number of one-sided frequency bins of the transform."""
        return self.n_fft // 2 + 1



@dataclass(frozen=True)
class UNetConfig(_Section):
    """Network settings.

    ``architecture="seed"`` is the network of the design document, exactly as
    ``DESIGN.md`` resolves it (``width`` scales its 64/128/32 channels).
    ``architecture="unet"`` uses the same building blocks with ``depth``
    down-sampling levels whose widths double from ``width`` up to ``max_width``.

    ``stem="strided"`` starts the ``unet`` with a stride-2 convolution of the input (as
    Spleeter's first layer does) instead of a full-resolution level: ``width`` channels
    then live at half resolution, and only the output convolution, which also sees the
    input, runs at full resolution (about half the time per frame, docs/SPEED.md).

    ``mask_sharpness`` scales the mask head's logits, ``sigmoid(sharpness * logit)``:
    1 in training; an exported model may carry a value calibrated on the validation
    split (below 1 softens the mask, which raises BSS Eval SDR of an over-confident net).
    """

    architecture: Literal["seed", "unet"] = "unet"
    head: Literal["mask", "direct"] = "mask"
    stem: Literal["full", "strided"] = "full"
    width: int = 16
    """Channels of the first level (``unet``), or the scale of the seed network's 64/128/32."""
    depth: int = 5
    max_width: int = 256
    mask_sharpness: float = 1.0
    """``sigmoid(sharpness * logit)``: 1 in training, calibrated at export (see above)."""
    #: Strided stem only: channels of a hidden 3x3 layer at full resolution before the output
    #: convolution (0: none, the output convolution reads the up-sampled features directly).
    output_channels: int = 0
    #: Audio channels the network sees at once: 1 (each channel alone) or 2 (a stereo pair in
    #: one pass, a mask for each: the stem and the output level see both; strided stem only).
    channels: int = 1

    def __post_init__(self) -> None:
        if self.architecture not in ("seed", "unet"):
            raise ValueError(f"architecture must be 'seed' or 'unet', not {self.architecture!r}")
        if self.head not in ("mask", "direct"):
            raise ValueError(f"head must be 'mask' or 'direct', not {self.head!r}")
        if self.stem not in ("full", "strided"):
            raise ValueError(f"stem must be 'full' or 'strided', not {self.stem!r}")
        if self.output_channels < 0 or (self.output_channels and self.stem != "strided"):
            raise ValueError("output_channels must be >= 0, and is only used with stem='strided'")
        if self.channels not in (1, 2) or (self.channels == 2 and (self.architecture, self.stem) != ("unet", "strided")):
            raise ValueError("channels must be 1, or 2 with architecture='unet' and stem='strided'")
        if self.width < 2 or self.depth < 1 or self.max_width < self.width:
            raise ValueError("need width >= 2, depth >= 1 and max_width >= width")
        if not 0 < self.mask_sharpness <= 10:
            raise ValueError(f"mask_sharpness must be in (0, 10], not {self.mask_sharpness}")

    @property
    def downsampling(self) -> int:
        """Factor by which frequency and time sizes must be divisible."""
        return 4 if self.architecture == "seed" else 2**self.depth



@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a separator: transform and network."""

    stft: STFTConfig = field(default_factory=STFTConfig)
    unet: UNetConfig = field(default_factory=UNetConfig)

    def __post_init__(self) -> None:
        if self.stft.input_bins % self.unet.downsampling:
            raise ValueError(
                f"input_bins={self.stft.input_bins} must be divisible by {self.unet.downsampling}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {"stft": self.stft.to_dict(), "unet": self.unet.to_dict()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        unknown = sorted(set(values) - {"stft", "unet"})
        if unknown:
            raise ConfigError(f"unknown ModelConfig option(s): {', '.join(unknown)}")
        try:
            return cls(
                stft=STFTConfig.from_dict(values.get("stft", {})),
                unet=UNetConfig.from_dict(values.get("unet", {})),
            )
        except ValueError as error:
            raise ConfigError(f"invalid ModelConfig: {error}") from None


@dataclass(frozen=True)
class DataConfig(_Section):
    """Where the training stems are and how patches are drawn from them."""

    musdb_root: str = ""
    mir1k_root: str = ""
    stem_folders: tuple[str, ...] = ()
    validation_folders: tuple[str, ...] = ()
    mir1k_validation_songs: tuple[str, ...] = ("abjones_3", "amy_9")
    #: MIR-1K singers held out of training and validated on whole (their clips are never
    #: trained on), e.g. ``("Ani", "annar", "ariel")``: unlike held-out songs of the training
    #: singers, they measure voices the model has never heard.
    mir1k_validation_singers: tuple[str, ...] = ()
    patch_frames: int = 128
    remix_probability: float = 0.5
    gain_db: float = 6.0
    #: Folders of accompaniment-only clips (any audio files, read recursively), e.g. the
    #: instrumental game music of ``scripts/fetch_instrumentals.py``: a patch's accompaniment
    #: comes from them with ``extra_accompaniment_probability``, under a stem track's voice.
    accompaniment_folders: tuple[str, ...] = ()
    #: Share of patches whose accompaniment is drawn from ``accompaniment_folders`` (unused,
    #: and the folders unread, while there are none or this is 0).
    extra_accompaniment_probability: float = 0.25
    #: Scale each extra clip to the median level of the stem tracks' accompaniments (before
    #: the random gain): the game music is ~4 dB louder than our accompaniment stems.
    match_extra_level: bool = False
    #: Random smooth equaliser on each stem of a patch: band gains uniform in ±eq_db (0: off).
    eq_db: float = 0.0
    #: Folder of produced training voices (``scripts/produce_vocals.py``: reverb, delay,
    #: compression, EQ, saturation, doubling on the dry MIR-1K voices); "" for none.
    produced_vocals: str = ""
    #: Share of draws of a track with a produced voice that take it instead of the dry one.
    produced_probability: float = 0.5

    def __post_init__(self) -> None:
        if self.patch_frames < 1:
            raise ValueError("patch_frames must be positive")
        if not 0.0 <= self.remix_probability <= 1.0:
            raise ValueError("remix_probability must lie in [0, 1]")
        if not 0.0 <= self.extra_accompaniment_probability <= 1.0:
            raise ValueError("extra_accompaniment_probability must lie in [0, 1]")
        if not 0.0 <= self.produced_probability <= 1.0:
            raise ValueError("produced_probability must lie in [0, 1]")
        if self.gain_db < 0:
            raise ValueError("gain_db must be non-negative")
        if not 0 <= self.eq_db <= 24:
            raise ValueError(f"eq_db must lie in [0, 24], not {self.eq_db}")

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


@dataclass(frozen=True)
class TrainConfig(_Section):
    """Optimisation schedule of one training run."""

    steps: int = 6000
    batch_size: int = 16
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    validate_every: int = 250
    checkpoint_every: int = 250
    seed: int = 0
    #: Torch threads (0: torch's default); how the run executes, so a run resumes with others.
    threads: int = 0
    loss: Literal["l1", "l2"] = "l1"
    #: Weight of the accompaniment term ``loss((1 - mask) * X, |A|)`` beside the voice's.
    accompaniment_weight: float = 0.0
    #: Weight of a waveform term: minus the SDR (dB) of the voice synthesised from the masked
    #: complex mixture against the true voice (``training.losses.waveform_sdr_loss``).
    waveform_weight: float = 0.0
    #: Decay of an exponential moving average of the weights, which is what validation
    #: scores and ``best.pt`` keeps (0: off, the raw weights).
    ema_decay: float = 0.0
    #: Starting weights: a bundled model name (``default``) or a checkpoint path whose network
    #: has this run's architecture, so a run continues earlier training instead of starting over
    #: ("": random initial weights). The optimiser and schedule start fresh.
    init: str = ""
    #: The network's arithmetic while training (``train.autocast_dtype``): ``auto`` (bfloat16 on a
    #: CPU with native bfloat16, else float32), ``float32`` or ``bfloat16``; weights stay float32.
    precision: Literal["auto", "float32", "bfloat16"] = "auto"

    def __post_init__(self) -> None:
        if self.precision not in ("auto", "float32", "bfloat16"):
            raise ValueError(f"precision must be 'auto', 'float32' or 'bfloat16', not {self.precision!r}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), not {self.ema_decay}")
        if self.accompaniment_weight < 0 or self.waveform_weight < 0:
            raise ValueError("accompaniment_weight and waveform_weight must be >= 0")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be positive")
        if self.validate_every < 1 or self.checkpoint_every < 1:
            raise ValueError("validate_every and checkpoint_every must be positive")
        if self.loss not in ("l1", "l2"):
            raise ValueError(f"loss must be 'l1' or 'l2', not {self.loss!r}")



@dataclass(frozen=True)
class RunConfig:
    """A training run as one TOML file: ``[model.stft]``, ``[model.unet]``, ``[data]``, ``[train]``."""

    name: str = "default"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model.to_dict(),
            "data": self.data.to_dict(),
            "train": self.train.to_dict(),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        unknown = sorted(set(values) - {"name", "model", "data", "train"})
        if unknown:
            raise ConfigError(f"unknown run option(s): {', '.join(unknown)}")
        try:
            return cls(
                name=str(values.get("name", "default")),
                model=ModelConfig.from_dict(values.get("model", {})),
                data=DataConfig.from_dict(values.get("data", {})),
                train=TrainConfig.from_dict(values.get("train", {})),
            )
        except ValueError as error:
            raise ConfigError(f"invalid run configuration: {error}") from None

    def to_toml(self) -> str:
        """This run as TOML that ``from_file`` reads back as an equal configuration."""
        import json

        lines = [f"name = {json.dumps(self.name)}"]
        for section, values in (("model.stft", self.model.stft.to_dict()), ("model.unet", self.model.unet.to_dict()),
                                ("data", self.data.to_dict()), ("train", self.train.to_dict())):
            lines.append(f"\n[{section}]")
            # JSON spells strings, numbers, booleans and lists of them as TOML does
            lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_file(cls, path: str | Path) -> RunConfig:
        """Read a run configuration from a TOML file."""
        path = Path(path)
        try:
            with path.open("rb") as handle:
                values = tomllib.load(handle)
        except OSError as error:
            raise ConfigError(f"cannot read config {path}: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"config {path} is not valid TOML: {error}") from None
        return cls.from_dict(values)
