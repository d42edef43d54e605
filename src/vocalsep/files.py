"""Atomic file creation: a hidden temporary sibling that is renamed into place when complete.

The one writer of the package: ``atomic_output`` (any writer that takes a file name),
``atomic_write_bytes`` / ``atomic_write_text`` and ``publish`` (the rename, for writers that
convert first and rename later, like ``audio.AudioWriter``). A file that cannot be written is
one ``OutputError`` line (``AudioWriteError`` for audio) with the OS's reason.

Temporary names carry the writer's process id (``.<name>.<pid>.<random><suffix>``), so the
leftovers of a process that was killed (SIGKILL, power loss) can be told from files that a
live process is still writing, and are removed the next time that output is written.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from vocalsep.errors import OutputError, VocalsepError

T = TypeVar("T")


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_siblings(path: Path) -> list[Path]:
    """Delete temporary siblings of ``path`` left by processes that no longer run."""
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(?P<pid>\d+)\.")
    removed = []
    with contextlib.suppress(OSError):
        for entry in path.parent.iterdir():
            match = pattern.match(entry.name)
            if match and not _alive(int(match["pid"])):
                with contextlib.suppress(OSError):
                    entry.unlink()
                    removed.append(entry)
    return removed


def temporary_sibling(path: Path, suffix: str = ".part") -> str:
    """Create an empty hidden file next to ``path`` and return its name.

    It gets the permissions a plain ``open(path, "w")`` would give (``mkstemp`` alone makes
    files only their owner can read), so renaming it onto ``path`` publishes a normal file.
    Leftovers of killed writers of the same ``path`` are removed first.
    """
    remove_stale_siblings(path)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    os.chmod(name, 0o666 & ~_umask())
    return name


def describe(error: BaseException) -> str:
    """One line for an exception: the OS's reason when it has one, else its first line."""
    text = getattr(error, "strerror", None) or (str(error).splitlines() or [type(error).__name__])[0]
    return text[:200]


def publish(temp_name: str, path: Path, *, overwrite: bool = True, error: type[OutputError] = OutputError) -> Path:
    """Rename the finished temporary file ``temp_name`` onto ``path`` (one atomic step).

    Raises
    ------
    OutputError
        (or ``error``) ``path`` exists and ``overwrite`` is false, or the rename fails.
    """
    if path.exists() and not overwrite:
        raise error(f"{path} exists (use --overwrite to replace it)")
    try:
        os.replace(temp_name, path)
    except OSError as failure:
        raise error(f"cannot write {path}: {describe(failure)}") from None
    return path


@contextlib.contextmanager
def atomic_output(
    path: str | Path,
    *,
    suffix: str = ".part",
    overwrite: bool = True,
    error: type[OutputError] = OutputError,
    catch: tuple[type[BaseException], ...] = (OSError,),
) -> Iterator[str]:
    """Yield the name of a new temporary sibling of ``path``; publish it when the block ends.

    The file appears whole under ``path`` or not at all: on any exception the temporary
    file is removed. Exceptions of the ``catch`` types (the writer's way of saying the disk
    is full) become one ``error`` line, ``cannot write <path>: <reason>``, with the OS's
    reason recovered by ``write_failure_reason`` where the writer lost it.

    Parameters
    ----------
    suffix : str
        End of the temporary name (some writers pick the format by it, e.g. ``.part.wav``).
    overwrite : bool
        Replace an existing ``path``; else refuse before writing anything.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise error(f"{path} exists (use --overwrite to replace it)")
    temp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp_name = temporary_sibling(path, suffix)
        yield temp_name
        publish(temp_name, path, overwrite=overwrite, error=error)
        temp_name = None
    except VocalsepError:
        raise
    except catch as failure:
        reason = write_failure_reason(temp_name) or describe(failure)
        raise error(f"cannot write {path}: {reason}") from None
    finally:
        if temp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)


def atomic_write_bytes(path: str | Path, data: bytes, *, error: type[OutputError] = OutputError) -> Path:
    """Write ``data`` to ``path`` through a temporary sibling: the file appears whole or not at all."""
    with atomic_output(path, error=error) as temp_name, open(temp_name, "wb") as out:
        out.write(data)
    return Path(path)


@contextlib.contextmanager
def folder_lock(folder: str | Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` itself (no lock file is left behind).

    Processes that publish files into the same folder under this lock do it one after
    another, so a pair of outputs always comes from one writer. The kernel drops the lock
    when its holder dies, even by SIGKILL. Where a folder cannot be locked, runs unlocked.
    """
    try:
        handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing releases the lock


def write_failure_reason(temp_name: str | None) -> str | None:
    """Why writing into ``temp_name`` fails now, as the OS says it (ENOSPC, EFBIG, EIO), or None.

    Writers in C lose errno (libsndfile reports "System error.", torch's archive writer
    "unexpected pos"); one more write into the doomed temporary file recovers the reason.
    Only for a file that is about to be deleted.
    """
    if not temp_name:
        return None
    try:
        with open(temp_name, "ab") as probe:
            probe.write(bytes(1 << 16))
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        return error.strerror or str(error)
    return None


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def read_csv_rows(
    path: str | Path, columns: tuple[str, ...], kind: str, parse: Callable[[dict[str, str]], T], *, article: str = "a"
) -> list[T]:
    """Rows of a CSV file with exactly ``columns``, each through ``parse``; one-line errors.

    ``kind`` names the file in messages (``notes.csv``, after ``article``); a value ``parse``
    cannot convert makes the file malformed.
    """
    path = Path(path)
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or tuple(reader.fieldnames) != columns:
                raise VocalsepError(f"{path}: not {article} {kind} file (expected columns {', '.join(columns)})")
            return [parse(row) for row in reader]
    except OSError as error:
        raise VocalsepError(f"{path}: cannot read ({error.strerror})") from None
    except (ValueError, TypeError) as error:
        raise VocalsepError(f"{path}: malformed {kind} ({error})") from None


