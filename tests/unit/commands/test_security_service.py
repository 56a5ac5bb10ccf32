"""CommandSecurityService through the seam the server runs: the pipeline order, every refusal with
its wire words and audit line, the budget rules, and the audit policy."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mythos.commands.actor import Actor
from mythos.commands.alias_graph import AliasLimits
from mythos.commands.aliases import AliasCommands, AliasStorage
from mythos.commands.audit import AuditLogger
from mythos.commands.context import CommandResult, GameServices
from mythos.commands.pipeline import process_command_unified
from mythos.commands.rate_limiter import CommandRateLimiter
from mythos.commands.security import CommandSecurity
from mythos.commands.security_service import CommandSecurityService
from mythos.services import AppServices
from tests.factories import make_config
from tests.unit.commands.conftest import seat


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Player:
    """Any object with a name and an admin flag fits the service."""

    name: str
    is_admin: bool = False


NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ANN = Player("ann")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def audit_dir(tmp_path: Path) -> Path:
    return tmp_path / "audit"


@pytest.fixture
def service(clock: FakeClock, audit_dir: Path) -> CommandSecurityService:
    return CommandSecurityService(
        aliases=AliasStorage(),
        audit=AuditLogger(audit_dir, clock=lambda: NOW, autoflush=False),
        limiter=CommandRateLimiter(10, 1.0, clock=clock),
        limits=AliasLimits(max_commands=10, max_depth=10, max_length=10_000),
    )


@dataclass
class Runner:
    """Runs lines for a player through the real pipeline with ``service`` as its security."""

    services: GameServices
    room_id: str

    async def run(
        self, line: str, name: str = "ann", *, admin: bool = False, ip: str | None = None, session: str | None = None
    ) -> CommandResult:
        actor = Actor(1, name, self.room_id, is_admin=admin)
        return await process_command_unified(
            line, actor, self.services, source="test", ip_address=ip, session_id=session
        )


@pytest.fixture
def runner(game: AppServices, service: CommandSecurityService) -> Runner:
    g = game.game
    services = GameServices(
        g.world, g.db, g.connections, g.broadcaster, service, AliasCommands(service.aliases, service.limits)
    )
    return Runner(services, game.world.start_room_id)


def audit_lines(audit_dir: Path) -> list[dict[str, object]]:
    path = audit_dir / "audit-2026-11-25.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


async def define(service: CommandSecurityService, **bodies: str) -> None:
    for name, body in bodies.items():
        await service.aliases.set_alias("ann", name, body)


async def test_plain_command_passes_and_costs_one(
    runner: Runner, service: CommandSecurityService, audit_dir: Path
) -> None:
    result = await runner.run("  look  ", ip="127.0.0.1", session="s1")
    assert result.ok and "Exits:" in result.text
    assert service.limiter.remaining("ann") == 9
    assert audit_lines(audit_dir) == []


async def test_alias_expands_and_costs_each_command(service: CommandSecurityService) -> None:
    await define(service, greet="say hi $1; wave")
    verdict, commands = await service.expand_aliases(ANN, "GREET bob")
    assert verdict.allowed and list(commands) == ["say hi bob", "wave"]
    assert service.limiter.remaining("ann") == 8


async def test_flood_is_refused_with_exact_retry_after(
    runner: Runner, service: CommandSecurityService, clock: FakeClock, audit_dir: Path
) -> None:
    for _ in range(10):
        assert (await runner.run("look")).ok
        clock.now += 0.01
    refused = await runner.run("look", ip="10.1.1.1", session="s9")
    assert (refused.refused, refused.error_type) == (True, "rate_limited")
    assert refused.retry_after == pytest.approx(0.9)
    assert refused.text == "Too many commands: wait 0.9 s."
    (line,) = audit_lines(audit_dir)
    assert line["player"] == "ann" and line["success"] is False and line["session_id"] == "s9"
    assert line["ip_address"] == "10.1.1.1" and line["command"] == "look"
    assert line["metadata"] == {"source": "test", "error_type": "rate_limited"}
    assert clock.now + (refused.retry_after or 0) >= 1001.0
    clock.now += refused.retry_after or 0
    assert (await runner.run("look")).ok


async def test_expansion_larger_than_the_budget_is_refused_whole(
    service: CommandSecurityService, clock: FakeClock
) -> None:
    await define(service, five="say 1; say 2; say 3; say 4; say 5")
    for _ in range(7):
        await service.expand_aliases(ANN, "look")
    verdict, commands = await service.expand_aliases(ANN, "five")
    assert (verdict.allowed, verdict.error_type, list(commands)) == (False, "rate_limited", [])
    assert "this runs 5" in (verdict.message or "")
    assert service.limiter.remaining("ann") == 3, "nothing of the expansion was recorded"
    clock.now += verdict.retry_after or 0
    assert (await service.expand_aliases(ANN, "five"))[0].allowed


async def test_injection_is_refused_named_and_audited(
    runner: Runner, service: CommandSecurityService, audit_dir: Path
) -> None:
    refused = await runner.run("say <script>steal()</script>")
    assert (refused.refused, refused.error_type) == (True, "invalid_command")
    assert "<script>" not in refused.text and "HTML" in refused.text
    assert service.limiter.remaining("ann") == 9, "a refused line still costs one"
    (line,) = audit_lines(audit_dir)
    assert line["metadata"] == {
        "source": "test",
        "error_type": "invalid_command",
        "reason": "HTML script or markup injection",
    }


async def test_raw_line_length_limit(service: CommandSecurityService) -> None:
    verdict, _ = await service.expand_aliases(ANN, "say " + "x" * 1000)
    assert verdict.error_type == "invalid_command" and "1000" in (verdict.message or "")


async def test_alias_cycle_is_refused_with_the_path(
    runner: Runner, service: CommandSecurityService, audit_dir: Path
) -> None:
    await define(service, a="b", b="c", c="a")  # storage changed behind the alias command
    refused = await runner.run("a")
    assert (refused.refused, refused.error_type) == (True, "alias_cycle")
    assert "a -> b -> c -> a" in refused.text
    (line,) = audit_lines(audit_dir)
    assert line["metadata"]["path"] == ["a", "b", "c", "a"]  # type: ignore[index]


async def test_alias_bomb_is_refused_before_expansion(service: CommandSecurityService) -> None:
    await define(service, **{f"l{i}": "; ".join([f"l{i + 1}"] * 4) for i in range(11)}, l11="say boom")
    verdict, _ = await service.expand_aliases(ANN, "l0")
    assert verdict.error_type == "alias_too_large"
    verdict, _ = await service.expand_aliases(ANN, "l8")
    assert verdict.error_type == "alias_too_large" and "more than 10 commands" in (verdict.message or "")


async def test_alias_too_long_with_these_arguments(service: CommandSecurityService) -> None:
    await define(service, big="say $* $* $* $* $* $* $* $* $* $* $* $*")
    assert (await service.expand_aliases(ANN, "big " + "x" * 100))[0].allowed
    verdict, _ = await service.expand_aliases(ANN, "big " + "x" * 900)
    assert verdict.error_type == "alias_too_large" and "characters" in (verdict.message or "")


async def test_expanded_commands_are_validated(
    runner: Runner, service: CommandSecurityService, audit_dir: Path
) -> None:
    await define(service, s="look; say <$1")  # harmless alone, dangerous once expanded
    refused = await runner.run("s script")
    assert (refused.refused, refused.error_type) == (True, "invalid_command")
    assert refused.text == "Alias 's', command 2: command refused: HTML script or markup injection."
    assert service.limiter.remaining("ann") == 9
    (line,) = audit_lines(audit_dir)
    assert line["metadata"]["alias"] == "s"  # type: ignore[index]


async def test_expansion_that_outgrows_its_check_is_refused(
    service: CommandSecurityService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mythos.commands import security_service as module
    from mythos.commands.aliases import ExpansionLimitError

    def changed_behind_the_check(*args: object) -> list[str]:
        raise ExpansionLimitError("storage changed")

    await define(service, a="look")
    monkeypatch.setattr(module, "expand_alias", changed_behind_the_check)
    verdict, _ = await service.expand_aliases(ANN, "a")
    assert verdict.error_type == "alias_too_large"


async def test_admin_commands_are_forbidden_to_players_even_inside_aliases(
    runner: Runner, service: CommandSecurityService, audit_dir: Path
) -> None:
    await define(service, sneak="look; teleport $1")
    for line in ("teleport bob", "/GOTO bob", "sneak bob"):
        refused = await runner.run(line)
        assert (refused.refused, refused.error_type) == (True, "forbidden"), line
    assert [r["metadata"]["error_type"] for r in audit_lines(audit_dir)] == ["forbidden"] * 3  # type: ignore[index]
    verdict, commands = await service.expand_aliases(Player("ann", is_admin=True), "sneak bob")
    assert verdict.allowed and list(commands) == ["look", "teleport bob"]


async def test_look_alike_admin_verbs_are_refused_and_audited_as_the_real_verb(runner: Runner, audit_dir: Path) -> None:
    refused = await runner.run("t\u0435leport bob")  # Cyrillic e
    assert (refused.refused, refused.error_type) == (True, "forbidden")
    assert refused.text == "You do not have permission to use 'teleport'."
    done = await runner.run("t\u0435leport bob", "root", admin=True)  # not a command, but audited
    assert done.error_type == "unknown_command"
    refusal, attempt = audit_lines(audit_dir)
    assert refusal["metadata"]["verb"] == "teleport"  # type: ignore[index]
    assert attempt["player"] == "root" and attempt["metadata"]["verb"] == "teleport"  # type: ignore[index]


def test_forget_player_resets_the_budget(service: CommandSecurityService) -> None:
    for _ in range(10):
        service.limiter.try_acquire("ann", 1)
    service.forget_player("ann")
    assert service.limiter.remaining("ann") == 10


# -- the seam itself -------------------------------------------------------------------------------


def test_service_fits_the_pipeline_seam(service: CommandSecurityService) -> None:
    seam: CommandSecurity = service  # mypy checks the protocol; the call below checks it at run time
    assert seam.check_rate(Actor(1, "ann", "arkham_street")).allowed


async def test_seam_runs_the_same_checks(service: CommandSecurityService, audit_dir: Path) -> None:
    await define(service, greet="say hi; wave")
    assert service.check_rate(ANN).allowed
    assert service.validate(ANN, "look").allowed
    verdict = service.validate(ANN, "say ${x}")
    assert not verdict.allowed and verdict.error_type == "invalid_command"
    verdict, commands = await service.expand_aliases(ANN, "greet")
    assert verdict.allowed and list(commands) == ["say hi", "wave"]
    assert service.validate(ANN, "say " + "x" * 5000).allowed, "expanded commands may be long"
    verdict, commands = await service.expand_aliases(ANN, "say " + "x" * 5000)
    assert not verdict.allowed and verdict.error_type == "invalid_command" and "1000" in (verdict.message or "")
    verdict, commands = await service.expand_aliases(ANN, "teleport bob")
    assert not verdict.allowed and verdict.error_type == "forbidden" and list(commands) == []
    for _ in range(7):
        await service.expand_aliases(ANN, "look")
    verdict = service.check_rate(ANN)
    assert not verdict.allowed and verdict.error_type == "rate_limited" and verdict.retry_after
    assert audit_lines(audit_dir) == [], "on the seam, audit() writes the lines"


def test_seam_audit_policy(service: CommandSecurityService, audit_dir: Path) -> None:
    service.audit(ANN, "look", success=True, source="ws", ip_address=None, metadata={"source": "ws"})
    service.audit(
        ANN,
        "look",
        success=False,
        source="ws",
        ip_address=None,
        metadata={"source": "ws", "error_type": "rate_limited", "session_id": "s1"},
    )
    service.audit(
        ANN,
        "mute bob",
        success=False,
        source="http",
        ip_address="127.0.0.1",
        metadata={"error_type": "forbidden"},
    )
    service.audit(ANN, "x", success=True, source="ws", ip_address=None, metadata={"expanded": ["grant admin bob"]})
    service.audit(
        ANN, "say hi", success=False, source="ws", ip_address=None, metadata={"error_type": "unknown_command"}
    )
    lines = audit_lines(audit_dir)
    assert [line["command"] for line in lines] == ["look", "mute bob", "x"]
    assert lines[0]["session_id"] == "s1" and "session_id" not in lines[0]["metadata"]  # type: ignore[operator]
    assert lines[1]["metadata"] == {"source": "http", "error_type": "forbidden", "verb": "mute"}
    assert lines[2]["metadata"]["verb"] == "grant"  # type: ignore[index]


def test_from_settings_caps_expansion_at_the_rate_limit(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        security={
            "rate_limit_max_commands": 5,
            "max_alias_expansion": 5,
            "max_alias_depth": 4,
            "max_expanded_command_length": 500,
        },
    )
    service = CommandSecurityService.from_settings(
        config.security, aliases=AliasStorage(), audit=AuditLogger(tmp_path / "audit")
    )
    assert service.limiter.max_commands == 5
    assert service.limits == AliasLimits(max_commands=5, max_depth=4, max_length=500)


# -- issue 12, item 12: the expanded commands get the body's checks --------------------------------


async def test_an_alias_cannot_run_alias_or_unalias_through_its_arguments(game: AppServices) -> None:
    a = await seat(game, "Alice")
    assert (await a.run("alias x $1 $2 $3")).ok
    assert (await a.run("alias keep look")).ok
    for line in ("x alias y look; look", "x unalias keep", "x ALIASES"):
        result = await a.run(line)
        assert (result.refused, result.error_type) == (True, "forbidden"), line
        assert "cannot define or remove aliases" in result.text
    assert (await a.run("alias y")).text == "You have no alias 'y'."
    assert (await a.run("alias keep")).text == "keep = look"
