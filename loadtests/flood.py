"""Flood: attackers at 50 commands/s against a limit of 10/s while compliant players play at 2/s and chat.

Counts per player land in the run's results file; ``harness load flood`` turns them into
``dos_blocked_ratio`` (refused excess / excess) and the compliant players' refusals and p99.
"""

from __future__ import annotations

from loadtests.players import Attacker, CompliantPlayer
from loadtests.ws_player import load_config

_cfg = load_config()


class FloodAttacker(Attacker):
    abstract = False
    fixed_count = _cfg.attackers


class FloodPlayer(CompliantPlayer):
    abstract = False
    fixed_count = _cfg.players
