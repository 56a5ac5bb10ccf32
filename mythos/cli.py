"""`mythos` command line: serve, init, config check, invite create, dlq."""

from __future__ import annotations

import secrets
import signal
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from mythos.config import AppConfig, load_config
from mythos.config.report import format_config_errors

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
    """Start the game server on SERVER_HOST:SERVER_PORT."""
    import uvicorn

    from mythos.app import create_app
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
        uvicorn.run(app, host=config.server.host, port=config.server.port, log_config=None, access_log=False)


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
    target.write_text(
        ENV_TEMPLATE.format(
            port=port,
            nats_port=nats_port,
            admin_password=admin_password,
            jwt_secret=secrets.token_urlsafe(48),
        ),
        encoding="utf-8",
    )
    target.chmod(0o600)
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
        f"NATS {'enabled at ' + cfg.nats.url if cfg.nats.enabled else 'disabled'}"
    )


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


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _invite_store(config: AppConfig) -> Any:
    from mythos.auth import InviteStore

    return InviteStore(config.security.invite_codes_file)


if __name__ == "__main__":  # pragma: no cover
    main()
