"""The local web page: uploads become jobs whose stems, melody and pictures can be fetched."""

from __future__ import annotations

import http.client
import io
import shutil
import subprocess
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import soundfile
from support import tiny_checkpoint, write_song

from vocalsep.errors import VocalsepError
from vocalsep.apps.web import make_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A served page on a free port with the tiny model; yields its base URL."""
    served = make_server(tmp_path / "jobs", port=0, model=str(tiny_checkpoint(tmp_path)), max_upload_mb=1)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{served.server_address[1]}"
    served.shutdown()
    served.server_close()


def _request(url: str, data: bytes | None = None) -> tuple[int, bytes, str]:
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read(), answer.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type", "")


def _finished(base: str, job_id: str, seconds: float = 120.0) -> dict:
    deadline = time.time() + seconds
    while time.time() < deadline:
        job = json.loads(_request(f"{base}/jobs/{job_id}")[1])
        if job["state"] in ("done", "failed"):
            return job
        assert 0.0 <= job["progress"] <= 1.0
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['state']} after {seconds} s")


def test_the_page_is_served(server: str) -> None:
    status, body, kind = _request(server + "/")
    assert status == 200 and kind.startswith("text/html")
    assert b"<input type=\"file\"" in body and b"Separate" in body


def test_an_upload_gives_stems_melody_and_pictures(server: str, tmp_path: Path) -> None:
    mixture = write_song(tmp_path / "my song.wav", seconds=2.0, rate=16000)
    status, body, _ = _request(server + "/jobs?name=my%20song.wav", (tmp_path / "my song.wav").read_bytes())
    assert status == 202
    job = _finished(server, json.loads(body)["id"])
    assert job["state"] == "done" and job["error"] is None and "notes" in job["summary"]
    assert set(job["files"]) == {"vocals", "accompaniment", "spectrograms", "melody", "notes", "midi", "f0"}
    stems = {}
    for stem in ("vocals", "accompaniment"):
        status, data, kind = _request(server + job["files"][stem])
        assert status == 200 and kind == "audio/wav"
        stems[stem], rate = soundfile.read(io.BytesIO(data), always_2d=True)
        assert rate == 16000 and stems[stem].shape == mixture.T.shape
    # 16-bit stems that sum back to the upload
    np.testing.assert_allclose(stems["vocals"] + stems["accompaniment"], mixture.T, atol=2e-4)
    for picture in ("spectrograms", "melody"):
        status, data, kind = _request(server + job["files"][picture])
        assert status == 200 and kind == "image/png" and data.startswith(b"\x89PNG")
    status, data, _ = _request(server + job["files"]["notes"])
    assert status == 200 and data.splitlines()[0].startswith(b"onset")


def test_bad_uploads_get_one_line_and_no_results(server: str, tmp_path: Path) -> None:
    status, body, _ = _request(server + "/jobs?name=empty.mp3", b"")
    assert status == 400 and "empty" in json.loads(body)["error"]
    # refused from its headers alone: the body is never read (here never even sent)
    connection = http.client.HTTPConnection(*urlsplit(server).netloc.split(":"), timeout=30)
    connection.putrequest("POST", "/jobs?name=big.wav")
    connection.putheader("Content-Length", str(2**20 + 1))
    connection.endheaders()
    answer = connection.getresponse()
    assert answer.status == 413 and "larger than 1 MB" in json.loads(answer.read())["error"]
    connection.close()
    status, body, _ = _request(server + "/jobs?name=../../notes.mp3", b"this is not audio")
    assert status == 202
    job = _finished(server, json.loads(body)["id"])
    assert job["state"] == "failed" and job["files"] == {}
    assert "notes.mp3: not a readable audio file" in job["error"] and "\n" not in job["error"]
    assert job["error"].startswith("notes.mp3:") and str(tmp_path) not in job["error"]  # no server folders


def test_only_published_results_can_be_fetched(server: str, tmp_path: Path) -> None:
    write_song(tmp_path / "a.wav", seconds=1.0)
    job = _finished(server, json.loads(_request(server + "/jobs?name=a.wav", (tmp_path / "a.wav").read_bytes())[1])["id"])
    assert job["state"] == "done"
    for path in (f"/files/{job['id']}/..%2Finput%2Fa.wav", f"/files/{job['id']}/a.wav", "/files/nojob/vocals.wav",
                 "/jobs/nojob", "/etc/passwd"):
        status, body, _ = _request(server + path)
        assert status == 404 and json.loads(body) == {"error": "not found"}


def test_a_busy_port_is_one_error_line(tmp_path: Path) -> None:
    first = make_server(tmp_path / "one", port=0)
    try:
        with pytest.raises(VocalsepError, match=r"cannot serve on 127\.0\.0\.1:\d+"):
            make_server(tmp_path / "two", port=first.server_address[1])
    finally:
        first.server_close()


def test_the_command_reports_a_busy_port_in_one_line(tmp_path: Path, capsys) -> None:
    from vocalsep.apps.cli import main

    first = make_server(tmp_path / "one", port=0)
    try:
        code = main(["web", "--port", str(first.server_address[1]), "--folder", str(tmp_path / "two")])
    finally:
        first.server_close()
    error = capsys.readouterr().err
    assert code != 0 and "cannot serve on" in error and len(error.strip().splitlines()) == 1


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the page's script")
def test_the_pages_own_script_uploads_and_shows_the_results(server: str, tmp_path: Path) -> None:
    write_song(tmp_path / "song.wav", seconds=1.0)
    harness = Path(__file__).with_name("web_page_harness.js")
    result = subprocess.run(["node", str(harness), server, str(tmp_path / "song.wav")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    html = result.stdout
    assert "<h3>my song.wav</h3>" in html  # the name is escaped and shown as chosen
    for stem in ("vocals", "accompaniment"):
        assert '<audio controls preload="none" src="/files/' in html and f"/{stem}.wav" in html
    for name in ("spectrograms.png", "melody.png", "notes.csv", "notes.mid", "f0.csv"):
        assert name in html


def test_old_jobs_are_deleted_as_new_ones_finish(tmp_path: Path) -> None:
    served = make_server(tmp_path / "jobs", port=0, model=str(tiny_checkpoint(tmp_path)), keep_jobs=2)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{served.server_address[1]}"
    try:
        write_song(tmp_path / "s.wav", seconds=0.5)
        ids = []
        for index in range(3):
            job = json.loads(_request(f"{base}/jobs?name=s{index}.wav", (tmp_path / "s.wav").read_bytes())[1])
            ids.append(job["id"])
            _finished(base, job["id"])
        time.sleep(0.5)  # the worker forgets after marking the job done
        assert _request(f"{base}/jobs/{ids[0]}")[0] == 404 and not (tmp_path / "jobs" / ids[0]).exists()
        for kept in ids[1:]:
            assert _request(f"{base}/jobs/{kept}")[0] == 200 and (tmp_path / "jobs" / kept).is_dir()
    finally:
        served.shutdown()
        served.server_close()
