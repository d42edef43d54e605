"""CREPE tiny in 8-bit integers: the float ONNX export quantised once per set of weights.

Static quantisation (ONNX Runtime's ``quantize_static``): weights per output channel as int8,
activations as uint8 with ranges measured on calibration frames. With ``reduce_range`` the
weights use 7 bits, because on CPUs without VNNI (AVX2 only) the u8 x s8 product instruction
can saturate on 8-bit values. Measured on this machine (docs/MELODY.md): 2.3x faster per frame
than the float network, and on the unseen MIR-1K singers the same scores within 0.1 point.

The calibration frames are synthetic and seeded (``calibration_frames``), so that any CREPE
weights (the bundled ones, a fine-tuning run's) quantise the same way, with no data at run time.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from vocalsep.errors import OutputError
from vocalsep.melody.trackers.base import ANALYSIS_RATE

#: Changes whenever the quantisation or its calibration below changes (it is part of the cache key).
QUANTIZE_VERSION = "1"
CALIBRATION_FRAMES = 512
_WINDOW = 1024  # crepe.CREPE_WINDOW (crepe imports this module)


def calibration_frames(count: int = CALIBRATION_FRAMES, seed: int = 0) -> np.ndarray:
    """Normalised CREPE input frames (count, 1024), float32, of voice-like and noise-like sounds.

    Mostly harmonic tones with vibrato from 50 Hz to 1.1 kHz, harmonics falling off at random
    slopes, buried in noise from -60 to +10 dB; one in seven is noise alone (the pauses between
    phrases, where a separation leaves residue). Their activation ranges are what the quantiser
    fixes the uint8 scales from.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(_WINDOW) / ANALYSIS_RATE
    frames = np.empty((count, _WINDOW))
    for i in range(count):
        f0 = 50.0 * 2.0 ** rng.uniform(0.0, 4.5)
        vibrato = 1.0 + 0.01 * np.sin(2 * np.pi * rng.uniform(4.0, 7.0) * t)
        harmonics = np.arange(1, 1 + max(1, int(7000 // f0)))[:, None]
        amplitudes = rng.uniform(0.0, 1.0, harmonics.shape) / harmonics ** rng.uniform(0.5, 2.0)
        start = rng.uniform(0, 2 * np.pi, harmonics.shape)
        phase = 2 * np.pi * harmonics * f0 * np.cumsum(vibrato) / ANALYSIS_RATE + start
        tone = (amplitudes * np.sin(phase)).sum(axis=0)
        noise = rng.standard_normal(_WINDOW) * 10 ** rng.uniform(-3.0, 0.5) * tone.std()
        frames[i] = tone + noise if rng.uniform() < 6 / 7 else noise
    frames -= frames.mean(axis=1, keepdims=True)
    return (frames / np.maximum(frames.std(axis=1, keepdims=True), 1e-10)).astype(np.float32)


def song_frames(voices: np.ndarray, seed: int = 1) -> np.ndarray:
    """Calibration pairs (count, 2, 1024) for a two-input network: each voice frame beside a
    mixture of it with another frame at a random level, normalised as the tracker normalises."""
    rng = np.random.default_rng(seed)
    others = voices[rng.permutation(len(voices))]
    mixtures = voices + others * 10 ** rng.uniform(-1.0, 1.0, (len(voices), 1))
    mixtures -= mixtures.mean(axis=1, keepdims=True)
    mixtures /= np.maximum(mixtures.std(axis=1, keepdims=True), 1e-10)
    return np.stack([voices, mixtures.astype(np.float32)], axis=1)


def _input_rank(model: bytes) -> int:
    """Rank of an ONNX model's first input."""
    import onnx

    return len(onnx.load_from_string(model).graph.input[0].type.tensor_type.shape.dim)


def quantize(float_model: bytes, input_name: str = "frames") -> bytes:
    """The int8 model of a float CREPE tiny ONNX model (``crepe.crepe_runner``'s export).

    Needs the ``onnx`` package (a dependency), which the quantiser edits the graph with.
    """
    from onnxruntime.quantization import CalibrationDataReader

    frames = calibration_frames()
    if _input_rank(float_model) == 3:  # a network that hears the voice and the mixture
        frames = song_frames(frames)

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self.start = 0

        def get_next(self) -> dict[str, np.ndarray] | None:
            if self.start >= len(frames):
                return None
            self.start += 32
            return {input_name: frames[self.start - 32 : self.start]}

    # the quantiser logs advice (pre-processing, shapes it skips) on the root logger: not for our users
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        return _quantize_files(float_model, Frames())
    except OSError as error:  # its temporary files: a full or read-only temporary folder
        raise OutputError(f"cannot quantise CREPE tiny in {tempfile.gettempdir()}: {error.strerror or error}") from None
    finally:
        logging.disable(previous)


def _quantize_files(float_model: bytes, frames: object) -> bytes:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    with tempfile.TemporaryDirectory(prefix="vocalsep-quantize-") as folder:
        source, target = Path(folder) / "float.onnx", Path(folder) / "int8.onnx"
        source.write_bytes(float_model)
        quantize_static(str(source), str(target), frames, quant_format=QuantFormat.QOperator,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        reduce_range=True)
        return target.read_bytes()
