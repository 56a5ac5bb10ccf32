"""The client's pages and files carry a strict Content-Security-Policy and the browser hardening
headers, over real HTTP from a real uvicorn (issue 14 item 6).

The page itself is checked under this policy in Chromium by e2e/test_csp.py; here the headers
are read as a browser receives them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mythos.api.security_headers import CONTENT_SECURITY_POLICY, parse_policy
from tests.factories import make_config
from tests.integration.conftest import LiveServer

pytestmark = pytest.mark.integration


@pytest.fixture
def served(tmp_path: Path) -> Iterator[LiveServer]:
    """A real server whose client build is a module script, an asset and a stylesheet."""
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(
        '<!doctype html><html lang="en"><head><title>Mythos</title>'
        '<script type="module" src="/assets/app.js"></script>'
        '<link rel="stylesheet" href="/assets/app.css"></head><body><div id="root"></div></body></html>')
    (dist / "assets" / "app.js").write_text("document.title = 'ok';")
    (dist / "assets" / "app.css").write_text("body { color: #ddd; }")
    server = LiveServer(make_config(tmp_path, server={"client_dist_dir": dist})).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("path", ["/", "/index.html", "/assets/app.js", "/assets/app.css", "/no-such-file"])
def test_every_client_response_carries_the_headers(served: LiveServer, path: str) -> None:
    with httpx.Client(base_url=served.http_url, timeout=10) as client:
        response = client.get(path)
    assert response.status_code == (404 if path == "/no-such-file" else 200)
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    # One of each: a second copy would make the browser enforce both.
    assert len(response.headers.get_list("content-security-policy")) == 1


def test_the_policy_allows_no_inline_script_and_nothing_foreign(served: LiveServer) -> None:
    with httpx.Client(base_url=served.http_url, timeout=10) as client:
        policy = parse_policy(client.get("/").headers["content-security-policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no hosts
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]  # the API, the event stream and the WebSocket only
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    sources = [s for values in policy.values() for s in values]
    assert not [s for s in sources if "unsafe" in s or s == "*" or s.startswith(("http:", "https:"))]


def test_the_api_is_not_the_static_route(served: LiveServer) -> None:
    """The policy belongs to the pages; JSON answers are left as the API sends them."""
    with httpx.Client(base_url=served.http_url, timeout=10) as client:
        response = client.get("/api/health")
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers


def test_parse_policy_reads_directives_and_refuses_duplicates() -> None:
    assert parse_policy("default-src 'self'; img-src 'self' data:") == {
        "default-src": ["'self'"], "img-src": ["'self'", "data:"]}
    with pytest.raises(ValueError, match="script-src"):
        parse_policy("script-src 'self'; script-src *")
