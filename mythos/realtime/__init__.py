"""Realtime delivery: SSE, WebSocket and the NATS link with its error boundaries."""
