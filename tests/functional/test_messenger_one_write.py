"""A post's request head and body leave in ONE write (one syscall, one TCP segment), against a real server."""
from __future__ import annotations

from typing import Any

import pytest

from websocket_service.messenger import Messenger

BODY = b'{"type":"verified"}'


class WriteSpy:
    """A connection's real socket, with every ``sendall`` recorded (and still sent)."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.writes: list[bytes] = []

    def sendall(self, data: Any) -> None:
        self.writes.append(bytes(data))
        self._sock.sendall(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def post(management_api: Any, body: bytes) -> list[bytes]:
    messenger = Messenger(management_api.endpoint)
    poster = messenger._get_poster()
    connections = poster._connections
    spies: list[WriteSpy] = []
    real_connect = connections._connect

    def connect(connect_s: float) -> Any:
        spies.append(WriteSpy(real_connect(connect_s)))
        return spies[-1]

    connections._connect = connect  # type: ignore[method-assign]
    try:
        assert poster.post("abc=", body, 5.0, 5.0) == (200, "")
    finally:
        messenger.close()
    assert management_api.posts_to("abc=")[-1].body == body  # the server read the whole body
    (spy,) = spies
    return spy.writes


@pytest.mark.parametrize("size", [len(BODY), 100_000])
def test_head_and_body_go_out_in_one_write(management_api, size: int) -> None:
    body = BODY if size == len(BODY) else b"x" * size
    (write,) = post(management_api, body)
    assert write.startswith(b"POST /prod/@connections/abc%3D HTTP/1.1\r\n")
    assert write.endswith(b"\r\n\r\n" + body)


def test_an_idle_connection_past_descriptor_1023_is_reused(management_api) -> None:
    """The local gateway's process holds a descriptor per open WebSocket: the idle-connection check
    must work beyond select()'s limit of 1024 descriptors."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 1200:
        assert hard == resource.RLIM_INFINITY or hard >= 1200, f"the test needs 1,200 descriptors (hard limit {hard})"
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    messenger = Messenger(management_api.endpoint)
    try:
        poster = messenger._get_poster()
        assert poster.post("abc=", BODY, 5.0, 5.0) == (200, "")
        (idle,) = poster._connections._idle
        assert idle.fileno() > 1023
        assert poster.post("abc=", BODY, 5.0, 5.0) == (200, "")
        assert poster._connections._idle[0] is idle  # kept alive and reused, not redialled
    finally:
        messenger.close()
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
