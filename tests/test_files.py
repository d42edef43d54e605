"""Temporary siblings: permissions, and clean-up after a killed writer."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vocalsep.errors import AudioWriteError, ConfigError, OutputError, SampleRangeError, VocalsepError
from vocalsep.files import atomic_output, atomic_write_text, remove_stale_siblings, temporary_sibling


def test_sibling_is_hidden_next_to_the_target_with_umask_permissions(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        name = Path(temporary_sibling(tmp_path / "vocals.wav"))
    finally:
        os.umask(old)
    assert name.parent == tmp_path and name.name.startswith(f".vocals.wav.{os.getpid()}.")
    assert name.stat().st_mode & 0o777 == 0o640


def test_leftovers_of_a_killed_writer_are_removed_but_live_ones_kept(tmp_path: Path) -> None:
    target = tmp_path / "vocals.wav"
    # A writer that creates its temporary file and is then killed with SIGKILL.
    code = (
        "import sys, time; from pathlib import Path; from vocalsep.files import temporary_sibling; "
        "print(temporary_sibling(Path(sys.argv[1])), flush=True); time.sleep(60)"
    )
    writer = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True)
    leftover = Path(writer.stdout.readline().strip())
    assert leftover.exists()
    assert remove_stale_siblings(target) == []  # still alive: not touched
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    time.sleep(0.05)
    mine = Path(temporary_sibling(target))
    assert not leftover.exists()
    assert mine.exists()
    other = tmp_path / f".accompaniment.wav.{writer.pid}.x.part"  # another target: not ours to remove
    other.write_bytes(b"")
    remove_stale_siblings(target)
    assert other.exists()


def test_a_failed_atomic_output_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out" / "notes.csv"
    with pytest.raises(OutputError, match="No space left on device") as error:
        with atomic_output(target) as temp_name:
            Path(temp_name).write_text("half")
            raise OSError(28, "No space left on device")
    assert str(error.value) == f"cannot write {target}: No space left on device"
    assert list(target.parent.iterdir()) == []


def test_atomic_output_refuses_an_existing_file_and_replaces_it_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "f0.csv"
    atomic_write_text(target, "old")
    with pytest.raises(OutputError, match="exists"), atomic_output(target, overwrite=False):
        pass
    assert target.read_text() == "old"
    with atomic_output(target, overwrite=True) as temp_name:
        Path(temp_name).write_text("new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["f0.csv"]


def test_error_kinds() -> None:
    # Any output is an OutputError; audio ones are AudioWriteErrors; all print as one line.
    assert issubclass(AudioWriteError, OutputError) and issubclass(OutputError, VocalsepError)
    assert issubclass(SampleRangeError, AudioWriteError) and issubclass(ConfigError, VocalsepError)


def test_every_writer_goes_through_vocalsep_files() -> None:
    # One atomic writer: no other module renames temporary files into place itself.
    source = Path(__file__).resolve().parents[1] / "src" / "vocalsep"
    renames = re.compile(r"os\.replace\(|os\.rename\(|mkstemp\(|\.partial\.")
    offenders = [f"{path.relative_to(source)}:{number}" for path in sorted(source.rglob("*.py"))
                 if path.name != "files.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1) if renames.search(line)]
    assert offenders == []
