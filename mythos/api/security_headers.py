"""Browser hardening headers for the client's pages and files.

The built client is one module script, its chunks and one stylesheet, all from this origin, and
it talks only to this origin (HTTP, the event stream, the WebSocket). So the policy can be
strict: nothing inline, nothing foreign, no framing. ``'self'`` in ``connect-src`` also covers
``ws://``/``wss://`` to the same host and port (CSP level 3), which is how the WebSocket is opened.
The icon is ``data:,`` in index.html, hence ``img-src data:``.

A pure ASGI middleware rather than ``BaseHTTPMiddleware``: it touches nothing but the header list
of ``http.response.start``, so streamed bodies and WebSockets pass through untouched.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "SecurityHeadersMiddleware", "parse_policy"]

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # frame-ancestors for browsers that predate it.
    "X-Frame-Options": "DENY",
}


def parse_policy(policy: str) -> dict[str, list[str]]:
    """A CSP header as ``{directive: [sources]}``; a repeated directive is an error (browsers
    silently keep the first, which hides a mistake)."""
    directives: dict[str, list[str]] = {}
    for part in policy.split(";"):
        words = part.split()
        if not words:
            continue
        name = words[0].lower()
        if name in directives:
            raise ValueError(f"directive {name} appears twice in {policy!r}")
        directives[name] = words[1:]
    return directives


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response of the wrapped app, replacing any
    copy the app set itself (two CSP headers would both be enforced).

    An ``HTTPException`` the wrapped app raises before answering (StaticFiles' 404 and 405) is
    answered here, with the headers, rather than by the application's handler outside the mount.
    """

    def __init__(self, app: ASGIApp, headers: Mapping[str, str] = SECURITY_HEADERS) -> None:
        self.app = app
        self._names = {name.lower().encode("latin-1") for name in headers}
        self._raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in self._names]
                message = {**message, "headers": kept + self._raw}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except HTTPException as exc:
            answer = PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
            await answer(scope, receive, send_with_headers)
