"""Alias amplification: each attacker fires an alias that expands to 10 commands, in a loop.

The limiter charges every command an alias runs, so executed commands per attacker must stay
at the limit (10/s) however often the alias is fired; executed commands are counted from the
``room_state`` each executed ``look`` sends back.
"""

from __future__ import annotations

from loadtests.players import AliasAttacker
from loadtests.ws_player import load_config

_cfg = load_config()


class AmplifyingAttacker(AliasAttacker):
    abstract = False
    fixed_count = _cfg.alias_attackers
