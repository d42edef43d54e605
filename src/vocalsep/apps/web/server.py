"""The web page's HTTP side: Starlette routes served by uvicorn.

Routes: ``GET /`` the page; ``POST /jobs?name=FILE&format=FMT&bitrate=K&aggressiveness=A`` the upload (the
file's raw bytes, streamed to disk block by block), answered 202 with the job as JSON;
``GET /jobs/ID`` the job as JSON; ``GET /files/ID/NAME`` one result file (with HTTP ranges,
so the players can seek); ``GET /favicon.svg`` (and ``.ico``) the icon. Errors are JSON
``{"error": "one line"}``.
"""

from __future__ import annotations

import socket
import threading
from importlib.resources import files
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from vocalsep.apps.web.access import LOOPBACK_NAMES, TokenGate, access_token, is_loopback
from vocalsep.apps.web.jobs import KEEP_JOBS, StemOptions, Workshop
from vocalsep.errors import VocalsepError

CONTENT_TYPES = {
    ".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg", ".ogg": "audio/ogg",
    ".opus": "audio/ogg; codecs=opus", ".m4a": "audio/mp4", ".png": "image/png",
    ".csv": "text/csv; charset=utf-8", ".mid": "audio/midi",
}
NO_STORE = {"Cache-Control": "no-store"}


class UploadTooLarge(Exception):
    pass


def _error(status: int, text: str) -> JSONResponse:
    return JSONResponse({"error": text}, status_code=status, headers=NO_STORE)


def make_app(workshop: Workshop, *, max_upload_bytes: int, token: str | None = None,
             allowed_hosts: tuple[str, ...] | None = None) -> Starlette:
    """The page's ASGI application over ``workshop``.

    Parameters
    ----------
    workshop : Workshop
    max_upload_bytes : int
        Larger uploads get 413, from their ``Content-Length`` or as soon as the stream passes it.
    token : str, optional
        Refuse (403) requests without it (``access.TokenGate``).
    allowed_hosts : tuple of str, optional
        ``Host`` names answered; others get 400.
    """
    page = files("vocalsep.apps.web").joinpath("page.html").read_bytes()
    icon = files("vocalsep.apps.web").joinpath("favicon.svg").read_bytes()
    limit_mb = f"{max_upload_bytes / 2**20:g} MB"

    async def home(request: Request) -> Response:
        return HTMLResponse(page, headers=NO_STORE)

    async def favicon(request: Request) -> Response:
        return Response(icon, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    async def job_status(request: Request) -> Response:
        job = workshop.jobs.get(request.path_params["job_id"])
        return JSONResponse(job.to_dict(), headers=NO_STORE) if job else _error(404, "not found")

    async def result(request: Request) -> Response:
        path = workshop.result_path(request.path_params["job_id"], request.path_params["name"])
        if path is None or not path.is_file():  # unknown, or an old job forgotten meanwhile
            return _error(404, "not found")
        return FileResponse(path, media_type=CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
                            filename=path.name, content_disposition_type="inline")

    async def upload(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit():
            if int(declared) == 0:
                return _error(400, "the upload is empty: choose an audio file")
            if int(declared) > max_upload_bytes:  # refused from the headers: the body is never read
                return _error(413, f"the file is larger than {limit_mb}")
        try:
            options = StemOptions.parse(request.query_params.get("format"), request.query_params.get("bitrate"),
                                        request.query_params.get("aggressiveness"))
        except VocalsepError as error:
            return _error(400, str(error))
        job = workshop.open_job(request.query_params.get("name", "song"), options)
        received = 0
        try:
            with job.upload.open("wb") as stored:
                async for block in request.stream():  # uvicorn hands the body over in small blocks
                    received += len(block)
                    if received > max_upload_bytes:
                        raise UploadTooLarge
                    stored.write(block)
        except UploadTooLarge:
            workshop.discard(job)
            return _error(413, f"the file is larger than {limit_mb}")
        except ClientDisconnect:
            workshop.discard(job)
            return _error(400, "the upload ended early")
        except OSError as error:
            workshop.discard(job)
            return _error(507, f"cannot store the upload: {error.strerror or error}")
        if received == 0:
            workshop.discard(job)
            return _error(400, "the upload is empty: choose an audio file")
        workshop.submit(job)
        return JSONResponse(job.to_dict(), status_code=202, headers=NO_STORE)

    async def not_found(request: Request, exc: HTTPException) -> Response:
        return _error(exc.status_code, "not found" if exc.status_code == 404 else str(exc.detail))

    middleware = []
    if allowed_hosts:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    if token:
        middleware.append(Middleware(TokenGate, token=token))
    routes = [
        Route("/", home), Route("/favicon.svg", favicon), Route("/favicon.ico", favicon),
        Route("/jobs", upload, methods=["POST"]), Route("/jobs/{job_id}", job_status),
        Route("/files/{job_id}/{name}", result),
    ]
    return Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: not_found})


class WebServer:
    """The page bound to its port (so a busy port is an error before serving), served by uvicorn.

    ``serve_forever`` blocks (Ctrl+C stops it when called from the main thread); ``shutdown``
    stops it from another thread; ``server_close`` releases the port and stops the worker.
    """

    def __init__(self, app: Starlette, sock: socket.socket, workshop: Workshop, token: str | None) -> None:
        import uvicorn

        self.socket, self.workshop, self.token = sock, workshop, token
        self.server_address = sock.getsockname()[:2]
        # quiet (the page is local); a player's open connection delays exit by a second at most
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=1, limit_concurrency=200)
        self.uvicorn = uvicorn.Server(config)
        self.stopped = threading.Event()

    @property
    def url(self) -> str:
        """The page's address, with the token when one is needed."""
        host, port = self.server_address
        if host in ("0.0.0.0", "::"):
            host = socket.gethostname()  # every address: say the one others can reach
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{'localhost' if host == '127.0.0.1' else host}:{port}/" + (
            f"?token={self.token}" if self.token else "")

    def serve_forever(self) -> None:
        try:
            self.uvicorn.run(sockets=[self.socket])
        finally:
            self.stopped.set()

    def shutdown(self) -> None:
        self.uvicorn.should_exit = True
        self.stopped.wait(10)

    def server_close(self) -> None:
        """Release the port and stop the worker (a running song is abandoned)."""
        self.socket.close()
        self.workshop.close()


def make_server(
    folder: str | Path, *, host: str = "127.0.0.1", port: int = 8765, model: str = "default",
    max_upload_mb: float = 1024, keep_jobs: int = KEEP_JOBS, token: str | None = None, device: str = "cpu",
) -> WebServer:
    """A server (not yet serving) whose jobs live in ``folder``; ``port=0`` picks a free port.

    Beyond loopback a random access token is required (``access.access_token``); ``token``
    sets it, and ``token=""`` asks for a random one on loopback too. ``device`` runs the jobs'
    networks (``device.resolve_device``; a missing GPU is a ``ConfigError`` before the port is taken).
    """
    from vocalsep.device import resolve_device

    device = resolve_device(device)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        sock = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as error:
        raise VocalsepError(f"cannot serve on {host}:{port}: {error.strerror or error}") from None
    token = access_token(host, token)
    workshop = Workshop(folder, model, keep_jobs, device=device)
    # on loopback, only this computer's own names (Starlette's host check cannot parse IPv6 names)
    names = (*LOOPBACK_NAMES, host) if is_loopback(host) and ":" not in host else None
    app = make_app(workshop, max_upload_bytes=int(max_upload_mb * 2**20), token=token, allowed_hosts=names)
    return WebServer(app, sock, workshop, token)
