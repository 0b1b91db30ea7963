"""A do-nothing WebSocket handler for ``wsctl local --handler bench.noop_handler.handler``.

The gateway benchmark runs ``wsctl local`` with it beside the real handler, so RESULTS.md splits the
server's CPU per connection into the gateway's own work and the handler's.
"""
from __future__ import annotations

from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Accept every route with 200 and do nothing else."""
    return {"statusCode": 200}
