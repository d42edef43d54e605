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


def drum_song(bpm: float = 93.0, seconds: float = 20.0, rate: int = 16000, *, start: float = 0.37,
              melody: tuple[int | None, ...] = (), drums: bool = True, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A song at a known tempo: kick on beats 1 and 3, snare on 2 and 4, hi-hat on every eighth from
    ``start`` s (``drums``), and a sung line of ``melody`` (MIDI pitches, one per beat, 0.85 of a
    beat long; None rests), repeated to the end.

    Returns
    -------
    song : ndarray, shape (samples,), float32, peak 0.5
    beats : ndarray, shape (beats,), the beat times in s (kicks at ``beats[::2]``)
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    period = 60.0 / bpm
    t = np.arange(int(0.3 * rate)) / rate
    kick = np.sin(2 * np.pi * (50 * t + 2.1 * (1 - np.exp(-t / 0.03)))) * np.exp(-t / 0.12)
    snare = (0.6 * rng.standard_normal(t.size) + 0.4 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t / 0.07)
    hat = 0.3 * np.diff(rng.standard_normal(t.size + 1)) * np.exp(-t / 0.015)
    kit, voice = np.zeros(n + t.size), np.zeros(n + int(rate * period))
    beats = np.arange(start, seconds - 0.3, period)
    for k, beat in enumerate(beats):
        at = int(round(beat * rate))
        kit[at : at + t.size] += kick if k % 2 == 0 else snare
        for eighth in (0.0, 0.5):
            at8 = int(round((beat + eighth * period) * rate))
            kit[at8 : at8 + t.size] += hat
        pitch = melody[k % len(melody)] if melody else None
        if pitch is not None:
            tone = harmonic_tone(440.0 * 2 ** ((pitch - 69) / 12), 0.85 * period, rate)
            voice[at : at + tone.size] += tone * np.hanning(tone.size) ** 0.25  # soft edges, no clicks
    song = (kit[:n] / np.abs(kit).max() if drums else 0.0) + 1.5 * voice[:n]
    return (0.5 * song / np.abs(song).max()).astype(np.float32), beats
