"""SECURITY.md, "The local gateway": what a web page, a rebinding DNS name or a hostile local
client can and cannot do to ``wsctl local``.

Real gateway on an ephemeral port, real clients: raw sockets and ``http.client`` (to send exactly
what a browser or an attacker sends), ``websockets`` and boto3.
"""
from __future__ import annotations

import asyncio
import http.client
import json
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from gateway_support import WAIT_S, Recorder, run
from local_gateway.connection import GatewayConnection, body_limit_for
from local_gateway.guard import Guard
from local_gateway.http import DEFAULT_BODY_LIMIT, RequestReader
from local_gateway.lambda_api import MAX_PAYLOAD_BYTES
from local_gateway.server import LocalGateway

EVIL_ORIGIN = "https://evil.example"
REBIND_HOST = "rebind.attacker.example"
NOTIFY = json.dumps({"action": "notify", "email": "kate@example.com", "type": "email-verification",
                     "message": {"type": "email-verified"}}).encode()


def _request(gateway: LocalGateway, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    client = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=WAIT_S)
    try:
        client.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        headers = {"Host": f"127.0.0.1:{gateway.port}", **(headers or {})}
        for name, value in headers.items():
            client.putheader(name, value)
        if body is not None:
            client.putheader("Content-Length", str(len(body)))
        client.endheaders(body)
        response = client.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        client.close()


def _raw(gateway: LocalGateway, data: bytes) -> bytes:
    """Send ``data`` on a fresh socket; everything the gateway answers until it closes."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=WAIT_S) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _connect_url(gateway: LocalGateway, email: str = "kate@example.com") -> str:
    return f"{gateway.url}?email={email}&type=email-verification"


def _invoke_path(gateway: LocalGateway) -> str:
    return f"/2015-03-31/functions/{gateway.lambda_api.function_name}/invocations"


def _api_requests(gateway: LocalGateway) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """(method, path, body, headers) of one state-changing request per API."""
    return [
        ("POST", _invoke_path(gateway), NOTIFY, {"Content-Type": "text/plain"}),
        ("POST", f"/{gateway.stage}/@connections/AAAAAAAAAAAAAAA%3D", b"forged", {"Content-Type": "text/plain"}),
        ("POST", "/console/api/notify", b'{"email":"kate@example.com","type":"email-verification"}',
         {"Content-Type": "application/json"}),
        ("POST", "/console/api/connections/AAAAAAAAAAAAAAA=/disconnect", b"{}", {"Content-Type": "application/json"}),
        ("GET", "/console/api/connections", None, {}),
    ]


# --- Host (DNS rebinding) ------------------------------------------------------------------------
def test_a_foreign_host_is_refused_on_every_http_surface(gateway: LocalGateway, recorder: Recorder) -> None:
    paths = [(m, p, b, h) for m, p, b, h in _api_requests(gateway)] + [
        ("GET", "/verify?email=kate@example.com", None, {}), ("GET", "/console", None, {}), ("GET", "/", None, {})]
    for method, path, body, headers in paths:
        status, _, answer = _request(gateway, method, path, body, {**headers, "Host": f"{REBIND_HOST}:{gateway.port}"})
        assert status == 421, (path, status, answer)
        assert answer.count(b"\n") <= 1 and REBIND_HOST.encode() in answer
    assert recorder.events == []  # nothing reached the handler


def test_a_foreign_host_cannot_open_a_websocket(gateway: LocalGateway, recorder: Recorder) -> None:
    answer = _raw(gateway, (
        f"GET /{gateway.stage}?email=kate@example.com&type=email-verification HTTP/1.1\r\n"
        f"Host: {REBIND_HOST}:{gateway.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    assert answer.startswith(b"HTTP/1.1 421 ")
    assert recorder.events == []


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
def test_the_gateways_own_host_names_are_accepted_with_or_without_port(gateway: LocalGateway, host: str) -> None:
    for value in (host, f"{host}:{gateway.port}"):
        status, _, _ = _request(gateway, "GET", "/console/api/connections", headers={"Host": value})
        assert status == 200, value


def test_the_host_given_with_host_is_accepted_and_others_are_not() -> None:
    guard = Guard("devbox.internal")
    assert guard.host_allowed("devbox.internal:8080") and guard.host_allowed("DEVBOX.internal")
    assert guard.host_allowed("localhost:8080") and guard.host_allowed("[::1]")
    for host in (REBIND_HOST, "devbox.internal.attacker.example", "127.0.0.1.nip.io", "", "a b", "[::2]"):
        assert not guard.host_allowed(host), host


# --- cross-site requests -------------------------------------------------------------------------
@pytest.mark.parametrize("marks", [
    {"Origin": EVIL_ORIGIN, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": EVIL_ORIGIN},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1:1"},  # another port is another origin
])
def test_cross_site_requests_to_the_apis_are_refused_and_run_nothing(
        gateway: LocalGateway, recorder: Recorder, marks: dict[str, str]) -> None:
    async def client() -> str:
        async with connect(_connect_url(gateway)) as ws:
            recorder.wait_for_route("$connect")
            for method, path, body, headers in _api_requests(gateway):
                status, _, answer = _request(gateway, method, path, body, {**headers, **marks})
                assert status == 403, (path, status, answer)
                assert json.loads(answer)["message"].startswith("cross-site request refused")
            await ws.send('{"action":"ping"}')
            reply = await asyncio.wait_for(ws.recv(), WAIT_S)  # the only frame: no forged notification
            assert len(gateway.open_connection_ids) == 1  # not disconnected
            return reply

    assert json.loads(run(client()))["type"] == "pong"
    assert [e for e in recorder.events if "requestContext" not in e] == []  # no direct invoke ran


def test_same_origin_pages_and_sdks_still_reach_the_apis(gateway: LocalGateway) -> None:
    own = f"http://127.0.0.1:{gateway.port}"
    status, _, _ = _request(gateway, "GET", "/console/api/connections",
                            headers={"Origin": own, "Sec-Fetch-Site": "same-origin"})
    assert status == 200
    status, _, answer = _request(gateway, "POST", "/console/api/notify",
                                 b'{"email":"kate@example.com","type":"email-verification"}',
                                 {"Content-Type": "application/json", "Origin": f"http://localhost:{gateway.port}",
                                  "Sec-Fetch-Site": "same-origin"})
    assert status == 200, answer
    lambda_client = boto3.client("lambda", endpoint_url=f"http://127.0.0.1:{gateway.port}", region_name="us-east-1",
                                 aws_access_key_id="x", aws_secret_access_key="x",
                                 config=Config(retries={"max_attempts": 1}))
    result = lambda_client.invoke(FunctionName=gateway.lambda_api.function_name, Payload=NOTIFY)
    assert json.loads(result["Payload"].read())["ok"] is True


# --- WebSocket Origin ------------------------------------------------------------------------------
def test_a_cross_site_websocket_is_refused_before_connect_runs(gateway: LocalGateway, recorder: Recorder) -> None:
    async def client() -> int:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(_connect_url(gateway), origin=EVIL_ORIGIN):  # type: ignore[arg-type]
                pass
        return refused.value.response.status_code

    assert run(client()) == 403
    assert recorder.events == []


def test_websockets_from_own_pages_sdks_and_allowed_origins_connect(
        start_gateway: Callable[..., LocalGateway]) -> None:
    recorder = Recorder()
    gateway = start_gateway(handler=recorder, allowed_origins=["http://localhost:3000"])

    async def client() -> None:
        for origin in (None, f"http://127.0.0.1:{gateway.port}", f"http://localhost:{gateway.port}",
                       "http://localhost:3000"):
            async with connect(_connect_url(gateway), origin=origin) as ws:  # type: ignore[arg-type]
                await ws.send('{"action":"ping"}')
                assert json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))["type"] == "pong"
        with pytest.raises(InvalidStatus):
            async with connect(_connect_url(gateway), origin="http://localhost:3001"):  # type: ignore[arg-type]
                pass

    run(client())
    assert recorder.routes().count("$connect") == 4


# --- pages -----------------------------------------------------------------------------------------
def test_pages_cannot_be_framed_or_sniffed(gateway: LocalGateway) -> None:
    for path in ("/verify?email=kate@example.com", "/console"):
        status, headers, _ = _request(gateway, "GET", path)
        assert status == 200
        assert headers["content-security-policy"] == "frame-ancestors 'none'"
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    _, headers, _ = _request(gateway, "GET", "/console/api/connections")
    assert headers["x-content-type-options"] == "nosniff"


# --- malformed requests ----------------------------------------------------------------------------
def _head(gateway: LocalGateway, first: str, *lines: str, body: bytes = b"") -> bytes:
    return (f"{first}\r\nHost: 127.0.0.1:{gateway.port}\r\n" + "".join(f"{line}\r\n" for line in lines)
            + "\r\n").encode() + body


@pytest.mark.parametrize("lines, body", [
    (("Content-Length: 2", "Content-Length: 2"), b"{}"),
    (("Content-Length: \u00b2",), b"{}"),
    (("Content-Length: 2", "Transfer-Encoding: chunked"), b"{}"),
    (("Transfer-Encoding: chunked",), b"1_0\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n"),
])
def test_malformed_framing_is_a_clean_400(gateway: LocalGateway, lines: tuple[str, ...], body: bytes) -> None:
    head = f"POST /{gateway.stage}/@connections/AAAAAAAAAAAAAAA= HTTP/1.1"
    data = (f"{head}\r\nHost: 127.0.0.1:{gateway.port}\r\n" + "".join(f"{line}\r\n" for line in lines)
            + "\r\n").encode("utf-8") + body
    answer = _raw(gateway, data)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert answer.split(b"\r\n\r\n", 1)[1].count(b"\n") == 1  # one line of reason


def test_a_duplicate_upgrade_header_is_a_clean_400(gateway: LocalGateway, recorder: Recorder) -> None:
    answer = _raw(gateway, _head(gateway, f"GET /{gateway.stage}?email=kate@example.com&type=general HTTP/1.1",
                                 "Upgrade: websocket", "Upgrade: websocket", "Connection: Upgrade",
                                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"))
    assert answer.startswith(b"HTTP/1.1 400 ") and b"duplicate Upgrade" in answer
    assert recorder.events == []


def test_a_duplicate_content_type_on_the_console_is_a_clean_4xx(gateway: LocalGateway) -> None:
    body = b'{"email":"kate@example.com","type":"general"}'
    answer = _raw(gateway, _head(gateway, "POST /console/api/notify HTTP/1.1", "Content-Type: application/json",
                                 "Content-Type: text/plain", f"Content-Length: {len(body)}", "Connection: close",
                                 body=body))
    assert answer.startswith(b"HTTP/1.1 400 ") and b"duplicate Content-Type" in answer


def test_deeply_nested_json_to_invoke_and_console_is_a_clean_400(gateway: LocalGateway, recorder: Recorder) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    status, headers, answer = _request(gateway, "POST", _invoke_path(gateway), deep)
    assert (status, headers["x-amzn-errortype"]) == (400, "InvalidRequestContentException")
    assert b"nested too deeply" in answer
    status, _, answer = _request(gateway, "POST", "/console/api/notify", deep, {"Content-Type": "application/json"})
    assert status == 400 and b"Traceback" not in answer
    assert recorder.events == []


def test_a_notify_nested_990_deep_through_invoke_is_a_client_error(gateway: LocalGateway) -> None:
    message = "[" * 989 + "]" * 989
    payload = ('{"action":"notify","email":"kate@example.com","type":"general","message":' + message + "}").encode()
    status, headers, answer = _request(gateway, "POST", _invoke_path(gateway), payload)
    if status == 400:  # the Invoke API's own decoder ran out of stack first: the caller's error too
        assert headers["x-amzn-errortype"] == "InvalidRequestContentException"
        return
    assert status == 200 and "x-amz-function-error" not in headers
    assert json.loads(answer) == {"ok": False, "error": "invalid_message",
                                  "message": "message nests JSON arrays/objects too deeply; send a flatter message"}


# --- logs ------------------------------------------------------------------------------------------
def test_control_characters_from_requests_are_escaped_in_every_log_line(
        gateway: LocalGateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    forged = "%0a2026-12-03%2012:00:00%20local_gateway%20INFO%20forged%0d%1b[31mred%c2%85"
    status, _, _ = _request(gateway, "POST", f"/2015-03-31/functions/{forged}/invocations", b"{}")
    assert status == 404  # logged with the decoded function name
    _raw(gateway, _head(gateway, "GET /\x1b]0;pwned\x07/@connections HTTP/1.1", "Connection: close"))
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("local_gateway")]
    assert any("forged" in m for m in messages) and any("pwned" in m for m in messages)
    for message in messages:
        assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in message), repr(message)
    assert any("\\n2026-12-03" in m and "\\x1b[31m" in m for m in messages)


def test_a_traceback_cannot_forge_a_log_line_either(caplog: pytest.LogCaptureFixture) -> None:
    """An exception's message may quote a client's bytes (a path, a header): in a logged traceback
    it is escaped to one line, chained exceptions included; the traceback keeps its own lines."""
    from local_gateway.logs import get_logger

    logger = get_logger("local_gateway.test_traceback")
    formatter = logging.Formatter("%(levelname)s %(message)s")
    forged = "/x\n2026-12-03 12:00:00 local_gateway INFO forged\x1b[31m\u2028"
    try:
        try:
            raise KeyError(forged)
        except KeyError as cause:
            raise ValueError(f"no route for {forged}") from cause
    except ValueError:
        with caplog.at_level(logging.ERROR, logger="local_gateway.test_traceback"):
            logger.exception("route failed")
    text = formatter.format(caplog.records[-1])
    lines = text.split("\n")
    assert lines[0] == "ERROR route failed" and lines[1] == "Traceback (most recent call last):"
    assert "The above exception was the direct cause of the following exception:" in lines
    assert not [line for line in lines if line.startswith("2026-12-03")], text  # no forged line
    assert lines[-1].startswith("ValueError: no route for /x\\n2026-12-03") and "\\x1b[31m" in lines[-1], text
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or ch == "\u2028" for ch in text.replace("\n", ""))


# --- bounds ----------------------------------------------------------------------------------------
def test_one_clients_ping_flood_does_not_hold_up_another_clients_connect_and_ping(
        gateway: LocalGateway, recorder: Recorder) -> None:
    flood_size = 20_000

    def handled_for(email: str) -> int:
        return sum(1 for e in list(recorder.events)
                   if e["requestContext"]["routeKey"] == "$default"
                   and gateway_session_email(e) == email)

    def gateway_session_email(event: dict[str, Any]) -> str:
        return emails.get(event["requestContext"]["connectionId"], "")

    emails: dict[str, str] = {}

    async def scenario() -> tuple[int, int]:
        async with connect(_connect_url(gateway, "flood@example.com"), max_queue=None) as flooder:
            emails[recorder.wait_for_route("$connect")["requestContext"]["connectionId"]] = "flood@example.com"

            async def flood() -> None:
                for _ in range(flood_size):
                    await flooder.send('{"action":"ping"}')

            flooding = asyncio.create_task(flood())
            while handled_for("flood@example.com") < 10:  # the flood is being served
                await asyncio.sleep(0.01)
            async with connect(_connect_url(gateway, "other@example.com")) as other:
                await other.send('{"action":"ping"}')
                assert json.loads(await asyncio.wait_for(other.recv(), WAIT_S))["type"] == "pong"
            served_during_flood = handled_for("flood@example.com")
            flooding.cancel()
            flooder.transport.abort()  # its close frame would wait behind its own unread flood
            return served_during_flood, flood_size

    served, total = run(scenario())
    assert served < total, "the second client was served only after the whole flood"


def _gateway_buffers(gateway: LocalGateway) -> tuple[int, int]:
    """(bytes of answers not yet written, requests parsed and waiting): what the gateway holds in
    memory for its plain HTTP connections (white box)."""
    connections = [c for c in list(gateway._http_connections) if c.transport is not None]  # noqa: SLF001
    return (sum(c.transport.get_write_buffer_size() for c in connections),
            sum(c._requests.qsize() for c in connections))  # noqa: SLF001


def test_pipelined_requests_that_are_never_read_do_not_grow_the_gateways_buffers(gateway: LocalGateway) -> None:
    request = f"GET /verify HTTP/1.1\r\nHost: 127.0.0.1:{gateway.port}\r\n\r\n".encode()  # ~10 KB answers
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=0.5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        batch, sent = request * 1000, 0
        deadline = time.monotonic() + WAIT_S
        while sent < 700_000 and time.monotonic() < deadline:  # ~14,000 GETs (the 664 KiB)
            try:
                sent += sock.send(batch)
            except TimeoutError:
                break
        previous, stable = (-1, -1), 0
        while stable < 5 and time.monotonic() < deadline:  # until the gateway has done what it will do
            current = _gateway_buffers(gateway)
            stable = stable + 1 if current == previous else 0
            previous = current
            time.sleep(0.2)
        answers, requests = _gateway_buffers(gateway)
        assert answers < 1_000_000, f"{answers} bytes of answers held after {sent} bytes of requests"
        assert requests <= GatewayConnection.max_pipelined
    finally:
        sock.close()


def test_a_slow_request_body_is_cut_with_408(gateway: LocalGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(GatewayConnection, "request_timeout_s", 0.5)
    answer = _raw(gateway, _head(gateway, f"POST {_invoke_path(gateway)} HTTP/1.1", "Content-Length: 1000000",
                                 body=b'{"action":'))
    assert answer.startswith(b"HTTP/1.1 408 ") and b"not complete within" in answer


def test_request_bodies_kept_in_memory_are_bounded_per_route() -> None:
    reader = RequestReader(limit_for=body_limit_for)
    big = b"x" * 1_000_000
    (request,) = reader.feed(f"POST /prod/@connections/a HTTP/1.1\r\nContent-Length: {len(big)}\r\n\r\n".encode() + big)
    assert (len(request.body), request.body_length) == (DEFAULT_BODY_LIMIT + 1, len(big))
    (request,) = reader.feed(f"POST /2015-03-31/functions/f/invocations HTTP/1.1\r\nContent-Length: {len(big)}"
                             "\r\n\r\n".encode() + big)
    assert len(request.body) == len(big) <= MAX_PAYLOAD_BYTES


# --- wsctl local ---------------------------------------------------------------------------------
def test_the_banner_masks_every_password_of_the_database_url() -> None:
    from wsctl.cli import _banner

    url = "postgresql://app:first-secret@db.internal:5432/app?sslmode=require&password=second-secret"
    banner = _banner(LocalGateway(port=0), url, [], None)
    assert "first-secret" not in banner and "second-secret" not in banner
    assert "postgresql://app:***@db.internal:5432/app?sslmode=require&password=***" in banner


def test_allowed_origins_option_takes_origins_and_refuses_anything_else(capsys: pytest.CaptureFixture[str]) -> None:
    from wsctl.cli import build_parser

    args = build_parser().parse_args(["local", "--allowed-origins", "http://localhost:3000,https://App.example:443"])
    assert args.allowed_origins == ("http://localhost:3000", "https://app.example")
    assert build_parser().parse_args(["local"]).allowed_origins == ()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["local", "--allowed-origins", "http://localhost:3000/path"])
    assert "is not an origin" in capsys.readouterr().err
