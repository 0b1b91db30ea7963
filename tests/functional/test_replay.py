"""Replay (issue 16, /work/lanes/PROTOCOL-REPLAY.md): notify keeps each message with an id, a
connection asks for what it missed with ``{"action": "replay", "after": id}`` and gets its OWN
messages, oldest first, exactly as pushed, through the real handler, real stores on both backends
and a real Management API server."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.functional.helpers import body_of, connect_event, invocation_lines, invoke, log_lines, message_event
from websocket_service.service import MAX_REPLAY_MESSAGES, get_service
from websocket_service.tokens import mint_token

SECRET = "token-secret-for-tests"
ADA, BOB = "ada@example.com", "bob@example.com"


@pytest.fixture
def replay_env(service_env):
    """The handler with connect tokens on (replay needs token-verified connections)."""
    service_env.setenv("CONNECT_TOKEN_SECRET", SECRET)
    return service_env


def connect(cid: str, email: str = ADA, kind: str = "general", *, token: bool = True) -> None:
    query = {"email": email, "type": kind}
    if token:
        query["token"] = mint_token(SECRET, email, kind)
    assert invoke(connect_event(cid, **query))["statusCode"] == 200


def notify(message, email: str = ADA, kind: str = "general") -> dict:
    result = invoke({"action": "notify", "email": email, "type": kind, "message": message})
    assert result["ok"] is True
    return result


def replay(cid: str, **fields) -> tuple[int, dict]:
    response = invoke(message_event(cid, json.dumps({"action": "replay", **fields})))
    return response["statusCode"], body_of(response)


def bodies(management_api, cid: str) -> list[str]:
    return [r.body.decode() for r in management_api.posts_to(cid)]


# --- notify keeps and tags ----------------------------------------------------------------------
def test_a_json_object_push_carries_its_id_and_the_service_id_wins(replay_env, management_api):
    connect("live=")
    first = notify({"type": "email-verified", "messageId": "client-chosen"})
    second = notify({"type": "email-verified", "n": 2})

    assert first["messageId"] and first["kept"] is True and second["messageId"] != first["messageId"]
    assert [json.loads(b) for b in bodies(management_api, "live=")] == [
        {"type": "email-verified", "messageId": first["messageId"]},
        {"type": "email-verified", "n": 2, "messageId": second["messageId"]},
    ]


def test_text_and_non_object_pushes_go_out_as_they_are_but_are_kept(replay_env, management_api):
    connect("live=")
    text = notify("verified, as plain text")
    array = notify([1, "two"])
    assert text["kept"] is True and array["kept"] is True
    assert bodies(management_api, "live=") == ["verified, as plain text", '[1,"two"]']


def test_a_notify_with_no_open_connection_is_kept_and_says_so(replay_env, management_api):
    result = notify({"type": "email-verified"})
    assert (result["sent"], result["kept"]) == (0, True) and result["messageId"]
    assert management_api.requests == []


def test_a_window_of_zero_keeps_nothing_and_pushes_the_message_untouched(replay_env, management_api):
    replay_env.setenv("REPLAY_WINDOW_MINUTES", "0")
    connect("live=")
    result = notify({"type": "email-verified", "messageId": "theirs"})
    assert (result["sent"], result["messageId"], result["kept"]) == (1, None, False)
    assert json.loads(bodies(management_api, "live=")[0]) == {"type": "email-verified", "messageId": "theirs"}
    status, body = replay("live=")
    assert status == 200 and body["ok"] is False and body["error"] == "replay_disabled"
    assert "REPLAY_WINDOW_MINUTES is 0" in body["message"]


# --- replay -------------------------------------------------------------------------------------
def test_replay_posts_the_callers_missed_messages_exactly_as_pushed_oldest_first(replay_env, management_api):
    sent = [notify({"type": "step", "n": n})["messageId"] for n in range(3)]
    text = notify("plain text")["messageId"]
    connect("back=")

    status, body = replay("back=")
    assert status == 200
    assert body == {"type": "replay-complete", "count": 4, "lastMessageId": text, "complete": True}
    assert bodies(management_api, "back=") == [
        *(json.dumps({"type": "step", "n": n, "messageId": sent[n]}, separators=(",", ":")) for n in range(3)),
        "plain text",
    ]


def test_replay_after_an_id_posts_only_newer_messages(replay_env, management_api):
    ids = [notify({"n": n})["messageId"] for n in range(4)]
    connect("back=")
    status, body = replay("back=", after=ids[1])
    assert status == 200 and (body["count"], body["lastMessageId"]) == (2, ids[3])
    assert [json.loads(b)["n"] for b in bodies(management_api, "back=")] == [2, 3]
    status, body = replay("back=", after=ids[3])  # up to date: nothing
    assert (body["count"], body["lastMessageId"], body["complete"]) == (0, None, True)


def test_replay_never_posts_another_users_or_another_types_messages(replay_env, management_api):
    mine = notify({"for": "ada"})["messageId"]
    bobs = notify({"for": "bob"}, email=BOB)["messageId"]
    notify({"for": "ada, other type"}, kind="email-verification")
    connect("ada=")

    # Bob's id as "after" counts as no "after": Ada gets her own window, nothing of Bob's, and the
    # answer is the same as with no "after" at all (it tells nothing about Bob's message).
    _, with_foreign_after = replay("ada=", after=bobs)
    _, without_after = replay("ada=")
    assert with_foreign_after == without_after == {"type": "replay-complete", "count": 1, "lastMessageId": mine,
                                                    "complete": True}
    assert [json.loads(b)["for"] for b in bodies(management_api, "ada=")] == ["ada", "ada"]


@pytest.mark.parametrize("after", ["999999999999", "not-an-id", "", "0", "-1", "１２"])
def test_an_unknown_or_malformed_after_counts_as_no_after(replay_env, management_api, after):
    only = notify({"n": 1})["messageId"]
    connect("back=")
    status, body = replay("back=", after=after)
    assert status == 200 and (body["count"], body["lastMessageId"]) == (1, only)


def test_an_expired_after_counts_as_no_after_and_expired_messages_are_not_replayed(replay_env, management_api):
    service = get_service()
    real_clock = service.clock
    service.clock = lambda: real_clock() - timedelta(minutes=20)  # kept 20 minutes ago: the window ended
    old = notify({"n": "old"})["messageId"]
    service.clock = real_clock
    new = notify({"n": "new"})["messageId"]
    connect("back=")
    status, body = replay("back=", after=old)
    assert status == 200 and (body["count"], body["lastMessageId"]) == (1, new)
    assert [json.loads(b)["n"] for b in bodies(management_api, "back=")] == ["new"]


def test_after_must_be_a_string(replay_env, management_api, capsys):
    connect("back=")
    capsys.readouterr()
    status, body = replay("back=", after=12)
    assert status == 400 and body["error"] == "invalid_after"
    (line,) = invocation_lines(log_lines(capsys))
    assert line["level"] == "WARNING"


def test_replay_stops_at_the_cap_and_says_it_is_not_complete(replay_env, management_api):
    ids = [notify(f"m{n}")["messageId"] for n in range(MAX_REPLAY_MESSAGES + 2)]
    connect("back=")
    _, body = replay("back=")
    assert body == {"type": "replay-complete", "count": MAX_REPLAY_MESSAGES,
                    "lastMessageId": ids[MAX_REPLAY_MESSAGES - 1], "complete": False}
    _, rest = replay("back=", after=body["lastMessageId"])
    assert (rest["count"], rest["lastMessageId"], rest["complete"]) == (2, ids[-1], True)


def test_replay_to_a_closed_connection_stops_and_marks_it_gone(replay_env, management_api, store):
    for n in range(3):
        notify({"n": n})
    connect("left=")
    management_api.set("left=", "gone")
    _, body = replay("left=")
    assert (body["count"], body["lastMessageId"], body["complete"]) == (0, None, False)
    assert len(management_api.posts_to("left=")) == 1
    assert store.get("left=").is_active is False


def test_replay_from_an_unrecorded_connection_is_refused(replay_env, management_api):
    notify({"n": 1})
    status, body = replay("never-connected=")
    assert status == 404 and body["error"] == "unknown_connection"
    assert management_api.requests == []


# --- tokens -------------------------------------------------------------------------------------
def test_replay_is_off_without_connect_tokens(service_env, management_api):
    notify({"n": 1})
    connect("anon=", token=False)  # tokens off: anyone could claim any email
    status, body = replay("anon=")
    assert status == 200 and body["ok"] is False and body["error"] == "replay_disabled"
    assert "REPLAY_WITHOUT_TOKENS" in body["message"]
    assert management_api.posts_to("anon=") == []


def test_replay_without_tokens_can_be_allowed_explicitly(service_env, management_api):
    service_env.setenv("REPLAY_WITHOUT_TOKENS", "true")
    kept = notify({"n": 1})["messageId"]
    connect("anon=", token=False)
    status, body = replay("anon=")
    assert status == 200 and (body["count"], body["lastMessageId"]) == (1, kept)


def test_the_kept_window_is_the_setting(replay_env, management_api, store):
    replay_env.setenv("REPLAY_WINDOW_MINUTES", "3")
    before = datetime.now(timezone.utc)
    kept = notify("x")["messageId"]
    row = store.get_message(int(kept))
    assert row is not None and timedelta(minutes=3) == row.expires_at - row.created_at
    assert row.created_at >= before - timedelta(seconds=1)


# --- before migration 0002 (a deploy runs the new code before its migrate step) ------------------
@pytest.fixture
def early_env(monkeypatch, store_url, management_api):
    """The handler on a database migrated only to 0001 (no messages table yet), tokens on."""
    from tests.functional.helpers import migrate_up_to
    from websocket_service.store import open_store

    early = open_store(store_url)
    try:
        assert migrate_up_to(early, 1) == [1]
    finally:
        early.close()
    monkeypatch.setenv("DATABASE_URL", store_url)
    monkeypatch.setenv("AWS_WEBSOCKET_API_GATEWAY_ENDPOINT", management_api.endpoint)
    monkeypatch.setenv("CONNECT_TOKEN_SECRET", SECRET)
    return monkeypatch


def test_replay_before_the_messages_migration_answers_nothing_yet_with_a_warning(early_env, management_api, capsys):
    connect("back=")
    capsys.readouterr()
    for after in (None, "000000000007"):  # the after lookup meets the missing table too
        status, body = replay("back=", **({} if after is None else {"after": after}))
        assert (status, body) == (200, {"type": "replay-complete", "count": 0, "lastMessageId": None,
                                        "complete": False})
    lines = log_lines(capsys)
    warnings = [line for line in lines if line.get("message") == "replay_unavailable"]
    assert [(w["level"], w["missing_migration"]) for w in warnings] == [("WARNING", "0002_create_messages")] * 2
    assert "websocket_messages" in warnings[0]["error_message"]
    assert [line["outcome"] for line in invocation_lines(lines)] == ["action:replay"] * 2
    assert not [line for line in lines if line.get("level") == "ERROR" or "_aws" in line]  # no ServiceFailures
    assert management_api.requests == []

    get_service().store.migrate()  # the deploy's migrate step: replay works from here on
    kept = notify({"n": 1})["messageId"]
    status, body = replay("back=")
    assert body == {"type": "replay-complete", "count": 1, "lastMessageId": kept, "complete": True}


def test_notify_before_migration_0004_keeps_and_lists_in_two_calls_with_a_warning(
    monkeypatch, pg_database_url, management_api, capsys
):
    # A deploy runs the new code before migration 0004 (ws_keep_and_list): notify must still keep
    # the message and push it, as before (keep, then list), and say what is missing.
    from tests.functional.helpers import migrate_up_to
    from websocket_service.store import open_store

    early = open_store(pg_database_url)
    try:
        assert migrate_up_to(early, 3) == [1, 2, 3]
    finally:
        early.close()
    monkeypatch.setenv("DATABASE_URL", pg_database_url)
    monkeypatch.setenv("AWS_WEBSOCKET_API_GATEWAY_ENDPOINT", management_api.endpoint)
    monkeypatch.setenv("CONNECT_TOKEN_SECRET", SECRET)
    connect("live=")
    capsys.readouterr()
    kept = [notify({"n": n})["messageId"] for n in (1, 2)]
    assert all(kept) and [json.loads(b)["messageId"] for b in bodies(management_api, "live=")] == kept
    lines = log_lines(capsys)
    warnings = [line for line in lines if line.get("message") == "keep_and_list_unavailable"]
    assert [(w["level"], w["missing_function"]) for w in warnings] == [("WARNING", "ws_keep_and_list")] * 2
    assert "run the migrate action" in warnings[0]["error_message"]
    assert not [line for line in lines if line.get("message") == "replay_keep_failed" or line.get("level") == "ERROR"]
    status, body = replay("live=")
    assert (status, body["count"], body["lastMessageId"]) == (200, 2, kept[-1])


def test_replay_still_fails_loudly_on_any_other_store_error(replay_env, store_url, capsys):
    from tests.functional.helpers import UNAVAILABLE_MESSAGE_BODY, execute_sql, metric_lines

    connect("back=")
    execute_sql(store_url, "ALTER TABLE websocket_messages RENAME COLUMN expires_at TO ends_at")
    capsys.readouterr()
    response = invoke(message_event("back=", json.dumps({"action": "replay"})))
    assert (response["statusCode"], body_of(response)) == (500, UNAVAILABLE_MESSAGE_BODY)
    lines = log_lines(capsys)
    assert not [line for line in lines if line.get("message") == "replay_unavailable"]
    assert [m["ServiceFailures"] for m in metric_lines(lines, "ServiceFailures")] == [1]
