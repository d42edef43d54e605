"""What every pitch tracker provides to ``PitchStream``: settings in, per-frame estimates out.

A tracker analyses fixed blocks of 16 kHz mono audio (with ``context_samples`` of real audio on
each side, see ``framing.FrameBlocks``) and turns each block's analysis into the frames it has
decided so far; a tracker that smooths over time (CREPE's Viterbi) may hold frames back until
``finish``. The stream itself adds the silence gate and the time axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np

#: Every tracker analyses audio at this rate.
ANALYSIS_RATE = 16000


@dataclass(frozen=True)
class TrackerSettings:
    """The options of ``track_pitch`` that reach a tracker; each uses the ones it needs.

    Attributes
    ----------
    hop_samples : int
        Samples (at ``ANALYSIS_RATE``) between frames.
    fmin, fmax : float
        Pitch search range in Hz.
    threshold : float or None
        Voicing threshold on the confidence; None for the tracker's own default.
    batch_frames : int
        Frames per network call, for trackers with a network.
    network : object or None
        A replacement network (e.g. a fine-tuned one), for trackers with a network.
    device : str
        Where a tracker with a network runs it: ``"cpu"`` or a resolved ``"cuda:N"``
        (``device.resolve_device``); trackers without one (pYIN) run on the CPU.
    """

    hop_samples: int
    fmin: float
    fmax: float
    threshold: float | None = None
    batch_frames: int = 64
    network: object | None = None
    device: str = "cpu"


class FrameEstimates(NamedTuple):
    """Consecutive decided frames: F0 in Hz, confidence in [0, 1], voicing (before the silence gate)."""

    frequency: np.ndarray
    confidence: np.ndarray
    voiced: np.ndarray

    @classmethod
    def empty(cls) -> FrameEstimates:
        return cls(np.zeros(0, np.float64), np.zeros(0, np.float64), np.zeros(0, bool))


class Tracker:
    """Base of the pitch trackers; a subclass sets the class attributes and implements ``analyse`` and ``take``.

    Class attributes
    ----------------
    name : str
        The name ``track_pitch(tracker=...)`` takes.
    tuned_gate_db : float or None
        Its silence gate (``track_pitch(gate_db="tuned")``); None: not gated.
    block_frames : int
        Frames per ``analyse`` call unless the stream is told otherwise.
    native_hop : float or None
        Seconds between frames of a tracker that runs at one rate only; None: any hop.
    hears_mixture : bool
        ``analyse`` takes (2, samples): the voice and the mixture it was separated from (an
        instance may say no: CREPE hears the song only with a two-input network).
    """

    name: ClassVar[str]
    tuned_gate_db: ClassVar[float | None] = None
    block_frames: ClassVar[int] = 4096
    native_hop: ClassVar[float | None] = None
    hears_mixture: ClassVar[bool] = False

    def __init__(self, settings: TrackerSettings) -> None:
        self.settings = settings
        #: Samples on each side of a block that the analysis of its frames depends on.
        self.context_samples = 0

    def analyse(self, audio: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per-frame arrays of 16 kHz mono ``audio``: first axis ``1 + audio.size // hop_samples``."""
        raise NotImplementedError

    def take(self, frames: tuple[np.ndarray, ...]) -> FrameEstimates:
        """Estimates of the frames decided now that these ``analyse`` frames (the next in order) are known."""
        raise NotImplementedError

    def finish(self) -> FrameEstimates:
        """End of stream: the frames still held back (none by default)."""
        return FrameEstimates.empty()


def voiced_above(frequency: np.ndarray, confidence: np.ndarray, threshold: float) -> np.ndarray:
    """Voicing by threshold: a confidence of at least ``threshold``, and a pitch."""
    return (confidence >= threshold) & (frequency > 0)
