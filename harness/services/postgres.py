"""A real PostgreSQL on a scratch data directory, on a free loopback port.

``initdb`` runs once into a scratch directory (trust authentication, superuser ``mythos``), then
``postgres`` listens on 127.0.0.1:<port> with its unix socket in the same scratch directory.
Health is a real ``SELECT 1`` over TCP (asyncpg), not an open port: the postmaster listens
before it accepts queries (during crash recovery it answers "the database system is starting up").

postgres refuses to run as root. As root, ``initdb`` and ``postgres`` run as the unprivileged
``postgres`` user (``setpriv``, which execs, so the PID we hold is the postmaster's and every
signal reaches it); otherwise they run as the current user.

Settings for tests, not production: ``fsync=off`` and ``full_page_writes=off``. A commit still
writes its WAL to the OS before it is acknowledged, so what was committed survives a SIGKILL of
the postmaster (it sits in the page cache, and WAL replay restores it), not power loss or a crash
of the host. ``synchronous_commit`` stays on: off, a SIGKILL loses the last acknowledged commits
(they wait in shared memory for the WAL writer, which dies with the postmaster). ``kill()`` +
``restart()`` is the SIGKILL-and-restart fault; the port and the data survive it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import pwd
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import structlog

from harness.services.lifecycle import Managed
from harness.services.process import ManagedProcess, free_port, wait_until

__all__ = [
    "DB_USER",
    "PostgresNotFoundError",
    "PostgresServer",
    "find_postgres_bin_dir",
]

log = structlog.get_logger(__name__)

HOST = "127.0.0.1"
DB_USER = "mythos"
DB_NAME = "mythos"
RUN_AS = "postgres"
START_TIMEOUT_S = 30.0
PING_TIMEOUT_S = 2.0
INITDB_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0
# Three game servers with two pools each (the NPC database may share the server) plus tests.
MAX_CONNECTIONS = 300
DEBIAN_ROOT = Path("/usr/lib/postgresql")
_DB_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_T = TypeVar("_T")


class PostgresNotFoundError(RuntimeError):
    """No initdb/postgres binaries at POSTGRES_BIN_DIR, /usr/lib/postgresql/<v>/bin or on PATH."""


def _has_binaries(directory: Path) -> bool:
    return all(os.access(directory / tool, os.X_OK) and (directory / tool).is_file()
               for tool in ("initdb", "postgres"))


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.name)) or (-1,)


def find_postgres_bin_dir(env: Mapping[str, str] | None = None, debian_root: Path = DEBIAN_ROOT) -> Path:
    """POSTGRES_BIN_DIR, else the highest /usr/lib/postgresql/<v>/bin, else the directory of ``initdb`` on PATH."""
    environ = os.environ if env is None else env
    override = environ.get("POSTGRES_BIN_DIR")
    if override:
        directory = Path(override)
        if not _has_binaries(directory):
            raise PostgresNotFoundError(f"POSTGRES_BIN_DIR={override!r} has no executable initdb and postgres")
        return directory
    if debian_root.is_dir():
        versions = sorted((p / "bin" for p in debian_root.iterdir() if _has_binaries(p / "bin")),
                          key=lambda p: _version_key(p.parent), reverse=True)
        if versions:
            return versions[0]
    on_path = shutil.which("initdb", path=environ.get("PATH", os.defpath))
    if on_path:
        for directory in (Path(on_path).parent, Path(on_path).resolve().parent):
            if _has_binaries(directory):
                return directory
    raise PostgresNotFoundError(
        f"PostgreSQL binaries not found: POSTGRES_BIN_DIR is unset, no {debian_root}/<version>/bin has "
        "initdb and postgres, and no initdb is on PATH (apt-get install postgresql, or set POSTGRES_BIN_DIR)"
    )


def _run_async(factory: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine to completion on a private loop in a worker thread (callers may own a loop)."""
    async def main() -> _T:
        return await factory()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


class PostgresServer(Managed):
    """``with PostgresServer(log_dir) as pg: pg.url``; stops by PID and removes its scratch directory.

    Satisfies ``harness.faults.base.Killable``.
    """

    def __init__(self, log_dir: Path, *, name: str = "postgres", port: int | None = None,
                 bin_dir: Path | None = None, start_timeout: float = START_TIMEOUT_S) -> None:
        self.name = name
        self.port = port or free_port(HOST)
        self.start_timeout = start_timeout
        self.bin_dir = bin_dir or find_postgres_bin_dir()
        self.log_dir = log_dir
        self.scratch = Path(tempfile.mkdtemp(prefix=f"{name}-pg-"))
        self.data_dir = self.scratch / "data"
        self._drop_to = _unprivileged_user() if os.geteuid() == 0 else None
        if self._drop_to is not None:
            # mkdtemp makes it 0700 for root; the postgres user must own what it writes.
            os.chown(self.scratch, self._drop_to.pw_uid, self._drop_to.pw_gid)
        argv = [*self._as_user(), str(self.bin_dir / "postgres"), "-D", str(self.data_dir),
                "-k", str(self.scratch), "-h", HOST, "-p", str(self.port),
                "-c", "fsync=off", "-c", "full_page_writes=off",
                "-c", f"max_connections={MAX_CONNECTIONS}", "-c", "shared_buffers=32MB",
                "-c", "log_min_messages=warning", "-c", "log_connections=off"]
        self.process = ManagedProcess(name, argv, log_dir / f"{name}.log", env=self._env(),
                                      stop_timeout=STOP_TIMEOUT_S)
        self._initialized = False
        self._orphans: list[Any] = []

    # Addresses -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.database_url(DB_NAME)

    def database_url(self, dbname: str) -> str:
        return f"postgresql+asyncpg://{DB_USER}@{HOST}:{self.port}/{_checked_name(dbname)}"

    @property
    def pid(self) -> int | None:
        return self.process.pid

    # Queries -------------------------------------------------------------------------------

    async def _execute(self, sql: str, dbname: str = "postgres") -> Any:
        import asyncpg  # the postgres extra; imported here so importing the harness needs no driver

        conn = await asyncpg.connect(host=HOST, port=self.port, user=DB_USER, database=dbname,
                                     timeout=PING_TIMEOUT_S)
        try:
            return await conn.fetchval(sql, timeout=PING_TIMEOUT_S * 5)
        finally:
            await conn.close(timeout=PING_TIMEOUT_S)

    def ping(self) -> bool:
        """True when the server answers ``SELECT 1`` over TCP."""
        try:
            return bool(_run_async(lambda: self._execute("SELECT 1")) == 1)
        except Exception:  # any driver or socket error means "not serving"
            return False

    def execute(self, sql: str, *, dbname: str = DB_NAME) -> Any:
        """Run one statement as the superuser in ``dbname``; returns the first column of the first row."""
        return _run_async(lambda: self._execute(sql, _checked_name(dbname)))

    def create_database(self, dbname: str, *, template: str | None = None) -> str:
        """CREATE DATABASE ``dbname`` (a copy of ``template`` when given); returns its URL."""
        name = _checked_name(dbname)
        clause = f' TEMPLATE "{_checked_name(template)}"' if template else ""
        _run_async(lambda: self._execute(f'CREATE DATABASE "{name}"{clause}'))
        return self.database_url(name)

    # Lifecycle -----------------------------------------------------------------------------

    def start(self) -> float:
        """initdb on first start, then start and wait for ``SELECT 1``; returns the seconds it took."""
        started = time.monotonic()
        if not self._initialized:
            self._initdb()
        self._wait_for_orphans()
        self._remove_stale_pid_file()
        self.process.start_until(self.ping, timeout=self.start_timeout, what=f"{self.name} on {self.url}")
        if not self._initialized:
            _run_async(lambda: self._execute(f'CREATE DATABASE "{DB_NAME}"'))
            self._initialized = True
        return time.monotonic() - started

    def stop(self) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, close clients), SIGKILL after a timeout.

        SIGTERM would be a "smart" shutdown that waits for every pooled client to leave.
        """
        pid = self.process.pid
        if pid is not None and self.process.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
            with contextlib.suppress(TimeoutError):
                wait_until(lambda: not self.process.running, timeout=STOP_TIMEOUT_S, what=f"{self.name} stop")
        self.process.stop()

    def kill(self) -> None:
        """SIGKILL the postmaster. Its backends notice and exit within about a second; the next
        start waits for them (a new postmaster refuses a data directory they still hold)."""
        self._orphans = self._children()
        self.process.kill()
        log.info("postgres_killed", name=self.name, pid=self.process.pid, children=len(self._orphans))

    def _wait_for_orphans(self) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child in self._orphans:
            with contextlib.suppress(Exception):
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
        self._orphans = []

    def restart(self) -> float:
        """Start again on the same port and data (after :meth:`kill` or :meth:`stop`)."""
        if self.process.running:
            self.stop()
        return self.start()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def release(self) -> None:
        self.close()

    # Internals -----------------------------------------------------------------------------

    def _as_user(self) -> list[str]:
        if self._drop_to is None:
            return []
        return ["setpriv", f"--reuid={self._drop_to.pw_uid}", f"--regid={self._drop_to.pw_gid}",
                "--init-groups", "--"]

    def _env(self) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C", "LANG": "C"}
        if self._drop_to is not None:
            env |= {"HOME": str(self.scratch), "USER": self._drop_to.pw_name}
        return env

    def _initdb(self) -> None:
        argv = [*self._as_user(), str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-A", "trust",
                "-U", DB_USER, "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]
        initdb = ManagedProcess(f"{self.name}-initdb", argv, self.log_dir / f"{self.name}-initdb.log",
                                env=self._env())
        initdb.start()
        try:
            wait_until(lambda: not initdb.running, timeout=INITDB_TIMEOUT_S, what=f"{self.name} initdb")
        finally:
            code = initdb.stop()
        if code != 0:
            raise RuntimeError(f"initdb exited {code}\n--- {initdb.log_path} ---\n{initdb.log_tail()}")

    def _remove_stale_pid_file(self) -> None:
        """After a SIGKILL the pid file names a dead postmaster; postgres checks that itself, but a
        reused PID would make it refuse, so drop the file when no process of ours holds it."""
        pid_file = self.data_dir / "postmaster.pid"
        if pid_file.exists() and not self.process.running:
            pid_file.unlink(missing_ok=True)

    def _children(self) -> list[Any]:
        import psutil  # test and harness extras

        pid = self.process.pid
        if pid is None or not self.process.running:
            return []
        try:
            return list(psutil.Process(pid).children(recursive=True))
        except psutil.Error:
            return []


def _checked_name(dbname: str) -> str:
    if not _DB_NAME.fullmatch(dbname):
        raise ValueError(f"database name {dbname!r}: lower-case letters, digits and _ only, at most 63")
    return dbname


def _unprivileged_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(RUN_AS)
    except KeyError as exc:
        raise PostgresNotFoundError(
            f"running as root and there is no {RUN_AS!r} user to run postgres as "
            "(postgres refuses root): apt-get install postgresql creates it"
        ) from exc
