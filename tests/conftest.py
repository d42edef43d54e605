"""Shared fixtures: seeded synthetic stems, wav writers, the shared data folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

#: ``../shared/data`` seen from the repository root (never copied into the repository).
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    """Keep the suite on one core: the machine is shared with training jobs."""
    torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _private_export_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Exported networks go to a folder of this run, not the user's cache."""
    import os

    os.environ["VOCALSEP_CACHE_DIR"] = str(tmp_path_factory.mktemp("export-cache"))


def voice_tone(
    seconds: float = 0.5,
    rate: int = 8000,
    *,
    f0: float = 220.0,
    vibrato_hz: float = 5.5,
    vibrato_cents: float = 50.0,
    harmonics: int = 8,
    seed: int = 0,
) -> np.ndarray:
    """A sung-vowel stand-in: harmonic tone with vibrato and a slow envelope.

    Returns
    -------
    ndarray, shape (samples,), float32, peak below 0.5
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * rate))) / rate
    cents = vibrato_cents * np.sin(2 * np.pi * vibrato_hz * t + rng.uniform(0, 2 * np.pi))
    f = f0 * 2 ** (cents / 1200)
    phase = 2 * np.pi * np.cumsum(f) / rate
    tone = np.zeros_like(t)
    for k in range(1, harmonics + 1):
        if k * f0 * 1.05 < rate / 2:
            tone += np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k
    envelope = 0.5 - 0.5 * np.cos(2 * np.pi * np.minimum(t / max(t[-1], 1e-9), 1.0))
    tone *= 0.4 * (0.3 + 0.7 * envelope) / max(np.abs(tone).max(), 1e-9)
    return tone.astype(np.float32)


def accompaniment_noise(seconds: float = 0.5, rate: int = 8000, *, seed: int = 1) -> np.ndarray:
    """A percussive stand-in: decaying noise bursts on a beat over a low drone.

    Returns
    -------
    ndarray, shape (samples,), float32, peak below 0.5
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    out = 0.1 * np.sin(2 * np.pi * 55.0 * t)
    beat = max(1, int(rate * 0.125))
    decay = np.exp(-np.arange(beat) / (0.02 * rate))
    for start in range(0, n, beat):
        length = min(beat, n - start)
        out[start : start + length] += 0.3 * rng.standard_normal(length) * decay[:length]
    return (0.45 * out / max(np.abs(out).max(), 1e-9)).astype(np.float32)


def stems(
    seconds: float = 0.5, rate: int = 8000, *, channels: int = 1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (vocals, accompaniment), each of shape (channels, samples), float32."""
    vocals = np.stack(
        [voice_tone(seconds, rate, f0=200.0 + 30 * c, seed=seed + c) for c in range(channels)]
    )
    accompaniment = np.stack(
        [accompaniment_noise(seconds, rate, seed=seed + 100 + c) for c in range(channels)]
    )
    return vocals, accompaniment


def write_wav(path: Path, waveform: np.ndarray, rate: int, subtype: str = "PCM_16") -> Path:
    """Write ``waveform`` of shape (channels, samples) or (samples,) with soundfile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.asarray(waveform, dtype=np.float32)
    soundfile.write(str(path), data.T if data.ndim == 2 else data, rate, subtype=subtype)
    return path


@pytest.fixture
def wav_writer(tmp_path: Path) -> Callable[..., Path]:
    """``wav_writer("a/b.wav", waveform, rate)`` writes under ``tmp_path``."""

    def write(relative: str, waveform: np.ndarray, rate: int, subtype: str = "PCM_16") -> Path:
        return write_wav(tmp_path / relative, waveform, rate, subtype)

    return write


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; the test is skipped where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent")
    return SHARED_DATA
