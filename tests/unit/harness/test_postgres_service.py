"""The harness's PostgreSQL: where its binaries come from, and a real server's start, kill and restart."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.required_tools import require_postgres
from harness.services.postgres import PostgresNotFoundError, PostgresServer, find_postgres_bin_dir


def _bin_dir(path: Path, *tools: str) -> Path:
    path.mkdir(parents=True)
    for tool in tools:
        (path / tool).write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
        (path / tool).chmod(stat.S_IRWXU)
    return path


def test_postgres_bin_dir_wins_over_debian_and_path(tmp_path: Path) -> None:
    own = _bin_dir(tmp_path / "own", "initdb", "postgres")
    debian = tmp_path / "debian"
    _bin_dir(debian / "15" / "bin", "initdb", "postgres")
    assert find_postgres_bin_dir({"POSTGRES_BIN_DIR": str(own), "PATH": ""}, debian) == own


def test_postgres_bin_dir_without_the_binaries_is_an_error_naming_it(tmp_path: Path) -> None:
    half = _bin_dir(tmp_path / "half", "initdb")
    with pytest.raises(PostgresNotFoundError, match=f"POSTGRES_BIN_DIR='{half}' has no executable"):
        find_postgres_bin_dir({"POSTGRES_BIN_DIR": str(half)}, tmp_path / "debian")


def test_highest_debian_version_is_picked_numerically(tmp_path: Path) -> None:
    debian = tmp_path / "debian"
    for version in ("9.6", "15", "16"):
        _bin_dir(debian / version / "bin", "initdb", "postgres")
    _bin_dir(debian / "17" / "bin", "initdb")  # incomplete: skipped
    assert find_postgres_bin_dir({"PATH": ""}, debian) == debian / "16" / "bin"


def test_initdb_on_path_is_the_last_resort(tmp_path: Path) -> None:
    on_path = _bin_dir(tmp_path / "local-bin", "initdb", "postgres")
    assert find_postgres_bin_dir({"PATH": str(on_path)}, tmp_path / "none") == on_path


def test_nothing_found_names_all_three_places(tmp_path: Path) -> None:
    with pytest.raises(PostgresNotFoundError) as caught:
        find_postgres_bin_dir({"PATH": str(tmp_path)}, tmp_path / "none")
    message = str(caught.value)
    assert "POSTGRES_BIN_DIR" in message
    assert f"{tmp_path / 'none'}/<version>/bin" in message
    assert "PATH" in message


def test_a_missing_postgres_fails_the_test_that_requires_it(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_BIN_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(pytest.fail.Exception, match="postgres is required by this suite and missing"):
        require_postgres()


def test_database_names_are_checked_before_any_sql() -> None:
    server = PostgresServer.__new__(PostgresServer)
    server.port = 5432
    with pytest.raises(ValueError, match="lower-case letters"):
        server.database_url('x"; DROP DATABASE mythos; --')
    assert server.database_url("t_1") == "postgresql+asyncpg://mythos@127.0.0.1:5432/t_1"


# The lifecycle tests below use the session's server (initdb costs seconds) and leave it running.


@pytest.fixture
def pg(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    if not postgres_server.ping():
        postgres_server.restart()
    try:
        yield postgres_server
    finally:
        if not postgres_server.ping():
            postgres_server.restart()


def test_serves_queries_on_loopback_and_databases_can_be_created(pg: PostgresServer) -> None:
    assert pg.ping()
    assert pg.url == f"postgresql+asyncpg://mythos@127.0.0.1:{pg.port}/mythos"
    assert pg.create_database("svc_fresh") == pg.database_url("svc_fresh")
    assert pg.create_database("svc_copy", template="svc_fresh").endswith("/svc_copy")
    with pytest.raises(Exception, match="already exists"):
        pg.create_database("svc_fresh")
    if os.geteuid() == 0:
        owner = (pg.data_dir / "PG_VERSION").stat().st_uid
        assert owner != 0, "postgres must not run as root"


def test_kill_is_sigkill_and_restart_brings_the_data_back(pg: PostgresServer) -> None:
    pg.create_database("svc_survivor")
    old_pid = pg.pid
    assert old_pid is not None
    pg.kill()
    assert not pg.ping()
    assert not pg.process.running
    assert pg.process.returncode == -9
    took = pg.restart()
    assert pg.pid != old_pid
    assert pg.ping()
    assert took < pg.start_timeout
    # The database made before the SIGKILL is still there: creating it again is refused.
    with pytest.raises(Exception, match="already exists"):
        pg.create_database("svc_survivor")


def test_a_commit_acknowledged_just_before_the_sigkill_survives_it(pg: PostgresServer) -> None:
    """With synchronous_commit=off the last commits wait in shared memory and die with the postmaster."""
    pg.create_database("svc_commits")

    async def write_then_read(rows: int | None) -> int:
        import asyncpg

        conn = await asyncpg.connect(host="127.0.0.1", port=pg.port, user="mythos", database="svc_commits")
        try:
            if rows is None:
                return int(await conn.fetchval("SELECT count(*) FROM t"))
            await conn.execute("CREATE TABLE t (n int)")
            for n in range(rows):
                await conn.execute("INSERT INTO t VALUES ($1)", n)
            return rows
        finally:
            await conn.close()

    written = asyncio.run(write_then_read(50))
    pg.kill()  # at once: the WAL writer gets no time to flush anything
    pg.restart()
    assert asyncio.run(write_then_read(None)) == written


def test_stop_then_restart(pg: PostgresServer) -> None:
    pg.stop()
    assert not pg.ping()
    assert pg.process.returncode == 0
    pg.restart()
    assert pg.ping()


def test_close_removes_the_scratch_directory(tmp_path: Path) -> None:
    server = PostgresServer(tmp_path, bin_dir=require_postgres())
    scratch = server.scratch
    assert scratch.is_dir()
    server.close()  # never started: close still cleans up
    assert not scratch.exists()


@pytest.mark.slow  # a subprocess pytest run: make verify only
def test_the_database_suite_without_postgres_errors_instead_of_skipping(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "MYTHOS_STRICT_SKIPS", "PYTEST_ADDOPTS")}
    env["POSTGRES_BIN_DIR"] = str(tmp_path / "missing")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/unit/test_db.py::test_tables_npcs_and_aliases",
         "-p", "no:cacheprovider", "-q", "-rA"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 passed" in summary and "1 error" in summary and "skipped" not in summary, summary
    assert "postgres is required by this suite and missing" in result.stdout
    assert "apt-get install postgresql" in result.stdout
