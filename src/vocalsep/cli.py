"""Command line: thin wrappers over the library. Heavy imports live inside the commands."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from vocalsep import __version__
from vocalsep.errors import VocalsepError


def _one_line_warnings(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"vocalsep: warning: {message}", file=sys.stderr)


def cmd_separate(args: argparse.Namespace) -> int:
    from vocalsep.api import find_inputs, separate_files

    inputs = find_inputs(args.inputs)
    if not inputs:
        raise VocalsepError("no audio files found in the given folders")
    failures = 0
    results = separate_files(
        inputs,
        args.output,
        model=args.model,
        audio_format=args.format,
        bits=args.bits,
        clip=args.clip,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    for path, result in results:
        if isinstance(result, VocalsepError):
            failures += 1
            print(f"vocalsep: error: {result}", file=sys.stderr)
        else:
            print(f"{path} -> {result['vocals']} , {result['accompaniment']}")
    if failures:
        print(f"vocalsep: {failures} of {len(inputs)} file(s) failed", file=sys.stderr)
    return 1 if failures else 0


def cmd_train(args: argparse.Namespace) -> int:
    from vocalsep.config import RunConfig
    from vocalsep.train import train

    config = RunConfig.from_file(args.config)
    run_dir = Path(args.run) if args.run else Path("runs") / config.name
    summary = train(config, run_dir, progress=not args.quiet)
    print(f"trained {summary['steps']} steps in {summary['train_seconds']:.0f} s; "
          f"best validation {summary['validation']}; model: {run_dir / 'best.pt'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from vocalsep.bundle import export_model

    path = export_model(args.checkpoint, args.name, Path(args.to) if args.to else None)
    print(f"exported {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from vocalsep.api import separate_file
    from vocalsep.audio import save_audio
    from vocalsep.demo import demo_song

    output = Path(args.output)
    song = demo_song()
    mixture_path = save_audio(output / "demo_song.wav", song.mixture, song.sample_rate, overwrite=True)
    print(f"generated {mixture_path} ({song.seconds:.0f} s synthetic song)")
    result = separate_file(mixture_path, output, model=args.model, overwrite=True, progress=not args.quiet)
    print(f"vocals:        {result['vocals']}\naccompaniment: {result['accompaniment']}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from vocalsep.evaluate import evaluate_command

    return evaluate_command(args)


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
    separate.add_argument("--format", choices=("wav", "flac"), default="wav")
    separate.add_argument("--bits", type=int, choices=(16, 24, 32), default=16,
                          help="sample size; 32 writes float wav (default: 16)")
    separate.add_argument("--clip", choices=("rescale", "clip"), default="rescale",
                          help="when a stem exceeds full scale: scale both stems down, or clip (default: rescale)")
    separate.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    separate.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    separate.set_defaults(handler=cmd_separate)

    train = commands.add_parser("train", help="train a model on stems (resumes an interrupted run)")
    train.add_argument("--config", required=True, help="run configuration (TOML), e.g. configs/default.toml")
    train.add_argument("--run", help="run folder (default: runs/<name>)")
    train.add_argument("-q", "--quiet", action="store_true")
    train.set_defaults(handler=cmd_train)

    export = commands.add_parser("export", help="turn a training checkpoint into a bundled model file")
    export.add_argument("checkpoint", help="e.g. runs/default/best.pt")
    export.add_argument("--name", default="default", help="model name (default: default)")
    export.add_argument("--to", help="folder (default: the package's models folder)")
    export.set_defaults(handler=cmd_export)

    demo = commands.add_parser("demo", help="generate a synthetic song and separate it")
    demo.add_argument("-o", "--output", default="demo", help="output folder (default: demo)")
    demo.add_argument("--model", default="default")
    demo.add_argument("-q", "--quiet", action="store_true")
    demo.set_defaults(handler=cmd_demo)

    evaluate = commands.add_parser("evaluate", help="BSS Eval v4 SDR/SIR/SAR of models and baselines")
    evaluate.add_argument("dataset", help="MUSDB18, MIR-1K or stem-folder dataset root")
    evaluate.add_argument("--split", default="valid", choices=("train", "valid", "test"),
                          help="MUSDB18 split (default: valid)")
    evaluate.add_argument("--model", action="append", dest="models", metavar="NAME|PATH",
                          help="model(s) to evaluate (default: the bundled default)")
    evaluate.add_argument("--baselines", default="mixture,oracle",
                          help="comma-separated: mixture, oracle (default: mixture,oracle)")
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
