"""Serve the built client (client/dist) when it exists; the API works without it.

Every file it serves carries the browser hardening headers of
:mod:`mythos.api.security_headers` (a strict Content-Security-Policy among them).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from mythos.api.security_headers import SecurityHeadersMiddleware

__all__ = ["mount_client"]


def mount_client(app: FastAPI) -> bool:
    """Mount the client's index.html at / and its assets; False when there is no build."""
    dist = app.state.services.config.server.client_dist_dir
    if not (dist / "index.html").is_file():
        return False
    app.mount("/", SecurityHeadersMiddleware(StaticFiles(directory=dist, html=True)), name="client")
    return True
