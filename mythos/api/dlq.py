"""Admin-only dead-letter queue routes: list, show, replay one or all, delete, purge.

Replay republishes through the running server's NATS link and removes an entry only after the
server acknowledged the publish; a failed replay keeps the entry and counts the attempt.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status

from mythos.api.admin import AdminPlayer
from mythos.auth import ServicesDep
from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.dlq_admin import entry_view, parse_duration
from mythos.services import AppServices

__all__ = ["router"]

router = APIRouter(prefix="/api/admin/dlq", tags=["dlq"])


def _dlq(services: AppServices) -> DeadLetterQueue:
    dlq = services.nats.dlq
    if dlq is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No dead-letter queue: NATS is disabled")
    return dlq


@router.get("")
async def list_entries(
    services: ServicesDep, _admin: AdminPlayer, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    dlq = _dlq(services)
    entries = await dlq.list(limit=limit)
    return {
        "pending": await services.nats.refresh_dlq_depth(),
        "entries": [entry_view(e, with_body=False) for e in entries],
    }


@router.get("/{entry_id}")
async def show_entry(entry_id: str, services: ServicesDep, _admin: AdminPlayer) -> dict[str, Any]:
    entry = await _dlq(services).get(entry_id)
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No dead-letter entry {entry_id}")
    return entry_view(entry)


@router.post("/replay")
async def replay_all(services: ServicesDep, _admin: AdminPlayer) -> dict[str, int]:
    replayed, _ = await _dlq(services).replay_all(services.nats.republish)
    return {"replayed": replayed, "pending": await services.nats.refresh_dlq_depth()}


@router.post("/{entry_id}/replay")
async def replay_entry(entry_id: str, services: ServicesDep, _admin: AdminPlayer) -> dict[str, Any]:
    dlq = _dlq(services)
    if await dlq.get(entry_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No dead-letter entry {entry_id}")
    replayed = await dlq.replay(entry_id, services.nats.republish)
    pending = await services.nats.refresh_dlq_depth()
    if not replayed:
        entry = await dlq.get(entry_id)
        detail = entry.error if entry is not None else "replay failed"
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"Not replayed, entry kept: {detail}")
    return {"replayed": True, "id": entry_id, "pending": pending}


@router.delete("/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_entry(entry_id: str, services: ServicesDep, _admin: AdminPlayer) -> Response:
    if not await _dlq(services).delete(entry_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No dead-letter entry {entry_id}")
    await services.nats.refresh_dlq_depth()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/purge")
async def purge(
    services: ServicesDep, _admin: AdminPlayer, older_than: Annotated[str, Query(min_length=1)]
) -> dict[str, int]:
    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    purged = await _dlq(services).purge(age)
    return {"purged": purged, "pending": await services.nats.refresh_dlq_depth()}
