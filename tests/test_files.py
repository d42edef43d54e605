"""Temporary siblings: permissions, and clean-up after a killed writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from vocalsep.files import remove_stale_siblings, temporary_sibling


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
