"""Chat fan-out: many players in one room, each saying a few lines; every listener reports the delivery latency.

Lines carry their send time (``ld-<sender>-<ns>``); listeners report ``chat / say delivery``
requests, and the per-player counts give the delivered share (each line should reach all others).
"""

from __future__ import annotations

from loadtests.players import Chatter


class RoomChatter(Chatter):
    abstract = False
