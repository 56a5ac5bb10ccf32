"""The pipeline's security seam: order of checks, refusals, expansions and audit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from mythos.commands.context import Actor, GameServices
from mythos.commands.pipeline import process_command_unified, resolve_handler
from mythos.commands.security import ALLOW, SecurityVerdict
from mythos.commands.validator import MAX_RAW_LENGTH
from mythos.services import AppServices
from tests.factories import make_actor
from tests.unit.commands.conftest import seat


@dataclass
class RecordingSecurity:
    """Records every call; refuses at the step named in `refuse_at`."""

    refuse_at: str | None = None
    expansion: Sequence[str] | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)

    def _verdict(self, step: str) -> SecurityVerdict:
        if step == self.refuse_at:
            return SecurityVerdict.deny(
                "rate_limited" if step == "rate" else "invalid_command",
                f"no ({step})",
                1.5 if step == "rate" else None,
            )
        return ALLOW

    def check_rate(self, actor: Actor) -> SecurityVerdict:
        self.calls.append(("rate", actor.name))
        return self._verdict("rate")

    def validate(self, actor: Actor, command: str) -> SecurityVerdict:
        step = "validate" if not self.calls or self.calls[-1][0] == "rate" else "validate_expanded"
        self.calls.append((step, command))
        return self._verdict(step)

    async def expand_aliases(self, actor: Actor, command: str) -> tuple[SecurityVerdict, Sequence[str]]:
        self.calls.append(("expand", command))
        if self.refuse_at == "expand":
            return SecurityVerdict.deny("alias_cycle", "cycle a -> b -> a"), []
        return ALLOW, list(self.expansion) if self.expansion is not None else [command]

    def audit(
        self,
        actor: Actor,
        command: str,
        *,
        success: bool,
        source: str,
        ip_address: str | None,
        metadata: Mapping[str, Any],
    ) -> None:
        self.audits.append({"command": command, "success": success, "source": source, "ip": ip_address, **metadata})


def _services(game: AppServices, security: RecordingSecurity) -> GameServices:
    g = game.game
    return GameServices(g.world, g.db, g.connections, g.broadcaster, security)


async def test_steps_run_in_order_and_are_audited(game: AppServices) -> None:
    a = await seat(game, "Alice")
    security = RecordingSecurity()
    result = await process_command_unified(
        "look", await a.actor(), _services(game, security), source="ws", ip_address="127.0.0.1"
    )
    assert result.ok
    assert [c[0] for c in security.calls] == ["rate", "validate", "expand"]
    assert security.audits == [{"command": "look", "success": True, "source": "ws", "ip": "127.0.0.1"}]


@pytest.mark.parametrize(
    ("step", "error_type", "calls"),
    [
        ("rate", "rate_limited", ["rate"]),
        ("validate", "invalid_command", ["rate", "validate"]),
        ("expand", "alias_cycle", ["rate", "validate", "expand"]),
    ],
)
async def test_each_step_can_refuse(game: AppServices, step: str, error_type: str, calls: list[str]) -> None:
    a = await seat(game, "Alice")
    security = RecordingSecurity(refuse_at=step)
    result = await process_command_unified("n", await a.actor(), _services(game, security), source="http")
    assert (result.ok, result.refused, result.error_type) == (False, True, error_type)
    assert [c[0] for c in security.calls] == calls
    assert security.audits[0]["success"] is False and security.audits[0]["error_type"] == error_type
    stored = await game.db.get_player(a.player_id)
    assert stored is not None and stored.room_id == "arkham_square"  # nothing ran
    if step == "rate":
        assert result.retry_after == 1.5


async def test_expansion_is_validated_and_each_part_dispatched(game: AppServices) -> None:
    a = await seat(game, "Alice")
    security = RecordingSecurity(expansion=["n", "look"])
    result = await process_command_unified("walk", await a.actor(), _services(game, security), source="ws")
    assert result.ok
    assert ("validate_expanded", "n") in security.calls and ("validate_expanded", "look") in security.calls
    assert "Gates of Miskatonic University" in result.text
    assert security.audits[0]["expanded"] == ["n", "look"]


async def test_a_bad_expansion_is_refused_before_dispatch(game: AppServices) -> None:
    a = await seat(game, "Alice")
    security = RecordingSecurity(expansion=["n", "rm -rf /"], refuse_at="validate_expanded")
    result = await process_command_unified("walk", await a.actor(), _services(game, security), source="ws")
    assert result.refused
    stored = await game.db.get_player(a.player_id)
    assert stored is not None and stored.room_id == "arkham_square"


async def test_quit_stops_an_expansion_and_failures_combine(game: AppServices) -> None:
    a = await seat(game, "Alice")
    security = RecordingSecurity(expansion=["up", "quit", "n"])
    result = await process_command_unified("x", await a.actor(), _services(game, security), source="ws")
    assert result.quit and not result.ok and result.error_type == "no_exit"
    stored = await game.db.get_player(a.player_id)
    assert stored is not None and stored.room_id == "arkham_square"


async def test_overlong_and_empty_commands(game: AppServices) -> None:
    a = await seat(game, "Alice")
    long = await process_command_unified("x" * (MAX_RAW_LENGTH + 1), await a.actor(), game.game, source="ws")
    assert long.refused and long.error_type == "invalid_command"
    empty = await process_command_unified("   ", await a.actor(), game.game, source="ws")
    assert (empty.ok, empty.error_type) == (False, "empty_command")


def test_resolve_handler() -> None:
    assert resolve_handler("look", make_actor())[0] is not None
    assert resolve_handler("mute", make_actor())[1] is not None
    assert resolve_handler("mute", make_actor(is_admin=True))[0] is not None
    _, unknown = resolve_handler("xyzzy", make_actor())
    assert unknown is not None and unknown.error_type == "unknown_command"
