"""The fan-out's posts in flight follow the function's CPU share (memory / 1,769 MB per vCPU)."""
from __future__ import annotations

import pytest

from websocket_service import messenger
from websocket_service.messenger import Messenger, instance_parallel_posts, parallel_posts

ENDPOINT = "https://abc123.execute-api.us-east-1.amazonaws.com/prod"


@pytest.mark.parametrize(("memory_mb", "expected"), [
    (128, 16), (256, 16), (512, 19), (1024, 37), (1769, 64), (3008, 64), (10240, 64), (None, 16)])
def test_posts_in_flight_grow_with_the_memory_share_within_bounds(memory_mb: int | None, expected: int) -> None:
    assert parallel_posts(memory_mb) == expected


@pytest.mark.parametrize("raw", ["", "abc", "0", "-5"])
def test_an_unset_or_unusable_memory_size_falls_back_to_the_local_default(raw: str) -> None:
    assert instance_parallel_posts({messenger.ENV_FUNCTION_MEMORY: raw}) == messenger.MAX_PARALLEL_POSTS


def test_the_messenger_sizes_its_threads_and_pool_from_lambdas_memory_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(messenger.ENV_FUNCTION_MEMORY, "1024")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    sender = Messenger(ENDPOINT)
    try:
        assert sender.max_parallel == 37
        assert sender._get_executor()._max_workers == 37
        assert sender._get_poster()._connections.pool_size == 37
    finally:
        sender.close()
    assert Messenger(ENDPOINT, max_parallel=3).max_parallel == 3
    with pytest.raises(ValueError, match="max_parallel"):
        Messenger(ENDPOINT, max_parallel=0)
