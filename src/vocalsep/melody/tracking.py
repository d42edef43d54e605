"""F0 (fundamental frequency) tracking of a singing voice: the contour type, units, the f0 CSV, and
``track_pitch``/``PitchStream``, which run any registered tracker (``melody.trackers``).

Trackers (both offline): ``crepe-tiny`` (default, ``trackers/crepe.py``) and ``pyin``
(``trackers/pyin.py``). All run at 16 kHz on the channel average, so the result does not depend
on the input's sample rate beyond resampling. See ``docs/MELODY.md`` for the measurements
behind the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from vocalsep.errors import ConfigError, VocalsepError
from vocalsep.melody.trackers import DEFAULT_TRACKER, TRACKERS, get_tracker
from vocalsep.melody.trackers.base import ANALYSIS_RATE, FrameEstimates, TrackerSettings

# Names that lived here before the trackers had their own modules, kept importable from here.
from vocalsep.melody.trackers.crepe import (
    CREPE_CENTS_OFFSET, CREPE_CENTS_PER_BIN, CREPE_TINY_FILE, CREPE_TINY_SHA256, CREPE_VOICING_THRESHOLD,
    CREPE_WINDOW, PITCH_MODELS_DIR, SILENCE_GATE_DB, crepe_activation, crepe_bin_cents, crepe_network,
    crepe_readout, crepe_transition, load_crepe_tiny, normalize_frames,
)
from vocalsep.melody.trackers.pyin import PYIN_CONTEXT
from vocalsep.melody.voicing import VoicingModel, bundled_voicing, nearby_loud_end, voicing_features

__all__ = [
    "ANALYSIS_RATE", "CREPE_CENTS_OFFSET", "CREPE_CENTS_PER_BIN", "CREPE_TINY_FILE", "CREPE_TINY_SHA256",
    "CREPE_VOICING_THRESHOLD", "CREPE_WINDOW", "MELODY_HOP", "DEFAULT_TRACKER", "FMAX", "FMIN", "LEVEL_WINDOW", "MELODY_FILES",
    "PICTURE_FILES", "PITCH_MODELS_DIR", "PYIN_CONTEXT", "SILENCE_GATE_DB", "TRACKERS", "PitchStream",
    "PitchSummary", "PitchTrack", "crepe_activation", "crepe_bin_cents", "crepe_network", "crepe_readout",
    "crepe_transition", "frame_energy", "frame_levels_db", "hz_to_midi", "hz_to_note", "levels_db",
    "load_crepe_tiny", "midi_to_hz", "midi_to_note", "normalize_frames", "read_f0_csv", "summarize",
    "track_pitch", "write_f0_csv",
]

#: Seconds between F0 frames of ``vocalsep pitch``, the page and ``evaluate-pitch`` (the trackers' own
#: default stays CREPE's 10 ms): MIR-1K's label rate. On its unseen singers 20 ms scored as 10 ms
#: within 0.2 points (docs/MELODY.md) for half the tracker's cost.
MELODY_HOP = 0.02

#: Default pitch search range: a bass's low E (41 Hz) is rare in song; 60 Hz-1.1 kHz covers B1-C#6.
FMIN, FMAX = 60.0, 1100.0


@dataclass(frozen=True)
class PitchTrack:
    """An F0 contour on a regular time grid.

    Attributes
    ----------
    times : ndarray, shape (frames,), float64
        Frame centres in seconds; frame ``i`` is at ``i * hop``.
    frequency : ndarray, shape (frames,), float64
        The tracker's best F0 estimate in Hz for every frame, also where it judges the
        frame unvoiced (0 only where it has no estimate at all).
    confidence : ndarray, shape (frames,), float64
        In [0, 1]: CREPE's peak activation, or pYIN's voicing probability.
    voiced : ndarray, shape (frames,), bool
        Whether the frame holds a sung pitch.
    tracker : str
    """

    times: np.ndarray
    frequency: np.ndarray
    confidence: np.ndarray
    voiced: np.ndarray
    tracker: str = DEFAULT_TRACKER

    def __len__(self) -> int:
        return int(self.times.size)

    @property
    def hop(self) -> float:
        """Seconds between frames (0 for fewer than two frames)."""
        return float(self.times[1] - self.times[0]) if self.times.size > 1 else 0.0

    def voiced_frequency(self) -> np.ndarray:
        """F0 in Hz with unvoiced frames set to NaN (for plotting and statistics)."""
        return np.where(self.voiced & (self.frequency > 0), self.frequency, np.nan)

    def mir_eval_frequency(self) -> np.ndarray:
        """mir_eval's convention: voiced frames positive, unvoiced frames negated estimates."""
        return np.where(self.voiced, self.frequency, -np.abs(self.frequency))

    def with_threshold(self, threshold: float) -> PitchTrack:
        """The same contour voiced where ``confidence >= threshold``."""
        voiced = (self.confidence >= threshold) & (self.frequency > 0)
        return PitchTrack(self.times, self.frequency, self.confidence, voiced, self.tracker)


@dataclass(frozen=True)
class PitchSummary:
    """What ``vocalsep pitch`` prints: range, median pitch and voiced share."""

    voiced_share: float
    median_hz: float
    low_hz: float
    high_hz: float

    def describe(self) -> str:
        if not np.isfinite(self.median_hz):
            return "no voiced frames"
        return (
            f"range {hz_to_note(self.low_hz)}-{hz_to_note(self.high_hz)} "
            f"({self.low_hz:.0f}-{self.high_hz:.0f} Hz), median {hz_to_note(self.median_hz)} "
            f"({self.median_hz:.0f} Hz), voiced {100 * self.voiced_share:.0f}%"
        )


def summarize(track: PitchTrack) -> PitchSummary:
    """Range (5th-95th percentile, robust to stray octave errors), median and voiced share."""
    f0 = track.frequency[track.voiced & (track.frequency > 0)]
    share = float(track.voiced.mean()) if len(track) else 0.0
    if f0.size == 0:
        return PitchSummary(share, float("nan"), float("nan"), float("nan"))
    low, median, high = np.percentile(f0, [5, 50, 95])
    return PitchSummary(share, float(median), float(low), float(high))


# ---------------------------------------------------------------------------------------------
# Pitch units


def hz_to_midi(frequency: np.ndarray | float) -> np.ndarray:
    """MIDI note number (69 = A4 = 440 Hz), fractional; NaN for non-positive frequencies."""
    f = np.asarray(frequency, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(f > 0, 69.0 + 12.0 * np.log2(f / 440.0), np.nan)


def midi_to_hz(midi: np.ndarray | float) -> np.ndarray:
    """Frequency in Hz of (fractional) MIDI note numbers."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def midi_to_note(midi: int) -> str:
    """Scientific pitch name: 60 -> ``C4``, 69 -> ``A4``."""
    midi = int(midi)
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


def hz_to_note(frequency: float) -> str:
    """Nearest note name of a frequency in Hz."""
    return midi_to_note(int(np.round(hz_to_midi(frequency))))


# ---------------------------------------------------------------------------------------------
# Tracking


def track_pitch(
    waveform: np.ndarray,
    sample_rate: int,
    *,
    tracker: str = DEFAULT_TRACKER, hop: float = 0.01,  # which tracker, how often
    fmin: float = FMIN, fmax: float = FMAX,  # the range searched
    threshold: float | None = None,
    gate_db: float | None | Literal["tuned"] = "tuned",
    batch_frames: int = 64,
    network: object | None = None,
    mixture: np.ndarray | None = None,
    device: str = "cpu",
    voicing: VoicingModel | Literal["auto"] | None = "auto",
) -> PitchTrack:
    """Estimate the F0 contour of a monophonic voice.

    Parameters
    ----------
    waveform : ndarray, shape (channels, samples) or (samples,)
        Any sample rate; channels are averaged.
    sample_rate : int
    tracker : str
        A name in ``TRACKERS`` (``"crepe-tiny"`` or ``"pyin"``, or one registered since).
    hop : float
        Seconds between frames; frame ``i`` is centred at ``i * hop`` s.
    fmin, fmax : float
        Pitch search range in Hz.
    threshold : float, optional
        Voicing threshold on the confidence; by default ``CREPE_VOICING_THRESHOLD`` for CREPE,
        and pYIN's own voicing decision (its HMM's voiced states) for pYIN.
    gate_db : float, None or "tuned"
        Frames whose level is more than ``-gate_db`` dB below the input's loud frames nearby
        (``gate_passes``) are unvoiced; None disables the gate; "tuned" (default) is the tracker's ``tuned_gate_db``
        (``SILENCE_GATE_DB`` for CREPE, off for pYIN).
    batch_frames : int
        Frames per network call, for trackers with a network (CREPE: ~55 MB of activations at 64).
    network : torch.nn.Module, optional
        For trackers with a network: e.g. a CREPE tiny network (``load_crepe_tiny(path)`` of a
        fine-tuning checkpoint) instead of the bundled one.
    mixture : ndarray, optional
        The song the voice was separated from, same shape and rate as ``waveform``: a tracker
        that hears the song (``Tracker.hears_mixture``, CREPE) takes it beside the voice; the
        others ignore it.
    device : {"cpu", "auto", "cuda", "cuda:N"}
        Where a tracker with a network runs it (``device.resolve_device``); pYIN runs on the CPU.
    voicing : VoicingModel, "auto" or None
        The learned voicing decision (``melody.voicing``), which replaces the threshold and the
        nearby gate where the tracker hears the song. "auto" (default): the bundled one when the
        tracker hears the ``mixture`` and neither ``threshold`` nor ``gate_db`` is set; None: the
        threshold and the gate.

    Returns
    -------
    PitchTrack
        ``1 + samples // hop_samples`` frames.
    """
    stream = PitchStream(tracker=tracker, hop=hop, fmin=fmin, fmax=fmax, threshold=threshold, gate_db=gate_db,
                         batch_frames=batch_frames, network=network, device=device, voicing=voicing)
    voice = _mono_at_analysis_rate(waveform, sample_rate)
    if mixture is not None and np.shape(mixture)[-1] != np.shape(waveform)[-1]:
        raise VocalsepError(f"the mixture has {np.shape(mixture)[-1]} samples and the voice {np.shape(waveform)[-1]}")
    # only a tracker that hears the song gets it, resampled; the others never pay for it
    song = _mono_at_analysis_rate(mixture, sample_rate) if mixture is not None and stream.takes_song else None
    stream.push(voice, mixture=song)
    return stream.finish()


#: What the stream's analysis returns for the voicing's energies when no learned voicing runs.
_NOTHING = np.zeros(0)


class PitchStream:
    """``track_pitch`` of a stream of 16 kHz mono samples, block by block, in bounded memory.

    The tracker (``trackers.get_tracker(tracker)``) runs on fixed blocks of frames with real
    neighbouring audio around them (``framing.FrameBlocks``, its ``context_samples`` on each
    side) and hands back the frames it has decided; the stream adds the silence gate, whose
    levels are local (64 ms windows) and so equal the whole-signal ones exactly. CREPE's frames
    are local too and its Viterbi smoothing runs as a ``viterbi.ViterbiStream``, exact as well;
    pYIN's own HMM decoding runs inside each block with ``PYIN_CONTEXT`` seconds of audio on
    both sides, which its paths cross within (see ``tests/melody/test_tracking.py``). The learned
    voicing (``melody.voicing``) looks up to 5 s ahead, so like the gate it decides at the end.
    Kept in memory: a few floats per frame (an hour at 10 ms: 360 000 frames, ~17 MB) and one
    block's analysis.

    Parameters are those of ``track_pitch``; ``block_frames`` sets the frames per analysis call
    (default: the tracker's ``block_frames``, 4096 for CREPE, 2000 for pYIN).
    """

    def __init__(
        self,
        *,
        tracker: str = DEFAULT_TRACKER,
        hop: float = 0.01,
        fmin: float = FMIN,
        fmax: float = FMAX,
        threshold: float | None = None,
        gate_db: float | None | Literal["tuned"] = "tuned",
        batch_frames: int = 64,
        network: object | None = None,
        block_frames: int | None = None,
        device: str = "cpu",
        voicing: VoicingModel | Literal["auto"] | None = "auto",
    ) -> None:
        from vocalsep.device import resolve_device
        from vocalsep.melody.framing import FrameBlocks

        kind = get_tracker(tracker)
        if not 20.0 <= fmin < fmax:
            raise ConfigError(f"pitch range must satisfy 20 <= fmin < fmax, got {fmin}-{fmax} Hz")
        hop_samples = int(round(hop * ANALYSIS_RATE))
        if hop_samples < 1:
            raise ConfigError(f"hop must be at least {1 / ANALYSIS_RATE:.6f} s, got {hop}")
        self.tracker, self.hop_samples = tracker, hop_samples
        self.gate_db = kind.tuned_gate_db if gate_db == "tuned" else gate_db
        fmax = min(fmax, ANALYSIS_RATE / 2 * 0.9)
        self.estimator = kind(TrackerSettings(hop_samples, fmin, fmax, threshold, batch_frames, network,
                                              resolve_device(device)))
        self.hears_mixture = self.estimator.hears_mixture  # the tracker with its network: does it take the song?
        self.decided: list[FrameEstimates] = []
        self.energy: list[np.ndarray] = []  # the silence gate's frame energies
        self.song_energy: list[np.ndarray] = []  # the mixture's, for the learned voicing
        self.slope_energy: list[np.ndarray] = []  # the voice's brightness, for the learned voicing
        self.heard_song: bool | None = None  # whether the pushes brought the mixture
        if voicing == "auto":  # the bundled tracker at its default settings: the voicing fitted on it
            default = threshold is None and gate_db == "tuned" and network is None and tracker == DEFAULT_TRACKER
            voicing = bundled_voicing() if default else None
        self.voicing = voicing
        self.takes_song = self.hears_mixture or voicing is not None  # the tracker or the voicing hears the song

        def analysis(x: np.ndarray) -> tuple[np.ndarray, ...]:
            # x: the voice (samples,), or the voice and the mixture (2, samples); the gate hears the voice
            voice = x if x.ndim == 1 else x[0]
            voice_energy = frame_energy(voice, hop_samples)
            heard = x if self.hears_mixture else voice  # a one-input tracker hears the voice alone
            if self.voicing is None or x.ndim == 1:  # no learned voicing will run: the gate's energies only
                return (*self.estimator.analyse(heard), voice_energy, _NOTHING, _NOTHING)
            return (*self.estimator.analyse(heard), voice_energy, frame_energy(x[1], hop_samples),
                    frame_slope_energy(voice, hop_samples))

        context = max(self.estimator.context_samples, LEVEL_WINDOW // 2)
        self.frames = FrameBlocks(analysis, hop=hop_samples, block_frames=block_frames or kind.block_frames,
                                  context=context)

    def push(self, audio: np.ndarray, mixture: np.ndarray | None = None) -> None:
        """Feed 16 kHz mono samples (float32, shape (samples,)) of the voice and, for a tracker
        that hears the song (``Tracker.hears_mixture``) or a learned voicing, the same samples of
        the mixture.

        A stream takes the mixture on every push or on none; where neither hears the song it is
        ignored.
        """
        self.heard_song = mixture is not None and self.takes_song
        if self.heard_song:
            audio = np.stack([np.asarray(audio, dtype=np.float32).reshape(-1),
                              np.asarray(mixture, dtype=np.float32).reshape(-1)])
        for block in self.frames.push(audio):
            self._take(block)

    def finish(self) -> PitchTrack:
        """End of stream: the whole contour."""
        if self.frames.received == 0:
            raise VocalsepError("pitch tracking needs a non-empty waveform of shape (channels, samples)")
        for block in self.frames.finish():
            self._take(block)
        self.decided.append(self.estimator.finish())
        frequency = np.concatenate([part.frequency for part in self.decided]).astype(np.float64)
        confidence = np.concatenate([part.confidence for part in self.decided]).astype(np.float64)
        voiced = np.concatenate([part.voiced for part in self.decided]).astype(bool)
        times = np.arange(frequency.size) * (self.hop_samples / ANALYSIS_RATE)
        energy = np.concatenate(self.energy)
        if self.voicing is not None and self.heard_song:
            hop = self.hop_samples / ANALYSIS_RATE
            song_energy = np.concatenate(self.song_energy)[: voiced.size]
            slope_energy = np.concatenate(self.slope_energy)[: voiced.size]
            features = voicing_features(confidence, frequency, energy[: voiced.size], song_energy, slope_energy, hop)
            # the learned decision replaces threshold and nearby gate; residue far under the whole song stays out
            voiced = self.voicing.voiced(features) & (frequency > 0)
            voiced &= (levels_db(energy) >= WHOLE_INPUT_GATE_DB)[: voiced.size]
        elif self.gate_db is not None:
            voiced &= gate_passes(energy, self.gate_db, self.hop_samples)[: voiced.size]
        return PitchTrack(times, frequency, confidence, voiced, self.tracker)

    def _take(self, block: tuple[np.ndarray, ...]) -> None:
        *frames, energy, song_energy, slope_energy = block  # the tracker's analysis, then the energies
        self.energy.append(energy)
        self.song_energy.append(song_energy)  # empty where no learned voicing runs
        self.slope_energy.append(slope_energy)
        self.decided.append(self.estimator.take(tuple(frames)))


def frame_levels_db(audio: np.ndarray, hop_samples: int, window: int = 1024) -> np.ndarray:
    """RMS level of centred ``window``-sample frames, in dB relative to the 99th percentile frame.

    Parameters
    ----------
    audio : ndarray, shape (samples,)
    hop_samples : int

    Returns
    -------
    ndarray, shape (1 + samples // hop_samples,)
        0 dB for the loud end of the input; -inf-free (floored at -200 dB).
    """
    return levels_db(frame_energy(audio, hop_samples, window), window)


#: Samples of the frames the silence gate measures (64 ms at 16 kHz).
LEVEL_WINDOW = 1024


def frame_energy(audio: np.ndarray, hop_samples: int, window: int = LEVEL_WINDOW) -> np.ndarray:
    """Sum of squares of the zero-padded ``window``-sample frames centred on ``k * hop_samples``.

    Each frame is summed on its own (not by differences of a running sum), so a frame's value
    does not depend on what precedes it: block-wise and whole-signal results are identical.

    Returns
    -------
    ndarray, shape (1 + samples // hop_samples,), float64
    """
    squares = np.pad(np.asarray(audio, dtype=np.float64).reshape(-1), window // 2) ** 2
    frames = 1 + (squares.size - 2 * (window // 2)) // hop_samples
    return _frame_sums(squares, window, hop_samples, frames)


def frame_slope_energy(audio: np.ndarray, hop_samples: int, window: int = LEVEL_WINDOW) -> np.ndarray:
    """Sum of squared sample-to-sample differences within each of ``frame_energy``'s frames.

    Against the frame's energy it measures brightness: a voice's harmonics and formants reach up to
    several kHz, a bass line or a pad that the separator leaked sits low. Only differences of
    samples inside a frame count, so block-wise and whole-signal values are identical.

    Returns
    -------
    ndarray, shape (1 + samples // hop_samples,), float64
    """
    padded = np.pad(np.asarray(audio, dtype=np.float64).reshape(-1), window // 2)
    frames = 1 + (padded.size - 2 * (window // 2)) // hop_samples
    return _frame_sums(np.diff(padded) ** 2, window - 1, hop_samples, frames)


def _frame_sums(values: np.ndarray, length: int, hop_samples: int, frames: int) -> np.ndarray:
    """Sums of ``length`` consecutive ``values`` starting every ``hop_samples``, the first ``frames`` of them."""
    windows = np.lib.stride_tricks.sliding_window_view(values, length)[::hop_samples][:frames]
    return np.concatenate([part.sum(axis=1) for part in np.array_split(windows, max(1, frames // 4096 + 1))])


def levels_db(energy: np.ndarray, window: int = LEVEL_WINDOW) -> np.ndarray:
    """``frame_levels_db`` from ``frame_energy`` values: dB re. the 99th percentile RMS, floored at -200."""
    rms = np.sqrt(np.maximum(energy, 0.0) / window)
    reference = float(np.percentile(rms, 99)) if rms.size else 0.0
    if reference <= 0.0:
        return np.full(rms.shape, -200.0)
    return np.maximum(20.0 * np.log10(np.maximum(rms, 1e-12) / reference), -200.0)


#: The silence gate compares a frame with the loud end of the input within this many seconds on either
#: side: a quiet verse is measured against itself, not against the loudest chorus of the song.
GATE_SPAN_SECONDS = 5.0
#: ... and, whatever the nearby level, drops frames this far under the loud end of the whole input
#: (the gate that shipped until 2026-12-06): residue in a long passage without singing.
WHOLE_INPUT_GATE_DB = -30.0
#: Seconds over which a frame's energy is averaged before the nearby loud end is taken (a click is not it).
GATE_SMOOTHING_SECONDS = 0.1


def gate_passes(energy: np.ndarray, gate_db: float, hop_samples: int, window: int = LEVEL_WINDOW) -> np.ndarray:
    """Frames loud enough to be sung: within ``-gate_db`` dB of the nearby loud end and within
    ``-WHOLE_INPUT_GATE_DB`` dB of the whole input's (``levels_db``).

    The nearby loud end is the largest ``GATE_SMOOTHING_SECONDS``-average of the frame energies
    within ``GATE_SPAN_SECONDS`` on either side. On a clip of a few seconds it is the whole clip's
    loud end; on a song, a quiet verse is not gated against the chorus. It depends on frames up to
    ``GATE_SPAN_SECONDS`` ahead, which is why the gate is applied at the end of a stream.

    Parameters
    ----------
    energy : ndarray, shape (frames,)
        ``frame_energy`` values of the input, one per ``hop_samples``.
    gate_db : float
        The nearby gate (negative dB).
    """
    energy = np.maximum(np.asarray(energy, dtype=np.float64), 0.0)
    passes = levels_db(energy, window) >= min(gate_db, WHOLE_INPUT_GATE_DB)
    if energy.size == 0:
        return passes
    nearby = nearby_loud_end(energy, hop_samples / ANALYSIS_RATE, GATE_SPAN_SECONDS, GATE_SMOOTHING_SECONDS)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = 10.0 * np.log10(np.maximum(energy, 1e-24) / np.maximum(nearby, 1e-24))
    return passes & (nearby > 0) & (relative >= gate_db)


def _mono_at_analysis_rate(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    from vocalsep.audio.io import resample

    audio = np.asarray(waveform, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=0)
    if audio.ndim != 1 or audio.size == 0:
        raise VocalsepError("pitch tracking needs a non-empty waveform of shape (channels, samples)")
    if sample_rate <= 0:
        raise VocalsepError(f"invalid sample rate {sample_rate}")
    return np.ascontiguousarray(resample(audio, int(sample_rate), ANALYSIS_RATE), dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# CSV


F0_COLUMNS = ("time", "frequency", "confidence", "voiced")


def write_f0_csv(track: PitchTrack, path: str | Path) -> Path:
    """Write ``time,frequency,confidence,voiced`` (s, Hz, 0-1, 0/1), one row per frame, atomically."""
    from vocalsep.files import atomic_write_bytes

    chunks = [(",".join(F0_COLUMNS) + "\n").encode()]
    for start in range(0, len(track), 8192):  # formatted in slices: no Python string per row of an hour
        rows = slice(start, start + 8192)
        lines = [f"{t:.4f},{f:.3f},{c:.4f},{int(v)}\n" for t, f, c, v in zip(
            track.times[rows], track.frequency[rows], track.confidence[rows], track.voiced[rows], strict=True)]
        chunks.append("".join(lines).encode())
    return atomic_write_bytes(path, b"".join(chunks))


def read_f0_csv(path: str | Path, tracker: str = "") -> PitchTrack:
    """Read a file written by ``write_f0_csv``."""
    from vocalsep.files import read_csv_rows

    rows = read_csv_rows(path, F0_COLUMNS, "f0.csv", lambda r: (
        float(r["time"]), float(r["frequency"]), float(r["confidence"]), int(r["voiced"])), article="an")
    data = np.array(rows, dtype=np.float64).reshape(-1, 4)
    return PitchTrack(data[:, 0], data[:, 1], data[:, 2], data[:, 3].astype(bool), tracker)


# ---------------------------------------------------------------------------------------------
# Files in, files out (``vocalsep pitch``)

MELODY_FILES = ("f0.csv", "notes.csv", "notes.mid", "beats.csv", "melody.musicxml", "melody.json")
PICTURE_FILES = ("spectrograms.png", "melody.png")
