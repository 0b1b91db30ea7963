"""Local gateway: the WebSocket API and its @connections management API on one machine."""
