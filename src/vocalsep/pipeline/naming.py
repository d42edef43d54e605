"""Output names: ``{output}/{track}/{stem}.{ext}``, the template every front end writes by."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def track_name(path: str | Path) -> str:
    """Output folder name of an input file: its stem (``song.stem.mp4`` -> ``song``)."""
    name = Path(path).name
    return name.removesuffix(".stem.mp4") if name.endswith(".stem.mp4") else Path(path).stem


def output_paths(input_path: str | Path, output_dir: str | Path, extension: str,
                 stems: Iterable[str]) -> dict[str, Path]:
    """``output_dir/<track>/<stem>.<extension>`` for every stem name."""
    folder = Path(output_dir) / track_name(input_path)
    return {stem: folder / f"{stem}.{extension}" for stem in stems}
