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
