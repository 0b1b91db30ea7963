"""The invocation's time budget from the Lambda context (websocket_service.budget)."""
from __future__ import annotations

from dataclasses import dataclass

from websocket_service import budget


@dataclass
class Context:
    remaining_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_without_a_context_nothing_is_bounded():
    budget.start(None)
    assert budget.remaining_s() is None
    assert budget.bound(6.0) == 6.0


def test_the_remaining_time_minus_the_safety_margin_bounds_waits():
    budget.start(Context(remaining_ms=30_000))
    assert budget.bound(6.0) == 6.0  # plenty left
    budget.start(Context(remaining_ms=3_000))  # 2 s usable after the 1 s safety margin
    assert 1.5 < budget.bound(6.0) <= 3.0 - budget.SAFETY_MARGIN_S
    budget.start(Context(remaining_ms=500))  # already inside the margin: the least wait, never 0
    assert budget.bound(6.0) == budget.MINIMUM_S
    budget.start(None)  # the next invocation without a context has no budget again
    assert budget.remaining_s() is None
