"""`AdminPlayer`: the dependency of admin-only routes (401 without a valid token, 403 for a non-admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, status

from mythos.auth import CurrentPlayer
from mythos.db import Player

__all__ = ["AdminPlayer", "require_admin"]


def require_admin(player: CurrentPlayer) -> Player:
    if not player.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Admin only")
    return player


AdminPlayer = Annotated[Player, Depends(require_admin)]
