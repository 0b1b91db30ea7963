"""Claims of SECURITY.md that need the real handler: log scrubbing end to end, token replay bounds.

Each test names the SECURITY.md section it backs. Both stores (the ``store`` fixture is
parametrised), the real Management API server, real boto3.
"""
from __future__ import annotations

import json

from tests.functional.helpers import body_of, connect_event, invoke, message_event
from websocket_service.tokens import mint_token

TOKEN_SECRET = "tk-SECRET-3f9a7c1e5b2d4f6a8c0e"
EMAIL = "alice.private@example.com"
MESSAGE_MARKER = "MSG-BODY-5e1f0a"
NOTIFY_MARKER = "NOTIFY-BODY-9c4d2b"


def test_no_log_line_carries_an_email_a_token_a_secret_or_a_message_body(service_env, store, management_api, capsys):
    """SECURITY.md "Operator with read access to the logs" and "Log scrubbing"."""
    service_env.setenv("CONNECT_TOKEN_SECRET", TOKEN_SECRET)
    token = mint_token(TOKEN_SECRET, EMAIL, "email-verification")
    forged = mint_token("another-key", EMAIL, "email-verification")
    # A full life: connects (accepted, forged token, bad email), messages, notify (one post refused), disconnect.
    assert invoke(connect_event("c1=", email=EMAIL, type="email-verification", token=token))["statusCode"] == 200
    assert invoke(connect_event("c2=", email=EMAIL, type="email-verification", token=token))["statusCode"] == 200
    assert invoke(connect_event("c3=", email=EMAIL, type="email-verification", token=forged))["statusCode"] == 403
    assert invoke(connect_event("c4=", email=f"{EMAIL}@", type="email-verification", token=token))["statusCode"] == 400
    assert invoke(message_event("c1=", json.dumps({"action": "ping", "note": MESSAGE_MARKER})))["statusCode"] == 200
    reply = invoke(message_event("c1=", json.dumps({"action": f"x-{MESSAGE_MARKER}"})))
    assert reply["statusCode"] == 400 and body_of(reply)["error"] == "unknown_action"
    management_api.set("c2=", "forbidden")
    notify = {"action": "notify", "email": EMAIL, "type": "email-verification", "message": {"note": NOTIFY_MARKER}}
    assert invoke(notify) == {"ok": True, "action": "notify", "sent": 1, "gone": 0, "failed": 1, "undelivered": 0,
                             "complete": True, "messageId": "000000000001", "kept": True}
    assert NOTIFY_MARKER in management_api.posts_to("c1=")[0].body.decode()  # it was really sent
    assert invoke(connect_event("c5=", email=EMAIL, type="email-verification", token="v1.1.bad"))["statusCode"] == 401
    disconnect = message_event("c1=", None)
    disconnect["requestContext"].update(routeKey="$disconnect", eventType="DISCONNECT", disconnectStatusCode=1001)
    assert invoke(disconnect)["statusCode"] == 200

    output = capsys.readouterr().out
    lines = output.splitlines()
    assert len(lines) >= 9 and all(json.loads(line) for line in lines)  # only JSON lines, one per event at least
    assert output.count("a***@example.com") >= 3  # the lines that concern the user carry the masked address
    assert "post failed" in output and "ForbiddenException" in output  # the failure is there, without its body
    for private in ("alice.private", token, forged, TOKEN_SECRET, MESSAGE_MARKER, NOTIFY_MARKER):
        assert private not in output, private


def test_a_token_can_be_replayed_within_its_lifetime_only_up_to_the_per_email_cap(service_env, store):
    """SECURITY.md "Token lifetime and replay": replay is possible and bounded by the cap."""
    service_env.setenv("CONNECT_TOKEN_SECRET", TOKEN_SECRET)
    service_env.setenv("MAX_CONNECTIONS_PER_EMAIL", "2")
    token = mint_token(TOKEN_SECRET, EMAIL, "general", ttl_seconds=60)
    for cid in ("r1=", "r2="):
        assert invoke(connect_event(cid, email=EMAIL, type="general", token=token))["statusCode"] == 200
    third = invoke(connect_event("r3=", email=EMAIL, type="general", token=token))
    assert third["statusCode"] == 429 and body_of(third)["error"] == "too_many_connections"
    other_type = invoke(connect_event("r4=", email=EMAIL, type="email-verification", token=token))
    assert other_type["statusCode"] == 403 and body_of(other_type)["error"] == "token_signature"
    assert sorted(c.connection_id for c in store.list_connections(user_email=EMAIL)) == ["r1=", "r2="]


def test_a_clients_messages_are_answered_to_it_alone_and_never_posted_anywhere(service_env, store, management_api):
    """SECURITY.md "Holder of a valid token": a client cannot make the function post to a connection."""
    for cid in ("m1=", "m2="):
        assert invoke(connect_event(cid, email=EMAIL, type="general"))["statusCode"] == 200
    bodies = [
        {"action": "ping"},
        {"action": "notify", "email": EMAIL, "type": "general", "message": "spoof"},  # a direct-invoke action
        {"action": "ping", "connectionId": "m2=", "message": "spoof"},
    ]
    replies = [invoke(message_event("m1=", json.dumps(body))) for body in bodies]
    assert [r["statusCode"] for r in replies] == [200, 400, 200]
    assert body_of(replies[1])["error"] == "unknown_action"
    assert management_api.requests == []  # replies are route responses to the sender, nothing was posted
