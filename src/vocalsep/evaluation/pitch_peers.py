"""Peer pitch trackers for ``vocalsep evaluate-pitch`` only: FCPE and Essentia's Melodia.

Contained like the Spleeter peer: never imported by the product's commands, registered into the
tracker registry (``melody.trackers.register``) by ``register_peers`` for an evaluation, and only
where their packages are installed, which they are not by ``pip install vocalsep``:

- ``fcpe``: FCPE (Luo et al. 2024, ``torchfcpe`` 0.0.4, MIT, its bundled model), a fast
  network pitch estimator; ``pip install --no-deps torchfcpe==0.0.4 einops==0.8.2
  local-attention==1.9.0``. torchfcpe imports torchaudio (which has no build for our torch)
  only to resample; it is given 16 kHz audio, so a stand-in module that refuses to resample
  takes torchaudio's place while it is imported.
- ``melodia``: Essentia's ``PredominantPitchMelodia`` (Salamon & Gómez 2012), the classic
  predominant-melody extractor for mixtures; ``pip install --no-deps essentia==2.1b6.dev1389
  six pyyaml``.

Both analyse whole clips (``block_frames`` covers 10 minutes) at 16 kHz on the 10 ms grid of the
other trackers; neither has a confidence, so it is 1 on voiced frames and 0 elsewhere.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from functools import lru_cache

import numpy as np

from vocalsep.errors import ConfigError
from vocalsep.melody.trackers import TRACKERS, register, unregister
from vocalsep.melody.trackers.base import ANALYSIS_RATE, FrameEstimates, Tracker, TrackerSettings

#: FCPE's voicing threshold on its activations (torchfcpe's own default).
FCPE_THRESHOLD = 0.006
PEERS = ("fcpe", "melodia")


class _WholeClipTracker(Tracker):
    tuned_gate_db = None
    block_frames = 60_000  # ten minutes at 10 ms: an evaluation clip is one block
    native_hop = 0.01  # evaluations run the peers at their own rate beside ours (scores resample to the labels)

    def __init__(self, settings: TrackerSettings) -> None:
        super().__init__(settings)
        if settings.hop_samples != 160:
            raise ConfigError(f"the {self.name} peer runs at a 10 ms hop only")

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
    found = {"fcpe": "torchfcpe", "melodia": "essentia"}
    return [name for name in PEERS if importlib.util.find_spec(found[name]) is not None]


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
    for tracker in (FcpeTracker, MelodiaTracker):
        if tracker.name in available_peers() and tracker.name not in TRACKERS:
            register(tracker)
    return [name for name in PEERS if name in TRACKERS]
