"""The local web page: uploads become jobs whose stems, melody and pictures can be fetched."""

from __future__ import annotations

import http.client
import io
import json
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import soundfile
from support import tiny_checkpoint, write_song
from web_support import serving

from vocalsep.apps.web import make_server
from vocalsep.apps.web.jobs import StemOptions
from vocalsep.errors import VocalsepError


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A served page on a free port with the tiny model; yields its base URL."""
    with serving(tmp_path / "jobs", model=str(tiny_checkpoint(tmp_path)), max_upload_mb=1) as served:
        yield f"http://127.0.0.1:{served.server_address[1]}"


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


def _separated(server: str, song: Path, query: str = "") -> dict:
    """Upload a generated 1-second ``song`` (``query`` added to the upload's) and wait for its job."""
    write_song(song, seconds=1.0, rate=16000)
    status, body, _ = _request(f"{server}/jobs?name={song.name}{query}", song.read_bytes())
    assert status == 202, body
    return _finished(server, json.loads(body)["id"])


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
        assert status == 200 and kind == "audio/wav" and job["files"][stem].endswith(f"/{stem}.wav")
        stems[stem], rate = soundfile.read(io.BytesIO(data), always_2d=True)
        assert rate == 16000 and stems[stem].shape == mixture.T.shape
    # 16-bit stems that sum back to the upload
    np.testing.assert_allclose(stems["vocals"] + stems["accompaniment"], mixture.T, atol=2e-4)
    for picture in ("spectrograms", "melody"):
        status, data, kind = _request(server + job["files"][picture])
        assert status == 200 and kind == "image/png" and data.startswith(b"\x89PNG")
    status, data, kind = _request(server + job["files"]["notes"])
    assert status == 200 and data.splitlines()[0].startswith(b"onset") and kind == "text/csv; charset=utf-8"
    assert _request(server + job["files"]["midi"])[2] == "audio/midi"


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
    job = _separated(server, tmp_path / "a.wav")
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


def test_old_jobs_are_deleted_as_new_ones_finish(tmp_path: Path) -> None:
    with serving(tmp_path / "jobs", model=str(tiny_checkpoint(tmp_path)), keep_jobs=2) as served:
        base = f"http://127.0.0.1:{served.server_address[1]}"
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


def _fetch(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None,
           opener: urllib.request.OpenerDirector | None = None) -> tuple[int, bytes, dict[str, str]]:
    """Status, body and headers of one request (no redirect followed unless ``opener`` does)."""
    method = "POST" if data is not None else "GET"
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with (opener or _no_redirects).open(request, timeout=30) as answer:
            return answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
        return None


_no_redirects = urllib.request.build_opener(_NoRedirect)


def test_results_are_served_in_ranges_so_players_can_seek(server: str, tmp_path: Path) -> None:
    job = _separated(server, tmp_path / "a.wav")
    url = server + job["files"]["vocals"]
    status, whole, headers = _fetch(url)
    assert status == 200 and headers["accept-ranges"] == "bytes" and int(headers["content-length"]) == len(whole)
    status, part, headers = _fetch(url, headers={"Range": "bytes=1000-1999"})
    assert status == 206 and headers["content-range"] == f"bytes 1000-1999/{len(whole)}" and part == whole[1000:2000]
    status, tail, headers = _fetch(url, headers={"Range": "bytes=-100"})
    assert status == 206 and tail == whole[-100:]
    status, _, headers = _fetch(url, headers={"Range": f"bytes={len(whole)}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{len(whole)}"


def test_the_chosen_format_and_bitrate_make_the_stems(server: str, tmp_path: Path) -> None:
    job = _separated(server, tmp_path / "a.wav", "&format=mp3&bitrate=96")
    assert job["state"] == "done" and job["format"] == "mp3" and job["files"]["vocals"].endswith("/vocals.mp3")
    status, data, kind = _request(server + job["files"]["accompaniment"])
    assert status == 200 and kind == "audio/mpeg"
    (tmp_path / "got.mp3").write_bytes(data)
    info = soundfile.info(tmp_path / "got.mp3")
    assert info.samplerate == 16000 and abs(info.duration - 1.0) < 0.1
    assert 8_000 < len(data) < 20_000  # 96 kbit/s for a second, not the 192 default


def test_the_chosen_aggressiveness_takes_more_out_of_the_voice(server: str, tmp_path: Path) -> None:
    energies = {}
    for level in ("0", "2"):
        job = _separated(server, tmp_path / f"a{level}.wav", f"&aggressiveness={level}")
        assert job["state"] == "done" and job["aggressiveness"] == float(level)
        status, data, _ = _request(server + job["files"]["vocals"])
        (tmp_path / f"vocals{level}.wav").write_bytes(data)
        energies[level] = float(np.square(soundfile.read(tmp_path / f"vocals{level}.wav")[0]).sum())
    assert energies["2"] < 0.8 * energies["0"]


@pytest.mark.parametrize("query, error", [
    ("format=aiff", "unknown format 'aiff'"),
    ("aggressiveness=3", "the aggressiveness is a number from -2 to 2"),
    ("aggressiveness=loud", "the aggressiveness is a number from -2 to 2"),
    ("format=wav&bitrate=192", "wav is lossless"),
    ("format=mp3&bitrate=9999", "the bitrate is a number of kbit/s from 32 to 320"),
])
def test_a_bad_format_or_bitrate_is_one_line(server: str, query: str, error: str) -> None:
    status, body, _ = _request(f"{server}/jobs?name=a.wav&{query}", b"RIFF....")
    assert status == 400 and error in json.loads(body)["error"] and "\n" not in json.loads(body)["error"]


def test_an_upload_without_a_length_is_cut_off_at_the_limit(server: str, tmp_path: Path) -> None:
    connection = http.client.HTTPConnection(*urlsplit(server).netloc.split(":"), timeout=30)
    blocks = (bytes(64 * 1024) for _ in range(40))  # 2.5 MB, chunked: no Content-Length to refuse it by
    connection.request("POST", "/jobs?name=big.wav", body=blocks, encode_chunked=True)
    answer = connection.getresponse()
    assert answer.status == 413 and "larger than 1 MB" in json.loads(answer.read())["error"]
    connection.close()
    assert list((tmp_path / "jobs").iterdir()) == []  # the partial upload is deleted


def test_upload_names_never_reach_the_file_system_unsanitised(server: str, tmp_path: Path) -> None:
    from vocalsep.apps.web.jobs import MAX_NAME

    names = {
        "../../escape.wav": "escape.wav", "..\\..\\win.wav": "win.wav", "/etc/passwd": "passwd",
        "\x00nul\n.wav": "_nul_.wav", "..": "song", "a?b*c|d<e>.wav": "a_b_c_d_e_.wav",
        "Café del Mar.flac": "Café del Mar.flac", "é" * 200 + ".mp3": "é" * 48 + ".mp3",
    }
    for name, stored in names.items():
        status, body, _ = _request(f"{server}/jobs?name={urllib.parse.quote(name)}", b"not audio")
        job = json.loads(body)
        assert status == 202 and job["name"] == stored and len(stored.encode()) <= MAX_NAME
        assert (tmp_path / "jobs" / job["id"] / "input" / stored).is_file()
    _finished(server, job["id"])
    on_disk = {path.relative_to(tmp_path).parts[:4] for path in tmp_path.rglob("*") if path.is_file()}
    assert {parts[0] for parts in on_disk} == {"jobs", "tiny.pt"}  # nothing escaped the jobs folder
    assert all(parts[2] in ("input", "out") for parts in on_disk if parts[0] == "jobs")


def test_the_icon_and_the_content_types(server: str) -> None:
    for path in ("/favicon.svg", "/favicon.ico"):
        status, body, headers = _fetch(server + path)
        assert status == 200 and headers["content-type"] == "image/svg+xml" and body.startswith(b"<svg")
    status, body, headers = _fetch(server + "/")
    assert headers["content-type"] == "text/html; charset=utf-8" and b'rel="icon" href="/favicon.svg"' in body
    assert b'<select id="format">' in body


def test_a_loopback_page_refuses_other_host_names(server: str) -> None:
    """A site that points its own name at 127.0.0.1 (DNS rebinding) is not answered."""
    assert _fetch(server + "/", headers={"Host": "attacker.example"})[0] == 400
    assert _fetch(server + "/", headers={"Host": f"localhost:{urlsplit(server).port}"})[0] == 200


def test_a_page_on_another_loopback_address_answers_to_it(tmp_path: Path) -> None:
    with serving(tmp_path / "jobs", host="127.0.0.2") as served:
        assert served.token is None and served.url == f"http://127.0.0.2:{served.server_address[1]}/"
        assert _fetch(served.url)[0] == 200


def test_beyond_loopback_a_random_token_is_required() -> None:
    from vocalsep.apps.web.access import access_token, is_loopback

    assert access_token("127.0.0.1", None) is None and access_token("localhost", None) is None
    assert access_token("::1", None) is None and access_token("127.0.0.1", "mine") == "mine"
    tokens = {access_token(host, None) for host in ("0.0.0.0", "192.168.1.20", "::", "myhost.lan")}
    assert None not in tokens and len(tokens) == 4 and all(len(t) >= 32 for t in tokens)  # random per start
    assert len({access_token("127.0.0.1", "") for _ in range(3)}) == 3
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org") and is_loopback("127.0.0.2")


def test_a_page_with_a_token_refuses_requests_without_it(tmp_path: Path) -> None:
    import http.cookiejar

    write_song(tmp_path / "a.wav", seconds=0.5)
    with serving(tmp_path / "jobs", model=str(tiny_checkpoint(tmp_path)), token="") as served:
        base, token = f"http://127.0.0.1:{served.server_address[1]}", served.token
        assert token and served.url.endswith(f"/?token={token}")
        for path in ("/", "/jobs/x", "/favicon.svg", f"/?token={token}x", "/?token="):
            status, body, _ = _fetch(base + path)
            assert status == 403 and "needs its access token" in json.loads(body)["error"]
        status, body, _ = _fetch(base + "/jobs?name=a.wav", data=(tmp_path / "a.wav").read_bytes())
        assert status == 403 and list((tmp_path / "jobs").iterdir()) == []  # nothing stored
        # the token once in the URL, then the cookie (as a browser does); the URL loses the token
        status, _, headers = _fetch(f"{base}/?token={token}")
        assert status == 303 and headers["location"] == f"{base}/"
        assert "HttpOnly" in headers["set-cookie"] and "SameSite=strict" in headers["set-cookie"]
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        status, page, _ = _fetch(f"{base}/?token={token}", opener=browser)
        assert status == 200 and b"<input type=\"file\"" in page
        status, body, _ = _fetch(base + "/jobs?name=a.wav", data=(tmp_path / "a.wav").read_bytes(), opener=browser)
        assert status == 202
        job = json.loads(body)
        assert _fetch(f"{base}/jobs/{job['id']}", opener=browser)[0] == 200
        # a script sends it as a header
        assert _fetch(f"{base}/jobs/{job['id']}", headers={"Authorization": f"Bearer {token}"})[0] == 200
        assert _fetch(f"{base}/jobs/{job['id']}", headers={"Authorization": "Bearer wrong"})[0] == 403


def test_ctrl_c_stops_the_command_and_removes_its_folder(tmp_path: Path) -> None:
    import os
    import re
    import signal
    import subprocess
    import sys

    server = subprocess.Popen([sys.executable, "-m", "vocalsep", "web", "--port", "0", "--token"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        match = re.search(r"http://localhost:(\d+)/\?token=(\S{32,})  \(results in (\S+), removed on exit", line)
        assert match, line
        base, token, folder = f"http://127.0.0.1:{match[1]}", match[2], Path(match[3])
        for _ in range(100):
            try:
                status = _fetch(f"{base}/?token={token}")[0]
                break
            except OSError:  # not serving yet
                time.sleep(0.1)
        assert status == 303 and folder.is_dir()
        server.send_signal(signal.SIGINT)
        _, error = server.communicate(timeout=20)
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGKILL)
    assert server.returncode == 0 and error == "" and not folder.exists()


def test_closing_the_server_stops_the_worker_mid_song(tmp_path: Path) -> None:
    """A worker left to die with the interpreter inside native code aborts the process (exit 134)."""
    write_song(tmp_path / "long.wav", seconds=30.0)
    served = make_server(tmp_path / "jobs", port=0, model=str(tiny_checkpoint(tmp_path)))
    job = served.workshop.open_job("long.wav", StemOptions())
    shutil.copyfile(tmp_path / "long.wav", job.upload)
    served.workshop.submit(job)
    deadline = time.time() + 60
    while job.progress == 0 and time.time() < deadline:
        time.sleep(0.02)
    assert job.state == "separating" and 0 < job.progress < 0.9
    started = time.time()
    served.server_close()
    assert not served.workshop.worker.is_alive() and time.time() - started < 5
    assert job.state == "failed" and job.error == "the server stopped before this song was done"
