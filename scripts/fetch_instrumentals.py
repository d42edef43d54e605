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

The threshold comes from ``--calibrate`` on MUSDB18-7, whose true vocal share per window is
known (184 sung windows, true share > 10 %, and the same 188 windows of the accompaniment stem
alone). Our separator's share: sung windows 5/50/95 % = 0.081/0.237/0.483, accompaniment alone
0.000/0.000/0.022; at 0.05 it keeps 2.2 % of the sung and 96.8 % of the accompaniment windows
(at 0.1: 9.8 % and 98.9 %). Dropping instrumental music costs little (there are hours of it),
keeping a voice teaches it as accompaniment, so the default is the strict 0.05. Caveat: the
shipped model was trained on MUSDB18 tracks, so its accompaniment-alone numbers are optimistic;
on the game music it finds more voice-like energy (orchestral leads, synth pads) and drops 28 %.

Spleeter 2-stems (``--spleeter-threshold``, 2-3x the time, off by default) separates the same
MUSDB18 windows better (at 0.03: keeps 1.6 % sung, 98.9 % accompaniment) and disagrees with ours
on game music (``--cross-check``): of the windows ours drops with the largest share some are
Spleeter's voice too (wesnoth battle_epic, 66-72 s: 0.93/0.99), others not at all
(return_to_wesnoth at 231 s: 0.83/0.00); and a few windows ours keeps Spleeter calls sung
(warzone track21 at 318 s: 0.03/0.16). With both, a window is dropped when either share is over
its threshold.

Usage (from the repository root; the folder is git-ignored, audio is never committed)::

    nohup nice -n 19 python scripts/fetch_instrumentals.py > .data/instrumentals.log 2>&1 &
    python scripts/fetch_instrumentals.py --calibrate ../shared/data/MUSDB18-7
    python scripts/fetch_instrumentals.py --cross-check 5          # 20 windows again with Spleeter
    python scripts/fetch_instrumentals.py --spleeter-threshold 0.03 --screen-only   # Spleeter's caches
    python scripts/fetch_instrumentals.py --spleeter-threshold 0.03                 # recut with both
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
    mono = np.ascontiguousarray(waveform.mean(axis=0, keepdims=True), dtype=np.float32)
    # the separation engine's voice; by Parseval the windows' sample energies are its STFT energies
    vocals = separator.separate(mono, RATE).vocals
    size = WINDOW_FRAMES * HOP
    windows = waveform.shape[1] // size
    total = torch.from_numpy((mono[0, : windows * size].astype(np.float64) ** 2).reshape(windows, size).sum(axis=1))
    voice = torch.from_numpy((vocals[0, : windows * size].astype(np.float64) ** 2).reshape(windows, size).sum(axis=1))
    share = (voice / total.clamp_min(1e-12)).tolist()
    blocks = waveform[:, : windows * WINDOW_FRAMES * HOP].reshape(waveform.shape[0], windows, -1)
    rms = np.sqrt((blocks.astype(np.float64) ** 2).mean(axis=(0, 2)))
    rms_db = (20 * np.log10(np.maximum(rms, 1e-10))).tolist()
    return Screen([round(s, 5) for s in share], [round(r, 2) for r in rms_db])


def screen_spleeter(peer: object, waveform: np.ndarray, windows: int) -> list[float]:
    """Vocal energy share of each window as Spleeter 2-stems (``SpleeterPeer``) finds it.

    Separated ``CLIP_WINDOWS`` windows (30 s) at a time, which bounds its memory; the share is
    ``|vocals|^2 / |mixture|^2`` of the window's samples.
    """
    length = WINDOW_FRAMES * HOP
    shares: list[float] = []
    for first in range(0, windows, CLIP_WINDOWS):
        end = min(first + CLIP_WINDOWS, windows)
        part = waveform[:, first * length : end * length]
        vocals = peer.separate(part, RATE).vocals.astype(np.float64)  # type: ignore[attr-defined]
        voice = (vocals**2).reshape(2, end - first, length).sum(axis=(0, 2))
        total = (part.astype(np.float64) ** 2).reshape(2, end - first, length).sum(axis=(0, 2))
        shares += (voice / np.maximum(total, 1e-12)).round(5).tolist()
    return shares


def kept_runs(result: Screen, threshold: float, peer_share: list[float] | None = None,
              peer_threshold: float = 1.0) -> list[tuple[int, int]]:
    """Clips as ``(first window, end window)``: runs of kept windows cut to ``CLIP_WINDOWS`` at most.

    A window is kept when it is not silent, its share is at most ``threshold`` and, with
    ``peer_share`` (Spleeter's), that share is at most ``peer_threshold``. A run of ``n``
    windows becomes ``ceil(n / CLIP_WINDOWS)`` clips of near-equal length.
    """
    peer_share = peer_share if peer_share is not None else [0.0] * len(result.vocal_share)
    keep = [s <= threshold and r > SILENCE_DB and p <= peer_threshold
            for s, r, p in zip(result.vocal_share, result.rms_db, peer_share)]
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


def process_track(path: Path, package: str, root: Path, separator: Separator, threshold: float,
                  peer: object | None = None, peer_threshold: float = 1.0, *, cut: bool = True) -> dict:
    """Screen one track (cached) and write its clips (unless cut with these thresholds already).

    With ``peer`` (a ``SpleeterPeer``), windows are also screened by Spleeter (cached beside
    ours) and dropped when either share exceeds its threshold. ``cut=False`` only fills the
    caches and leaves the clips as they are.
    """
    name = slug(path)
    cache = root / "screen" / package / f"{name}.json"
    peer_cache = root / "screen" / package / f"{name}.spleeter.json"
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
    peer_share = None
    if peer is not None and peer_cache.exists():
        peer_share = json.loads(peer_cache.read_text())["vocal_share"]
    elif peer is not None:
        started = time.perf_counter()
        waveform = stereo_44k(path) if waveform is None else waveform
        peer_share = screen_spleeter(peer, waveform, len(result.vocal_share))
        peer_cache.write_text(json.dumps({"source": str(path.relative_to(root)), "vocal_share": peer_share}))
        print(f"  screened {package}/{name} with Spleeter in {time.perf_counter() - started:.0f} s", flush=True)
    cut_with = {"threshold": threshold, "spleeter_threshold": peer_threshold if peer is not None else None}
    runs = kept_runs(result, threshold, peer_share, peer_threshold)
    if cut and not (manifest.exists() and all(json.loads(manifest.read_text()).get(k) == v for k, v in cut_with.items())):
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
        manifest.write_text(json.dumps({**cut_with, "clips_windows": runs}))
    seconds = WINDOW_FRAMES * HOP / RATE
    silent = [r <= SILENCE_DB for r in result.rms_db]
    ours = [s > threshold and not q for s, q in zip(result.vocal_share, silent)]
    theirs = [p > peer_threshold and not q and not o for p, q, o in
              zip(peer_share or [0.0] * len(silent), silent, ours)]
    return {
        "track": name,
        "minutes": round(len(silent) * seconds / 60, 2),
        "kept_minutes": round(sum(b - a for a, b in runs) * seconds / 60, 2),
        "dropped_vocal_minutes": round(sum(ours) * seconds / 60, 2),
        "dropped_by_spleeter_only_minutes": round(sum(theirs) * seconds / 60, 2),
        "dropped_silent_minutes": round(sum(silent) * seconds / 60, 2),
        "max_vocal_share": max(result.vocal_share, default=0.0),
        "dropped_windows": [(k, result.vocal_share[k]) for k, v in enumerate(ours) if v],
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


def calibrate(musdb_root: Path, separator: Separator, peer: object) -> None:
    """Print the separator's vocal share on MUSDB18's sung windows and on its accompaniment alone.

    Sung: windows of the mixture whose true share ``|vocals|^2 / |mixture|^2`` (from the
    stems) exceeds 10 %. Instrumental: the same windows of the accompaniment stem alone
    (true share 0, the same music without its voice). A threshold should drop nearly all
    sung windows; it may drop some instrumental ones (there is plenty of music).
    """
    from vocalsep.datasets import musdb_tracks

    sung, instrumental, peer_sung, peer_instrumental = [], [], [], []
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
            peer_sung += [s for s, t in zip(screen_spleeter(peer, mixture, windows), true) if t > 0.1]
            alone = screen(separator, accompaniment)
            loud = [r > SILENCE_DB for r in alone.rms_db]
            instrumental += [s for s, q in zip(alone.vocal_share, loud) if q]
            peer_instrumental += [s for s, q in zip(screen_spleeter(peer, accompaniment, windows), loud) if q]
    for label, sung_array, instrumental_array in (("ours", np.array(sung), np.array(instrumental)),
                                                  ("Spleeter", np.array(peer_sung), np.array(peer_instrumental))):
        print(f"{label}, MUSDB18-7 windows of {WINDOW_FRAMES * HOP / RATE:.2f} s: {len(sung_array)} sung "
              f"(true share > 10 %), {len(instrumental_array)} of the accompaniment alone")
        for name, values in (("sung", sung_array), ("accompaniment alone", instrumental_array)):
            print(f"  {name}: estimated share percentiles 5/25/50/75/95 % = "
                  + " ".join(f"{q:.3f}" for q in np.percentile(values, [5, 25, 50, 75, 95])))
        for threshold in (0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2):
            print(f"  threshold {threshold:.3f}: keeps {np.mean(sung_array <= threshold):5.1%} of sung windows, "
                  f"{np.mean(instrumental_array <= threshold):5.1%} of accompaniment windows")


def cross_check(root: Path, threshold: float, count: int) -> None:
    """Re-measure some kept and dropped windows with Spleeter 2-stems and print both shares.

    Picked from the cached screens: the ``count`` dropped windows with the largest share,
    ``count`` dropped and ``count`` kept windows nearest the threshold, ``count`` kept at
    random (seeded). Spleeter's share is ``|vocals|^2 / |mixture|^2`` of the window alone.
    """
    from vocalsep.evaluation.spleeter_peer import SpleeterPeer

    windows = []  # (share, package, track, window index)
    for cache in sorted((root / "screen").glob("*/*.json")):
        values = json.loads(cache.read_text())
        windows += [(share, cache.parent.name, values["source"], index) for index, (share, rms)
                    in enumerate(zip(values["vocal_share"], values["rms_db"])) if rms > SILENCE_DB]
    dropped = sorted((w for w in windows if w[0] > threshold), reverse=True)
    kept = sorted(w for w in windows if w[0] <= threshold)
    rng = np.random.default_rng(0)
    picks = {
        "dropped, largest share": dropped[:count],
        "dropped, nearest the threshold": dropped[-count:],
        "kept, nearest the threshold": kept[-count:],
        "kept, at random": [kept[i] for i in rng.choice(len(kept), count, replace=False)],
    }
    peer, length = SpleeterPeer(), WINDOW_FRAMES * HOP
    for group, chosen in picks.items():
        print(f"{group}:")
        for share, package, source, index in chosen:
            part = stereo_44k(root / source)[:, index * length : (index + 1) * length]
            vocals = peer.separate(part, RATE).vocals
            spleeter = float((vocals.astype(np.float64) ** 2).sum() / max((part.astype(np.float64) ** 2).sum(), 1e-12))
            print(f"  {package}/{slug(Path(source))} window {index} ({index * length / RATE:.0f} s): "
                  f"ours {share:.3f}, Spleeter {spleeter:.3f}", flush=True)


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
    parser.add_argument("--spleeter-threshold", type=float, metavar="T",
                        help="also screen with Spleeter 2-stems (2-3x the time) and drop windows above T")
    parser.add_argument("--screen-only", action="store_true",
                        help="fill the screening caches (ours, and Spleeter's with --spleeter-threshold) "
                             "without touching the clips")
    parser.add_argument("--cross-check", type=int, metavar="N",
                        help="re-measure 4 x N screened windows with Spleeter 2-stems and stop")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.cross_check:
        cross_check(args.root, args.threshold, args.cross_check)
        return
    separator = Separator.from_pretrained("default")
    if separator.config.stft.sample_rate != RATE or separator.config.stft.hop_length != HOP:
        sys.exit("the screening windows assume a 44.1 kHz model with a 512-sample hop")
    peer = None
    if args.spleeter_threshold is not None or args.calibrate:
        from vocalsep.evaluation.spleeter_peer import SpleeterPeer

        peer = SpleeterPeer()
    if args.calibrate:
        calibrate(args.calibrate, separator, peer)
        return
    root = args.root
    report: dict[str, dict] = {}
    peer_threshold = args.spleeter_threshold if args.spleeter_threshold is not None else 1.0
    for package, path in tracks_of(root):
        entry = process_track(path, package, root, separator, args.threshold, peer, peer_threshold,
                              cut=not args.screen_only)
        report.setdefault(package, {"tracks": []})["tracks"].append(entry)
    if args.screen_only:
        print("screening caches filled; the clips are untouched")
        return
    (root / "clips").mkdir(parents=True, exist_ok=True)
    text = licences(root)
    (root / "clips" / "LICENSES.txt").write_text(text)
    print("\n".join(text.splitlines()[: 3 + len(PACKAGES)]))  # the summaries; the full texts are in the file
    print(f"\nthreshold {args.threshold} (vocal energy share), silence below {SILENCE_DB} dBFS; minutes:")
    for package, entry in report.items():
        for key in ("minutes", "kept_minutes", "dropped_vocal_minutes", "dropped_by_spleeter_only_minutes",
                    "dropped_silent_minutes"):
            entry[key] = round(sum(t[key] for t in entry["tracks"]), 1)
        by_peer = f"{entry['dropped_by_spleeter_only_minutes']} more by Spleeter, " if peer is not None else ""
        print(f"  {package}: {entry['minutes']} total, {entry['kept_minutes']} kept, "
              f"{entry['dropped_vocal_minutes']} dropped for voice, {by_peer}{entry['dropped_silent_minutes']} silent")
    report["threshold"] = args.threshold  # type: ignore[assignment]
    report["spleeter_threshold"] = args.spleeter_threshold  # type: ignore[assignment]
    (root / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
