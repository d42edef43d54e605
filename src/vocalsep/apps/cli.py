"""Command line: thin wrappers over the library. Heavy imports live inside the commands."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from vocalsep import __version__
from vocalsep.errors import ConfigError, VocalsepError


def _one_line_warnings(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"vocalsep: warning: {message}", file=sys.stderr)


def _set_threads(threads: int | None) -> None:
    """Threads for the networks and the transforms (default: one per core)."""
    if threads is not None:
        from vocalsep.threads import set_threads

        set_threads(threads)


def _number_between(low: float, high: float, unit: str = "") -> Callable[[str], float]:
    """An argparse type: a number in [low, high] (NaN refused), else argparse's one-line error."""

    def number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text}{unit} is outside {low:g}..{high:g}")
        return value

    return number


#: ``pitch --hop``: seconds between frames, from 5 to 50 ms.
_hop = _number_between(0.005, 0.05, " s")

#: ``--device`` of separate, pitch and web.
_DEVICE_HELP = ("where the networks run: cpu (default), cuda, cuda:N (a GPU: ONNX Runtime's CUDA provider "
                "with onnxruntime-gpu, else torch), or auto (CUDA when present)")


def _device(name: str, *, cluster: bool = False) -> str:
    """``--device`` resolved on this machine, or only checked for a Ray cluster (its workers hold the GPUs)."""
    if cluster:
        from vocalsep.cluster.ray_batch import cluster_device

        return cluster_device(name)
    from vocalsep.device import resolve_device

    return resolve_device(name)


def _division(text: str) -> int:
    """``pitch --quantize``: steps per beat, one of ``grid.QUANTIZE_DIVISIONS``."""
    from vocalsep.melody.grid import QUANTIZE_DIVISIONS

    if not text.isdigit() or int(text) not in QUANTIZE_DIVISIONS:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(map(str, QUANTIZE_DIVISIONS))}")
    return int(text)


def _octaves(text: str) -> int:
    """``pitch --octave-shift``: a whole number of octaves within ``song.MAX_OCTAVE_SHIFT``."""
    from vocalsep.pipeline.song import MAX_OCTAVE_SHIFT

    try:
        octaves = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if abs(octaves) > MAX_OCTAVE_SHIFT:
        raise argparse.ArgumentTypeError(f"{text} is outside -{MAX_OCTAVE_SHIFT}..{MAX_OCTAVE_SHIFT}")
    return octaves


def _aggressiveness(text: str) -> float:
    """``--aggressiveness``: the range ``Separator`` takes (imported when parsed: it brings torch)."""
    from vocalsep.separation.separator import AGGRESSIVENESS_LIMIT

    return _number_between(-AGGRESSIVENESS_LIMIT, AGGRESSIVENESS_LIMIT)(text)


def cmd_separate(args: argparse.Namespace) -> int:
    from vocalsep.pipeline.separate import BatchTally, find_inputs, separate_files

    device = _device(args.device, cluster=args.ray is not None)
    inputs = find_inputs(args.inputs)
    if not inputs:
        raise VocalsepError("no audio files found in the given folders")
    options = dict(aggressiveness=args.aggressiveness, audio_format=args.format, bits=args.bits,
                   bitrate=args.bitrate, clip=args.clip,
                   overwrite=args.overwrite, skip_existing=args.skip_existing, plot=args.plot)
    if args.ray is not None:
        outcomes = _separate_on_ray(inputs, args, options, device)
    else:
        _set_threads(args.threads)
        outcomes = separate_files(inputs, args.output, model=args.model, progress=not args.quiet, device=device,
                                  **options)
    tally = BatchTally()
    # on a cluster the files' reasons come together at the end, under the bar, beside the summary
    reasons: list[str] | None = [] if args.ray is not None else None
    for outcome in outcomes:
        tally.add(outcome)
        for warning in outcome.warnings:
            print(f"vocalsep: warning: {warning}", file=sys.stderr)
        if outcome.error is not None:
            line = f"vocalsep: error: {outcome.error}"
            if reasons is None:
                print(line, file=sys.stderr)
            else:
                reasons.append(line)
            continue
        print(f"{outcome.input} -> {outcome.paths['vocals']} , {outcome.paths['accompaniment']}"
              f"{' (already there)' if outcome.skipped else ''}")
        if args.plot:
            print(f"{outcome.input} -> {outcome.paths['spectrograms.png']}")
    for line in reasons or ():
        print(line, file=sys.stderr)
    if len(inputs) > 1:  # one file's error line says it all
        print(f"vocalsep: {tally.summary()}", file=sys.stderr)
    return 1 if tally.failed else 0


def _separate_on_ray(inputs: list[Path], args: argparse.Namespace, options: dict, device: str) -> Iterator:
    """The files' outcomes from a Ray cluster, with one progress bar over the files."""
    from tqdm import tqdm

    from vocalsep.cluster.ray_batch import check_address, separate_on_ray

    check_address(args.ray)
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ConfigError('--ray needs Ray: pip install "vocalsep[cluster]"') from None

    with tqdm(total=len(inputs), unit="file", disable=args.quiet, desc="separating") as bar:
        for outcome in separate_on_ray(inputs, args.output, address=args.ray, workers=args.workers,
                                       threads=args.threads or 1, model=args.model, device=device, **options):
            bar.update(1)
            bar.clear()
            yield outcome
            bar.refresh()


def cmd_train(args: argparse.Namespace) -> int:
    from vocalsep.config import RunConfig
    from vocalsep.training.train import train

    config = RunConfig.from_file(args.config)
    run_dir = Path(args.run) if args.run else Path("runs") / config.name
    summary = train(config, run_dir, progress=not args.quiet, device=args.device, until=args.until)
    if summary["rank"] != 0:  # under torchrun: rank 0 speaks for the run
        return 0
    print(f"trained {summary['steps']} steps in {summary['train_seconds']:.0f} s; "
          f"best validation {summary['validation']}; model: {run_dir / 'best.pt'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from vocalsep.training.export import export_model

    tracks = None
    if args.validate:
        from vocalsep.config import RunConfig
        from vocalsep.datasets import validation_tracks
        from vocalsep.errors import ConfigError

        tracks = validation_tracks(RunConfig.from_file(args.validate).data)
        if not tracks:
            raise ConfigError(f"{args.validate}: its [data] names no validation tracks")
    path = export_model(args.checkpoint, args.name, Path(args.to) if args.to else None,
                        mask_sharpness=args.mask_sharpness, validation_tracks=tracks)
    print(f"exported {path}")
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    import tempfile

    from vocalsep.apps.web import make_server

    _set_threads(args.threads)
    device = _device(args.device)  # before the port is taken: a missing GPU is one line
    with tempfile.TemporaryDirectory(prefix="vocalsep-web-") as scratch:
        folder = Path(args.folder) if args.folder else Path(scratch)
        server = make_server(folder, host=args.host, port=args.port, model=args.model, token=args.token,
                             device=device)
        print(f"vocalsep web page: {server.url}  (results in {folder}{'' if args.folder else ', removed on exit'}; "
              "Ctrl+C stops)", flush=True)
        if args.open:
            import webbrowser

            webbrowser.open(server.url)
        try:
            server.serve_forever()  # uvicorn stops on Ctrl+C
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``vocalsep demo``: the shipped real song (or a synthetic one) -> stems, melody, pictures."""
    from vocalsep.apps.demo import run_demo

    demo = run_demo(args.output, synthetic=args.synthetic, model=args.model, progress=not args.quiet)
    print(f"song: {demo.song}" + ("" if demo.credit else " (synthetic, stems known)"))
    for name, path in demo.result.paths.items():
        print(f"  {name + ':':<18}{path}")
    melody = demo.result.melody
    if melody is not None:
        print(f"melody: {len(melody.notes)} notes, {melody.summary.describe()}")
    if demo.credit:
        print(f"credit: {demo.credit}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``vocalsep evaluate``: print the table, optionally write per-track reports."""
    from vocalsep.evaluation.separation import evaluate_tracks, select_tracks, write_reports

    songs = args.songs.split(",") if args.songs else None
    tracks = select_tracks(args.dataset, args.split, songs=songs, limit=args.limit)
    baselines = [b.strip() for b in args.baselines.split(",") if b.strip()]
    results, table = evaluate_tracks(tracks, models=args.models or ["default"], baselines=baselines)
    print(table)
    if args.output:
        write_reports(results, Path(args.output))
        print(f"per-track scores: {Path(args.output) / 'scores.json'}, {Path(args.output) / 'scores.csv'}")
    return 0


def cmd_pitch(args: argparse.Namespace) -> int:
    from vocalsep.pipeline.separate import find_inputs
    from vocalsep.pipeline.melody import transcribe_file

    _set_threads(args.threads)
    device = _device(args.device)
    inputs = find_inputs(args.inputs)
    if not inputs:
        raise VocalsepError("no audio files found in the given folders")
    separator = None
    if args.separate:
        from vocalsep.separation.separator import Separator

        separator = Separator.from_pretrained(args.model, device=device)
    failures = 0
    for path in inputs:
        try:
            result = transcribe_file(path, args.output, separate=args.separate, separator=separator,
                                     tracker=args.tracker, hop=args.hop, plot=args.plot, overwrite=args.overwrite,
                                     device=device, quantize=args.quantize, octave_shift=args.octave_shift)
        except VocalsepError as error:
            failures += 1
            print(f"vocalsep: error: {error}", file=sys.stderr)
            continue
        folder = next(iter(result.paths.values())).parent
        print(f"{path}: {len(result.notes)} notes, {result.summary.describe()} -> {folder}")
    if failures:
        print(f"vocalsep: {failures} of {len(inputs)} file(s) failed", file=sys.stderr)
    return 1 if failures else 0


def cmd_plot(args: argparse.Namespace) -> int:
    from vocalsep.pipeline.song import plot_file

    written = plot_file(args.input, args.output, vocals_path=args.vocals, separate=args.separate,
                        model=args.model, tracker=args.tracker)
    for path in written:
        print(path)
    return 0


def cmd_plot_training(args: argparse.Namespace) -> int:
    from vocalsep.pipeline.pictures import plot_training_log

    output = args.output or str(Path(args.log).with_name("training.png"))
    print(plot_training_log(args.log, output))
    return 0


def cmd_evaluate_pitch(args: argparse.Namespace) -> int:
    from vocalsep.evaluation.pitch_peers import peers_registered

    with peers_registered():  # fcpe and melodia, where their packages are installed
        return _evaluate_pitch(args)


def _evaluate_pitch(args: argparse.Namespace) -> int:
    from vocalsep.evaluation.melody import evaluate_pitch

    datasets = {d.strip() for d in args.datasets.split(",") if d.strip()}
    unknown = datasets - {"mir1k", "vocadito"}
    if unknown or not datasets:
        raise ConfigError(f"--datasets takes mir1k and/or vocadito, not {args.datasets!r}")
    songs, singers = (None if value in ("all", None) else tuple(s.strip() for s in value.split(",") if s.strip())
                      for value in (args.songs, args.singers))
    scores = evaluate_pitch(
        args.mir1k if "mir1k" in datasets else None,
        vocadito_root=args.vocadito if "vocadito" in datasets else None,
        trackers=args.trackers or ("crepe-tiny", "pyin"),
        conditions=[c.strip() for c in args.conditions.split(",") if c.strip()],
        songs=songs,
        singers=singers,
        model=args.model,
        limit=args.limit,
        progress=not args.quiet,
        crepe_weights=args.crepe_weights,
        hop=args.hop,
    )
    print(scores.markdown())
    if args.output:
        written = scores.write(args.output)
        print(f"per-clip scores: {written['per_clip']}; summary: {written['summary']}")
    return 0


def cmd_train_voicing(args: argparse.Namespace) -> int:
    """Fit the learned voicing decision on the cached remix songs and write it."""
    import numpy as np

    from vocalsep.melody.trackers.crepe import load_crepe_tiny
    from vocalsep.training.pitch_train import separator_for
    from vocalsep.training.voicing_train import (fit_voicing, instrumental_song, instrumental_tracks, remix_songs,
                                                 voicing_frames)

    def say(message: str) -> None:
        if not args.quiet:
            print(f"train-voicing: {message}", file=sys.stderr, flush=True)

    network = load_crepe_tiny(args.tracker) if args.tracker else None
    separator = separator_for(args.model)
    songs = remix_songs(args.mir1k, args.cache, args.songs, separator=separator, log=say)
    features, labels = voicing_frames(songs, network=network, log=say)
    clips = instrumental_tracks(args.instrumentals, half=0) if args.instrumentals else []
    if clips:  # music where nobody sings: what the separator leaks there
        say(f"{len(clips)} instrumental clips, every frame unsung")
        more, unsung = voicing_frames((instrumental_song(path, separator) for path in clips), network=network, log=say)
        features, labels = np.concatenate([features, more]), np.concatenate([labels, unsung])
    model = fit_voicing(features, labels, threshold=args.threshold, seed=args.seed)
    path = model.save(args.output)
    print(f"fitted on {labels.size} frames of {args.songs} remix songs and {len(clips)} instrumental clips "
          f"({100 * labels.mean():.0f} % sung): {path}")
    return 0


def cmd_train_pitch(args: argparse.Namespace) -> int:
    import json

    from vocalsep.training.pitch_train import PitchTrainConfig, export_blend, train_pitch

    run_dir = Path(args.run)
    saved = run_dir / "config.json"
    settings = json.loads(saved.read_text()) if saved.is_file() else {}
    if args.config and not settings:
        import tomllib

        try:
            settings = tomllib.loads(Path(args.config).read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"cannot read config {args.config}: {error}") from None
    given = {"steps": args.steps, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
             "unvoiced": args.unvoiced, "checkpoint_every": args.checkpoint_every, "seed": args.seed}
    settings.update({key: value for key, value in given.items() if value is not None})
    if args.no_validate:
        settings["validate"] = False
    summary = train_pitch(run_dir, PitchTrainConfig.from_dict(settings), mir1k_root=args.mir1k,
                          cache=args.cache, init=args.init, progress=not args.quiet)
    best = summary.get("best")
    chosen = ""
    if best:
        weights = run_dir / f"weights-{best['step']}.pth"
        chosen = f"; best on the tuning clips: step {best['step']} ({weights})"
    print(f"trained {summary['steps']} steps, loss {summary['loss']:.4f}{chosen}")
    if args.export:
        path, step = export_blend(run_dir, args.export, init=args.init, alpha=args.blend)
        print(f"exported {args.blend:g} x step {step} + {1 - args.blend:g} x the starting weights: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vocalsep", description="Pull the singing voice out of a song."
    )
    parser.add_argument("--version", action="version", version=f"vocalsep {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    separate = commands.add_parser("separate", help="split songs into vocals and accompaniment")
    separate.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders")
    separate.add_argument("-o", "--output", default="separated", help="output folder (default: separated)")
    separate.add_argument("--model", default="default", help="bundled model name or checkpoint path")
    separate.add_argument("--threads", type=int, metavar="N",
                          help="CPU threads (default: one per core; 1 leaves the other cores free)")
    separate.add_argument("--format", choices=("wav", "flac", "mp3", "ogg", "opus", "m4a"), default="wav",
                          help="stem files (default wav); mp3, ogg (Vorbis), opus and m4a (AAC) are encoded "
                               "through PyAV, no ffmpeg needed")
    separate.add_argument("--bitrate", type=int, metavar="KBPS",
                          help="kbit/s of compressed stems (default: 192, opus 128)")
    separate.add_argument("--bits", type=int, choices=(16, 24, 32),
                          help="sample size; 32 writes float wav (default: 32 for wav, 24 for flac)")
    separate.add_argument("--clip", choices=("rescale", "clip"), default="rescale",
                          help="when a stem exceeds full scale: scale both stems down, or clip (default: rescale)")
    existing = separate.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    existing.add_argument("--skip-existing", action="store_true",
                          help="leave inputs whose two stems already exist (finish an interrupted batch)")
    separate.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    separate.add_argument("--aggressiveness", type=_aggressiveness, metavar="A",
                          help="how hard the voice is taken out, -2..2 (default 0, the best SDR): above 0 less "
                               "accompaniment is left in the vocals and more artefacts; see MODEL_CARD.md")
    separate.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                          help="separate the files on a Ray cluster: alone, start one on this machine; "
                               "auto or HOST:PORT joins a running one (pip install \"vocalsep[cluster]\")")
    separate.add_argument("--workers", type=int, metavar="N",
                          help="with --ray: workers to start (default: the cluster's CPUs / --threads)")
    separate.add_argument("--plot", action="store_true",
                          help="also draw spectrograms.png: mixture and vocals side by side")
    separate.add_argument("--device", default="cpu", help=_DEVICE_HELP + "; with --ray, each worker gets a GPU")
    separate.set_defaults(handler=cmd_separate)

    pitch = commands.add_parser("pitch", help="sung melody: F0 (f0.csv), notes (notes.csv, notes.mid on the song's "
                                              "tempo), beats.csv, sheet music (melody.musicxml), melody.json")
    pitch.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders")
    pitch.add_argument("-o", "--output", default="melody", help="output folder (default: melody)")
    pitch.add_argument("--separate", action=argparse.BooleanOptionalAction, default=True,
                       help="separate the voice first (default); --no-separate for a vocals file")
    pitch.add_argument("--model", default="default", help="bundled model name or checkpoint path")
    pitch.add_argument("--tracker", choices=("crepe-tiny", "pyin"), default="crepe-tiny",
                       help="pitch tracker (default: crepe-tiny)")
    pitch.add_argument("--hop", type=_hop, default=0.02, metavar="SECONDS",
                       help="seconds between F0 frames, 0.005-0.05 (default 0.02, MIR-1K's label rate; "
                            "0.01 costs twice the tracking)")
    pitch.add_argument("--plot", action="store_true",
                       help="also draw melody.png (and spectrograms.png when separating)")
    pitch.add_argument("--quantize", type=_division, metavar="DIV",
                       help="snap the notes to 1/DIV of a beat in every file: 1, 2, 3 (triplets), 4 (sixteenths), "
                            "6 or 8 (default: as sung; the score is on sixteenths)")
    pitch.add_argument("--octave-shift", type=_octaves, default=0, metavar="N",
                       help="move the whole melody by N octaves, -3 to 3 (an octave error of the tracker)")
    pitch.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    pitch.add_argument("--threads", type=int, metavar="N",
                       help="CPU threads (default: one per core; 1 leaves the other cores free)")
    pitch.add_argument("--device", default="cpu", help=_DEVICE_HELP + " (pyin runs on the CPU)")
    pitch.set_defaults(handler=cmd_pitch)

    plot = commands.add_parser("plot", help="pictures: spectrograms of mixture and vocals, melody over the vocals")
    plot.add_argument("input", metavar="INPUT", help="a song (or a vocals file with --no-separate)")
    plot.add_argument("-o", "--output", default="melody", help="output folder (default: melody)")
    plot.add_argument("--vocals", help="already separated vocals of INPUT (skips separation)")
    plot.add_argument("--separate", action=argparse.BooleanOptionalAction, default=True,
                      help="separate the voice first (default)")
    plot.add_argument("--model", default="default", help="bundled model name or checkpoint path")
    plot.add_argument("--tracker", choices=("crepe-tiny", "pyin"), default="crepe-tiny")
    plot.set_defaults(handler=cmd_plot)

    plot_training = commands.add_parser("plot-training", help="training curves of a run's log.jsonl")
    plot_training.add_argument("log", help="e.g. runs/default/log.jsonl")
    plot_training.add_argument("-o", "--output", help="PNG (default: training.png beside the log)")
    plot_training.set_defaults(handler=cmd_plot_training)

    evaluate_pitch = commands.add_parser(
        "evaluate-pitch", help="melody accuracy (mir_eval) on MIR-1K and vocadito: clean, mixture, separated")
    evaluate_pitch.add_argument("--mir1k", default="../shared/data/MIR-1K", help="MIR-1K folder")
    evaluate_pitch.add_argument("--vocadito", default="../shared/data/vocadito-sample/vocadito",
                                help="vocadito folder")
    evaluate_pitch.add_argument("--datasets", default="mir1k,vocadito", help="comma-separated: mir1k, vocadito")
    evaluate_pitch.add_argument("--singers", default="Ani,annar,ariel",
                                help="MIR-1K singers (comma-separated) or 'all' (default: Ani,annar,ariel, "
                                     "never trained on by the separator or the tracker)")
    evaluate_pitch.add_argument("--songs", help="only these MIR-1K songs (singer_song, comma-separated), "
                                                "e.g. abjones_3,amy_9 with --singers all")
    evaluate_pitch.add_argument("--tracker", action="append", dest="trackers",
                                help="tracker(s) to score: crepe-tiny, pyin, and the peers fcpe, melodia, swiftf0 "
                                     "and crepe-full where installed (default: crepe-tiny and pyin)")
    evaluate_pitch.add_argument("--conditions", default="clean,mixture,separated",
                                help="comma-separated: clean, mixture, separated (ours), spleeter (Spleeter's vocals)")
    evaluate_pitch.add_argument("--model", default="default", help="separation model for 'separated'")
    evaluate_pitch.add_argument("--limit", type=int, help="only the first N MIR-1K clips")
    evaluate_pitch.add_argument("--hop", type=_hop, default=0.02, help="seconds between frames (default 0.02, as pitch)")
    evaluate_pitch.add_argument("-o", "--output", help="folder for per_clip.csv, summary.json, summary.md")
    evaluate_pitch.add_argument("--crepe-weights", metavar="PATH",
                                help="CREPE tiny weights instead of the bundled ones (e.g. from train-pitch)")
    evaluate_pitch.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    evaluate_pitch.set_defaults(handler=cmd_evaluate_pitch)

    train_pitch = commands.add_parser(
        "train-pitch", help="fine-tune CREPE tiny on separated vocals of MIR-1K (resumes an interrupted run)")
    train_pitch.add_argument("--run", default="runs/crepe-ft", help="run folder (default: runs/crepe-ft)")
    train_pitch.add_argument("--mir1k", default="../shared/data/MIR-1K", help="MIR-1K folder")
    train_pitch.add_argument("--cache", help="rendered training audio (default: RUN/data)")
    train_pitch.add_argument("--config", help="settings as TOML (e.g. configs/crepe-ft.toml, the shipped recipe)")
    train_pitch.add_argument("--steps", type=int)
    train_pitch.add_argument("--batch-size", type=int)
    train_pitch.add_argument("--learning-rate", type=float)
    train_pitch.add_argument("--unvoiced", choices=("zero", "skip"), help="unvoiced frames: zero target or left out")
    train_pitch.add_argument("--checkpoint-every", type=int)
    train_pitch.add_argument("--seed", type=int)
    train_pitch.add_argument("--no-validate", action="store_true", help="do not score checkpoints on the tuning clips")
    train_pitch.add_argument("--init", metavar="PATH", help="starting weights (default: the bundled ones)")
    train_pitch.add_argument("--export", metavar="PATH",
                             help="afterwards, write the blend of the best step's weights with the starting ones")
    train_pitch.add_argument("--blend", type=float, default=0.6, metavar="ALPHA",
                             help="share of the fine-tuned weights in --export (default: 0.6)")
    train_pitch.add_argument("-q", "--quiet", action="store_true")
    train_pitch.set_defaults(handler=cmd_train_pitch)

    train_voicing = commands.add_parser(
        "train-voicing", help="fit the learned voicing decision of 'pitch' on the remix songs of train-pitch")
    train_voicing.add_argument("-o", "--output", required=True, help="the model file (.npz)")
    train_voicing.add_argument("--mir1k", default="../shared/data/MIR-1K", help="MIR-1K folder")
    train_voicing.add_argument("--cache", default="runs/pitch-data", help="train-pitch's cache (default: runs/pitch-data)")
    train_voicing.add_argument("--songs", type=int, default=2000, help="remix songs (default: 2000)")
    train_voicing.add_argument("--model", default="default", help="the separator of the songs (default: the bundled one)")
    train_voicing.add_argument("--tracker", metavar="PATH", help="CREPE tiny weights (default: the bundled ones)")
    train_voicing.add_argument("--instrumentals", action="append", default=[], metavar="FOLDER",
                               help="clips where nobody sings (e.g. .data/instrumentals/clips); half of their tracks "
                                    "are fitted on, every frame unsung")
    train_voicing.add_argument("--threshold", type=float, default=0.5, help="probability from which a frame is sung")
    train_voicing.add_argument("--seed", type=int, default=0)
    train_voicing.add_argument("-q", "--quiet", action="store_true")
    train_voicing.set_defaults(handler=cmd_train_voicing)

    train = commands.add_parser("train", help="train a model on stems (resumes an interrupted run)")
    train.add_argument("--config", required=True, help="run configuration (TOML), e.g. configs/default.toml")
    # --run-dir: under torchrun, whose own --run-path makes "--run" an ambiguous abbreviation
    train.add_argument("--run", "--run-dir", dest="run", help="run folder (default: runs/<name>)")
    train.add_argument("--device", default="cpu",
                       help="cpu (default), cuda, cuda:N or auto (CUDA when present); a run resumes on any")
    train.add_argument("--until", type=int, metavar="STEP",
                       help="stop after this step with a checkpoint (the same command resumes the run)")
    train.add_argument("-q", "--quiet", action="store_true")
    train.set_defaults(handler=cmd_train)

    export = commands.add_parser("export", help="turn a training checkpoint into a bundled model file")
    export.add_argument("checkpoint", help="e.g. runs/default/best.pt")
    export.add_argument("--name", default="default", help="model name (default: default)")
    export.add_argument("--to", help="folder (default: the package's models folder)")
    export.add_argument("--mask-sharpness", type=float, metavar="S",
                        help="calibrate the mask: sigmoid(S * logit), S tuned on the validation split")
    export.add_argument("--validate", metavar="CONFIG",
                        help="score the model on the validation tracks of this run configuration's [data] "
                             "and store the scores in the file (for runs trained without validation)")
    export.set_defaults(handler=cmd_export)

    web = commands.add_parser("web", help="a local web page: upload a song, play and download its stems and melody")
    web.add_argument("--host", default="127.0.0.1",
                     help="address to serve on (default: this computer only; any other needs the access token "
                          "printed in the URL)")
    web.add_argument("--token", nargs="?", const="", metavar="TOKEN",
                     help="require this access token (a random one without TOKEN), on loopback too")
    web.add_argument("--port", type=int, default=8765, help="port (default: 8765; 0 picks a free one)")
    web.add_argument("--folder", help="keep uploads and results here (default: a temporary folder)")
    web.add_argument("--model", default="default", help="bundled model name or checkpoint")
    web.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: one per core)")
    web.add_argument("--device", default="cpu", help=_DEVICE_HELP)
    web.add_argument("--open", action="store_true", help="open the page in the default browser")
    web.set_defaults(handler=cmd_web)

    demo = commands.add_parser("demo", help="separate the shipped real song, track its melody, draw pictures")
    demo.add_argument("-o", "--output", default="demo", help="output folder (default: demo)")
    demo.add_argument("--synthetic", action="store_true",
                      help="a generated song with known stems instead (written as demo_song.wav)")
    demo.add_argument("--model", default="default")
    demo.add_argument("-q", "--quiet", action="store_true")
    demo.set_defaults(handler=cmd_demo)

    evaluate = commands.add_parser("evaluate", help="BSS Eval v4 SDR/SIR/SAR of models and baselines")
    evaluate.add_argument("dataset", help="MUSDB18, MIR-1K or stem-folder dataset root")
    evaluate.add_argument("--split", default="valid", choices=("train", "valid", "test"),
                          help="MUSDB18 split (default: valid)")
    evaluate.add_argument("--model", action="append", dest="models", metavar="NAME|PATH",
                          help="model(s) to evaluate (default: the bundled default)")
    evaluate.add_argument("--baselines", default="mixture,repet,oracle",
                          help="comma-separated: mixture, repet (REPET-SIM), oracle, spleeter (the peer: "
                               "Spleeter 2-stems, needs vocalsep[peers]); default: mixture,repet,oracle")
    evaluate.add_argument("--songs", help="only these tracks or MIR-1K songs (comma-separated, e.g. abjones_3,amy_9)")
    evaluate.add_argument("--limit", type=int, help="evaluate only the first N tracks")
    evaluate.add_argument("-o", "--output", help="folder for per-track JSON and CSV")
    evaluate.set_defaults(handler=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: domain errors become one line on stderr and exit status 1."""
    args = build_parser().parse_args(argv)
    warnings.showwarning = _one_line_warnings
    try:
        return args.handler(args)
    except VocalsepError as error:
        print(f"vocalsep: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vocalsep: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
