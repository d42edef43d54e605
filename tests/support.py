"""Tiny models and files for end-to-end tests of the separator and the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import torch

from vocalsep.separation.checkpoint import model_payload, save_checkpoint
from vocalsep.config import DataConfig, ModelConfig, RunConfig, STFTConfig, TrainConfig, UNetConfig
from vocalsep.separation.model import MaskEstimator

TINY = ModelConfig(
    stft=STFTConfig(sample_rate=16000, n_fft=512, hop_length=128, input_bins=64),
    unet=UNetConfig(architecture="unet", width=4, depth=2, max_width=8),
)


def tiny_estimator(seed: int = 0, config: ModelConfig = TINY) -> MaskEstimator:
    """A randomly initialised small network in eval mode."""
    torch.manual_seed(seed)
    return MaskEstimator(config).eval()


def tiny_checkpoint(folder: Path, seed: int = 0) -> Path:
    """A loadable checkpoint of ``tiny_estimator``."""
    estimator = tiny_estimator(seed)
    return save_checkpoint(folder / "tiny.pt", model_payload(estimator, TINY, {"note": "test"}))


def song(seconds: float = 1.0, rate: int = 16000, channels: int = 2, seed: int = 0) -> np.ndarray:
    """A seeded mixture: harmonic tone plus noise bursts, peak 0.8, shape (channels, samples)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 6))
    noise = rng.standard_normal((channels, t.size)) * (np.sin(2 * np.pi * 2 * t) > 0.5)
    mixture = tone[None] + 0.3 * noise
    return (0.8 * mixture / np.abs(mixture).max()).astype(np.float32)


def write_song(path: Path, seconds: float = 1.0, rate: int = 16000, channels: int = 2) -> np.ndarray:
    """Write ``song`` to ``path`` as float wav (exact) and return it."""
    data = song(seconds, rate, channels)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, data.T, rate, subtype="PCM_24" if path.suffix == ".flac" else "FLOAT")
    return data


def stem_folders(root: Path, count: int, seed: int) -> Path:
    """``count`` stem folders (1.5 s, 16 kHz stereo: a seeded ``song`` voice over noise) under ``root``."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        folder = root / f"track{index}"
        folder.mkdir(parents=True)
        vocals = song(1.5, 16000, channels=2, seed=seed + index) * 0.5
        accompaniment = rng.standard_normal(vocals.shape).astype(np.float32) * 0.1
        soundfile.write(folder / "vocals.wav", vocals.T, 16000, subtype="FLOAT")
        soundfile.write(folder / "accompaniment.wav", accompaniment.T, 16000, subtype="FLOAT")
    return root


def tiny_run(tmp_path: Path, train: TrainConfig) -> RunConfig:
    """A run of ``TINY`` on three generated stem folders, validated on a fourth, with ``train``'s schedule."""
    train_root = stem_folders(tmp_path / "train", 3, seed=0)
    valid_root = stem_folders(tmp_path / "valid", 1, seed=10)
    return RunConfig(
        name="tiny",
        model=TINY,
        data=DataConfig(musdb_root="", mir1k_root="", stem_folders=(str(train_root),),
                        validation_folders=(str(valid_root),), patch_frames=32),
        train=train,
    )


def harmonic_tone(f0: float, seconds: float = 0.5, rate: int = 16000, harmonics: int = 6) -> np.ndarray:
    """A steady tone of ``f0`` Hz with ``harmonics`` harmonics falling as 1/k (a plain sung vowel), float32."""
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, harmonics + 1) if k * f0 < rate / 2)
    return (0.3 * tone).astype(np.float32)
