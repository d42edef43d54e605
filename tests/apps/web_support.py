"""The web page's test helper: a real server on a free loopback port, served from a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vocalsep.apps.web import WebServer, make_server


@contextmanager
def serving(folder: Path, **options) -> Iterator[WebServer]:
    """``make_server(folder, port=0, ...)`` served from a thread while the block runs."""
    served = make_server(folder, port=0, **options)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not served.uvicorn.started and time.time() < deadline:
        time.sleep(0.02)
    try:
        yield served
    finally:
        served.shutdown()
        served.server_close()
