"""Alias propagation: an alias defined or removed on one server, used on another.

Commands run only on the server holding the player's session (ADR-006), so "define on A, use on
B" is a session moving from A to B, as a player switching servers does. Each sample:

1. the player opens a session on A and lists its aliases (so A has them cached), then defines
   ``zq<i>`` there, or removes it, and A acknowledges;
2. the player closes that socket and opens a session on B, which read the player's aliases when
   it last held the session (the sample before), so a stale copy would show;
3. it sends ``zq<i>`` on B right away, and again every ``POLL_S``, until B's reply shows the
   change: the alias runs (defined) or is an unknown command (removed).

``alias_propagation_ms`` is, per sample, from A's acknowledgement to B's first reply showing the
change (:func:`harness.cluster.checks.alias_propagation`): it includes opening the session on B
and one command's round trip, so it bounds the propagation from above. Definitions and removals
alternate, and so do the servers.
"""

from __future__ import annotations

import asyncio
import uuid

import structlog

from harness.cluster.accounts import Account, register
from harness.cluster.context import Server, WorkloadContext
from harness.cluster.ops import W
from harness.cluster.session import ProbeSession

__all__ = ["SAMPLES", "alias_propagation"]

log = structlog.get_logger(__name__)

SAMPLES = 40
"""Twenty definitions and twenty removals: a p95 needs at least 30 samples (checks.MIN_ALIAS_SAMPLES)."""
POLL_S = 0.01
PROBE_TIMEOUT_S = 3.0
"""A change B has not shown by then did not propagate (the spec is 1 s)."""
SAMPLE_PAUSE_S = 0.15
"""Between samples: the closed socket's goodbye reaches its server before the next login, and the
player stays within its budget (a sample runs about three commands, and the budget is the
player's across servers, ADR-006), so a poll refused for the budget does not inflate the figure."""
GRACE_S = 15.0
CHANGE_RETRIES = 3
"""A change refused for the player's rate budget is sent again after the wait it was told."""


def _session(ctx: WorkloadContext, account: Account, sample: int, side: str, server: Server) -> ProbeSession:
    return ProbeSession(ctx.history, account.name, server.url, account.token, uuid.uuid4().hex,
                        {"workload": "alias_propagation", "round": sample, "kind": "alias", "side": side,
                         "server": server.name})


async def _change(ctx: WorkloadContext, account: Account, sample: int, change: str, name: str,
                  server: Server) -> bool:
    """Define or remove ``name`` in a session on ``server``; True once that server acknowledged it."""
    tags = {"workload": "alias_propagation", "sample": sample, "change": change, "name": name, "server": server.name}
    invocation = ctx.history.invoke(account.name, W.ALIAS_CHANGE, tags)
    session = _session(ctx, account, sample, "change", server)
    try:
        if await session.open() != "live":
            ctx.history.fail(invocation, "no session to change the alias in", tags)
            return False
        await session.command("aliases")  # this server caches the player's aliases before the change
        command = f"alias {name} look" if change == "define" else f"unalias {name}"
        reply = await session.command(command)
        for _ in range(CHANGE_RETRIES):
            # The budget is the player's across servers (ADR-006): the polls of the sample before,
            # on the other server, may have spent it. Wait as told, as a client does.
            if reply.error_type != "rate_limited":
                break
            await asyncio.sleep(float(reply.data.get("retry_after") or POLL_S))
            reply = await session.command(command)
        if reply.ok:
            ctx.history.ok(invocation, {**tags, "text": reply.data.get("text")})
            return True
        if reply.kind == "none":
            ctx.history.info(invocation, str(reply.data.get("error", "no reply")))
        else:
            ctx.history.fail(invocation, reply.error_type or "refused", {**tags, "text": reply.data.get("text")})
        return False
    finally:
        await session.close()


async def _use_until_seen(ctx: WorkloadContext, session: ProbeSession, sample: int, name: str,
                          server: Server, want: str) -> None:
    """Send ``name`` on the player's socket until the reply's state is ``want`` or time is up."""
    deadline = ctx.history.now() + PROBE_TIMEOUT_S
    while ctx.history.now() < deadline:
        tags = {"workload": "alias_propagation", "sample": sample, "name": name, "server": server.name}
        invocation = ctx.history.invoke(session.process, W.ALIAS_USE, tags)
        reply = await session.command(name)
        if reply.kind == "none":
            ctx.history.info(invocation, str(reply.data.get("error", "no reply")))
            return
        state = ("expanded" if reply.ok else "unknown" if reply.error_type == "unknown_command" else "other")
        ctx.history.ok(invocation, {**tags, "state": state, "error_type": reply.error_type})
        if state == want:
            return
        if reply.error_type == "rate_limited":
            await asyncio.sleep(float(reply.data.get("retry_after") or POLL_S))
        else:
            await asyncio.sleep(POLL_S)


async def alias_propagation(ctx: WorkloadContext, samples: int = SAMPLES) -> None:
    """``samples`` alias changes on one server, each seen through the next."""
    servers = list(ctx.servers)
    if len(servers) < 2:
        raise ValueError("alias propagation needs two game servers")
    account = await register(servers[0].url, "aliaser", ctx.take_invite(servers[0].index))
    ctx.history.observe(account.name, W.PLAN, {"workload": "alias_propagation", "samples": samples})
    for sample in range(samples):
        if ctx.remaining() < -GRACE_S:
            log.warning("workload_out_of_time", workload="alias_propagation", done=sample, planned=samples)
            return
        here, there = servers[sample % len(servers)], servers[(sample + 1) % len(servers)]
        name = f"zq{sample // 2}"
        change, want = ("define", "expanded") if sample % 2 == 0 else ("remove", "unknown")
        if not await _change(ctx, account, sample, change, name, here):
            continue
        session = _session(ctx, account, sample, "use", there)
        try:
            if await session.open() == "live":
                await _use_until_seen(ctx, session, sample, name, there, want)
        finally:
            await session.close()
        await asyncio.sleep(SAMPLE_PAUSE_S)
