"""Toxiproxy: the server process and a client with timeouts over toxiproxy-python.

toxiproxy-python keeps its API host and port in class attributes (``update_api_consumer``) and
sends requests without a timeout, so a wedged API would hang a scenario forever. The client
below sets host and port under a lock before each call and passes a timeout through
toxiproxy-python's API consumer; HTTP errors it lets through (403, 500) become ToxiproxyError.
Toxiproxy answers 403 to a User-Agent starting with "Mozilla/", so ours says who we are.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy.server import Toxiproxy

from harness.services.lifecycle import Managed
from harness.services.process import ManagedProcess, free_port

__all__ = [
    "ProxyInfo",
    "ToxiproxyClient",
    "ToxiproxyError",
    "ToxiproxyNotFoundError",
    "ToxiproxyServer",
    "find_toxiproxy_server",
]

HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0
API_TIMEOUT_S = 5.0
USER_AGENT = "mythos-harness"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
BINARY_NAMES = ("toxiproxy-server", "server")
"""``go install .../cmd/server`` names the binary ``server``; a renamed copy is found first."""

_API_LOCK = threading.Lock()


class ToxiproxyError(RuntimeError):
    """A Toxiproxy API call failed or timed out."""


class ToxiproxyNotFoundError(RuntimeError):
    """No toxiproxy-server binary: run the setup step or set TOXIPROXY_SERVER."""


def find_toxiproxy_server(env: Mapping[str, str] | None = None, root: Path = PROJECT_ROOT) -> Path:
    """TOXIPROXY_SERVER, else .tools/bin/toxiproxy-server or .tools/bin/server, else PATH.

    TOXIPROXY_SERVER must name an executable file: a wrong path is an error naming it, never a
    silent fall-back to another binary.
    """
    environ = os.environ if env is None else env
    override = environ.get("TOXIPROXY_SERVER")
    if override:
        path = Path(override)
        if not path.exists():
            raise ToxiproxyNotFoundError(f"TOXIPROXY_SERVER={override!r} does not exist")
        if not path.is_file() or not os.access(path, os.X_OK):
            raise ToxiproxyNotFoundError(f"TOXIPROXY_SERVER={override!r} is not an executable file")
        return path
    for name in BINARY_NAMES:
        candidate = root / ".tools" / "bin" / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which("toxiproxy-server")
    if on_path:
        return Path(on_path)
    raise ToxiproxyNotFoundError(
        "toxiproxy-server not found: run the setup step (go install "
        "github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0 into .tools/bin) or set TOXIPROXY_SERVER")


@dataclass(frozen=True, slots=True)
class ProxyInfo:
    name: str
    listen: str
    upstream: str
    enabled: bool

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ProxyInfo:
        return cls(str(data["name"]), str(data["listen"]), str(data["upstream"]), bool(data["enabled"]))


class ToxiproxyClient:
    """The few Toxiproxy calls the harness needs, each bounded by ``timeout`` seconds."""

    def __init__(self, host: str, port: int, timeout: float = API_TIMEOUT_S) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout

    def _call(self, method: str, url: str, json: Any = None) -> Any:
        kwargs: dict[str, Any] = {"timeout": self.timeout, "headers": {"User-Agent": USER_AGENT}}
        with _API_LOCK:
            Toxiproxy().update_api_consumer(self.host, self.port)
            try:
                if method == "GET":
                    response = APIConsumer.get(url, **kwargs)
                elif method == "POST":
                    response = APIConsumer.post(url, json=json, **kwargs)
                else:
                    response = APIConsumer.delete(url, **kwargs)
            except (ProxyExists, NotFound, InvalidToxic) as exc:
                raise ToxiproxyError(f"{method} {url}: {type(exc).__name__} {exc}") from exc
            except requests.RequestException as exc:
                raise ToxiproxyError(f"{method} {url}: {exc}") from exc
        if response.status_code >= 400:
            raise ToxiproxyError(f"{method} {url}: HTTP {response.status_code} {response.text[:200]}")
        return response.json() if response.content else None

    def version(self) -> str:
        with _API_LOCK:
            Toxiproxy().update_api_consumer(self.host, self.port)
            try:
                response = APIConsumer.get("/version", timeout=self.timeout,
                                           headers={"User-Agent": USER_AGENT})
            except requests.RequestException as exc:
                raise ToxiproxyError(f"GET /version: {exc}") from exc
        if response.status_code != 200:
            raise ToxiproxyError(f"GET /version: HTTP {response.status_code}")
        return response.text.strip()

    def create_proxy(self, name: str, upstream: str, listen: str | None = None) -> ProxyInfo:
        """A proxy on an explicit loopback port, so disabling and enabling it keeps the address."""
        listen = listen or f"{HOST}:{free_port(HOST)}"
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": True}
        return ProxyInfo.from_api(self._call("POST", "/proxies", body))

    def proxies(self) -> dict[str, ProxyInfo]:
        listing = self._call("GET", "/proxies") or {}
        return {name: ProxyInfo.from_api(data) for name, data in listing.items()}

    def proxy(self, name: str) -> ProxyInfo:
        return ProxyInfo.from_api(self._call("GET", f"/proxies/{name}"))

    def set_enabled(self, name: str, enabled: bool) -> ProxyInfo:
        """Disabling drops every open connection and stops listening: a partition."""
        return ProxyInfo.from_api(self._call("POST", f"/proxies/{name}", {"enabled": enabled}))

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}")

    def add_toxic(self, proxy: str, name: str, toxic_type: str, attributes: Mapping[str, Any], *,
                  stream: str = "downstream", toxicity: float = 1.0) -> None:
        body = {"name": name, "type": toxic_type, "stream": stream, "toxicity": toxicity,
                "attributes": dict(attributes)}
        self._call("POST", f"/proxies/{proxy}/toxics", body)

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/proxies/{proxy}/toxics") or [])

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def reset(self) -> None:
        """Enable every proxy and remove every toxic: the heal of last resort."""
        self._call("POST", "/reset")


class ToxiproxyServer(Managed):
    """``with ToxiproxyServer(log_dir) as toxi: toxi.client.create_proxy(...)``; stops by PID."""

    def __init__(self, log_dir: Path, *, port: int | None = None, binary: Path | None = None,
                 seed: int | None = 1, start_timeout: float = START_TIMEOUT_S) -> None:
        self.port = port or free_port(HOST)
        self.start_timeout = start_timeout
        argv = [str(binary or find_toxiproxy_server()), "-host", HOST, "-port", str(self.port)]
        if seed is not None:  # toxics with jitter or toxicity draw from this: runs repeat
            argv += ["-seed", str(seed)]
        self.process = ManagedProcess("toxiproxy", argv, log_dir / "toxiproxy.log")
        self.client = ToxiproxyClient(HOST, self.port)

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _ready(self) -> bool:
        return bool(self.client.version())

    def start(self) -> float:
        return self.process.start_until(self._ready, timeout=self.start_timeout, what=f"toxiproxy on {self.api_url}")

    def stop(self) -> None:
        self.process.stop()
