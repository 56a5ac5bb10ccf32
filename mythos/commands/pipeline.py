"""`process_command_unified`: the one entry every command path (WebSocket, HTTP, chat) goes through.

Order: rate limit, validate the raw line, expand aliases (with graph checks), validate each
expansion, dispatch, audit. Every step before dispatch can refuse; every outcome is audited.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from mythos.commands.admin import ADMIN_COMMANDS
from mythos.commands.alias_handlers import ALIAS_COMMANDS
from mythos.commands.builtin import BUILTIN_COMMANDS, Handler
from mythos.commands.context import Actor, CommandContext, CommandResult, GameServices
from mythos.commands.parser import parse_command
from mythos.commands.security import SecurityVerdict
from mythos.db import DatabaseUnavailableError
from mythos.observability.logging import get_logger

__all__ = ["dispatch", "process_command_unified", "resolve_handler"]

log = get_logger(__name__)
_stdlib_log = logging.getLogger(__name__)


def _debug_enabled() -> bool:
    return _stdlib_log.isEnabledFor(logging.DEBUG)


def _refused(verdict: SecurityVerdict) -> CommandResult:
    return CommandResult(
        verdict.message or "Command refused.",
        ok=False,
        error_type=verdict.error_type or "invalid_command",
        retry_after=verdict.retry_after,
        refused=True,
        data=dict(verdict.details),
    )


def resolve_handler(verb: str, actor: Actor) -> tuple[Handler | None, CommandResult | None]:
    """The handler for `verb`, or the reply explaining why there is none."""
    handler = BUILTIN_COMMANDS.get(verb) or ALIAS_COMMANDS.get(verb)
    if handler is not None:
        return handler, None
    admin_handler = ADMIN_COMMANDS.get(verb)
    if admin_handler is not None:
        if not actor.is_admin:
            return None, CommandResult.fail(f"You do not have permission to use '{verb}'.", "forbidden")
        return admin_handler, None
    return None, CommandResult.fail(f"Unknown command '{verb}'. Type 'help' for a list.", "unknown_command")


async def dispatch(command: str, ctx: CommandContext) -> CommandResult:
    parsed = parse_command(command)
    if not parsed.verb:
        return CommandResult.fail("Type a command, or 'help' for a list.", "empty_command")
    handler, refusal = resolve_handler(parsed.verb, ctx.actor)
    if handler is None:
        return refusal or CommandResult.fail("Unknown command.", "unknown_command")
    return await handler(ctx, parsed)


def _combine(results: list[CommandResult]) -> CommandResult:
    if len(results) == 1:
        return results[0]
    failed = next((r for r in results if not r.ok), None)
    data: dict[str, object] = {}
    for r in results:
        data.update(r.data)
    return CommandResult(
        "\n".join(r.text for r in results if r.text),
        ok=failed is None,
        error_type=failed.error_type if failed else None,
        quit=any(r.quit for r in results),
        data=data,
    )


async def process_command_unified(
    raw: str,
    actor: Actor,
    services: GameServices,
    *,
    source: str,
    ip_address: str | None = None,
    session_id: str | None = None,
    rate_checked: bool = False,
) -> CommandResult:
    """Run one command line for `actor` through every security step and the game.

    ``rate_checked``: the caller ran ``security.check_rate`` for this line just before (the
    WebSocket path does, to refuse before reading the database). Skipping it here loses no
    enforcement: the budget is charged by ``expand_aliases`` (``try_acquire``), which refuses a
    line that finds no room, whatever ran in between."""
    security = services.security
    command = raw.strip()
    metadata: dict[str, object] = {"source": source}
    if session_id is not None:
        metadata["session_id"] = session_id
    try:
        result = await _run(command, actor, services, source, ip_address, metadata, rate_checked)
    except DatabaseUnavailableError as exc:
        # Refused whole (a write either happened before the outage or not at all): try again soon.
        result = CommandResult(exc.message, ok=False, error_type="database_unavailable",
                               retry_after=exc.retry_after, refused=True)
    if result.error_type:
        metadata["error_type"] = result.error_type
    if result.refused:
        if services.refusals is not None:
            services.refusals.record_refusal(result.error_type or "refused")
        # What the refusal found (alias, loop path, reason) is for the audit line, not the wire.
        metadata.update({k: v for k, v in result.data.items() if k not in metadata})
    security.audit(actor, command, success=result.ok, source=source, ip_address=ip_address, metadata=_frozen(metadata))
    if _debug_enabled():  # the command path: skip building a line LOG_LEVEL drops anyway
        log.debug("command_processed", player=actor.name, verb=command.split(" ", 1)[0][:32], ok=result.ok)
    return result


async def _run(
    command: str,
    actor: Actor,
    services: GameServices,
    source: str,
    ip_address: str | None,
    metadata: dict[str, object],
    rate_checked: bool = False,
) -> CommandResult:
    security = services.security
    if not rate_checked:
        verdict = security.check_rate(actor)
        if not verdict.allowed:
            return _refused(verdict)
    # Length limits are security's (the raw line's in expand_aliases): a refusal costs budget.
    verdict = security.validate(actor, command)
    if not verdict.allowed:
        return _refused(verdict)
    verdict, expanded = await security.expand_aliases(actor, command)
    if not verdict.allowed:
        return _refused(verdict)
    expanded = list(expanded)
    if expanded != [command]:
        metadata["expanded"] = expanded
        for part in expanded:
            verdict = security.validate(actor, part)
            if not verdict.allowed:
                return _refused(verdict)
    ctx = CommandContext(actor, services, source=source, ip_address=ip_address)
    results = []
    for part in expanded or [command]:
        result = await dispatch(part, ctx)
        results.append(result)
        if result.quit:
            break
    return _combine(results)


def _frozen(metadata: dict[str, object]) -> Mapping[str, object]:
    return dict(metadata)
