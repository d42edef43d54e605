"""Who may use the page: anyone on this computer, and with the access token when it is shared.

``vocalsep web --host`` beyond loopback puts the page on a network, where anyone who can reach
the port could upload files and read results; so such a server makes a random token at start
(as Jupyter does) and prints it in the URL. The token is accepted once as ``?token=...`` and
then remembered in a cookie (or sent as ``Authorization: Bearer ...`` by scripts); requests
without it get 403. On loopback no token is needed unless one is asked for.
"""

from __future__ import annotations

import ipaddress
import secrets

from starlette.datastructures import URL, Headers, QueryParams
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "vocalsep_token"
#: Host names a loopback page answers to: a page of another site that makes its own name point at
#: 127.0.0.1 (DNS rebinding) sends its own name, and is refused.
LOOPBACK_NAMES = ("localhost", "127.0.0.1")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or name to serve on) reaches this computer only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def access_token(host: str, token: str | None) -> str | None:
    """The token a server on ``host`` requires: ``token`` as given, a new random one beyond
    loopback (or when ``token`` is ``""``), none on loopback otherwise."""
    if token:
        return token
    if token == "" or not is_loopback(host):
        return secrets.token_urlsafe(24)
    return None


class TokenGate:
    """ASGI middleware: refuses (403) every request that does not carry ``token``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    def _matches(self, value: str | None) -> bool:
        return value is not None and secrets.compare_digest(value.encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        cookie = cookie_parser(headers.get("cookie", "")).get(COOKIE)
        bearer = headers.get("authorization", "").removeprefix("Bearer ").strip() or None
        given = QueryParams(scope["query_string"]).get("token")
        if self._matches(cookie) or self._matches(bearer):
            await self.app(scope, receive, send)
        elif self._matches(given):
            await self._remember(scope, receive, send)
        else:
            await refused(scope, receive, send)

    async def _remember(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A right ``?token=``: set the cookie; the page itself is reloaded without the token in its URL."""
        url = URL(scope=scope)
        if scope["method"] == "GET" and url.path == "/":
            response = RedirectResponse(url.remove_query_params("token"), status_code=303)
            response.raw_headers.append(_cookie(self.token))
            await response(scope, receive, send)
            return

        async def with_cookie(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), _cookie(self.token)]
            await send(message)

        await self.app(scope, receive, with_cookie)


def _cookie(token: str) -> tuple[bytes, bytes]:
    """The ``Set-Cookie`` header that remembers the token (HttpOnly: no script reads it;
    SameSite=Strict: no other site's page sends it along)."""
    response = Response()
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
    return next(header for header in response.raw_headers if header[0] == b"set-cookie")


async def refused(scope: Scope, receive: Receive, send: Send) -> None:
    """The one-line 403 of a request without the token."""
    response = JSONResponse({"error": "this vocalsep page needs its access token: open the URL with "
                                      "?token=... that `vocalsep web` printed"}, status_code=403)
    await response(scope, receive, send)
