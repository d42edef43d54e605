"""Probabilistic YIN (Mauch & Dixon, ICASSP 2014) from librosa: a tracker with no network at all."""

from __future__ import annotations

import numpy as np

from vocalsep.melody.trackers.base import ANALYSIS_RATE, FrameEstimates, Tracker, TrackerSettings, voiced_above

#: Seconds of audio on each side of a block that pYIN's HMM decoding sees (``PitchStream``).
PYIN_CONTEXT = 4.0


class PyinTracker(Tracker):
    """librosa's pYIN, its HMM decoded per block with ``PYIN_CONTEXT`` seconds of audio around it.

    Voiced frames are its HMM's voiced states unless ``settings.threshold`` is given (then the
    threshold on its voicing probability). Its HMM has its own voicing, so it is not gated.
    """

    name = "pyin"
    tuned_gate_db = None
    block_frames = 2000

    def __init__(self, settings: TrackerSettings) -> None:
        super().__init__(settings)
        self.context_samples = int(PYIN_CONTEXT * ANALYSIS_RATE)  # its decoded paths merge within this

    def analyse(self, audio: np.ndarray) -> tuple[np.ndarray, ...]:
        """F0 (Hz, 0 where none), voicing probability and the HMM's voiced flags of each frame."""
        return pyin(audio, self.settings.hop_samples, self.settings.fmin, self.settings.fmax)

    def take(self, frames: tuple[np.ndarray, ...]) -> FrameEstimates:
        frequency, confidence, flags = frames
        threshold = self.settings.threshold
        voiced = flags & (frequency > 0) if threshold is None else voiced_above(frequency, confidence, threshold)
        return FrameEstimates(frequency, confidence, voiced)


def pyin(audio: np.ndarray, hop_samples: int, fmin: float, fmax: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``librosa.pyin`` of 16 kHz mono audio: F0, voicing probability and voiced flags, ``1 + n // hop`` frames."""
    import librosa

    frames = 1 + audio.size // hop_samples
    frame_length = 1024  # 64 ms at 16 kHz: more than two periods of 60 Hz
    f0, flags, probability = librosa.pyin(
        audio, fmin=fmin, fmax=fmax, sr=ANALYSIS_RATE, frame_length=frame_length,
        hop_length=hop_samples, fill_na=None, center=True,
    )
    f0 = np.nan_to_num(np.asarray(f0, dtype=np.float64), nan=0.0)[:frames]
    probability = np.nan_to_num(np.asarray(probability, dtype=np.float64), nan=0.0)[:frames]
    return f0, probability, np.asarray(flags, dtype=bool)[:frames]
