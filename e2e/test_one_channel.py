"""Scenario 5: only one of the two links drops; the machine brings the lost one back.

WebSocket: every game socket goes through ``page.route_web_socket``, which forwards it to the
server and lets the test close just that socket. Event stream: ``page.route`` sends the
page's stream requests through a second Toxiproxy proxy of their own, so disabling that proxy
cuts the stream and nothing else.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, Route, WebSocketRoute

from e2e.steps import SPEC_RECOVERY_S, enter_game, wait_connections, wait_recovered
from e2e.ui import Player, RequestCounter, new_player_name
from harness.e2e import E2EFigures
from harness.topology import Topology

DROP_CODE = 4000


@pytest.mark.slow
def test_websocket_only_drop_recovers(topology: Topology, tab: Page, figures: E2EFigures) -> None:
    sockets: list[tuple[WebSocketRoute, WebSocketRoute]] = []

    def forward(ws: WebSocketRoute) -> None:
        sockets.append((ws, ws.connect_to_server()))

    tab.route_web_socket("**/api/ws**", forward)
    player = Player(tab, topology.client_url(0), new_player_name())
    enter_game(player, topology, figures)
    session_id = player.debug()["session_id"]
    streams = RequestCounter(tab)
    streams.arm()
    assert len(sockets) == 1

    dropped_at = time.time() * 1000
    page_side, server_side = sockets[-1]
    page_side.close(code=DROP_CODE, reason="dropped by the test")
    server_side.close()
    drop = player.wait_log("reconnecting", dropped_at)
    error = drop.last_error  # as the drop left it: a quick retry may have cleared or replaced it
    recovery_s = wait_recovered(player, figures, dropped_at)
    print(f"WebSocket dropped ({error!r}) -> fully_connected {recovery_s:.3f} s; "
          f"sockets {len(sockets)}, new streams {streams.count}")

    assert error is not None and f"code {DROP_CODE}" in error
    assert drop.event == "ERROR"
    assert len(sockets) == 2  # the lost WebSocket was opened again
    assert player.debug()["session_id"] == session_id
    assert recovery_s < SPEC_RECOVERY_S
    assert wait_connections(topology.mythos[0], 2) == 2
    player.round_trip()


@pytest.mark.slow
def test_event_stream_only_drop_recovers(topology: Topology, tab: Page, figures: E2EFigures) -> None:
    server = topology.mythos[0]
    toxi = topology.toxiproxy
    stream_proxy = toxi.create_proxy(f"{topology.paths.run_id}-sse"[-60:], f"127.0.0.1:{server.port}")
    public = topology.client_url(0)
    stream_base = f"http://127.0.0.1:{stream_proxy.port}"

    def via_stream_proxy(route: Route) -> None:
        route.continue_(url=route.request.url.replace(public, stream_base, 1))

    tab.route("**/api/events**", via_stream_proxy)
    player = Player(tab, public, new_player_name())
    enter_game(player, topology, figures)
    session_id = player.debug()["session_id"]
    assert wait_connections(server, 2) == 2
    streams = RequestCounter(tab)
    streams.arm()

    dropped_at = time.time() * 1000
    try:
        toxi.set_enabled(stream_proxy.name, False)
        drop = player.wait_log("reconnecting", dropped_at)
        error = drop.last_error
    finally:
        toxi.set_enabled(stream_proxy.name, True)
    recovery_s = wait_recovered(player, figures, dropped_at)
    print(f"event stream dropped ({error!r}) -> fully_connected {recovery_s:.3f} s; new streams {streams.count}")

    assert error == "The event stream was interrupted"
    assert drop.event == "ERROR"
    assert streams.count >= 1  # the lost stream was opened again
    assert player.debug()["session_id"] == session_id
    assert recovery_s < SPEC_RECOVERY_S
    assert wait_connections(server, 2) == 2
    player.round_trip()
