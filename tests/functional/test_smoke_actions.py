"""The two small actions ``wsctl smoke`` relies on, through the real handler and both stores:
``$default`` ``{"action":"whoami"}`` and the read-only direct invoke ``connection_status``."""
from __future__ import annotations

import pytest

from tests.events import load_event
from tests.functional.helpers import body_of, connect_event, invocation_lines, invoke, log_lines, message_event
from websocket_service.handler import ServiceFailureError


def test_whoami_answers_the_senders_own_connection_id(service_env, store):
    assert invoke(connect_event("Abc123Def456gh=", email="a@example.com", type="general"))["statusCode"] == 200
    response = invoke(message_event("Abc123Def456gh=", '{"action":"whoami"}'))
    assert response["statusCode"] == 200
    assert body_of(response) == {"type": "whoami", "connectionId": "Abc123Def456gh="}


def test_connection_status_follows_connect_and_disconnect(service_env, store, capsys):
    status = {"action": "connection_status", "connection_id": "Abc123Def456gh="}
    assert invoke(status) == {"ok": True, "action": "connection_status", "connection_id": "Abc123Def456gh=",
                              "found": False, "active": False, "disconnected_at": None, "disconnect_status_code": None}
    assert invoke(connect_event("Abc123Def456gh=", email="a@example.com", type="general"))["statusCode"] == 200
    assert invoke(status) | {"disconnected_at": None} == {
        "ok": True, "action": "connection_status", "connection_id": "Abc123Def456gh=",
        "found": True, "active": True, "disconnected_at": None, "disconnect_status_code": None}
    disconnect = load_event("disconnect")
    disconnect["requestContext"]["connectionId"] = "Abc123Def456gh="
    assert invoke(disconnect)["statusCode"] == 200
    capsys.readouterr()
    after = invoke(status)
    assert after["found"] is True and after["active"] is False
    assert after["disconnect_status_code"] == disconnect["requestContext"]["disconnectStatusCode"]
    assert after["disconnected_at"] == store.get("Abc123Def456gh=").disconnected_at.isoformat()
    (line,) = invocation_lines(log_lines(capsys))
    assert line["route"] == "direct:connection_status" and line["outcome"] == "ok"
    assert "a@example.com" not in str(line)  # the e-mail is personal data: not in the answer, not logged


@pytest.mark.parametrize("connection_id", [None, "", "   ", 42])
def test_connection_status_needs_a_connection_id(service_env, connection_id, capsys):
    event = {"action": "connection_status"} if connection_id is None else {
        "action": "connection_status", "connection_id": connection_id}
    result = invoke(event)
    assert result["ok"] is False and result["error"] == "invalid_request"
    assert "connection_status needs a non-empty string field 'connection_id'" in result["message"]
    (line,) = invocation_lines(log_lines(capsys))
    assert line["level"] == "WARNING"


def test_connection_status_raises_when_the_store_is_down(monkeypatch, closed_port):
    monkeypatch.setenv("DATABASE_URL", f"postgresql://nobody@127.0.0.1:{closed_port}/none?connect_timeout=2")
    with pytest.raises(ServiceFailureError, match="^store_error: "):
        invoke({"action": "connection_status", "connection_id": "Abc123Def456gh="})
