"""Vocal production for dry training voices: EQ, compression, saturation, doubling, delay, reverb.

MIR-1K's voices are dry karaoke recordings; the voices of professional mixes are produced. Each
training voice gets one seeded production chain (``pedalboard``, the ``produce`` extra), rendered
once into a folder of stereo files that the patch sampler reads beside the dry voices
(``DataConfig.produced_vocals``), so a training step pays nothing for it. The produced voice
keeps the dry voice's length and loudness, so its accompaniment and level draws still apply.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vocalsep.audio.io import load_audio, save_audio
from vocalsep.datasets import StemTrack
from vocalsep.errors import DatasetError

#: File suffix of a rendered voice: lossless and about half a WAV's size.
PRODUCED_SUFFIX = ".flac"


@dataclass(frozen=True)
class Production:
    """One voice's production settings (every effect off is a dry voice in stereo).

    Attributes
    ----------
    highpass_hz : float
        Low cut, as every vocal channel strip has.
    eq : tuple of (frequency Hz, gain dB, Q)
        Peaking filters.
    presence_db : float
        High shelf at 8 kHz ("air").
    compressor : tuple of (threshold dB, ratio, attack ms, release ms) or None
    drive_db : float
        Saturation (0: none).
    doubling : tuple of (delay ms, detune cents, level dB) or None
        A second take: the voice delayed, detuned and panned opposite.
    delay : tuple of (seconds, feedback, mix) or None
        An echo.
    reverb : tuple of (room size, damping, wet level, width) or None
    """

    highpass_hz: float
    eq: tuple[tuple[float, float, float], ...]
    presence_db: float
    compressor: tuple[float, float, float, float] | None
    drive_db: float
    doubling: tuple[float, float, float] | None
    delay: tuple[float, float, float] | None
    reverb: tuple[float, float, float, float] | None


def draw_production(rng: np.random.Generator) -> Production:
    """Random production settings, in the ranges of pop and rock vocal mixes."""
    eq = tuple((float(np.exp(rng.uniform(np.log(200), np.log(6000)))), float(rng.uniform(-6, 6)),
                float(rng.uniform(0.7, 2.0))) for _ in range(2))
    compressor = ((float(rng.uniform(-30, -12)), float(rng.uniform(2, 8)), float(rng.uniform(1, 20)),
                   float(rng.uniform(50, 300))) if rng.random() < 0.8 else None)
    drive = float(rng.uniform(2, 12)) if rng.random() < 0.3 else 0.0
    doubling = ((float(rng.uniform(12, 35)), float(rng.uniform(-15, 15)), float(rng.uniform(-12, -4)))
                if rng.random() < 0.3 else None)
    delay = ((float(rng.uniform(0.15, 0.45)), float(rng.uniform(0.1, 0.4)), float(rng.uniform(0.05, 0.25)))
             if rng.random() < 0.35 else None)
    reverb = ((float(rng.uniform(0.2, 0.9)), float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.05, 0.35)),
               float(rng.uniform(0.5, 1.0))) if rng.random() < 0.85 else None)
    return Production(highpass_hz=float(rng.uniform(60, 150)), eq=eq, presence_db=float(rng.uniform(-2, 5)),
                      compressor=compressor, drive_db=drive, doubling=doubling, delay=delay, reverb=reverb)


def produce_voice(voice: np.ndarray, rate: int, production: Production) -> np.ndarray:
    """Render ``production`` on a voice.

    Parameters
    ----------
    voice : ndarray, shape (channels, samples)
        The dry voice (channels are averaged first).
    rate : int
    production : Production

    Returns
    -------
    ndarray, shape (2, samples), float32
        The produced voice in stereo, as long as the input and at its RMS level.
    """
    import pedalboard as pb  # the `produce` extra: only rendering needs it

    dry = voice.astype(np.float32).mean(axis=0)
    strip = [pb.HighpassFilter(production.highpass_hz)]
    strip += [pb.PeakFilter(cutoff_frequency_hz=min(f, 0.45 * rate), gain_db=g, q=q) for f, g, q in production.eq]
    strip.append(pb.HighShelfFilter(cutoff_frequency_hz=min(8000.0, 0.4 * rate), gain_db=production.presence_db))
    if production.compressor is not None:
        threshold, ratio, attack, release = production.compressor
        strip.append(pb.Compressor(threshold_db=threshold, ratio=ratio, attack_ms=attack, release_ms=release))
    if production.drive_db > 0:
        strip.append(pb.Distortion(drive_db=production.drive_db))
    mono = pb.Pedalboard(strip)(dry[None], rate)[0]
    stereo = np.stack([mono, mono])
    if production.doubling is not None:
        stereo = stereo + _double_take(mono, rate, *production.doubling)
    space = []
    if production.delay is not None:
        seconds, feedback, mix = production.delay
        space.append(pb.Delay(delay_seconds=seconds, feedback=feedback, mix=mix))
    if production.reverb is not None:
        room, damping, wet, width = production.reverb
        space.append(pb.Reverb(room_size=room, damping=damping, wet_level=wet, dry_level=1.0 - wet / 2, width=width))
    produced = pb.Pedalboard(space)(np.ascontiguousarray(stereo, dtype=np.float32), rate)[:, : dry.size]
    return _match_level(produced, dry).astype(np.float32)


def _double_take(mono: np.ndarray, rate: int, delay_ms: float, cents: float, level_db: float) -> np.ndarray:
    """A second take: the voice delayed, detuned by resampling, and panned to one side."""
    ratio = 2 ** (cents / 1200)
    positions = np.arange(mono.size) * ratio - delay_ms * rate / 1000
    take = np.interp(positions, np.arange(mono.size), mono, left=0.0, right=0.0) * 10 ** (level_db / 20)
    side = 0 if cents >= 0 else 1  # pan by the sign of the detune: seeded, no extra draw
    doubled = np.zeros((2, mono.size), dtype=np.float32)
    doubled[side] = take
    doubled[1 - side] = 0.3 * take
    return doubled


def _match_level(produced: np.ndarray, dry: np.ndarray) -> np.ndarray:
    """Scale to the dry voice's RMS: the sampler's level draws assume the recorded balance."""
    produced = np.nan_to_num(produced)
    target = float(np.sqrt(np.mean(np.square(dry, dtype=np.float64))))
    level = float(np.sqrt(np.mean(np.square(produced, dtype=np.float64)) * 2 / produced.shape[0]))
    return produced * (target / level) if level > 1e-9 else produced


def produced_path(folder: str | Path, track_name: str) -> Path:
    """Where the produced voice of a track is written (names with ``/`` made flat)."""
    return Path(folder) / (track_name.replace("/", "_") + PRODUCED_SUFFIX)


def render_produced_vocals(tracks: Iterable[StemTrack], folder: str | Path, seed: int = 0) -> int:
    """Render each track's voice through its own seeded production; returns the number written.

    Track *k*'s settings come from ``seed`` and its name alone, so a rerun (or an interrupted
    one resumed) writes the same files; existing files are kept. Files are written whole
    (``save_audio`` writes atomically). ``settings.jsonl`` lists every track's production.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(folder / "settings.jsonl", "a", encoding="utf-8") as log:
        for track in tracks:
            path = produced_path(folder, track.name)
            if path.exists():
                continue
            production = draw_production(np.random.default_rng([seed, _name_seed(track.name)]))
            produced = produce_voice(track.vocals, track.sample_rate, production)
            peak = float(np.max(np.abs(produced)))
            if peak > 0.999:  # a rare hot voice: 16-bit would clip it; a little quieter is within the gain draws
                produced = produced * (0.999 / peak)
            save_audio(path, produced, track.sample_rate)  # atomic: a temporary name, then renamed
            log.write(json.dumps({"track": track.name, **asdict(production)}) + "\n")
            written += 1
    return written


def _name_seed(name: str) -> int:
    """A stable integer of a track name (Python's hash() changes between processes)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")


def read_produced_vocals(folder: str | Path, tracks: list[StemTrack]) -> dict[int, np.ndarray]:
    """The produced voices of ``tracks`` found in ``folder``, by track index.

    Raises
    ------
    DatasetError
        The folder is missing or holds none of these tracks' voices, or one has another length.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no produced vocals there (scripts/produce_vocals.py renders them)")
    produced = {}
    for index, track in enumerate(tracks):
        path = produced_path(folder, track.name)
        if not path.exists():
            continue
        voice, rate = load_audio(path)
        if rate != track.sample_rate or abs(voice.shape[1] - track.vocals.shape[1]) > 1:
            raise DatasetError(f"{path}: not the produced voice of {track.name} (another rate or length)")
        produced[index] = _fit_length(voice, track.vocals.shape[1])
    if not produced:
        raise DatasetError(f"{folder}: none of the training tracks' produced vocals are there")
    return produced


def _fit_length(voice: np.ndarray, samples: int) -> np.ndarray:
    return voice[:, :samples] if voice.shape[1] >= samples else np.pad(voice, ((0, 0), (0, samples - voice.shape[1])))
