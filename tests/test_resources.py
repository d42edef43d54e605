"""Resources: a full disk, a read-only output folder, and two processes writing into one folder.

A real full disk is a size-limited tmpfs (needs root and mount permission; skipped
otherwise); ``RLIMIT_FSIZE`` (writes fail with EFBIG) covers the same path without root.
Every failure must be one error line, keep earlier outputs byte for byte, and leave no
temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
from support import TINY, song, tiny_checkpoint, tiny_estimator, write_song

from vocalsep.separation.checkpoint import model_payload, read_checkpoint, save_checkpoint
from vocalsep.apps.cli import main
from vocalsep.errors import OutputError


@contextlib.contextmanager
def mounted_tmpfs(folder: Path, kib: int) -> Iterator[Path]:
    """A tmpfs of ``kib`` KiB at ``folder``; the test is skipped where mounting is not permitted."""
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k,mode=0777", "tmpfs", str(folder)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}")
    try:
        yield folder
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(folder)], capture_output=True)
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _remount_read_only(folder: Path) -> None:
    result = subprocess.run(["mount", "-o", "remount,ro", str(folder)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot remount read-only: {result.stderr.strip()}")


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _separate(*args: str) -> int:
    return main(["separate", *args, "-q"])


def _one_error_line(err: str, *needles: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vocalsep: error: "), lines
    assert any(needle in lines[0] for needle in needles), lines[0]
    return lines[0]


@pytest.fixture
def model(tmp_path: Path) -> str:
    return str(tiny_checkpoint(tmp_path / "model"))


@pytest.mark.parametrize("kib", [100, 250, 330, 420])
def test_a_full_disk_is_one_line_and_keeps_earlier_outputs(tmp_path: Path, model: str, kib: int,
                                                           capfd: pytest.CaptureFixture[str]) -> None:
    # A 1 s stereo song: each float stem is 128 kB, and a stem is briefly held twice while it is
    # converted, so the sizes run out of space while streaming, while converting, or not at all.
    write_song(tmp_path / "earlier.wav", seconds=0.2, rate=16000)
    write_song(tmp_path / "song.wav", seconds=1.0, rate=16000)
    with mounted_tmpfs(tmp_path / "disk", kib) as disk:
        assert _separate(str(tmp_path / "earlier.wav"), "-o", str(disk), "--model", model) == 0
        before = _snapshot(disk)
        free = os.statvfs(disk).f_bfree
        code = _separate(str(tmp_path / "song.wav"), "-o", str(disk), "--model", model)
        err = capfd.readouterr().err
        after = _snapshot(disk)
        if code == 0:  # it fitted: both stems whole
            assert kib >= 420
            assert soundfile.info(disk / "song" / "vocals.wav").frames == 16000
        else:
            _one_error_line(err, "No space left on device")
            assert after == before  # earlier outputs intact, nothing new, no temporary files
            assert os.statvfs(disk).f_bfree == free  # and no space held by deleted-but-open files
            with pytest.raises(OutputError, match="No space left"):  # a checkpoint save too
                save_checkpoint(disk / "last.pt", model_payload(tiny_estimator(), TINY, {"big": "x" * 500_000}))
            assert _snapshot(disk) == before


def test_a_full_disk_during_training_keeps_the_last_checkpoint(tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "disk", 64) as disk:
        small = model_payload(tiny_estimator(), TINY, {})
        save_checkpoint(disk / "last.pt", small)
        before = (disk / "last.pt").read_bytes()
        with pytest.raises(OutputError, match="No space left") as error:
            save_checkpoint(disk / "last.pt", {**small, "padding": np.zeros(100_000).tolist()})
        assert "\n" not in str(error.value)
        assert [p.name for p in disk.iterdir()] == ["last.pt"] and (disk / "last.pt").read_bytes() == before
        assert read_checkpoint(disk / "last.pt")["format_version"] == small["format_version"]


LIMITED = """
import resource, sys
from vocalsep.apps.cli import main
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # writes beyond it fail with EFBIG
sys.exit(main(sys.argv[2:]))
"""


def test_a_file_size_limit_is_one_line_and_leaves_nothing(tmp_path: Path, model: str, limit: int = 100_000) -> None:
    # The non-root stand-in for a full disk: any write past ``limit`` bytes fails (EFBIG).
    write_song(tmp_path / "earlier.wav", seconds=0.1, rate=16000)
    write_song(tmp_path / "song.wav", seconds=1.0, rate=16000)
    out = tmp_path / "out"
    assert _separate(str(tmp_path / "earlier.wav"), "-o", str(out), "--model", model) == 0
    before = _snapshot(out)
    result = subprocess.run([sys.executable, "-c", LIMITED, str(limit), "separate", str(tmp_path / "song.wav"),
                             "-o", str(out), "--model", model, "-q"], capture_output=True, text=True)
    assert result.returncode == 1, result
    _one_error_line(result.stderr, "File too large")
    assert _snapshot(out) == before


def test_a_read_only_output_folder_is_one_line_and_keeps_earlier_outputs(
        tmp_path: Path, model: str, capfd: pytest.CaptureFixture[str]) -> None:
    write_song(tmp_path / "song.wav", seconds=0.3, rate=16000)
    write_song(tmp_path / "other.wav", seconds=0.3, rate=16000)
    with mounted_tmpfs(tmp_path / "disk", 2048) as disk:
        assert _separate(str(tmp_path / "song.wav"), "-o", str(disk), "--model", model) == 0
        before = _snapshot(disk)
        _remount_read_only(disk)
        capfd.readouterr()
        # A new track, and replacing an existing one: both refused, nothing touched.
        assert _separate(str(tmp_path / "other.wav"), "-o", str(disk), "--model", model) == 1
        _one_error_line(capfd.readouterr().err, "Read-only file system")
        assert _separate(str(tmp_path / "song.wav"), "-o", str(disk), "--model", model, "--overwrite") == 1
        _one_error_line(capfd.readouterr().err, "Read-only file system")
        assert _snapshot(disk) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into folders without write permission")
def test_a_folder_without_write_permission_is_one_line(tmp_path: Path, model: str,
                                                        capfd: pytest.CaptureFixture[str]) -> None:
    write_song(tmp_path / "song.wav", seconds=0.3, rate=16000)
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert _separate(str(tmp_path / "song.wav"), "-o", str(out), "--model", model) == 1
        _one_error_line(capfd.readouterr().err, "Permission denied")
        assert list(out.iterdir()) == []
    finally:
        out.chmod(0o755)


CONCURRENT = """
import sys
from vocalsep.apps.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CONCURRENT, "separate", *args, "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _read(path: Path) -> np.ndarray:
    data, _ = soundfile.read(path, always_2d=True, dtype="float32")
    return data.T


def test_two_processes_into_one_folder_never_mix_files_or_pairs(tmp_path: Path, model: str) -> None:
    # Two different songs with the same name, separated at once into the same folder.
    mixtures = {}
    for index, folder in enumerate(("a", "b")):
        data = song(1.5, 16000, channels=2, seed=index) * (0.5 + 0.3 * index)
        path = tmp_path / folder / "song.wav"
        path.parent.mkdir()
        soundfile.write(path, data.T, 16000, subtype="FLOAT")
        mixtures[folder] = data
    out = tmp_path / "out"
    for attempt in range(2):  # replacing each other's results (--overwrite), then without it
        extra = ["--overwrite"] if attempt == 0 else []
        if attempt == 1:
            for path in (out / "song").iterdir():
                path.unlink()
        processes = [_start(str(tmp_path / folder / "song.wav"), "-o", str(out), "--model", model, *extra)
                     for folder in ("a", "b")]
        results = [process.communicate(timeout=300) + (process.returncode,) for process in processes]
        codes = sorted(code for _, _, code in results)
        assert codes == ([0, 0] if extra else [0, 1]), results
        if not extra:  # the loser is told, in one line, and leaves nothing behind
            loser = next(err for _, err, code in results if code == 1)
            _one_error_line(loser, "exists (use --overwrite")
        assert sorted(p.name for p in (out / "song").iterdir()) == ["accompaniment.wav", "vocals.wav"]
        total = _read(out / "song" / "vocals.wav") + _read(out / "song" / "accompaniment.wav")
        # Each file is one writer's whole file, and the pair comes from one writer.
        assert any(np.abs(total - mixture).max() < 1e-5 for mixture in mixtures.values())


def test_rlimit_helper_really_limits_writes(tmp_path: Path) -> None:
    # Guards the non-root full-disk test: the limit must make a plain write fail with EFBIG.
    code = ("import resource, sys\nresource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
            "try:\n with open(sys.argv[1], 'wb') as f:\n  f.write(b'x' * 5000)\nexcept OSError as e:\n print(e.errno)\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "f")], capture_output=True, text=True)
    assert result.stdout.strip() == str(__import__("errno").EFBIG)
    assert resource.RLIMIT_FSIZE is not None
