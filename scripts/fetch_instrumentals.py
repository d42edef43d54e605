"""Fetch Debian's instrumental game music, screen out singing, and write accompaniment clips.

Four Debian packages hold about 8.7 hours of instrumental game music (Ogg Opus/Vorbis):
``warzone2100-music``, ``wesnoth-1.16-music``, ``nexuiz-music`` (inside a ``.pk3`` zip) and
``singularity-music``. Training mixes our voices over it as extra accompaniment
(``data.accompaniment_folders``), which only helps if the music really holds no voice: a
choir or a sung passage would be taught as "accompaniment" under the voice target.

Steps, each skipped when its output exists (the script is resumable and idempotent):

1. ``apt-get download`` each package into ``<root>/debs`` and unpack it with ``dpkg-deb -x``
   into ``<root>/extract/<package>`` (``.pk3`` archives are unzipped there too).
2. Decode every track, resample to 44.1 kHz stereo, and screen it in windows of
   ``WINDOW_FRAMES`` STFT frames (2.995 s): the shipped separator's voice mask on a mono
   downmix gives the window's vocal energy share, ``sum((mask |X|)^2) / sum(|X|^2)``; it is
   cached per track in ``<root>/screen/<package>/<track>.json`` (the costly part).
3. Windows quieter than ``SILENCE_DB`` dBFS (RMS) or with a vocal share above
   ``--threshold`` are dropped; runs of kept windows are cut into clips of at most
   ``CLIP_WINDOWS`` windows (about 30 s) and written as 16-bit FLAC to
   ``<root>/clips/<package>/<track>-NNN.flac``. A ``<track>.clips.json`` beside them records
   the threshold they were cut with (a new threshold recuts them, from the cached screen).
4. ``<root>/clips/LICENSES.txt`` holds each package's version, licence summary and its full
   ``/usr/share/doc/<package>/copyright``; ``<root>/report.json`` the minutes kept and dropped.

The threshold (default 0.05) comes from ``--calibrate`` on MUSDB18-7, whose true vocal share
per window is known: see ``calibrate`` and the numbers it prints.

Usage (from the repository root; the folder is git-ignored, audio is never committed)::

    nohup nice -n 19 python scripts/fetch_instrumentals.py > .data/instrumentals.log 2>&1 &
    python scripts/fetch_instrumentals.py --calibrate ../shared/data/MUSDB18-7
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import torch

from vocalsep.audio.io import load_audio, resample
from vocalsep.separation.separator import Separator

PACKAGES = {
    "warzone2100-music": "GPL-2+ (Copyright 1999-2004 Eidos Interactive, 2005-2013 Warzone 2100 Project)",
    "wesnoth-1.16-music": "GPL-2+ (Copyright 2003-2009 David White and the Wesnoth contributors)",
    "nexuiz-music": "GPL-2+ (Nexuiz, Copyright 2002-2009 Alientrap, Lee Vermeulen)",
    "singularity-music": "CC BY-SA 3.0 (Copyright 2007-2008, 2012 Max McCracken)",
}
MUSIC_SUFFIXES = (".ogg", ".opus", ".oga", ".flac", ".wav")
RATE = 44100
HOP = 512
WINDOW_FRAMES = 258  # 258 * 512 = 132096 samples = 2.995 s at 44.1 kHz
CLIP_WINDOWS = 10  # at most 10 windows (29.95 s) per clip
SILENCE_DB = -50.0
THRESHOLD = 0.05


@dataclass(frozen=True)
class Screen:
    """The screening numbers of one track, one entry per window.

    Attributes
    ----------
    vocal_share : list of float
        Vocal energy over total energy that the separator finds in the window.
    rms_db : list of float
        The window's RMS level, dBFS (both channels).
    """

    vocal_share: list[float]
    rms_db: list[float]


def run(command: list[str], cwd: Path | None = None) -> None:
    """Run ``command``, failing with its own output when it fails."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")


def fetch(package: str, root: Path) -> Path:
    """Download and unpack ``package``; return its extracted folder."""
    debs = root / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        print(f"{package}: apt-get download", flush=True)
        run(["apt-get", "download", package], cwd=debs)  # needs a prior `apt-get update`
        found = sorted(debs.glob(f"{package}_*.deb"))
    target = root / "extract" / package
    marker = target / ".unpacked"
    if not marker.exists():
        target.mkdir(parents=True, exist_ok=True)
        run(["dpkg-deb", "-x", str(found[-1]), str(target)])
        for archive in target.rglob("*.pk3"):  # nexuiz: a zip of sound/cdtracks/*.ogg
            with zipfile.ZipFile(archive) as pk3:
                pk3.extractall(archive.with_suffix(""))
        version = subprocess.run(["dpkg-deb", "-f", str(found[-1]), "Version"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        (target / ".version").write_text(version + "\n")
        marker.write_text("done\n")
    return target


def music_files(folder: Path) -> list[Path]:
    """The package's music tracks, sorted (documentation folders excluded)."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in MUSIC_SUFFIXES
                  and "/usr/share/doc/" not in p.as_posix())


def slug(path: Path) -> str:
    """A file-name-safe track name: ``Advanced Simulacra.ogg`` -> ``advanced_simulacra``."""
    return re.sub(r"[^a-z0-9]+", "_", path.stem.lower()).strip("_")


def stereo_44k(path: Path) -> np.ndarray:
    """Decode ``path`` to float32 (2, samples) at 44.1 kHz (mono duplicated, extra channels dropped)."""
    waveform, rate = load_audio(path)
    waveform = resample(waveform, rate, RATE)
    if waveform.shape[0] == 1:
        waveform = np.concatenate([waveform, waveform])
    return np.ascontiguousarray(waveform[:2], dtype=np.float32)


def screen(separator: Separator, waveform: np.ndarray) -> Screen:
    """Vocal energy share and level of each ``WINDOW_FRAMES``-frame window of ``waveform``.

    Parameters
    ----------
    separator : Separator
        At 44.1 kHz with a 512-sample hop (the shipped model).
    waveform : ndarray, shape (channels, samples), float32, at 44.1 kHz

    The mono downmix is separated (half the cost of both channels; singing sits in the
    centre). Window ``k`` covers frames ``[k W, (k + 1) W)``, i.e. samples
    ``[k W hop, (k + 1) W hop)``; the last, partial window is dropped.
    """
    mono = torch.from_numpy(waveform.mean(axis=0, keepdims=True))
    with torch.inference_mode():
        magnitude = separator.spectrogram(mono).abs()
        mask = separator.voice_mask(magnitude)
    total = (magnitude**2).sum(dim=(0, 1))
    voice = ((mask * magnitude) ** 2).sum(dim=(0, 1))
    windows = min(waveform.shape[1] // (WINDOW_FRAMES * HOP), total.shape[0] // WINDOW_FRAMES)
    total = total[: windows * WINDOW_FRAMES].reshape(windows, WINDOW_FRAMES).sum(dim=1)
    voice = voice[: windows * WINDOW_FRAMES].reshape(windows, WINDOW_FRAMES).sum(dim=1)
    share = (voice / total.clamp_min(1e-12)).tolist()
    blocks = waveform[:, : windows * WINDOW_FRAMES * HOP].reshape(waveform.shape[0], windows, -1)
    rms = np.sqrt((blocks.astype(np.float64) ** 2).mean(axis=(0, 2)))
    rms_db = (20 * np.log10(np.maximum(rms, 1e-10))).tolist()
    return Screen([round(s, 5) for s in share], [round(r, 2) for r in rms_db])


def kept_runs(result: Screen, threshold: float) -> list[tuple[int, int]]:
    """Clips as ``(first window, end window)``: runs of kept windows cut to ``CLIP_WINDOWS`` at most.

    A run of ``n`` windows becomes ``ceil(n / CLIP_WINDOWS)`` clips of near-equal length.
    """
    keep = [s <= threshold and r > SILENCE_DB for s, r in zip(result.vocal_share, result.rms_db)]
    runs, start = [], None
    for index, kept in enumerate(keep + [False]):
        if kept and start is None:
            start = index
        elif not kept and start is not None:
            runs.append((start, index))
            start = None
    clips = []
    for first, end in runs:
        pieces = -(-(end - first) // CLIP_WINDOWS)
        bounds = np.linspace(first, end, pieces + 1).round().astype(int)
        clips += [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    return clips


def process_track(path: Path, package: str, root: Path, separator: Separator, threshold: float) -> dict:
    """Screen one track (cached) and write its clips (unless cut with this threshold already)."""
    name = slug(path)
    cache = root / "screen" / package / f"{name}.json"
    clips_dir = root / "clips" / package
    manifest = clips_dir / f"{name}.clips.json"
    waveform = None
    if cache.exists():
        result = Screen(**{k: v for k, v in json.loads(cache.read_text()).items() if k in ("vocal_share", "rms_db")})
    else:
        started = time.perf_counter()
        waveform = stereo_44k(path)
        result = screen(separator, waveform)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"source": str(path.relative_to(root)), **result.__dict__}))
        print(f"  screened {package}/{name}: {len(result.vocal_share) * WINDOW_FRAMES * HOP / RATE:.0f} s "
              f"in {time.perf_counter() - started:.0f} s", flush=True)
    runs = kept_runs(result, threshold)
    if not (manifest.exists() and json.loads(manifest.read_text()).get("threshold") == threshold):
        for old in clips_dir.glob(f"{name}-[0-9][0-9][0-9].flac"):
            old.unlink()
        if runs:
            waveform = stereo_44k(path) if waveform is None else waveform
            clips_dir.mkdir(parents=True, exist_ok=True)
            for index, (first, end) in enumerate(runs):
                part = waveform[:, first * WINDOW_FRAMES * HOP : end * WINDOW_FRAMES * HOP]
                soundfile.write(clips_dir / f"{name}-{index:03d}.flac", np.clip(part, -1, 1).T, RATE,
                                subtype="PCM_16")
        clips_dir.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps({"threshold": threshold, "clips_windows": runs}))
    seconds = WINDOW_FRAMES * HOP / RATE
    silent = [r <= SILENCE_DB for r in result.rms_db]
    vocal = [s > threshold and not q for s, q in zip(result.vocal_share, silent)]
    return {
        "track": name,
        "minutes": round(len(silent) * seconds / 60, 2),
        "kept_minutes": round(sum(b - a for a, b in runs) * seconds / 60, 2),
        "dropped_vocal_minutes": round(sum(vocal) * seconds / 60, 2),
        "dropped_silent_minutes": round(sum(silent) * seconds / 60, 2),
        "max_vocal_share": max(result.vocal_share, default=0.0),
        "dropped_windows": [(k, result.vocal_share[k]) for k, v in enumerate(vocal) if v],
    }


def licences(root: Path) -> str:
    """The licence terms of every fetched package: summary, version and full copyright file."""
    parts = ["Licence terms of the accompaniment clips in this folder (Debian packages, bookworm).",
             "Each package's clips lie in the folder of its name; its full copyright file follows.", ""]
    for package, summary in PACKAGES.items():
        extracted = root / "extract" / package
        version = (extracted / ".version").read_text().strip()
        parts += [f"{package} {version}: {summary}"]
    for package in PACKAGES:
        copyright_file = root / "extract" / package / "usr" / "share" / "doc" / package / "copyright"
        parts += ["", "=" * 78, f"{package}: /usr/share/doc/{package}/copyright", "=" * 78,
                  copyright_file.read_text()]
    return "\n".join(parts)


def calibrate(musdb_root: Path, separator: Separator) -> None:
    """Print the separator's vocal share on MUSDB18's sung windows and on its accompaniment alone.

    Sung: windows of the mixture whose true share ``|vocals|^2 / |mixture|^2`` (from the
    stems) exceeds 10 %. Instrumental: the same windows of the accompaniment stem alone
    (true share 0, the same music without its voice). A threshold should drop nearly all
    sung windows; it may drop some instrumental ones (there is plenty of music).
    """
    from vocalsep.datasets import musdb_tracks

    sung, instrumental = [], []
    for split in ("train", "valid"):
        for track in musdb_tracks(musdb_root, split):
            mixture = resample(track.mixture, track.sample_rate, RATE).astype(np.float32)
            vocals = resample(track.vocals, track.sample_rate, RATE)
            accompaniment = resample(track.accompaniment, track.sample_rate, RATE).astype(np.float32)
            result = screen(separator, mixture)
            windows = len(result.vocal_share)
            length = windows * WINDOW_FRAMES * HOP
            v = (vocals[:, :length] ** 2).reshape(vocals.shape[0], windows, -1).sum(axis=(0, 2))
            m = (mixture[:, :length] ** 2).reshape(mixture.shape[0], windows, -1).sum(axis=(0, 2))
            true = v / np.maximum(m, 1e-12)
            sung += [s for s, t in zip(result.vocal_share, true) if t > 0.1]
            alone = screen(separator, accompaniment)
            instrumental += [s for s, r in zip(alone.vocal_share, alone.rms_db) if r > SILENCE_DB]
    sung_array, instrumental_array = np.array(sung), np.array(instrumental)
    print(f"MUSDB18-7, windows of {WINDOW_FRAMES * HOP / RATE:.2f} s: {len(sung)} sung (true share > 10 %), "
          f"{len(instrumental)} of the accompaniment alone")
    for name, values in (("sung", sung_array), ("accompaniment alone", instrumental_array)):
        print(f"  {name}: estimated share percentiles 5/25/50/75/95 % = "
              + " ".join(f"{q:.3f}" for q in np.percentile(values, [5, 25, 50, 75, 95])))
    for threshold in (0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2):
        print(f"  threshold {threshold:.3f}: keeps {np.mean(sung_array <= threshold):5.1%} of sung windows, "
              f"{np.mean(instrumental_array <= threshold):5.1%} of accompaniment windows")


def tracks_of(root: Path) -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in music_files(fetch(package, root)):
            yield package, path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(".data/instrumentals"))
    parser.add_argument("--threshold", type=float, default=THRESHOLD,
                        help=f"largest vocal energy share of a kept window (default {THRESHOLD})")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    parser.add_argument("--calibrate", type=Path, metavar="MUSDB_ROOT",
                        help="print estimated against true vocal shares on MUSDB18 and stop")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    separator = Separator.from_pretrained("default")
    if separator.config.stft.sample_rate != RATE or separator.config.stft.hop_length != HOP:
        sys.exit("the screening windows assume a 44.1 kHz model with a 512-sample hop")
    if args.calibrate:
        calibrate(args.calibrate, separator)
        return
    root = args.root
    report: dict[str, dict] = {}
    for package, path in tracks_of(root):
        entry = process_track(path, package, root, separator, args.threshold)
        report.setdefault(package, {"tracks": []})["tracks"].append(entry)
    (root / "clips").mkdir(parents=True, exist_ok=True)
    text = licences(root)
    (root / "clips" / "LICENSES.txt").write_text(text)
    print("\n".join(text.splitlines()[: 3 + len(PACKAGES)]))  # the summaries; the full texts are in the file
    print(f"\nthreshold {args.threshold} (vocal energy share), silence below {SILENCE_DB} dBFS; minutes:")
    for package, entry in report.items():
        for key in ("minutes", "kept_minutes", "dropped_vocal_minutes", "dropped_silent_minutes"):
            entry[key] = round(sum(t[key] for t in entry["tracks"]), 1)
        print(f"  {package}: {entry['minutes']} total, {entry['kept_minutes']} kept, "
              f"{entry['dropped_vocal_minutes']} dropped for voice, {entry['dropped_silent_minutes']} silent")
    report["threshold"] = args.threshold  # type: ignore[assignment]
    (root / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
