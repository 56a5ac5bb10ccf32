"""Slow event-stream readers: SSE clients that connect and read nothing, or read a trickle.

Each stream is a raw socket with a tiny receive buffer, so the server's writes back up at once
instead of vanishing into the kernel. While they hang on, their owner chats in their room (at a
pace the rate limit allows), so every stream has events queued for it. What is measured: how
many streams the server still holds at the end, whether it lets go of them once the clients
leave, and (by the runner) what the compliant players and the server's memory went through
meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from urllib.parse import urlencode, urlsplit

from harness.abuse.clients import USER_AGENT, WsAttacker, ws_url
from harness.abuse.context import AttackContext, AttackOutcome, Budget

__all__ = ["slow_sse_readers"]

RECEIVE_BUFFER = 4096
TRICKLE_BYTES = 64
TRICKLE_EVERY_S = 0.5
CHAT_EVERY_S = 0.125
"""Eight lines a second: inside the rate limit, so the chat itself is never refused."""
CHAT_TEXT = "The stars are right. " * 20
RELEASE_S = 3.0


def _request(base_url: str, token: str, session_id: str) -> bytes:
    parts = urlsplit(base_url)
    query = urlencode({"token": token, "session_id": session_id})
    return (f"GET /api/events?{query} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n"
            f"User-Agent: {USER_AGENT}\r\n\r\n").encode("ascii")


async def _open(base_url: str, request: bytes) -> socket.socket:
    parts = urlsplit(base_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (parts.hostname or "127.0.0.1", parts.port or 80)), 5)
        await asyncio.wait_for(loop.sock_sendall(sock, request), 5)
    except BaseException:
        sock.close()
        raise
    return sock


async def _trickle(sock: socket.socket, until: float, ended: list[int]) -> None:
    loop = asyncio.get_running_loop()
    while time.monotonic() < until:
        try:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, TRICKLE_BYTES), TRICKLE_EVERY_S)
        except TimeoutError:
            continue
        except OSError:
            ended[0] += 1
            return
        if not chunk:
            ended[0] += 1
            return
        await asyncio.sleep(TRICKLE_EVERY_S)


async def _chat(ctx: AttackContext, until: float) -> tuple[int, int]:
    """The streams' owner chats in their room (so every stream has events queued for it, its own
    lines included), at a pace the rate limit allows; returns (lines sent, lines refused)."""
    speaker = WsAttacker(ws_url(ctx.base_url, ctx.mallory.token, ctx.mallory.session_id), keep_replies=True)
    await speaker.connect()
    sent = refused = 0
    try:
        while time.monotonic() < until:
            reply = await speaker.command(f"say {sent} {CHAT_TEXT}", patience_s=2.0)
            sent += 1
            if reply is None or reply.get("type") == "error":
                refused += 1
            await asyncio.sleep(CHAT_EVERY_S)
    finally:
        await speaker.close()
    return sent, refused


async def slow_sse_readers(ctx: AttackContext, budget: Budget) -> AttackOutcome:
    """``budget.count`` streams (half silent, half trickling) held for ``budget.seconds``."""
    baseline = await ctx.connections()
    request = _request(ctx.base_url, ctx.mallory.token, ctx.mallory.session_id)
    socks: list[socket.socket] = []
    ended = [0]
    try:
        for _ in range(budget.count):
            socks.append(await _open(ctx.base_url, request))
        until = time.monotonic() + budget.seconds
        trickling = socks[: len(socks) // 2]
        chat = asyncio.create_task(_chat(ctx, until))
        await asyncio.gather(*(_trickle(s, until, ended) for s in trickling))
        sent, refused = await chat
        held = await ctx.connections()
    finally:
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.close()
    released_after = None
    after = held
    started = time.monotonic()
    while time.monotonic() - started < RELEASE_S:
        after = await ctx.connections()
        if baseline is not None and after is not None and after <= baseline:
            released_after = round(time.monotonic() - started, 2)
            break
        await asyncio.sleep(0.1)
    figures = {"streams": len(socks), "silent": len(socks) - len(socks) // 2, "trickling": len(socks) // 2,
               "connections_before": baseline, "connections_held_at_end": held,
               "trickle_streams_closed_by_server": ended[0], "chat_lines": sent, "chat_refused": refused,
               "released_after_s": released_after}
    outcome = AttackOutcome(figures=figures)
    if released_after is None:
        outcome.failures.append(
            f"slow SSE readers: the server still counted {after} connections {RELEASE_S:.0f} s after "
            f"the {len(socks)} streams closed (before: {baseline})")
    if refused:
        outcome.failures.append(f"slow SSE readers: {refused} of {sent} polite chat lines were refused")
    return outcome
