"""Metrics routes: Prometheus text for a scraper, JSON for admins.

`GET /metrics` carries no token: it is meant for a Prometheus scraper on the loopback interface
(the server binds 127.0.0.1 by default); expose it beyond the host only behind a proxy that
restricts it. `GET /api/metrics` returns the same collector's JSON snapshot, admin only.

Neither route lists the DLQ directory: the depth gauge is kept by the queue itself (counted
once, then moved by each enqueue, delete, replay and purge), and a scrape only stats the
directory to notice a change made by another process (the `mythos dlq` CLI), which alone makes
it count again. A scrape therefore costs the same however deep the queue is.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from mythos.api.admin import AdminPlayer
from mythos.api.deps import ServicesDep
from mythos.api.health import health_report
from mythos.observability.metrics import PROMETHEUS_CONTENT_TYPE

__all__ = ["router"]

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(services: ServicesDep) -> Response:
    await services.nats.sync_dlq_depth()
    if services.audit is not None:
        services.metrics.set_audit_status(services.audit.status())
    health = await health_report(services)
    services.metrics.set_health(health["status"], health["connections"])
    return Response(services.metrics.render_prometheus(), media_type=PROMETHEUS_CONTENT_TYPE)


@router.get("/api/metrics")
async def json_metrics(services: ServicesDep, _admin: AdminPlayer) -> dict[str, Any]:
    await services.nats.sync_dlq_depth()
    body = services.metrics.get_metrics()
    body["nats"]["mode"] = services.nats.mode
    if services.audit is not None:
        body["audit"] = services.audit.status()  # beside the spec's keys, not inside them
    if services.sessions is not None:
        body["cluster"] = services.metrics.get_cluster_metrics()  # several servers only (ADR-006)
    return body
