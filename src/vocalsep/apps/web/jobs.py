"""The web page's jobs: uploaded songs waiting in one queue, run one at a time by one worker thread.

One separation at a time keeps the server's memory that of one song, however many are uploaded
at once (``pipeline.song.process_song`` streams, so that memory does not grow with the length);
the others wait on disk. Old finished jobs are deleted as new ones finish.
"""

from __future__ import annotations

import queue
import re
import shutil
import threading
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vocalsep.audio.encode import COMPRESSED
from vocalsep.errors import ConfigError, VocalsepError

#: Stem formats the page offers, as ``vocalsep separate --format``.
FORMATS = ("wav", "flac", *COMPRESSED)
#: kbit/s a compressed stem may be asked for (the encoders' useful range).
BITRATES = range(32, 321)
#: The result files, by the name the page uses; ``{ext}`` is the chosen format.
RESULT_FILES = {
    "vocals": "vocals.{ext}",
    "accompaniment": "accompaniment.{ext}",
    "spectrograms": "spectrograms.png",
    "melody": "melody.png",
    "notes": "notes.csv",
    "midi": "notes.mid",
    "f0": "f0.csv",
}
#: Finished jobs kept on disk; older ones are deleted as new ones finish (a long session fills no disk).
KEEP_JOBS = 20
#: Longest stored upload name in UTF-8 bytes (file systems stop at 255; the name also names a folder).
MAX_NAME = 100
UNSAFE = re.compile(r"[^\w.() -]+")


class Stopped(Exception):
    """Raised inside a running job when the server stops: the song is abandoned at its next block."""


def safe_name(name: str) -> str:
    """An upload's name as it may be stored: its last part, letters, digits and ``. _-() `` only, short.

    Examples
    --------
    >>> safe_name("../../etc/passwd")
    'passwd'
    >>> safe_name("C:\\\\music\\\\my song?.mp3")
    'my song_.mp3'
    """
    last = re.split(r"[/\\]", unicodedata.normalize("NFC", name))[-1]
    cleaned = UNSAFE.sub("_", last).strip(" .")
    stem, dot, suffix = cleaned.rpartition(".")
    if not dot or len(suffix) > 10:
        stem, suffix = cleaned, ""
    room = MAX_NAME - len(suffix) - 1
    stem = stem.encode()[:room].decode(errors="ignore").rstrip(" .")  # never half a character
    return f"{stem}.{suffix}" if stem and suffix else stem or ("song." + suffix if suffix else "song")


def _aggressiveness(text: str | None) -> float:
    from vocalsep.separation.separator import AGGRESSIVENESS_LIMIT

    try:
        level = float(text) if text else 0.0
    except ValueError:
        level = float("nan")
    if not -AGGRESSIVENESS_LIMIT <= level <= AGGRESSIVENESS_LIMIT:
        raise ConfigError(f"the aggressiveness is a number from -{AGGRESSIVENESS_LIMIT:g} to {AGGRESSIVENESS_LIMIT:g}")
    return level


@dataclass(frozen=True)
class StemOptions:
    """How a job's stems are made and written: how hard the voice is taken out (``Separator``'s
    aggressiveness), a format of ``FORMATS`` and, for compressed ones, kbit/s."""

    audio_format: str = "wav"
    bitrate: int | None = None
    aggressiveness: float = 0.0

    @classmethod
    def parse(cls, audio_format: str | None, bitrate: str | None, aggressiveness: str | None = None) -> StemOptions:
        """Options from a request's words; ``ConfigError`` (one line) for any other."""
        audio_format = audio_format or "wav"
        if audio_format not in FORMATS:
            raise ConfigError(f"unknown format {audio_format!r} (use {', '.join(FORMATS)})")
        level = _aggressiveness(aggressiveness)
        if not bitrate:
            return cls(audio_format, aggressiveness=level)
        if audio_format not in COMPRESSED:
            raise ConfigError(f"a bitrate is for {', '.join(COMPRESSED)}; {audio_format} is lossless")
        if not bitrate.isdigit() or int(bitrate) not in BITRATES:
            raise ConfigError(f"the bitrate is a number of kbit/s from {BITRATES[0]} to {BITRATES[-1]}")
        return cls(audio_format, int(bitrate), level)

    @property
    def bits(self) -> int | None:
        return 16 if self.audio_format == "wav" else None  # 16-bit wav: half the download of float


@dataclass
class Job:
    """One uploaded song and what has been made of it."""

    id: str
    name: str
    folder: Path
    options: StemOptions = StemOptions()
    state: str = "receiving"  # receiving, queued, separating, melody, done, failed
    progress: float = 0.0
    error: str | None = None
    summary: str | None = None
    files: dict[str, str] = field(default_factory=dict)  # published result files by key
    results: Path | None = None  # the folder of the result files
    created: float = field(default_factory=time.time)

    @property
    def upload(self) -> Path:
        return self.folder / "input" / self.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "state": self.state, "progress": round(self.progress, 3),
            "error": self.error, "summary": self.summary, "format": self.options.audio_format,
            "aggressiveness": self.options.aggressiveness,
            "files": {key: f"/files/{self.id}/{name}" for key, name in self.files.items()},
        }


class Workshop:
    """Jobs by id and the one worker thread that runs them in order; ``device`` (resolved: ``"cpu"`` or
    ``"cuda:N"``) runs their networks."""

    def __init__(self, folder: Path, model: str = "default", keep: int = KEEP_JOBS, *, device: str = "cpu") -> None:
        self.folder = folder
        self.model = model
        self.device = device
        self.keep = keep
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()  # the server's threads add jobs while the worker forgets old ones
        self.queue: queue.Queue[Job | None] = queue.Queue()
        self.closing = threading.Event()
        self.separator = None  # loaded by the worker on its first job
        self.worker = threading.Thread(target=self._work, name="vocalsep-web-worker", daemon=True)
        self.worker.start()

    def open_job(self, name: str, options: StemOptions) -> Job:
        """A new job whose upload is still to be written to ``job.upload``; ``submit`` or ``discard`` it."""
        job_id = uuid.uuid4().hex[:12]
        job = Job(job_id, safe_name(name), self.folder / job_id, options)
        job.upload.parent.mkdir(parents=True)
        with self.lock:
            self.jobs[job.id] = job
        return job

    def submit(self, job: Job) -> None:
        """Queue a job whose upload is stored."""
        job.state = "queued"
        self.queue.put(job)

    def discard(self, job: Job) -> None:
        """Forget a job whose upload failed, and its files."""
        with self.lock:
            self.jobs.pop(job.id, None)
        shutil.rmtree(job.folder, ignore_errors=True)

    def close(self, timeout: float = 30.0) -> None:
        """Stop the worker: the running song is abandoned at its next block, queued ones are left.

        Joined rather than left to die with the interpreter: a thread killed inside the network's
        native code at exit aborts the process (``terminate called without an active exception``).
        """
        self.closing.set()
        self.queue.put(None)
        self.worker.join(timeout)

    def _work(self) -> None:
        while True:
            job = self.queue.get()
            if job is None or self.closing.is_set():
                return
            try:
                self._run(job)
                job.state, job.progress = "done", 1.0
            except Stopped:
                job.state, job.error = "failed", "the server stopped before this song was done"
            except VocalsepError as error:  # said of the uploaded name, not of this server's folders
                job.state, job.error = "failed", str(error).replace(f"{job.upload.parent}/", "")
            except Exception as error:  # noqa: BLE001  (the page shows one line, the server keeps serving)
                job.state, job.error = "failed", f"internal error: {type(error).__name__}: {error}"[:300]
            self._forget_old()

    def _forget_old(self) -> None:
        """Delete the oldest finished jobs beyond ``keep``; their pages answer 404 from then on."""
        with self.lock:
            finished = sorted((job for job in self.jobs.values() if job.state in ("done", "failed")),
                              key=lambda job: job.created)
            old = finished[: max(0, len(finished) - self.keep)]
            for job in old:
                del self.jobs[job.id]
        for job in old:
            shutil.rmtree(job.folder, ignore_errors=True)

    def _run(self, job: Job) -> None:
        from vocalsep.pipeline.song import PICTURES, process_song
        from vocalsep.separation.separator import Separator

        if self.separator is None:
            self.separator = Separator.from_pretrained(self.model, device=self.device)
        job.state = "separating"

        def advance(done: int, total: int | None) -> None:
            if self.closing.is_set():
                raise Stopped
            job.progress = 0.95 * min(1.0, done / total) if total else 0.0

        options = job.options
        # one streamed pass: stems, melody and pictures together, whatever the song's length
        result = process_song(job.upload, job.folder / "out", stems=True, melody=True, pictures=PICTURES,
                              separator=self.separator, aggressiveness=options.aggressiveness,
                              audio_format=options.audio_format, bits=options.bits,
                              bitrate=options.bitrate, on_progress=advance, device=self.device)
        job.state, job.progress = "melody", 0.97  # drawing and publishing
        job.results = result.paths["vocals"].parent
        job.files = {key: name.format(ext=options.audio_format) for key, name in RESULT_FILES.items()}
        if result.melody is not None:
            job.summary = f"{len(result.melody.notes)} notes, {result.melody.summary.describe()}"

    def result_path(self, job_id: str, name: str) -> Path | None:
        """The file of a finished result, or None (unknown job, name or not made)."""
        job = self.jobs.get(job_id)
        if job is None or job.results is None or name not in job.files.values():
            return None
        return job.results / name
