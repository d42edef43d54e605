"""Atomic file creation: a hidden temporary sibling that is renamed into place when complete."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def temporary_sibling(path: Path, suffix: str = ".part") -> str:
    """Create an empty hidden file next to ``path`` and return its name.

    It gets the permissions a plain ``open(path, "w")`` would give (``mkstemp`` alone makes
    files only their owner can read), so renaming it onto ``path`` publishes a normal file.
    """
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    os.chmod(name, 0o666 & ~_umask())
    return name
