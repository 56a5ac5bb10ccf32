"""Alembic migrations of the player database (players, aliases).

``runner`` is the API the server and ``mythos db`` use; ``env.py`` and ``versions/`` are
Alembic's script directory (``env.py`` is executed by Alembic, never imported).
"""

__all__: list[str] = []
