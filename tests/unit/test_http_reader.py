"""The gateway's incremental HTTP/1.1 request reader (plain bytes in, requests out; no network)."""
from __future__ import annotations

import pytest

from local_gateway.http import HttpProtocolError, RequestReader


def feed_bytewise(reader: RequestReader, data: bytes) -> list:
    requests = []
    for i in range(len(data)):
        requests += reader.feed(data[i:i + 1])
    return requests


def test_pipelined_requests_with_sized_and_chunked_bodies_split_anywhere() -> None:
    data = (b"POST /prod/@connections/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
            b"POST /prod/@connections/b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: y\r\n\r\n"
            b"GET /console HTTP/1.1\r\nConnection: close\r\n\r\n")
    requests = feed_bytewise(RequestReader(), data)
    assert [(r.method, r.path, r.body, r.body_length) for r in requests] == [
        ("POST", "/prod/@connections/a", b"hello", 5),
        ("POST", "/prod/@connections/b", b"abcde", 5),
        ("GET", "/console", b"", 0),
    ]
    assert [r.keep_alive for r in requests] == [True, True, False]


def test_body_over_the_limit_is_counted_not_kept() -> None:
    reader = RequestReader(body_limit=10)
    (request,) = reader.feed(b"POST /x HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + b"y" * 100)
    assert (len(request.body), request.body_length) == (11, 100)


def test_expect_100_continue_is_flagged_before_the_body() -> None:
    reader = RequestReader()
    assert reader.feed(b"POST /x HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n") == []
    assert reader.continue_needed
    assert reader.feed(b"ok")[0].body == b"ok"


def test_websocket_upgrade_stops_reading_and_keeps_the_bytes() -> None:
    head = b"GET /prod HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    reader = RequestReader()
    assert reader.feed(head + b"\x81\x80frame") == []
    assert reader.upgrade == head + b"\x81\x80frame"


@pytest.mark.parametrize("data, message", [
    (b"NONSENSE\r\n\r\n", "malformed request line"),
    (b"POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "malformed Content-Length"),
    (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk size"),
    (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", "chunk data is not followed by CRLF"),
    (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", "malformed header line"),
])
def test_malformed_requests_name_the_problem(data: bytes, message: str) -> None:
    with pytest.raises(HttpProtocolError, match=message):
        RequestReader().feed(data)
