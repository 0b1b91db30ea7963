"""A post's request head and body leave in ONE write (one syscall, one TCP segment), against a real server."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import urllib3.connection

from websocket_service.messenger import ONE_WRITE_MAX_BODY, _one_write

BODY = b'{"type":"verified"}'


class WriteSpy:
    """The connection's real socket, with every ``sendall`` recorded (and still sent)."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.writes: list[bytes] = []

    def sendall(self, data: Any) -> None:
        self.writes.append(bytes(data))
        self._sock.sendall(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def post(connection_class: Any, management_api: Any, body: bytes) -> list[bytes]:
    parts = urlsplit(management_api.endpoint)
    conn = connection_class(parts.hostname, parts.port)
    conn.connect()
    spy = conn.sock = WriteSpy(conn.sock)
    try:
        conn.request("POST", "/prod/@connections/abc%3D", body=body, headers={"Authorization": "test"})
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    assert management_api.posts_to("abc=")[-1].body == body  # the server read the whole body
    return spy.writes


def test_head_and_small_body_go_out_in_one_write(management_api) -> None:
    (write,) = post(_one_write(urllib3.connection.HTTPConnection), management_api, BODY)
    assert write.startswith(b"POST /prod/@connections/abc%3D HTTP/1.1\r\n")
    assert f"\r\ncontent-length: {len(BODY)}\r\n".encode() in write.lower()
    assert write.endswith(b"\r\n\r\n" + BODY)


def test_urllib3_alone_writes_twice(management_api) -> None:
    """What the subclass changes (so the test above can fail)."""
    assert len(post(urllib3.connection.HTTPConnection, management_api, BODY)) == 2


@pytest.mark.parametrize("size", [ONE_WRITE_MAX_BODY + 1, 100_000])
def test_large_bodies_keep_urllib3s_own_writes(management_api, size: int) -> None:
    writes = post(_one_write(urllib3.connection.HTTPConnection), management_api, b"x" * size)
    assert len(writes) >= 2 and b"".join(writes).endswith(b"x" * size)
