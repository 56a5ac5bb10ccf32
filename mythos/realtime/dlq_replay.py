"""Replay dead letters from outside the server (`mythos dlq replay`): its own NATS connection.

JetStream mode publishes with Nats-Msg-Id = message_id and waits for the stream's ack, so a
message that did reach the stream before it was dead-lettered is not delivered twice; core mode
publishes and flushes. An entry is removed only after that acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import nats

from mythos.config import AppConfig
from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.dlq_admin import split_subject
from mythos.realtime.jetstream import JetStreamChat, StreamSpec

__all__ = ["replay_with_own_connection", "stream_spec"]


def stream_spec(config: AppConfig) -> StreamSpec:
    """The servers' own stream settings: binding updates the stream to them, so a default
    spec here would scale a replicated chat stream down to one copy."""
    return StreamSpec.from_config(config.nats)


async def replay_with_own_connection(
    config: AppConfig, dlq: DeadLetterQueue, entry_ids: list[str] | None = None
) -> tuple[int, int]:
    """Replay `entry_ids` (all when None); returns (replayed, still_pending)."""
    cfg = config.nats
    errors: list[str] = []

    async def on_error(error: Exception) -> None:  # collected, not printed as a traceback
        errors.append(repr(error))

    try:
        # nats-py can keep retrying the first connect; bound it so the CLI answers.
        nc = await asyncio.wait_for(
            nats.connect(
                servers=cfg.servers,
                dont_randomize=cfg.dont_randomize,
                name="mythos-dlq-replay",
                connect_timeout=cfg.connect_timeout,
                allow_reconnect=False,
                max_reconnect_attempts=0,
                error_cb=on_error,
            ),
            timeout=cfg.connect_timeout + 1.0,
        )
    except TimeoutError as exc:
        raise ConnectionError(errors[-1] if errors else "connect timed out") from exc
    try:
        if cfg.use_jetstream:
            stream = JetStreamChat("dlq-replay", stream_spec(config))
            await stream.bind(nc)

            async def publish(data: dict[str, object]) -> None:
                subject, body = split_subject(dict(data))
                await stream.publish(subject, body)

        else:

            async def publish(data: dict[str, object]) -> None:
                subject, body = split_subject(dict(data))
                await nc.publish(subject, json.dumps(body, separators=(",", ":")).encode())
                await nc.flush(timeout=cfg.connect_timeout)  # type: ignore[arg-type]

        if entry_ids is None:
            replayed, _ = await dlq.replay_all(publish)
        else:
            replayed = 0
            for entry_id in entry_ids:
                replayed += await dlq.replay(entry_id, publish)
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    return replayed, await dlq.get_pending_count()
