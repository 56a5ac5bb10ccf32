"""CommandSecurityService: the pipeline order, every refusal with its wire form and audit line,
the budget rules, and the pipeline seam (check_rate / validate / expand_aliases / audit)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mythos.commands.alias_graph import AliasLimits
from mythos.commands.aliases import AliasStorage
from mythos.commands.audit import AuditLogger
from mythos.commands.rate_limiter import CommandRateLimiter
from mythos.commands.security_service import CommandSecurityService, ErrorType, Expansion, Refusal
from tests.factories import make_config


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Player:
    name: str
    is_admin: bool = False


NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


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
        audit=AuditLogger(audit_dir, clock=lambda: NOW),
        limiter=CommandRateLimiter(10, 1.0, clock=clock),
        limits=AliasLimits(max_commands=10, max_depth=10, max_length=10_000),
    )


def audit_lines(audit_dir: Path) -> list[dict[str, object]]:
    path = audit_dir / "audit-2026-11-25.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


async def define(service: CommandSecurityService, **bodies: str) -> None:
    for name, body in bodies.items():
        await service.aliases.set_alias("ann", name, body)


def test_plain_command_passes_and_costs_one(service: CommandSecurityService, audit_dir: Path) -> None:
    outcome = service.check_and_expand("ann", "  look  ", "127.0.0.1", "s1")
    assert outcome == Expansion(("look",))
    assert service.limiter.remaining("ann") == 9
    assert audit_lines(audit_dir) == []


async def test_alias_expands_and_costs_each_command(service: CommandSecurityService) -> None:
    await define(service, greet="say hi $1; wave")
    outcome = service.check_and_expand("ann", "GREET bob")
    assert outcome == Expansion(("say hi bob", "wave"), alias="greet")
    assert service.limiter.remaining("ann") == 8


def test_flood_is_refused_with_exact_retry_after(
    service: CommandSecurityService, clock: FakeClock, audit_dir: Path
) -> None:
    for _ in range(10):
        assert isinstance(service.check_and_expand("ann", "look"), Expansion)
        clock.now += 0.01
    refusal = service.check_and_expand("ann", "look", "10.1.1.1", "s9")
    assert isinstance(refusal, Refusal) and refusal.error_type is ErrorType.RATE_LIMITED
    assert refusal.retry_after == pytest.approx(0.9)
    assert refusal.message == "Too many commands: wait 0.9 s."
    assert refusal.to_ws_error() == {
        "type": "error",
        "error_type": "rate_limited",
        "message": refusal.message,
        "retry_after": refusal.retry_after,
    }
    (line,) = audit_lines(audit_dir)
    assert line["player"] == "ann" and line["success"] is False and line["session_id"] == "s9"
    assert line["ip_address"] == "10.1.1.1"
    assert line["metadata"] == {"error_type": "rate_limited"}
    assert clock.now + (refusal.retry_after or 0) >= 1001.0
    clock.now += refusal.retry_after or 0
    assert isinstance(service.check_and_expand("ann", "look"), Expansion)


async def test_expansion_larger_than_the_budget_is_refused_whole(
    service: CommandSecurityService, clock: FakeClock
) -> None:
    await define(service, five="say 1; say 2; say 3; say 4; say 5")
    for _ in range(7):
        service.check_and_expand("ann", "look")
    refusal = service.check_and_expand("ann", "five")
    assert isinstance(refusal, Refusal) and refusal.error_type is ErrorType.RATE_LIMITED
    assert "this runs 5" in refusal.message
    assert service.limiter.remaining("ann") == 3, "nothing of the expansion was recorded"
    clock.now += refusal.retry_after or 0
    assert isinstance(service.check_and_expand("ann", "five"), Expansion)


def test_injection_is_refused_named_and_audited(service: CommandSecurityService, audit_dir: Path) -> None:
    refusal = service.check_and_expand("ann", "say <script>steal()</script>")
    assert isinstance(refusal, Refusal) and refusal.error_type is ErrorType.INVALID_COMMAND
    assert "<script>" not in refusal.message and "HTML" in refusal.message
    assert service.limiter.remaining("ann") == 9, "a refused line still costs one"
    (line,) = audit_lines(audit_dir)
    assert line["metadata"] == {"error_type": "invalid_command", "reason": "HTML script or markup injection"}


def test_raw_line_length_limit(service: CommandSecurityService) -> None:
    refusal = service.check_and_expand("ann", "say " + "x" * 1000)
    assert isinstance(refusal, Refusal) and "1000" in refusal.message


async def test_alias_cycle_is_refused_with_the_path(service: CommandSecurityService, audit_dir: Path) -> None:
    await define(service, a="b", b="c", c="a")  # storage changed behind the alias command
    refusal = service.check_and_expand("ann", "a")
    assert isinstance(refusal, Refusal) and refusal.error_type is ErrorType.ALIAS_CYCLE
    assert "a -> b -> c -> a" in refusal.message
    (line,) = audit_lines(audit_dir)
    assert line["metadata"]["path"] == ["a", "b", "c", "a"]  # type: ignore[index]


async def test_alias_bomb_is_refused_before_expansion(service: CommandSecurityService) -> None:
    await define(service, **{f"l{i}": "; ".join([f"l{i + 1}"] * 4) for i in range(11)}, l11="say boom")
    refusal = service.check_and_expand("ann", "l0")
    assert isinstance(refusal, Refusal) and refusal.error_type is ErrorType.ALIAS_TOO_LARGE
    refusal = service.check_and_expand("ann", "l8")
    assert isinstance(refusal, Refusal) and "more than 10 commands" in refusal.message


async def test_alias_too_long_with_these_arguments(service: CommandSecurityService) -> None:
    await define(service, big="say $* $* $* $* $* $* $* $* $* $* $* $*")
    assert isinstance(service.check_and_expand("ann", "big " + "x" * 100), Expansion)
    refusal = service.check_and_expand("ann", "big " + "x" * 900)
    assert isinstance(refusal, Refusal) and refusal.error_type is ErrorType.ALIAS_TOO_LARGE
    assert "characters" in refusal.message


async def test_expanded_commands_are_validated(service: CommandSecurityService, audit_dir: Path) -> None:
    await define(service, s="look; say <$1")  # harmless alone, dangerous once expanded
    refusal = service.check_and_expand("ann", "s script")
    assert isinstance(refusal, Refusal) and refusal.error_type is ErrorType.INVALID_COMMAND
    assert refusal.message == "Alias 's', command 2: command refused: HTML script or markup injection."
    assert refusal.to_ws_error() == {
        "type": "error",
        "error_type": "invalid_command",
        "message": refusal.message,
    }
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
    refusal = service.check_and_expand("ann", "a")
    assert isinstance(refusal, Refusal) and refusal.error_type is ErrorType.ALIAS_TOO_LARGE


async def test_admin_commands_are_forbidden_to_players_even_inside_aliases(
    service: CommandSecurityService, audit_dir: Path
) -> None:
    await define(service, sneak="look; teleport $1")
    for line in ("teleport bob", "/GOTO bob", "sneak bob"):
        refusal = service.check_and_expand("ann", line)
        assert isinstance(refusal, Refusal) and refusal.error_type is ErrorType.FORBIDDEN, line
    assert [r["metadata"]["error_type"] for r in audit_lines(audit_dir)] == ["forbidden"] * 3  # type: ignore[index]
    outcome = service.check_and_expand("ann", "sneak bob", is_admin=True)
    assert outcome == Expansion(("look", "teleport bob"), alias="sneak", sensitive=True)


def test_after_dispatch_audits_sensitive_commands_only(service: CommandSecurityService, audit_dir: Path) -> None:
    expansion = Expansion(("look", "mute bob"), sensitive=True)
    service.after_dispatch("root", expansion, "look", True)
    service.after_dispatch("root", expansion, "mute bob", False, "127.0.0.1", "s3", {"why": "no such player"})
    (line,) = audit_lines(audit_dir)
    assert line["command"] == "mute bob" and line["success"] is False
    assert line["metadata"] == {"alias": None, "why": "no such player"}


def test_forget_player_resets_the_budget(service: CommandSecurityService) -> None:
    for _ in range(10):
        service.check_and_expand("ann", "look")
    service.forget_player("ann")
    assert service.limiter.remaining("ann") == 10


# -- the pipeline seam -----------------------------------------------------------------------------


def test_service_fits_the_pipeline_seam(service: CommandSecurityService) -> None:
    from mythos.commands.context import Actor
    from mythos.commands.security import CommandSecurity

    seam: CommandSecurity = service  # mypy checks the protocol; the call below checks it at run time
    assert seam.check_rate(Actor(1, "ann", "arkham_street")).allowed


async def test_seam_runs_the_same_checks(service: CommandSecurityService, audit_dir: Path) -> None:
    await define(service, greet="say hi; wave")
    ann = Player("ann")
    assert service.check_rate(ann).allowed
    assert service.validate(ann, "look").allowed
    verdict = service.validate(ann, "say ${x}")
    assert not verdict.allowed and verdict.error_type == "invalid_command"
    verdict, commands = await service.expand_aliases(ann, "greet")
    assert verdict.allowed and list(commands) == ["say hi", "wave"]
    assert service.validate(ann, "say " + "x" * 5000).allowed, "expanded commands may be long"
    verdict, commands = await service.expand_aliases(ann, "say " + "x" * 5000)
    assert not verdict.allowed and verdict.error_type == "invalid_command" and "1000" in (verdict.message or "")
    verdict, commands = await service.expand_aliases(ann, "teleport bob")
    assert not verdict.allowed and verdict.error_type == "forbidden" and list(commands) == []
    for _ in range(7):
        await service.expand_aliases(ann, "look")
    verdict = service.check_rate(ann)
    assert not verdict.allowed and verdict.error_type == "rate_limited" and verdict.retry_after
    assert audit_lines(audit_dir) == [], "on the seam, audit() writes the lines"


def test_seam_audit_policy(service: CommandSecurityService, audit_dir: Path) -> None:
    ann = Player("ann")
    service.audit(ann, "look", success=True, source="ws", ip_address=None, metadata={"source": "ws"})
    service.audit(
        ann,
        "look",
        success=False,
        source="ws",
        ip_address=None,
        metadata={"source": "ws", "error_type": "rate_limited", "session_id": "s1"},
    )
    service.audit(
        ann,
        "mute bob",
        success=False,
        source="http",
        ip_address="127.0.0.1",
        metadata={"error_type": "forbidden"},
    )
    service.audit(ann, "x", success=True, source="ws", ip_address=None, metadata={"expanded": ["grant admin bob"]})
    service.audit(
        ann, "say hi", success=False, source="ws", ip_address=None, metadata={"error_type": "unknown_command"}
    )
    lines = audit_lines(audit_dir)
    assert [line["command"] for line in lines] == ["look", "mute bob", "x"]
    assert lines[0]["session_id"] == "s1" and "session_id" not in lines[0]["metadata"]
    assert lines[1]["metadata"] == {"source": "http", "error_type": "forbidden"}


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
