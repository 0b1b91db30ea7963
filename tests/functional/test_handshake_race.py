"""A notify that posts to a connection whose handshake has not finished gets 410 (API Gateway
answers so until the connection is open) and marks the row gone, although the socket then opens
and stays open. The first message from that connection proves it open: the handler reactivates the
row, so later live pushes reach it (both stores, the real handler, a real Management API server)."""
from __future__ import annotations

import json

from tests.events import load_event
from tests.functional.helpers import body_of, connect_event, invocation_lines, invoke, log_lines, message_event
from websocket_service.store import GONE_REASON

EMAIL = "a@example.com"  # the direct_notify fixture's recipient
KIND = "email-verification"
PING = json.dumps({"action": "ping"})


def connect(cid: str) -> dict:
    return invoke(connect_event(cid, email=EMAIL, type=KIND))


def notify() -> dict:
    return invoke(load_event("direct_notify"))


def test_a_connection_a_notify_raced_gets_live_pushes_again_after_its_first_message(
        service_env, store, management_api, capsys):
    assert connect("early=") == {"statusCode": 200}
    management_api.set("early=", "gone", times=1)  # the post lands before the handshake finished
    assert (notify()["sent"], store.get("early=").disconnect_reason) == (0, GONE_REASON)
    assert notify()["sent"] == 0  # the old behaviour from here on: the open socket is skipped

    response = invoke(message_event("early=", PING))

    assert (response["statusCode"], body_of(response)) == (200, {"type": "pong"})
    row = store.get("early=")
    assert (row.is_active, row.disconnected_at, row.disconnect_reason) == (True, None, None)
    lines = log_lines(capsys)
    assert [line["level"] for line in lines if line.get("message") == "connection_reactivated"] == [
        "INFO"]
    assert invocation_lines(lines)[-1]["known_connection"] is True
    assert notify()["sent"] == 1
    assert json.loads(management_api.posts_to("early=")[-1].body)["type"] == "email-verified"


def test_a_connection_whose_disconnect_was_recorded_never_comes_back(service_env, store, management_api, capsys):
    assert connect("closed=") == {"statusCode": 200}
    management_api.set("closed=", "gone", times=1)
    assert notify()["gone"] == 1
    # $disconnect handled after the 410 (the row was already inactive), then a message the client
    # sent just before closing: the row stays inactive.
    assert invoke(load_event("disconnect") | {"requestContext": {
        **load_event("disconnect")["requestContext"], "connectionId": "closed="}})["statusCode"] == 200
    response = invoke(message_event("closed=", PING))

    assert response["statusCode"] == 200
    assert not store.get("closed=").is_active and store.get("closed=").disconnect_status_code is not None
    assert "connection_reactivated" not in [line.get("message") for line in log_lines(capsys)]
    assert notify()["sent"] == 0


def test_an_unknown_connection_is_not_created_by_a_message(service_env, store):
    assert invoke(message_event("never-connected=", PING))["statusCode"] == 200
    assert store.get("never-connected=") is None


def test_reactivation_lets_an_email_exceed_the_cap_by_this_one_connection_only(service_env, store, management_api):
    service_env.setenv("MAX_CONNECTIONS_PER_EMAIL", "1")
    for cid in ("first=", "second="):  # each marked gone by a racing notify, so the next one is let in
        assert connect(cid) == {"statusCode": 200}
        management_api.set(cid, "gone", times=1)
        assert notify()["gone"] == 1
    assert connect("third=") == {"statusCode": 200}

    invoke(message_event("first=", PING))  # third= plus this one: the cap plus one
    invoke(message_event("second=", PING))  # would be the cap plus two: stays inactive

    assert (store.get("first=").is_active, store.get("second=").is_active) == (True, False)
    assert sorted(store.active_connection_ids(EMAIL, KIND)) == ["first=", "third="]
    assert body_of(connect("fourth="))["error"] == "too_many_connections"
