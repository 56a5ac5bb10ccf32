"""Admin-only dead-letter queue routes: list, show, replay one or all, delete, purge.

Replay republishes through the running server's NATS link and removes an entry only after the
server acknowledged the publish; a failed replay keeps the entry and counts the attempt. Every
replay, delete and purge writes an audit line (who, what, which ids, result), and an entry id
that is not a valid id (path characters, NUL, too long) is refused with 400 before any file work.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from mythos.api.admin import AdminPlayer
from mythos.api.deps import ServicesDep
from mythos.db import Player
from mythos.realtime.dead_letter_queue import DeadLetterQueue, is_valid_entry_id
from mythos.realtime.dlq_admin import audit_dlq_action, entry_view, parse_duration
from mythos.services import AppServices

__all__ = ["router"]

router = APIRouter(prefix="/api/admin/dlq", tags=["dlq"])


def _valid_id(entry_id: str) -> str:
    if not is_valid_entry_id(entry_id):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Not a dead-letter entry id (letters, digits, - and _)")
    return entry_id


def _dlq(services: AppServices) -> DeadLetterQueue:
    dlq = services.nats.dlq
    if dlq is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No dead-letter queue: NATS is disabled")
    return dlq


def _audit(
    services: AppServices,
    admin: Player,
    request: Request,
    action: str,
    ids: list[str],
    success: bool,
    **result: Any,
) -> None:
    audit_dlq_action(
        services.audit, actor=admin.username, source="http", action=action, ids=ids, success=success,
        result=result, ip_address=request.client.host if request.client else None,
    )  # fmt: skip


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
    entry = await _dlq(services).get(_valid_id(entry_id))
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No dead-letter entry {entry_id}")
    return entry_view(entry)


@router.post("/replay")
async def replay_all(services: ServicesDep, admin: AdminPlayer, request: Request) -> dict[str, Any]:
    dlq = _dlq(services)
    ids = [entry.id for entry in await dlq.list()]
    replayed = [entry_id for entry_id in ids if await dlq.replay(entry_id, services.nats.republish)]
    pending = await services.nats.refresh_dlq_depth()
    kept = [entry_id for entry_id in ids if entry_id not in set(replayed)]
    _audit(services, admin, request, "replay_all", ids, not kept, replayed=len(replayed), kept=kept, pending=pending)
    return {"replayed": len(replayed), "pending": pending}


@router.post("/{entry_id}/replay")
async def replay_entry(entry_id: str, services: ServicesDep, admin: AdminPlayer, request: Request) -> dict[str, Any]:
    dlq = _dlq(services)
    _valid_id(entry_id)
    if await dlq.get(entry_id) is None:
        _audit(services, admin, request, "replay", [entry_id], False, outcome="not_found")
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No dead-letter entry {entry_id}")
    replayed = await dlq.replay(entry_id, services.nats.republish)
    pending = await services.nats.refresh_dlq_depth()
    if not replayed:
        entry = await dlq.get(entry_id)
        detail = entry.error if entry is not None else "replay failed"
        _audit(services, admin, request, "replay", [entry_id], False, outcome="kept", error=detail)
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"Not replayed, entry kept: {detail}")
    _audit(services, admin, request, "replay", [entry_id], True, outcome="replayed", pending=pending)
    return {"replayed": True, "id": entry_id, "pending": pending}


@router.delete("/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_entry(entry_id: str, services: ServicesDep, admin: AdminPlayer, request: Request) -> Response:
    dlq = _dlq(services)
    _valid_id(entry_id)
    if not await dlq.delete(entry_id):
        _audit(services, admin, request, "delete", [entry_id], False, outcome="not_found")
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No dead-letter entry {entry_id}")
    _audit(services, admin, request, "delete", [entry_id], True, outcome="deleted")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/purge")
async def purge(
    services: ServicesDep,
    admin: AdminPlayer,
    request: Request,
    older_than: Annotated[str, Query(min_length=1)],
) -> dict[str, Any]:
    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    dlq = _dlq(services)
    before = {entry.id for entry in await dlq.list()}
    purged = await dlq.purge(age)
    pending = await services.nats.refresh_dlq_depth()
    ids = sorted(before - {entry.id for entry in await dlq.list()})
    _audit(services, admin, request, "purge", ids, True, older_than=older_than, purged=purged, pending=pending)
    return {"purged": purged, "pending": pending}
