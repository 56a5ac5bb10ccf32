"""`serve_app` keeps the start-up heap out of garbage collection before it serves."""

from __future__ import annotations

import gc

import pytest
from fastapi import FastAPI

import mythos.app as app_module


def test_the_startup_heap_is_frozen_before_the_server_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(gc, "collect", lambda *_: calls.append("collect") or 0)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(app_module.DrainingServer, "run", lambda self, *_: calls.append("run"))
    app = FastAPI()
    app.state.services = object()
    with pytest.raises(SystemExit):  # the patched run never started
        app_module.serve_app(app, "127.0.0.1", 0)
    assert calls == ["collect", "freeze", "run"]


def test_uvicorn_serves_websockets_without_per_message_deflate() -> None:
    assert app_module.uvicorn_options()["ws_per_message_deflate"] is False
