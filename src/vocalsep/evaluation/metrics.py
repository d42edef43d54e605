"""Quick signal-to-distortion ratios for validation during training."""

from __future__ import annotations

import numpy as np

#: A reference below this mean power (about -60 dBFS) counts as silent.
SILENT_POWER = 1e-6


def is_silent(reference: np.ndarray) -> bool:
    """Whether a reference stem is too quiet for an SDR to mean anything."""
    return float(np.mean(np.square(reference, dtype=np.float64))) < SILENT_POWER


def global_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Energy ratio of reference to error over the whole signal, in dB (no projection)."""
    signal = float(np.sum(np.square(reference, dtype=np.float64)))
    error = float(np.sum(np.square(reference - estimate, dtype=np.float64)))
    return 10.0 * np.log10((signal + 1e-12) / (error + 1e-12))
