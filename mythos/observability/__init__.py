"""Observability: structured logging and metrics for the game server."""
