"""Real-time delivery: sessions and connections, SSE and WebSocket transports, and the NATS link."""
