"""A local web page: upload a song, get its vocals, accompaniment, melody and pictures.

``vocalsep web`` serves one page on this computer (127.0.0.1 by default; nothing leaves it).
The browser sends the file's bytes; a single worker runs one song at a time through
``pipeline.song.process_song``: stems, melody and pictures in one streamed pass, in memory
that does not grow with the song's length; the page polls the job and shows players,
pictures and download links.
Standard library only: ``http.server`` and threads.

Routes: ``GET /`` the page; ``POST /jobs?name=FILE`` the upload (raw bytes), answered with
the job's id; ``GET /jobs/ID`` the job as JSON; ``GET /files/ID/NAME`` one result file.
"""

from __future__ import annotations

import json
import queue
import re
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, unquote, urlsplit

from vocalsep.errors import VocalsepError

#: Result files a job can publish, by the name the page uses.
RESULT_FILES = {
    "vocals": "vocals.wav",
    "accompaniment": "accompaniment.wav",
    "spectrograms": "spectrograms.png",
    "melody": "melody.png",
    "notes": "notes.csv",
    "midi": "notes.mid",
    "f0": "f0.csv",
}
CONTENT_TYPES = {".wav": "audio/wav", ".png": "image/png", ".csv": "text/csv", ".mid": "audio/midi"}
#: Finished jobs kept on disk; older ones are deleted as new ones finish (a long session fills no disk).
KEEP_JOBS = 20
SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass
class Job:
    """One uploaded song and what has been made of it."""

    id: str
    name: str
    folder: Path
    state: str = "queued"  # queued, separating, melody, done, failed
    progress: float = 0.0
    error: str | None = None
    summary: str | None = None
    files: list[str] = field(default_factory=list)
    results: Path | None = None  # the folder of the result files
    created: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "state": self.state, "progress": round(self.progress, 3),
            "error": self.error, "summary": self.summary,
            "files": {key: f"/files/{self.id}/{RESULT_FILES[key]}" for key in self.files},
        }


class Workshop:
    """Jobs by id and the one worker thread that runs them in order."""

    def __init__(self, folder: Path, model: str = "default", keep: int = KEEP_JOBS) -> None:
        self.folder = folder
        self.model = model
        self.keep = keep
        self.jobs: dict[str, Job] = {}
        self.queue: queue.Queue[Job] = queue.Queue()
        self.separator = None  # loaded by the worker on its first job
        self.worker = threading.Thread(target=self._work, name="vocalsep-web-worker", daemon=True)
        self.worker.start()

    def submit(self, name: str, upload: BinaryIO, length: int) -> Job:
        """Store ``length`` bytes of an upload (copied in blocks, never held whole) and queue it."""
        safe = SAFE_NAME.sub("_", Path(name).name).strip(" .") or "song"
        job_id = uuid.uuid4().hex[:12]
        folder = self.folder / job_id
        (folder / "input").mkdir(parents=True)
        try:
            with (folder / "input" / safe).open("wb") as stored:
                remaining = length
                while remaining > 0:
                    block = upload.read(min(remaining, 1 << 20))
                    if not block:
                        raise VocalsepError("the upload ended early")
                    stored.write(block)
                    remaining -= len(block)
        except OSError as error:
            shutil.rmtree(folder, ignore_errors=True)
            raise VocalsepError(f"cannot store the upload: {error.strerror or error}") from None
        except VocalsepError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        job = Job(job_id, safe, folder)
        self.jobs[job_id] = job
        self.queue.put(job)
        return job

    def _work(self) -> None:
        while True:
            job = self.queue.get()
            try:
                self._run(job)
                job.state, job.progress = "done", 1.0
            except VocalsepError as error:  # said of the uploaded name, not of this server's folders
                job.state, job.error = "failed", str(error).replace(f"{job.folder / 'input'}/", "")
            except Exception as error:  # noqa: BLE001  (the page shows one line, the server keeps serving)
                job.state, job.error = "failed", f"internal error: {type(error).__name__}: {error}"[:300]
            self._forget_old()

    def _forget_old(self) -> None:
        """Delete the oldest finished jobs beyond ``keep``; their pages answer 404 from then on."""
        finished = [job for job in list(self.jobs.values()) if job.state in ("done", "failed")]  # uploads add jobs meanwhile
        for job in sorted(finished, key=lambda job: job.created)[: max(0, len(finished) - self.keep)]:
            self.jobs.pop(job.id, None)
            shutil.rmtree(job.folder, ignore_errors=True)

    def _run(self, job: Job) -> None:
        from vocalsep.pipeline.song import PICTURES, process_song
        from vocalsep.separation.separator import Separator

        song = job.folder / "input" / job.name
        if self.separator is None:
            self.separator = Separator.from_pretrained(self.model)
        job.state = "separating"

        def advance(done: int, total: int | None) -> None:
            job.progress = 0.95 * min(1.0, done / total) if total else 0.0

        # one streamed pass: stems, melody and pictures together, whatever the song's length
        result = process_song(song, job.folder / "out", stems=True, melody=True, pictures=PICTURES,
                              separator=self.separator, bits=16, on_progress=advance)
        job.state, job.progress = "melody", 0.97  # drawing and publishing
        job.results = result.paths["vocals"].parent
        job.files = list(RESULT_FILES)
        assert result.melody is not None
        job.summary = f"{len(result.melody.notes)} notes, {result.melody.summary.describe()}"

    def result_path(self, job_id: str, name: str) -> Path | None:
        """The file of a finished result, or None (unknown job, name or not made)."""
        job = self.jobs.get(job_id)
        if job is None or job.results is None or name not in {RESULT_FILES[key] for key in job.files}:
            return None
        return job.results / name


def make_handler(workshop: Workshop, max_upload_bytes: int) -> type[BaseHTTPRequestHandler]:
    """The request handler bound to ``workshop``."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "vocalsep"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002  (quiet: the page is local)
            pass

        def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
            parts = [unquote(p) for p in urlsplit(self.path).path.split("/") if p]
            if not parts:
                self._send(HTTPStatus.OK, PAGE.encode(), "text/html; charset=utf-8")
            elif len(parts) == 2 and parts[0] == "jobs" and (job := workshop.jobs.get(parts[1])):
                self._json(HTTPStatus.OK, job.to_dict())
            elif len(parts) == 3 and parts[0] == "files" and (path := workshop.result_path(parts[1], parts[2])):
                self._send_file(path)
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            if url.path != "/jobs":
                self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0:
                self._json(HTTPStatus.BAD_REQUEST, {"error": "the upload is empty: choose an audio file"})
                return
            if length > max_upload_bytes:
                self.close_connection = True  # the rest of the body is not read
                self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                           {"error": f"the file is larger than {max_upload_bytes // 2**20} MB"})
                return
            name = parse_qs(url.query).get("name", ["song"])[0]
            try:
                job = workshop.submit(name, self.rfile, length)
            except VocalsepError as error:
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
                return
            self._json(HTTPStatus.ACCEPTED, job.to_dict())

        def _send_file(self, path: Path) -> None:
            """Stream a result file in blocks (an hour of stems is hundreds of MB)."""
            try:
                stream = path.open("rb")
            except OSError:  # deleted meanwhile (an old job forgotten)
                self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
                return
            with stream:
                size = path.stat().st_size
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", CONTENT_TYPES.get(path.suffix, "application/octet-stream"))
                self.send_header("Content-Length", str(size))
                self.send_header("Content-Disposition", f'inline; filename="{path.name}"')
                self.end_headers()
                shutil.copyfileobj(stream, self.wfile, 1 << 20)

        def _json(self, status: HTTPStatus, value: dict[str, Any]) -> None:
            self._send(status, json.dumps(value).encode(), "application/json")

        def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    return Handler


def make_server(
    folder: str | Path, *, host: str = "127.0.0.1", port: int = 8765, model: str = "default",
    max_upload_mb: int = 1024, keep_jobs: int = KEEP_JOBS,
) -> ThreadingHTTPServer:
    """A server (not yet serving) whose jobs live in ``folder``; ``port=0`` picks a free port."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    workshop = Workshop(folder, model, keep_jobs)
    try:
        server = ThreadingHTTPServer((host, port), make_handler(workshop, max_upload_mb * 2**20))
    except OSError as error:
        raise VocalsepError(f"cannot serve on {host}:{port}: {error.strerror or error}") from None
    server.workshop = workshop  # type: ignore[attr-defined]
    return server


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vocalsep</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font-family: system-ui, sans-serif; max-width: 58rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { margin-bottom: .2rem; } .lead { color: #555; margin-top: 0; }
.drop { border: 2px dashed #999; border-radius: .6rem; padding: 1.5rem; text-align: center; }
button { font-size: 1rem; padding: .45rem 1.2rem; margin-top: .8rem; }
progress { width: 100%; height: 1.2rem; } .error { color: #b00020; font-weight: 600; }
.job { border-top: 1px solid #ddd; margin-top: 1.5rem; padding-top: 1rem; }
.stem { display: flex; align-items: center; gap: 1rem; margin: .4rem 0; } .stem b { width: 8rem; }
img { max-width: 100%; border: 1px solid #eee; margin: .5rem 0; } a { margin-right: 1rem; }
</style></head><body>
<h1>vocalsep</h1>
<p class="lead">Pull the singing voice out of a song. Everything runs on this computer.</p>
<div class="drop">
  <input type="file" id="file" accept="audio/*,.mp3,.wav,.flac,.ogg,.m4a,.aac,.opus,.aiff">
  <br><button id="go">Separate</button>
  <p id="message" class="error"></p>
</div>
<div id="jobs"></div>
<script>
const go = document.getElementById("go"), file = document.getElementById("file");
const message = document.getElementById("message"), jobs = document.getElementById("jobs");
const words = {queued: "waiting", separating: "separating the voice", melody: "tracking the melody, drawing", done: "done", failed: "failed"};
go.onclick = async () => {
  message.textContent = "";
  if (!file.files.length) { message.textContent = "Choose an audio file first."; return; }
  const chosen = file.files[0];
  go.disabled = true;
  try {
    const answer = await fetch("/jobs?name=" + encodeURIComponent(chosen.name), {method: "POST", body: chosen});
    const job = await answer.json();
    if (!answer.ok) { message.textContent = job.error; return; }
    const box = document.createElement("div"); box.className = "job"; jobs.prepend(box);
    follow(job.id, box);
  } catch (e) { message.textContent = "The upload failed: " + e; }
  finally { go.disabled = false; }
};
async function follow(id, box) {
  const job = await (await fetch("/jobs/" + id)).json();
  show(job, box);
  if (job.state !== "done" && job.state !== "failed") setTimeout(() => follow(id, box), 700);
}
function show(job, box) {
  const esc = s => String(s).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
  let html = `<h3>${esc(job.name)}</h3><p>${words[job.state]}</p>`;
  if (job.state !== "done" && job.state !== "failed") html += `<progress value="${job.progress}" max="1"></progress>`;
  if (job.error) html += `<p class="error">${esc(job.error)}</p>`;
  const f = job.files;
  for (const stem of ["vocals", "accompaniment"]) if (f[stem])
    html += `<div class="stem"><b>${stem}</b><audio controls preload="none" src="${f[stem]}"></audio><a href="${f[stem]}" download>download</a></div>`;
  if (job.summary) html += `<p>${esc(job.summary)}</p>`;
  if (f.spectrograms) html += `<h4>Spectrograms: the song, then the voice</h4><img src="${f.spectrograms}" alt="spectrograms">`;
  if (f.melody) html += `<h4>Melody over the voice</h4><img src="${f.melody}" alt="melody">`;
  const links = [["notes", "notes.csv"], ["midi", "notes.mid"], ["f0", "f0.csv"]].filter(([k]) => f[k]);
  if (links.length) html += "<p>" + links.map(([k, n]) => `<a href="${f[k]}" download>${n}</a>`).join("") + "</p>";
  box.innerHTML = html;
}
</script></body></html>
"""
