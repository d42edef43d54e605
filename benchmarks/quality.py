"""The quality ladder of MODEL_CARD.md from one command: every model change beside the baselines.

    python benchmarks/quality.py                 # MUSDB18 validation split, MIR-1K unseen singers, old held-out songs
    python benchmarks/quality.py --datasets musdb --rows shipped,spleeter,oracle
    python benchmarks/quality.py --rows fast,fast+s0.5,fast+s0.7   # a run and its mask calibrations
    python benchmarks/quality.py --datasets musdb,unseen --compare shipped,previous   # the shipping rule

Rows (``--rows``, default all) are the steps the model went through, measured in one run
against the same tracks: the design's seed network, the first default (``default-v1``), its
mask calibration, the wider run, the strided-stem run on a CPU (``fast``), the same network
trained on a GPU (``default``, shipped), and the test-time tricks that were tried and not
kept (shift averaging, a multichannel Wiener post-filter). Rows whose training run is not in
``runs/`` are skipped with a note (train them with the command in MODEL_CARD.md).
Baselines: mixture (floor), REPET-SIM, Spleeter 2-stems (the peer) and the oracle ratio mask.
Any checkpoint is a row as ``file:<path>``, or from git history as ``git:<commit>:<path>``;
``previous`` is the default before today's.

``--compare A,B`` scores two rows on MUSDB and the unseen singers and prints, for each of the four
selection scores and their mean, the paired difference A - B with a 90 % bootstrap interval and the
verdict of MODEL_CARD.md's shipping rule (issue 23; ``vocalsep.evaluation.paired``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from vocalsep.training.export import export_model
from vocalsep.datasets import StemTrack, discover_tracks, mir1k_tracks
from vocalsep.evaluation.metrics import is_silent
from vocalsep.config import STFTConfig
from vocalsep.errors import VocalsepError
from vocalsep.evaluation.paired import ClipPair, WindowedPair, compare, format_comparison, shipping_decision
from vocalsep.evaluation.separation import (
    VOICE, WINDOW_SDR, System, SystemScores, _mono, bss_eval_sources_track, build_systems, evaluate_systems,
    format_gnsdr_table, format_table, gnsdr, model_system, oracle_baseline,
)
from vocalsep.audio.spectrogram import extend_mask
from vocalsep.separation.separator import STEM_NAMES, Separator, Stems

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
HELD_OUT = ("abjones_3", "amy_9")
#: MIR-1K singers never trained on (issue 12): the split that predicts generalisation.
UNSEEN_SINGERS = ("Ani", "annar", "ariel")
DATASETS = ("musdb", "unseen", "mir1k")
#: The default before today's ``default-8a8ebe0e``: the baseline of the shipping rule (row ``previous``).
PREVIOUS_DEFAULT = "git:a5f117c:src/vocalsep/separation/models/default-8a8ebe0e.pt"


def shifted(separator: Separator, shifts: int) -> System:
    """Average of the voice over ``shifts`` sub-hop offsets of the input (Demucs' "shifts")."""

    def separate(track: StemTrack) -> Stems:
        hop = separator.config.stft.hop_length
        outputs = []
        for index in range(shifts):
            offset = index * hop // shifts
            padded = np.pad(track.mixture, ((0, 0), (offset, 0)))
            outputs.append(separator.separate(padded, track.sample_rate).vocals[:, offset:])
        vocals = np.mean(outputs, axis=0)
        return Stems.of_voice(track.mixture, vocals, track.sample_rate)

    return separate


def whole_song_mask(separator: Separator, magnitude: torch.Tensor) -> torch.Tensor:
    """The voice mask of a whole (short) track in one network pass, padded to the network's grid.

    The Wiener row needs the mask itself, which the streamed engine does not return; on the
    7 s validation excerpts one pass and the chunked engine agree within 0.02 dB.
    """
    band = magnitude[:, : separator.config.stft.input_bins]
    frames, grid = band.shape[-1], separator.config.unet.downsampling
    padded = torch.nn.functional.pad(band, (0, -frames % grid))
    return extend_mask(separator.estimator(padded)[..., :frames], magnitude.shape[1])


def wiener_filtered(separator: Separator, iterations: int = 1, eps: float = 1e-10) -> System:
    """Multichannel Wiener filter (the EM of Nugraha et al., as in ``norbert``) on the mask's estimates.

    The voice and accompaniment magnitudes ``m|X|`` and ``(1 - m)|X|`` give the power
    spectral densities; each iteration re-estimates per-bin 2x2 spatial covariances.
    """

    def separate(track: StemTrack) -> Stems:
        mixture = torch.from_numpy(np.ascontiguousarray(track.mixture, dtype=np.float32))
        if track.sample_rate != separator.sample_rate or mixture.shape[0] != 2:
            return separator.separate(track.mixture, track.sample_rate)
        spec = separator.spectrogram(mixture)  # (channels, bins, frames)
        with torch.inference_mode():
            mask = whole_song_mask(separator, spec.abs())
        x = spec.permute(2, 1, 0)  # (frames, bins, channels)
        magnitude = spec.abs().permute(2, 1, 0)
        m = mask.permute(2, 1, 0)
        sources = torch.stack([m * magnitude, (1 - m) * magnitude], dim=-1) ** 2
        y = x[..., None] * sources / (sources.sum(-1, keepdim=True) + eps)
        eye = torch.eye(x.shape[-1], dtype=x.dtype)
        for _ in range(iterations):
            psd = y.abs().pow(2).mean(dim=2)  # (frames, bins, sources)
            covariance = torch.einsum("tfcj,tfdj->fjcd", y, y.conj()) / (psd.sum(0)[..., None, None] + eps)
            model = torch.einsum("tfj,fjcd->tfjcd", psd.to(x.dtype), covariance)
            inverse = torch.linalg.inv(model.sum(dim=2) + eps * eye)
            y = torch.einsum("tfjcd,tfde,tfe->tfcj", model, inverse, x)
        vocals = separator.spectrogram.inverse(y[..., 0].permute(2, 1, 0), mixture.shape[-1]).numpy()
        return Stems.of_voice(track.mixture, vocals, track.sample_rate)

    return separate


#: The levers of issue 12, each a 500-step run from the shipped weights (configs/lever-*.toml),
#: beside the runs of the chain that continue the shipped model (MODEL_CARD.md).
LEVERS = ("control", "wave", "4096", "music", "eq", "speed", "stereo")
CHAIN = ("unseen-ft1", "unseen-ft2", "combined-ft1")

#: Training runs with calibration rows ``<run>+s<sharpness>``.
CALIBRATED_RUNS = ("default-v1", "wide", "fast", "default")


def calibrated(checkpoint: Path, sharpness: float, folder: Path) -> Separator:
    """The checkpoint exported with a mask sharpness, as ``vocalsep export --mask-sharpness`` does."""
    return Separator.from_pretrained(export_model(checkpoint, f"s{sharpness}", folder, mask_sharpness=sharpness))


#: Settings of ``--aggressiveness`` tabled in MODEL_CARD.md (rows ``shipped@a<A>``).
AGGRESSIVENESS = (-1.0, -0.5, 0.5, 1.0, 2.0)


def checkpoint_file(row: str, folder: Path) -> Path:
    """The checkpoint a ``file:<path>`` or ``git:<commit>:<path>`` row names; git's copy is written to ``folder``."""
    kind, _, rest = row.partition(":")
    if kind == "file":
        return Path(rest)
    commit, _, path = rest.partition(":")
    shown = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{path}"], capture_output=True)
    if shown.returncode != 0:
        raise VocalsepError(f"row {row!r}: {shown.stderr.decode(errors='replace').strip()}")
    # keep the file's name: a bundled model's sha256 prefix in it is checked on load
    target = folder / commit / Path(path).name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(shown.stdout)
    return target


def ladder(folder: Path, requested: list[str] = ()) -> dict[str, Callable[[], System] | str]:
    """Row name -> system factory (or the reason it is skipped).

    Calibration rows ``<run>+s0.6`` exist for ``CALIBRATED_RUNS``; any other training run in
    ``runs/`` is a row on request, as ``<run>`` or calibrated as ``<run>+s<S>``.
    """
    runs = ROOT / "runs"
    rows: dict[str, Callable[[], System] | str] = {}

    def checkpoint_row(name: str, path: Path, make: Callable[[Path], System]) -> None:
        rows[name] = (lambda: make(path)) if path.exists() else f"{path.relative_to(ROOT)} missing"

    def run_row(name: str) -> None:
        run, _, sharpness = name.partition("+s")
        if sharpness:
            checkpoint_row(name, runs / run / "best.pt",
                           lambda p, s=float(sharpness): model_system(calibrated(p, s, folder)))
        else:
            checkpoint_row(name, runs / run / "best.pt", lambda p: model_system(Separator.from_pretrained(p)))

    def test_time_rows(run: str) -> None:
        """The run, then the test-time tricks on it: shift averaging and the Wiener post-filter."""
        run_row(run)
        checkpoint_row(f"{run}+shift2", runs / run / "best.pt", lambda p: shifted(Separator.from_pretrained(p), 2))
        checkpoint_row(f"{run}+wiener", runs / run / "best.pt", lambda p: wiener_filtered(Separator.from_pretrained(p)))

    run_row("seed")
    test_time_rows("default-v1")
    run_row("wide")
    run_row("fast")
    test_time_rows("default")
    for run in CALIBRATED_RUNS:
        run_row(f"{run}+s0.6")
    rows["shipped"] = lambda: build_systems(["default"], [])["default"]
    # the aggressiveness knob (issue 15): the shipped model's voice mask raised to 2 ** A
    for level in AGGRESSIVENESS:
        rows[f"shipped@a{level:g}"] = lambda level=level: model_system(
            Separator.from_pretrained("default", aggressiveness=level))
    for run in (*CHAIN, *(f"lever-{lever}" for lever in LEVERS)):
        run_row(run)
    for baseline in ("mixture", "repet", "spleeter", "oracle"):
        rows[baseline] = lambda baseline=baseline: build_systems([], [baseline])[baseline]
    # the ceiling of each frequency resolution (issue 12): measured before training a model at it
    for n_fft, hop in ((4096, 1024), (4096, 512)):
        rows[f"oracle-{n_fft}h{hop}"] = lambda n_fft=n_fft, hop=hop: oracle_baseline(
            STFTConfig(n_fft=n_fft, hop_length=hop, input_bins=n_fft // 4))
    rows["previous"] = lambda: model_system(Separator.from_pretrained(checkpoint_file(PREVIOUS_DEFAULT, folder)))
    for name in requested:  # other runs, calibrations and checkpoint files on demand
        if name.startswith(("file:", "git:")):
            rows[name] = lambda name=name: model_system(Separator.from_pretrained(checkpoint_file(name, folder)))
        elif name not in rows and (runs / name.partition("+s")[0] / "best.pt").exists():
            run_row(name)
    return rows


def peer_deltas(results: dict[str, SystemScores], names: list[str], stem: str, peer: str = "spleeter") -> str:
    """Per-track SDR against the peer, beside the medians: how often each system beats it, and by how much."""
    if peer not in results:
        return ""
    lines = [f"per-track {stem} SDR minus {peer}'s: wins / tracks, median delta, 10th-90th percentile"]
    for name, scores in results.items():
        if name in (peer, "mixture", "oracle"):
            continue
        deltas = np.array([scores.tracks[n][stem]["SDR"] - results[peer].tracks[n][stem]["SDR"] for n in names
                           if n in scores.tracks and np.isfinite(scores.tracks[n][stem]["SDR"])
                           and np.isfinite(results[peer].tracks[n][stem]["SDR"])])
        if deltas.size:
            low, high = np.percentile(deltas, [10, 90])
            lines.append(f"  {name:<16}{int((deltas > 0).sum()):>4} / {deltas.size:<4}{np.median(deltas):>+8.2f}"
                         f"   [{low:+.2f}, {high:+.2f}]")
    return "\n".join(lines)


def score_dataset(dataset: str, systems: dict[str, System], mixture: System,
                  threads: int) -> tuple[list[StemTrack], dict[str, SystemScores]]:
    """Score the systems on one dataset and print its table and the per-track deltas against the peer."""
    if dataset == "musdb":
        tracks = discover_tracks(DATA / "MUSDB18-7", "valid")
        results = evaluate_systems(tracks, systems)
        print(f"\nMUSDB18-7 validation split, threads={threads}\n{format_table(results, tracks)}")
        print(peer_deltas(results, [t.name for t in tracks if not is_silent(t.vocals)], "vocals"))
        print(peer_deltas(results, [t.name for t in tracks], "accompaniment"))
        return tracks, results
    if dataset == "unseen":
        title = f"MIR-1K unseen singers {', '.join(UNSEEN_SINGERS)} (never trained on)"
        clips = mir1k_tracks(DATA / "MIR-1K", singers=UNSEEN_SINGERS)
    else:
        title = f"MIR-1K held-out songs {', '.join(HELD_OUT)} (sung by training singers)"
        clips = mir1k_tracks(DATA / "MIR-1K", songs=HELD_OUT)
    tracks = [_mono(t) for t in clips]
    mir_systems = systems if "mixture" in systems else {"mixture": mixture, **systems}  # NSDR needs it
    results = evaluate_systems(tracks, mir_systems, metric=bss_eval_sources_track)
    print(f"\n{title}\n{format_gnsdr_table(results, tracks)}")
    print(peer_deltas(results, [t.name for t in tracks], "vocals"))
    return tracks, results


def window_pair(results: dict[str, SystemScores], a: str, b: str, tracks: list[StemTrack], stem: str) -> WindowedPair:
    """Per-window SDR of rows ``a`` and ``b``; a near-silent voice counts for neither (as in ``format_table``)."""

    def windows(row: str, track: StemTrack) -> np.ndarray:
        values = np.array(results[row].tracks[track.name][stem][WINDOW_SDR], dtype=np.float64)
        return np.full_like(values, np.nan) if stem == VOICE and is_silent(track.vocals) else values

    return WindowedPair([windows(a, t) for t in tracks], [windows(b, t) for t in tracks])


def clip_pair(results: dict[str, SystemScores], a: str, b: str, tracks: list[StemTrack], stem: str) -> ClipPair:
    """Whole-clip SDR of rows ``a`` and ``b`` and the clips' lengths (their GNSDR weights)."""
    return ClipPair(*(np.array([results[row].tracks[t.name][stem]["SDR"] for t in tracks]) for row in (a, b)),
                    np.array([t.seconds for t in tracks]))


def reported_differences(musdb: tuple[list[StemTrack], dict[str, SystemScores]],
                         unseen: tuple[list[StemTrack], dict[str, SystemScores]], a: str, b: str) -> dict[str, float]:
    """A - B of the scores as the tables report them: medians of per-track medians, GNSDRs; and their mean."""
    tracks, results = musdb
    counted = {stem: [t.name for t in tracks if stem != VOICE or not is_silent(t.vocals)] for stem in STEM_NAMES}
    differences = {f"MUSDB {stem} SDR": results[a].median(stem, "SDR", counted[stem])
                   - results[b].median(stem, "SDR", counted[stem]) for stem in STEM_NAMES}
    clips, results = unseen
    weights = {t.name: t.seconds for t in clips}
    differences |= {f"unseen {stem} GNSDR": gnsdr(results[a], results["mixture"], weights, stem, "NSDR")
                    - gnsdr(results[b], results["mixture"], weights, stem, "NSDR") for stem in STEM_NAMES}
    return differences | {"mean": float(np.mean(list(differences.values())))}


def compare_rows(a: str, b: str, systems: dict[str, System], mixture: System, *, threads: int,
                 replicates: int, seed: int) -> None:
    """The four selection scores of rows ``a`` and ``b``, their paired differences, and the shipping rule's verdict."""
    musdb = score_dataset("musdb", systems, mixture, threads)
    unseen = score_dataset("unseen", systems, mixture, threads)
    windowed = {f"MUSDB {stem} SDR": window_pair(musdb[1], a, b, musdb[0], stem) for stem in STEM_NAMES}
    clips = {f"unseen {stem} GNSDR": clip_pair(unseen[1], a, b, unseen[0], stem) for stem in STEM_NAMES}
    comparison = compare(windowed, clips, replicates=replicates, seed=seed)
    decision = shipping_decision(comparison)
    print(f"\n{format_comparison(comparison, decision, a, b, reported_differences(musdb, unseen, a, b))}")
    print("MUSDB: mean over tracks of per-track (median over windows) differences, tracks and their 1 s windows "
          "resampled; unseen: clip-length-weighted mean of per-clip SDR differences (= GNSDR difference), clips "
          "resampled; 'reported diff.' = difference of the table's numbers above.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets",
                        help="comma-separated: musdb, unseen (MIR-1K singers never trained on), mir1k (old held-out "
                             "songs); default all three, and musdb,unseen with --compare")
    parser.add_argument("--rows", help="comma-separated row names (default: all)")
    parser.add_argument("--compare", metavar="A,B",
                        help="two rows: paired differences A - B on the four selection scores and the shipping rule")
    parser.add_argument("--replicates", type=int, default=2000, help="bootstrap replicates of --compare")
    parser.add_argument("--seed", type=int, default=0, help="seed of --compare's bootstrap")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    datasets = (args.datasets or ("musdb,unseen" if args.compare else ",".join(DATASETS))).split(",")
    if unknown := [d for d in datasets if d not in DATASETS]:
        parser.error(f"unknown dataset {unknown[0]!r} (known: {', '.join(DATASETS)})")
    if args.compare and (args.rows or len(args.compare.split(",")) != 2 or sorted(datasets) != ["musdb", "unseen"]):
        parser.error("--compare takes two rows A,B, scores them on musdb and unseen, and takes no --rows")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        requested = args.compare or args.rows
        wanted = requested.split(",") if requested else []
        rows = ladder(Path(scratch), wanted)
        wanted = wanted or list(rows)
        systems: dict[str, System] = {}
        for name in wanted:
            if name not in rows:
                parser.error(f"unknown row {name!r} (known: {', '.join(rows)}, <run>, <run>+s<sharpness>, "
                             "file:<path>, git:<commit>:<path>)")
            row = rows[name]
            if isinstance(row, str):
                if args.compare:
                    parser.error(f"cannot compare {name}: {row}")
                print(f"skipped {name}: {row}", file=sys.stderr)
            else:
                systems[name] = row()
        if args.compare:
            a, b = wanted
            compare_rows(a, b, systems, rows["mixture"](), threads=args.threads, replicates=args.replicates,
                         seed=args.seed)
            return 0
        for dataset in datasets:
            score_dataset(dataset, systems, rows["mixture"](), args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
