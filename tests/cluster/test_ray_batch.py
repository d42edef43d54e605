"""``vocalsep separate --ray`` on a real two-node Ray cluster on loopback: same bytes as one process,
a worker killed mid-batch, a bad file reported alone, a rerun that redoes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
import ray.cluster_utils  # the test extra installs the cluster extra: no skip where Ray is missing
from ray import cloudpickle
from support import write_song

from vocalsep.cluster.ray_batch import SeparationWorker, _drive

SONGS = 8
WORKER_TITLE = "ray::SeparationWorker.separate"  # a worker's process title while it separates a file


def _cli(*args: str, **popen: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vocalsep", "separate", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def _finish(process: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A head node and a second node (two raylets on this machine), one CPU each."""
    cluster = ray.cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        yield cluster.address
    finally:
        cluster.shutdown()


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Eight 8-second songs, one file that is not audio, and their stems from the single-process CLI."""
    root = tmp_path_factory.mktemp("library")
    for index in range(SONGS):
        write_song(root / "songs" / f"song{index}.wav", seconds=8.0, rate=44100)
    (root / "songs" / "broken.mp3").write_bytes(b"not audio at all " * 64)
    code, _, err = _finish(_cli(str(root / "songs"), "-o", str(root / "single"), "--threads", "1", "-q"))
    assert code == 1 and "broken.mp3" in err
    return root / "songs", root / "single"


def _stems(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _worker_pids() -> list[int]:
    """Processes whose title says a Ray worker is separating a file."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(WORKER_TITLE.encode()):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def test_the_cluster_writes_the_bytes_of_one_process_and_reports_the_bad_file_alone(
    cluster: str, library: tuple[Path, Path], tmp_path: Path
) -> None:
    songs, single = library
    code, out, err = _finish(_cli(str(songs), "-o", str(tmp_path / "out"), "--ray", cluster, "--threads", "1"))
    assert code == 1  # as one process: non-zero when any file failed
    assert _stems(tmp_path / "out") == _stems(single)  # every stem, byte for byte, and nothing else
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and "broken.mp3" in errors[0] and "not a readable audio file" in errors[0]
    assert f"{SONGS + 1} file(s): {SONGS} separated, 0 skipped (already there), 1 failed" in err
    assert "Traceback" not in err
    assert out.count(" -> ") == SONGS


def test_a_worker_killed_mid_batch_has_its_file_redone_and_every_file_is_written_once(
    cluster: str, library: tuple[Path, Path], tmp_path: Path
) -> None:
    songs, single = library
    process = _cli(str(songs), "-o", str(tmp_path / "out"), "--ray", cluster, "--threads", "1", "-q")
    deadline, killed = time.monotonic() + 120, None
    while killed is None and time.monotonic() < deadline and process.poll() is None:
        busy = _worker_pids()
        if busy and len(list((tmp_path / "out").glob("*/accompaniment.wav"))) >= 1:  # mid-batch: some done
            killed = busy[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.02)
    code, out, err = _finish(process)
    assert killed is not None, f"no worker was seen separating: {err[-2000:]}"
    assert code == 1 and "broken.mp3" in err, err[-2000:]  # the bad file, and nothing else, failed
    assert f"{SONGS} separated" in err and "died" not in err, err[-2000:]
    assert _stems(tmp_path / "out") == _stems(single)  # complete, no partial or hidden temporary files
    assert sorted(out.splitlines()) == sorted(set(out.splitlines()))  # each file reported once


def test_a_rerun_with_skip_existing_redoes_nothing_on_a_local_cluster(library: tuple[Path, Path], tmp_path: Path) -> None:
    songs, single = library
    out = tmp_path / "out"
    code, _, _ = _finish(_cli(str(songs / "song0.wav"), str(songs / "song1.wav"), "-o", str(out), "--threads", "1", "-q"))
    assert code == 0
    written = {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}
    (out / "song1" / "vocals.wav").unlink()  # what an interrupted batch leaves: half a pair
    # a bare --ray starts a cluster on this machine for the batch
    code, _, err = _finish(_cli(str(songs / "song0.wav"), str(songs / "song1.wav"), str(songs / "song2.wav"), "-o",
                                str(out), "--ray", "--threads", "1", "--skip-existing", "-q"))
    assert code == 0, err[-2000:]
    assert "3 file(s): 2 separated, 1 skipped (already there), 0 failed" in err
    assert (out / "song0" / "vocals.wav").stat().st_mtime_ns == written[out / "song0" / "vocals.wav"]
    for name in ("song0", "song1", "song2"):
        for stem in ("vocals.wav", "accompaniment.wav"):
            assert (out / name / stem).read_bytes() == (single / name / stem).read_bytes()


class _DiesAfterPublishing(SeparationWorker):
    """A worker that, the first time only (a marker file remembers), dies after writing a file's stems."""

    def __init__(self, model: str, threads: int, marker: str) -> None:
        super().__init__(model, threads)
        self.marker = Path(marker)

    def separate(self, input_path: str, output_dir: str, options: dict) -> object:
        outcome = super().separate(input_path, output_dir, options)
        if not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os._exit(1)  # before its outcome reaches the driver
        return outcome


def test_a_worker_that_dies_after_publishing_leaves_its_file_separated_not_failed(
    cluster: str, library: tuple[Path, Path], tmp_path: Path
) -> None:
    songs, single = library
    inputs = [songs / "song0.wav", songs / "song1.wav", songs / "song2.wav"]
    marker = tmp_path / "died"
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    ray.init(address=cluster, include_dashboard=False, log_to_driver=False)
    try:
        worker = ray.remote(num_cpus=1)(_DiesAfterPublishing)
        outcomes = list(_drive(lambda: worker.remote("default", 1, str(marker)), 2, inputs, str(tmp_path / "out"),
                               {"progress": False}))
    finally:
        ray.shutdown()
    assert marker.exists()  # a worker did die after publishing
    assert sorted(o.input.name for o in outcomes) == ["song0.wav", "song1.wav", "song2.wav"]
    assert all(o.error is None and not o.skipped for o in outcomes), outcomes
    assert _stems(tmp_path / "out") == {k: v for k, v in _stems(single).items() if k.split("/")[0] in
                                        ("song0", "song1", "song2")}


@pytest.mark.parametrize(("address", "message"), [
    ("song.mp3", "--ray takes local, auto or HOST:PORT, not 'song.mp3'"),
])
def test_an_input_taken_for_the_address_is_a_one_line_error(tmp_path: Path, address: str, message: str) -> None:
    write_song(tmp_path / "a.wav")
    code, _, err = _finish(_cli(str(tmp_path / "a.wav"), "-o", str(tmp_path / "out"), "--ray", address))
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
