"""Messenger and Service.notify (SigV4-signed posts) against a real Management API server."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tests.functional.helpers import log_lines
from websocket_service.config import Settings
from websocket_service.messenger import MAX_PAYLOAD_BYTES, Messenger, PayloadTooLargeError
from websocket_service.service import Service
from websocket_service.store import NewConnection

REAL_ID = "BFHPhfCWIAMCKlQ="


def fast_messenger(endpoint: str, **kwargs) -> Messenger:
    """A messenger whose 429 backoff waits at most a millisecond (same code path, shorter waits)."""
    return Messenger(endpoint, base_delay_s=0.0005, max_delay_s=0.001, **kwargs)


def test_post_sends_signed_request_with_url_encoded_id(management_api):
    assert fast_messenger(management_api.endpoint).post(REAL_ID, '{"type":"hello"}') == "sent"
    (request,) = management_api.requests
    assert request.raw_path == "/prod/@connections/BFHPhfCWIAMCKlQ%3D"
    assert request.connection_id == REAL_ID
    assert request.body == b'{"type":"hello"}'
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=test/")
    assert "/us-east-1/execute-api/aws4_request" in request.headers["authorization"]


def test_id_with_plus_slash_and_equals_is_percent_encoded(management_api):
    assert fast_messenger(management_api.endpoint).post("a+b/c=", b"x") == "sent"
    (request,) = management_api.requests
    assert request.raw_path == "/prod/@connections/a%2Bb%2Fc%3D"
    assert request.connection_id == "a+b/c="


def test_410_is_gone(management_api):
    management_api.set(REAL_ID, "gone")
    assert fast_messenger(management_api.endpoint).post(REAL_ID, "x") == "gone"
    assert len(management_api.posts_to(REAL_ID)) == 1


def test_429_is_retried_then_sent(management_api):
    management_api.set(REAL_ID, "throttle", times=2)
    assert fast_messenger(management_api.endpoint).post(REAL_ID, "x") == "sent"
    assert len(management_api.posts_to(REAL_ID)) == 3


def test_429_forever_fails_after_the_bounded_attempts(management_api, capsys):
    management_api.set(REAL_ID, "throttle")
    waits: list[float] = []
    messenger = Messenger(management_api.endpoint, max_attempts=4, base_delay_s=0.1, max_delay_s=0.15,
                          sleep=waits.append)
    assert messenger.post(REAL_ID, "x") == "failed"
    assert len(management_api.posts_to(REAL_ID)) == 4
    assert len(waits) == 3 and all(0 <= w <= 0.15 for w in waits)  # jittered, capped
    (line,) = log_lines(capsys)
    assert (line["error"], line["status"], line["attempts"]) == ("LimitExceededException", 429, 4)


def test_403_fails_and_logs_the_endpoint_hint(management_api, capsys):
    management_api.set(REAL_ID, "forbidden")
    assert fast_messenger(management_api.endpoint).post(REAL_ID, "x") == "failed"
    (line,) = log_lines(capsys)
    assert line["error"] == "ForbiddenException" and line["status"] == 403
    assert "https://{api}.execute-api.{region}.amazonaws.com/{stage}" in line["hint"]
    assert "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT" in line["hint"]
    assert len(management_api.posts_to(REAL_ID)) == 1


def test_413_from_the_server_fails_without_retry(management_api):
    management_api.set(REAL_ID, "too_large")
    assert fast_messenger(management_api.endpoint).post(REAL_ID, "x") == "failed"
    assert len(management_api.posts_to(REAL_ID)) == 1


def test_oversize_payload_is_refused_before_sending(management_api):
    with pytest.raises(PayloadTooLargeError):
        fast_messenger(management_api.endpoint).post(REAL_ID, b"x" * (MAX_PAYLOAD_BYTES + 1))
    assert management_api.requests == []


def test_unreachable_endpoint_fails(management_api, capsys):
    endpoint = management_api.endpoint
    management_api.stop()
    assert fast_messenger(endpoint).post(REAL_ID, "x") == "failed"
    (line,) = log_lines(capsys)
    assert line["error"] == "EndpointConnectionError"


# --- Service.notify -----------------------------------------------------------------------------
def _connect(store, connection_id: str, email: str = "a@example.com", kind: str = "general") -> None:
    assert store.add(NewConnection(connection_id, email, kind, datetime.now(timezone.utc)), active_limit=100)


PATIENT_TIMEOUT_S = 60


def _service(store, endpoint: str) -> Service:
    return Service(Settings(management_endpoint=endpoint), store, messenger=fast_messenger(endpoint))


def test_notify_posts_in_parallel_and_marks_gone_inactive(store, management_api, capsys):
    ids = [f"conn{i:02d}+/=" for i in range(24)]
    for cid in ids:
        _connect(store, cid)
    _connect(store, "other-type", kind="email-verification")
    _connect(store, "other-email", email="b@example.com")
    management_api.set(ids[0], "gone")
    management_api.set(ids[1], "gone")
    management_api.set(ids[2], "forbidden")
    # Requests are held until 8 are in flight at once. On a loaded machine assembling 8 can take
    # longer than the messenger's 5 s read timeout, so this client waits as long as the barrier.
    management_api.require_parallel(8, timeout_s=PATIENT_TIMEOUT_S)
    messenger = fast_messenger(management_api.endpoint, read_timeout_s=PATIENT_TIMEOUT_S)
    service = Service(Settings(management_endpoint=management_api.endpoint), store, messenger=messenger)

    report = service.notify("A@Example.com", "general", {"type": "hello"})

    assert (report.sent, report.gone, report.failed, report.undelivered, report.complete) == (21, 2, 1, 0, True)
    assert sorted(r.connection_id for r in management_api.requests) == sorted(ids)
    assert all(json.loads(r.body) == {"type": "hello", "messageId": report.message_id} for r in management_api.requests)
    assert not store.get(ids[0]).is_active and not store.get(ids[1]).is_active
    assert store.get(ids[2]).is_active and store.get(ids[3]).is_active
    assert sorted(store.active_connection_ids("a@example.com", "general")) == sorted(ids[2:])
    emf = [line for line in log_lines(capsys) if "_aws" in line]
    assert [line["FailedDeliveries"] for line in emf] == [1]
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "WebSocketNotifications"


def test_notify_without_connections_sends_nothing(store, management_api):
    report = _service(store, management_api.endpoint).notify("nobody@example.com", "general", "hi")
    assert (report.sent, report.gone, report.failed) == (0, 0, 0)
    assert management_api.requests == []


def test_notify_refuses_oversize_message_before_any_post(store, management_api):
    _connect(store, REAL_ID)
    with pytest.raises(PayloadTooLargeError):
        _service(store, management_api.endpoint).notify("a@example.com", "general", "x" * (MAX_PAYLOAD_BYTES + 1))
    assert management_api.requests == []
    assert store.get(REAL_ID).is_active


def test_the_signature_verifies_for_the_request_the_server_received(management_api):
    """Recompute SigV4 (botocore's algorithm, the one AWS documents) over exactly what arrived --
    method, raw path, the signed headers, body -- and compare it with the Authorization header.
    Catches any difference between the path that was signed and the path that was sent."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    assert fast_messenger(management_api.endpoint).post("a+b/c=BFHP", b'{"type":"hello"}') == "sent"
    (request,) = management_api.requests
    authorization = request.headers["authorization"]
    scope, signed, signature = (part.split("=", 1)[1] for part in authorization.split(" ", 1)[1].split(", "))
    names = signed.split(";")
    assert "host" in names and "x-amz-date" in names
    base = management_api.endpoint.rsplit("/", 1)[0]
    rebuilt = AWSRequest(method=request.method, url=base + request.raw_path, data=request.body,
                         headers={name: request.headers[name] for name in names if name != "host"})
    rebuilt.context["timestamp"] = request.headers["x-amz-date"]
    signer = SigV4Auth(Credentials("test", "test", "test-session-token"), "execute-api", "us-east-1")
    canonical = signer.canonical_request(rebuilt)
    assert signer.signature(signer.string_to_sign(rebuilt, canonical), rebuilt) == signature
    assert scope.endswith("/us-east-1/execute-api/aws4_request")
    assert request.headers["x-amz-security-token"] == "test-session-token"


def test_a_connection_closed_before_any_answer_is_retried_once(capsys):
    """A keep-alive connection the server dropped while the container was frozen fails on reuse
    with no answer at all; that one case is retried once, at once (then it is a logged failure)."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[int] = []

    def close_every_connection() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=close_every_connection, daemon=True)
    thread.start()
    messenger = fast_messenger(f"http://127.0.0.1:{listener.getsockname()[1]}/prod")
    try:
        assert messenger.post(REAL_ID, b"x") == "failed"
    finally:
        messenger.close()
        listener.close()
    assert len(accepted) == 2
    (line,) = log_lines(capsys)
    assert (line["error"], line["attempts"]) == ("ProtocolError", 2)
