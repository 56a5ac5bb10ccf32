"""`mythos` command line: serve, init, config check, db (migrations), invite create, dlq."""

from __future__ import annotations

import contextlib
import getpass
import os
import secrets
import signal
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from mythos.config import AppConfig, load_config
from mythos.config.report import format_config_errors
from mythos.observability.redact import redact_text, redact_url

__all__ = ["main"]

DEFAULT_INVITES = 5

ENV_TEMPLATE = """\
# Written by `mythos init`. Local play only: keep this file out of version control.
LOGGING_ENVIRONMENT=local
SERVER_HOST=127.0.0.1
SERVER_PORT={port}
DATABASE_URL=sqlite+aiosqlite:///data/mythos.db
NPC_DATABASE_URL=sqlite+aiosqlite:///data/npcs.db
NATS_ENABLED=true
NATS_URL=nats://127.0.0.1:{nats_port}
MYTHOSMUD_ADMIN_PASSWORD={admin_password}
MYTHOSMUD_JWT_SECRET={jwt_secret}
INVITE_CODES_FILE=invites.json
LOG_LEVEL=INFO
LOG_FORMAT=colored
LOG_BASE_DIR=logs
"""


def _load(env_file: Path | None, **overrides: dict[str, Any]) -> AppConfig:
    """Load the config or exit 1 with one line per bad field (no traceback)."""
    try:
        return load_config(env_file, **overrides)
    except ValidationError as exc:
        click.echo(format_config_errors(exc), err=True)
        sys.exit(1)
    except FileNotFoundError as exc:
        click.echo(f"Invalid configuration: {exc}", err=True)
        sys.exit(1)


env_file_option = click.option(
    "--env-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Env file to read (default: $MYTHOS_ENV_FILE, else .env.local if present).",
)


@click.group()
def main() -> None:
    """Mythos: a Lovecraftian MUD that proves its own reliability."""


@main.command()
@env_file_option
@click.option("--with-nats", is_flag=True, help="Start a local nats-server (JetStream) for play.")
def serve(env_file: Path | None, with_nats: bool) -> None:
    """Start the game server on SERVER_HOST:SERVER_PORT; SIGTERM stops it gracefully (drained)."""
    from mythos.app import create_app, serve_app
    from mythos.local_nats import LocalNatsServer
    from mythos.observability.logging import configure_logging

    config = _load(env_file)
    configure_logging(config.logging)
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; turn that into SystemExit so
    # the ExitStack below still stops the nats-server we started.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_on_signal)
    with ExitStack() as stack:
        if with_nats:
            nats = stack.enter_context(LocalNatsServer(store_dir=config.server.data_dir / "nats"))
            click.echo(f"nats-server (JetStream) on {nats.url}, pid {nats.process.pid if nats.process else '?'}")
            config = _load(env_file, nats={"url": nats.url, "enabled": True})
        app = create_app(config)
        serve_app(app, config.server.host, config.server.port)


@main.command()
@click.option("--port", default=8000, show_default=True, type=int, help="SERVER_PORT to write.")
@click.option("--nats-port", default=4222, show_default=True, type=int, help="Port in NATS_URL.")
@click.option("--force", is_flag=True, help="Overwrite an existing .env.local.")
@click.option("--invites", default=DEFAULT_INVITES, show_default=True, type=int, help="Invite codes to create.")
def init(port: int, nats_port: int, force: bool, invites: int) -> None:
    """Write .env.local with fresh secrets and an invites file for local play."""
    target = Path(".env.local")
    if target.exists() and not force:
        raise click.ClickException(".env.local exists; use --force to replace it (its secrets are lost)")
    admin_password = secrets.token_urlsafe(18)
    _write_private(
        target,
        ENV_TEMPLATE.format(
            port=port,
            nats_port=nats_port,
            admin_password=admin_password,
            jwt_secret=secrets.token_urlsafe(48),
        ),
    )
    Path("data").mkdir(exist_ok=True)
    config = _load(target)
    codes = _invite_store(config).create(invites)
    click.echo(f"Wrote {target} (mode 600). Admin login: admin / {admin_password}")
    click.echo(f"Invite codes in {config.security.invite_codes_file}:")
    for code in codes:
        click.echo(f"  {code}")


@main.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("check")
@env_file_option
def config_check(env_file: Path | None) -> None:
    """Validate the configuration; print every bad field and exit 1 if any."""
    cfg = _load(env_file)
    click.echo(
        f"Configuration OK ({cfg.logging.environment.value}): "
        f"{cfg.server.host}:{cfg.server.port}, database {cfg.database.url.split('://', 1)[0]}, "
        f"NATS {'enabled at ' + redact_url(cfg.nats.url) if cfg.nats.enabled else 'disabled'}"
    )


@main.group()
def db() -> None:
    """Migrate the player database (DATABASE_URL) with Alembic; see docs/deployment.md."""


def _migrate(env_file: Path | None, step: str, revision: str | None = None) -> None:
    """Run one migration step against DATABASE_URL and print where the schema was and is."""
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    from mythos.migrations import runner

    cfg = _load(env_file)
    target = redact_url(cfg.database.url)

    async def run() -> tuple[runner.SchemaState, runner.SchemaState]:
        # Its own engine without the server's statement timeout: a migration may take a while.
        engine = create_async_engine(cfg.database.url)
        try:
            if step == "current":
                state = await runner.schema_state(engine)
                return state, state
            if step == "upgrade":
                return await runner.upgrade(engine, revision or "head")
            return await runner.downgrade(engine, revision or "")
        finally:
            await engine.dispose()

    try:
        before, after = asyncio.run(run())
    except Exception as exc:  # driver errors, unknown revisions: one line, no traceback
        raise click.ClickException(redact_text(f"{step} failed on {target}: {type(exc).__name__}: {exc}")) from exc
    if step == "current":
        click.echo(f"{target}: {after.describe()}")
    else:
        click.echo(f"{target}: {before.current or 'none'} -> {after.current or 'none'} ({after.describe()})")


@db.command("upgrade")
@click.argument("revision", default="head")
@env_file_option
def db_upgrade(revision: str, env_file: Path | None) -> None:
    """Upgrade to REVISION (default head). Tables made before migrations are recorded as the baseline first."""
    _migrate(env_file, "upgrade", revision)


@db.command("downgrade")
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Confirm a downgrade to base (it drops every player).")
@env_file_option
def db_downgrade(revision: str, yes: bool, env_file: Path | None) -> None:
    """Downgrade to REVISION (``base`` drops the player tables: every player is lost)."""
    if revision == "base" and not yes:
        raise click.UsageError("downgrade base drops the players and aliases tables; add --yes to do it")
    _migrate(env_file, "downgrade", revision)


@db.command("current")
@env_file_option
def db_current(env_file: Path | None) -> None:
    """Print the schema's revision and whether it is this release's head."""
    _migrate(env_file, "current")


@main.group()
def invite() -> None:
    """Manage invite codes."""


@invite.command("create")
@click.argument("count", default=1, type=click.IntRange(1, 1000))
@env_file_option
def invite_create(count: int, env_file: Path | None) -> None:
    """Add COUNT invite codes to INVITE_CODES_FILE and print them."""
    cfg = _load(env_file)
    for code in _invite_store(cfg).create(count):
        click.echo(code)


def _write_private(target: Path, text: str) -> None:
    """Write `text` to `target` readable by its owner only from the first byte.

    Writing first and narrowing the mode after leaves a window in which the secrets are readable
    by others (umask 022 gives 0644). mkstemp creates the file with O_CREAT | O_EXCL and mode 0600
    in the same directory; it is renamed over the target once complete.
    """
    fd, tmp = tempfile.mkstemp(prefix=f"{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _invite_store(config: AppConfig) -> Any:
    from mythos.auth import InviteStore

    return InviteStore(config.security.invite_codes_file)


# Dead-letter queue: works on <DATA_DIR>/dlq, the directory the server writes (dlq_admin.dlq_dir).


def _dlq_of(env_file: Path | None) -> tuple[AppConfig, Any]:
    from mythos.realtime.dead_letter_queue import DeadLetterQueue
    from mythos.realtime.dlq_admin import dlq_dir

    cfg = _load(env_file)
    return cfg, DeadLetterQueue(dlq_dir(cfg))


def _entry_id(entry_id: str) -> str:
    """Refuse what cannot be an entry id (path characters, NUL, too long) before any file work."""
    from mythos.realtime.dead_letter_queue import is_valid_entry_id

    if not is_valid_entry_id(entry_id):
        raise click.BadParameter("letters, digits, - and _ only (at most 128)", param_hint="ENTRY_ID")
    return entry_id


def _operator() -> str:
    """Who ran the command, for the audit log: the OS account (the CLI has no game login)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER
        return f"cli:uid-{os.getuid()}"


def _audit_dlq(cfg: AppConfig, action: str, ids: list[str], success: bool, **result: Any) -> None:
    """One audit line in the server's audit log (LOG_BASE_DIR/audit), as the admin API writes."""
    from mythos.commands.audit import AuditLogger
    from mythos.commands.security_setup import audit_dir
    from mythos.realtime.dlq_admin import audit_dlq_action

    audit = AuditLogger.from_settings(audit_dir(cfg.logging.log_base), cfg.security)
    try:
        audit_dlq_action(
            audit, actor=_operator(), source="cli", action=action, ids=ids, success=success, result=result
        )
    finally:
        audit.close()
    if not audit.healthy:
        click.echo(f"warning: the audit line was not written: {audit.last_error}", err=True)


@main.group()
def dlq() -> None:
    """Inspect and replay chat that could not be delivered (the dead-letter queue)."""


@dlq.command("list")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per entry.")
@env_file_option
def dlq_list(limit: int, as_json: bool, env_file: Path | None) -> None:
    """List entries, oldest first, each with its outbox state: queued (its server sends it once
    NATS is back), expired (too old for that: replay or purge it) or operator (no server will)."""
    import asyncio
    import json

    from mythos.realtime.dlq_admin import entry_view

    _cfg, queue = _dlq_of(env_file)
    entries = asyncio.run(queue.list(limit=limit))
    for entry in entries:
        view = entry_view(entry, with_body=False)
        if as_json:
            click.echo(json.dumps(view))
        else:
            click.echo(f"{view['id']}  {view['timestamp']}  {view['subject'] or '-'}  {view['outbox']}  "
                       f"{view['error']}")
    if not as_json:
        click.echo(f"{asyncio.run(queue.get_pending_count())} pending")


@dlq.command("show")
@click.argument("entry_id")
@env_file_option
def dlq_show(entry_id: str, env_file: Path | None) -> None:
    """Print one entry as JSON."""
    import asyncio
    import json

    from mythos.realtime.dlq_admin import entry_view

    _cfg, queue = _dlq_of(env_file)
    entry = asyncio.run(queue.get(_entry_id(entry_id)))
    if entry is None:
        raise click.ClickException(f"no dead-letter entry {entry_id}")
    click.echo(json.dumps(entry_view(entry), indent=2))


@dlq.command("replay")
@click.argument("entry_id", required=False)
@click.option("--all", "replay_all", is_flag=True, help="Replay every entry.")
@env_file_option
def dlq_replay(entry_id: str | None, replay_all: bool, env_file: Path | None) -> None:
    """Republish to NATS_URL; an entry is removed only once the server acknowledged it."""
    import asyncio

    from mythos.realtime.dlq_replay import replay_with_own_connection

    if (entry_id is None) == (not replay_all):
        raise click.UsageError("give one ENTRY_ID or --all")
    cfg, queue = _dlq_of(env_file)
    action = "replay_all" if replay_all else "replay"
    if entry_id is not None and asyncio.run(queue.get(_entry_id(entry_id))) is None:
        _audit_dlq(cfg, action, [entry_id], False, outcome="not_found")
        raise click.ClickException(f"no dead-letter entry {entry_id}")
    ids = [entry.id for entry in asyncio.run(queue.list())] if replay_all else [entry_id or ""]
    try:
        replayed, pending = asyncio.run(replay_with_own_connection(cfg, queue, None if replay_all else ids))
    except Exception as exc:  # nats-py raises many types for "cannot connect"
        message = redact_text(f"cannot reach NATS at {cfg.nats.url}: {type(exc).__name__}: {exc}")
        _audit_dlq(cfg, action, ids, False, outcome="nats_unreachable", error=message)
        raise click.ClickException(message) from exc
    kept = sorted(set(ids) & {entry.id for entry in asyncio.run(queue.list())})
    _audit_dlq(cfg, action, ids, not kept, replayed=replayed, kept=kept, pending=pending)
    click.echo(f"replayed {replayed}, {pending} pending")
    if entry_id is not None and not replayed:
        raise click.ClickException(f"{entry_id} was not replayed and is kept (see `mythos dlq show {entry_id}`)")


@dlq.command("delete")
@click.argument("entry_id")
@env_file_option
def dlq_delete(entry_id: str, env_file: Path | None) -> None:
    """Delete one entry without replaying it."""
    import asyncio

    cfg, queue = _dlq_of(env_file)
    if not asyncio.run(queue.delete(_entry_id(entry_id))):
        _audit_dlq(cfg, "delete", [entry_id], False, outcome="not_found")
        raise click.ClickException(f"no dead-letter entry {entry_id}")
    _audit_dlq(cfg, "delete", [entry_id], True, outcome="deleted")
    click.echo(f"deleted {entry_id}")


@dlq.command("purge")
@click.option("--older-than", "older_than", required=True, help="Age such as 90s, 30m, 12h, 7d.")
@env_file_option
def dlq_purge(older_than: str, env_file: Path | None) -> None:
    """Delete entries older than the given age."""
    import asyncio

    from mythos.realtime.dlq_admin import parse_duration

    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from exc
    cfg, queue = _dlq_of(env_file)
    before = {entry.id for entry in asyncio.run(queue.list())}
    purged = asyncio.run(queue.purge(age))
    ids = sorted(before - {entry.id for entry in asyncio.run(queue.list())})
    _audit_dlq(cfg, "purge", ids, True, older_than=older_than, purged=purged)
    click.echo(f"purged {purged}")


if __name__ == "__main__":  # pragma: no cover
    main()
