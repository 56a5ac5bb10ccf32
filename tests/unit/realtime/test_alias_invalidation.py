"""Alias caches across servers: what an invalidation drops, what a server that missed some drops,
and a load that an invalidation overtook."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from mythos.commands.aliases import AliasCommands, AliasStorage, InMemoryAliasPersistence
from mythos.observability.metrics import MetricsCollector
from mythos.realtime.alias_invalidation import SUBJECT_PREFIX, AliasInvalidation
from mythos.realtime.cluster_link import ClusterLink
from mythos.realtime.connection_state_machine import NATSConnectionStateMachine


class FakeNC:
    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.is_connected = True

    async def publish(self, subject: str, payload: bytes) -> None:
        self.published.append((subject, json.loads(payload)))

    async def flush(self, timeout: float) -> None:
        return None


class FakeLink:
    def __init__(self) -> None:
        self.fsm = NATSConnectionStateMachine("test")
        self._nc: FakeNC | None = None

    @property
    def nc(self) -> Any:
        return self._nc

    @property
    def is_connected(self) -> bool:
        return self._nc is not None


def message(origin: str, name: str) -> Any:
    body = {"player_id": 3, "name": name, "origin": origin}
    return SimpleNamespace(subject=f"{SUBJECT_PREFIX}.3", data=json.dumps(body).encode())


async def loaded_storage(*names: str) -> AliasStorage:
    persistence = InMemoryAliasPersistence()
    storage = AliasStorage(persistence)
    for name in names:
        await persistence.save_alias(name, "x", "look")
        await storage.load(name)
    return storage


async def test_another_servers_change_unloads_that_player_only() -> None:
    storage = await loaded_storage("Wilbur", "Lavinia")
    metrics = MetricsCollector()
    invalidation = AliasInvalidation("here", ClusterLink(FakeLink()), storage, metrics)
    version = storage.version("Wilbur")
    await invalidation._on_msg(message("there", "Wilbur"))
    assert not storage.is_loaded("Wilbur") and storage.is_loaded("Lavinia")
    assert storage.version("Wilbur") != version  # cached alias bounds are rebuilt too
    await invalidation._on_msg(message("here", "Lavinia"))  # our own: written through already
    await invalidation._on_msg(SimpleNamespace(subject="x", data=b"not json"))
    assert storage.is_loaded("Lavinia")
    assert metrics.get_cluster_metrics()["alias_invalidations_received"] == 1


async def test_a_change_is_published_after_the_commit_and_kept_while_the_link_is_down() -> None:
    storage = await loaded_storage()
    link = FakeLink()
    metrics = MetricsCollector()
    invalidation = AliasInvalidation("here", ClusterLink(link), storage, metrics)
    commands = AliasCommands(storage)
    commands.on_change = invalidation.publish
    reply = await commands.define("Wilbur", "go north", player_id=3)
    assert "defined" in reply.text
    assert invalidation._unsent == {3: "Wilbur"}  # no link: deferred, not lost
    nc = FakeNC()
    link._nc = nc
    await commands.unalias("Wilbur", "go", player_id=3)
    await commands.unalias("Wilbur", "nothing", player_id=3)  # nothing removed: nothing to announce
    assert nc.published == [(f"{SUBJECT_PREFIX}.3", {"player_id": 3, "name": "Wilbur", "origin": "here"})]
    assert metrics.get_cluster_metrics()["alias_invalidations_sent"] == 1


async def test_a_failing_announcement_does_not_undo_the_change() -> None:
    storage = await loaded_storage()
    commands = AliasCommands(storage)

    async def broken(player_id: int, name: str) -> None:
        raise RuntimeError("no NATS")

    commands.on_change = broken
    reply = await commands.define("Wilbur", "go look", player_id=3)
    assert "defined" in reply.text
    assert storage.get_alias("Wilbur", "go") is not None


async def test_a_server_back_from_an_outage_drops_every_cached_alias_and_resends_its_own() -> None:
    storage = await loaded_storage("Wilbur", "Lavinia")
    link = FakeLink()
    cluster_link = ClusterLink(link)
    invalidation = AliasInvalidation("here", cluster_link, storage, MetricsCollector())
    await invalidation.publish(9, "Asenath")  # no link yet: deferred
    nc = FakeNC()
    subscribed: list[str] = []

    async def subscribe(subject: str, cb: Any) -> Any:
        subscribed.append(subject)
        return SimpleNamespace(unsubscribe=lambda: asyncio.sleep(0))

    nc.subscribe = subscribe  # type: ignore[attr-defined]
    link._nc = nc
    link.fsm.fire("start")
    link.fsm.fire("established")
    first = asyncio.create_task(invalidation._follow(cluster_link.generation, nc))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert storage.is_loaded("Wilbur"), "the first connection has missed nothing"
    assert [s for s, _ in nc.published] == [f"{SUBJECT_PREFIX}.9"]
    link.fsm.fire("lost")
    link.fsm.fire("established")
    await asyncio.wait_for(first, 2.0)
    second = asyncio.create_task(invalidation._follow(cluster_link.generation, nc))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert not storage.is_loaded("Wilbur") and not storage.is_loaded("Lavinia")
    assert subscribed == [f"{SUBJECT_PREFIX}.*"] * 2
    second.cancel()


class SlowPersistence(InMemoryAliasPersistence):
    """Lets the test land an invalidation while a load is reading."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = asyncio.Event()
        self.release = asyncio.Event()
        self.reads = 0

    async def load_aliases(self, player_name: str) -> Sequence[tuple[str, str]]:
        self.reads += 1
        rows = await super().load_aliases(player_name)
        if self.reads == 1:
            self.reading.set()
            await self.release.wait()
        return rows


async def test_a_load_overtaken_by_an_invalidation_reads_again() -> None:
    """Server B starts reading the player's aliases; A commits a new alias and B's invalidation
    arrives before B's read returns. The read may predate A's commit, so it is not kept."""
    persistence = SlowPersistence()
    storage = AliasStorage(persistence)
    loading = asyncio.create_task(storage.ensure_loaded("Wilbur"))
    await persistence.reading.wait()
    await persistence.save_alias("Wilbur", "zz", "look")  # A's commit, after B's read took its rows
    storage.unload("Wilbur")  # A's invalidation reaches B
    persistence.release.set()
    await loading
    assert persistence.reads == 2
    assert storage.get_alias("Wilbur", "zz") is not None


async def test_unload_all_forgets_everyone() -> None:
    storage = await loaded_storage("Wilbur", "Lavinia")
    storage.unload_all()
    assert not storage.is_loaded("Wilbur") and not storage.is_loaded("Lavinia")
