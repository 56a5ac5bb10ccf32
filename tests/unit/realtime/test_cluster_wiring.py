"""CLUSTER_SESSIONS: off by default and then nothing of the cluster is built; on, it needs the
JetStream link and a presence TTL that outlives two refreshes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mythos.config.models import ClusterConfig
from mythos.services import build_services
from tests.factories import make_config


def test_off_by_default_builds_no_cluster_parts(tmp_path: Path) -> None:
    config = make_config(tmp_path, nats={"enabled": True, "url": "nats://127.0.0.1:4222"})
    assert config.cluster.sessions is False
    services = build_services(config)
    assert services.cluster is None and services.sessions is None
    assert services.connections.session_holder is None and services.connections.remote_roster is None
    assert services.game.aliases is not None and services.game.aliases.on_change is None
    assert services.connections.holds_session(123)


def test_on_wires_registry_presence_and_alias_invalidation(tmp_path: Path) -> None:
    config = make_config(tmp_path, nats={"enabled": True, "url": "nats://127.0.0.1:4222"}, cluster={"sessions": True})
    services = build_services(config)
    assert services.cluster is not None and services.sessions is services.cluster.registry
    assert services.connections.session_holder == services.cluster.registry.holds
    assert services.connections.remote_roster == services.cluster.presence.remote_players
    assert services.game.aliases is not None
    assert services.game.aliases.on_change == services.cluster.aliases.publish
    # Nobody holds a player the registry has not seen: no room writes until a session is claimed.
    assert not services.connections.holds_session(123)


@pytest.mark.parametrize(
    "nats", [{"enabled": False}, {"enabled": True, "use_jetstream": False, "core_credibility_check": True}]
)
def test_cluster_sessions_need_the_jetstream_link(tmp_path: Path, nats: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="CLUSTER_SESSIONS=true needs"):
        make_config(tmp_path, nats=nats, cluster={"sessions": True})


def test_the_refusal_names_the_variable_and_not_the_rest_of_the_config(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        make_config(
            tmp_path,
            database={"url": "postgresql+asyncpg://mythos:TopSecret@db.example/mythos"},
            nats={"enabled": False},
            cluster={"sessions": True},
        )
    (error,) = info.value.errors()
    assert error["loc"] == ("cluster", "CLUSTER_SESSIONS")
    assert "TopSecret" not in str(info.value)


def test_presence_ttl_must_cover_two_refreshes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLUSTER_PRESENCE_REFRESH_SECONDS", "2")
    monkeypatch.setenv("CLUSTER_PRESENCE_TTL_SECONDS", "3")
    with pytest.raises(ValidationError, match="at least twice"):
        ClusterConfig()
    monkeypatch.setenv("CLUSTER_PRESENCE_TTL_SECONDS", "4")
    monkeypatch.setenv("CLUSTER_SESSIONS", "true")
    assert ClusterConfig().sessions is True
