"""A local web page: upload a song, get its vocals, accompaniment, melody and pictures.

``vocalsep web`` serves one page on this computer (127.0.0.1 by default; nothing leaves it):
``server.py`` the routes (Starlette on uvicorn), ``jobs.py`` the queue and its one worker,
``access.py`` the token a shared page requires, ``page.html`` the page and its script.
"""

from vocalsep.apps.web.server import WebServer, make_server

__all__ = ["WebServer", "make_server"]
