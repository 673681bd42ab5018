"""Who may use the dashboard: the access token, the read-only switch and the CSRF checks.

:class:`Guard` is ASGI middleware wrapped around the app by :func:`wfe.ui.create_app`:

- With a token, every request but the static files must carry it: ``Authorization: Bearer T``,
  the ``wfe_ui_token`` cookie, or ``?token=T`` once (answered with the cookie, HttpOnly and
  SameSite=Strict, and a redirect to the same address without the token, so it stays out of
  the history and of later links).
- Every request that changes something is a ``POST`` that must carry the page's CSRF value in
  the ``X-WFE-CSRF`` header (a cross-site form cannot set a header, and a cross-site script
  cannot read the page it is in) and, when the browser sends ``Origin``, come from this origin.
- Read-only: every ``POST`` is refused, whatever it carries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_COOKIE = "wfe_ui_token"
CSRF_HEADER = "x-wfe-csrf"

#: Sent with every page: no script but ours, no framing, no sniffing, no address to other sites.
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
     b"img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class Guard:
    """Checks the token, the read-only switch and CSRF before the app sees a request."""

    def __init__(self, app: ASGIApp, *, token: str | None, csrf: str, read_only: bool) -> None:
        self.app = app
        self.token = token
        self.csrf = csrf
        self.read_only = read_only
        # The cookie holds a digest of the token: any token text makes a valid cookie value.
        self.cookie_value = hashlib.sha256(f"wfe-ui:{token}".encode()).hexdigest() if token else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path: str = scope.get("path", "")
        root: str = scope.get("root_path", "")
        local_path = path[len(root):] if root and path.startswith(root) else path
        if self.token is not None and not local_path.startswith("/static/"):
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            if _same(query.get("token"), self.token):
                rest = urlencode([(k, v) for k, v in query.items() if k != "token"])
                await self._redirect_with_cookie(send, path + (f"?{rest}" if rest else ""), root)
                return
            if not self._authorized(headers):
                await self._refuse(send, 401, "this dashboard needs its token: open it with "
                                   "?token=... once, or send Authorization: Bearer <token>")
                return
        if scope["method"] not in ("GET", "HEAD"):
            if self.read_only:
                await self._refuse(send, 403, "the dashboard is read-only (--read-only): "
                                   "it changes nothing")
                return
            origin = headers.get("origin")
            host = headers.get("host", "")
            if origin is not None and origin.split("://", 1)[-1] != host:
                await self._refuse(send, 403, f"refused a request from another origin ({origin})")
                return
            if not _same(headers.get(CSRF_HEADER), self.csrf):
                await self._refuse(send, 403, "refused: the request lacks the page's CSRF value "
                                   "(reload the page and try again)")
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [*message.get("headers", []), *SECURITY_HEADERS]
                message = {**message, "headers": extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _authorized(self, headers: dict[str, str]) -> bool:
        assert self.token is not None
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and _same(auth[7:].strip(), self.token):
            return True
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is no token, not a server error
            return False
        morsel = cookie.get(TOKEN_COOKIE)
        return morsel is not None and _same(morsel.value, self.cookie_value)

    async def _redirect_with_cookie(self, send: Send, location: str, root: str) -> None:
        assert self.token is not None
        cookie = f"{TOKEN_COOKIE}={self.cookie_value}; Path={root or '/'}; HttpOnly; SameSite=Strict"
        await send({"type": "http.response.start", "status": 303, "headers": [
            (b"location", location.encode("latin-1")),
            (b"set-cookie", cookie.encode("latin-1")),
            (b"content-length", b"0"),
            *SECURITY_HEADERS,
        ]})
        await send({"type": "http.response.body", "body": b""})

    async def _refuse(self, send: Send, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *SECURITY_HEADERS,
        ]})
        await send({"type": "http.response.body", "body": body})
