"""The per-email cap counts only connections that are really open (both stores).

A ghost is a row left active although its socket is closed (a lost ``$disconnect``, a container
that died with its queue of unrecorded disconnects, a ``$connect`` answered 500 after its row
was written). When the cap refuses a ``$connect``, the function asks the Management API
(GetConnection) about the counted connections: those answering 410 are marked gone and the
connect is retried once. Without GET in ``MANAGEMENT_API_METHODS`` the check is skipped. (That
a ``$connect`` under the cap never imports boto3 is checked in test_secrets_and_cold_path.py.)
"""
from __future__ import annotations

from datetime import datetime, timezone

from tests.functional.helpers import body_of, connect_event, invoke, log_lines
from websocket_service.store import GONE_REASON, NewConnection

EMAIL = "ada@example.com"
LONG_AGO = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)


def ghosts(store, *connection_ids: str) -> None:
    """Active rows of EMAIL, as a container that died before recording their $disconnect left them."""
    for cid in connection_ids:
        assert store.add(NewConnection(cid, EMAIL, "general", LONG_AGO), active_limit=100)


def test_ghosts_counted_by_the_cap_are_released_and_the_user_gets_in(service_env, store, management_api, capsys):
    service_env.setenv("MAX_CONNECTIONS_PER_EMAIL", "2")
    ghosts(store, "g1", "g2")
    management_api.set("g1", "gone")
    management_api.set("g2", "gone")

    assert invoke(connect_event("c3", email=EMAIL, type="email-verification")) == {"statusCode": 200}
    assert sorted((r.method, r.connection_id) for r in management_api.requests) == [("GET", "g1"), ("GET", "g2")]
    for cid in ("g1", "g2"):
        row = store.get(cid)
        assert (row.is_active, row.disconnect_reason) == (False, GONE_REASON)
    assert store.get("c3").is_active
    released = [line for line in log_lines(capsys) if line["message"] == "ghost_connections_released"]
    assert [(line["ghost_connections"], line["checked"]) for line in released] == [(2, 2)]


def test_only_the_gone_ones_are_released_and_open_ones_still_count(service_env, store, management_api):
    service_env.setenv("MAX_CONNECTIONS_PER_EMAIL", "2")
    ghosts(store, "open1", "g1")
    management_api.set("g1", "gone")
    assert invoke(connect_event("c3", email=EMAIL, type="general"))["statusCode"] == 200
    assert store.get("open1").is_active and not store.get("g1").is_active

    response = invoke(connect_event("c4", email=EMAIL, type="general"))  # open1 and c3 are really open
    assert response["statusCode"] == 429 and body_of(response)["error"] == "too_many_connections"
    assert store.get("c4") is None
    assert store.get("open1").is_active and store.get("c3").is_active


def test_without_get_permission_the_check_is_skipped(service_env, store, management_api):
    service_env.setenv("MAX_CONNECTIONS_PER_EMAIL", "2")
    service_env.setenv("MANAGEMENT_API_METHODS", "POST")
    ghosts(store, "g1", "g2")
    management_api.set("g1", "gone")
    response = invoke(connect_event("c3", email=EMAIL, type="general"))
    assert response["statusCode"] == 429
    assert management_api.requests == []  # no GET without the permission; cleanup's TTL frees them
    assert store.get("g1").is_active


def test_a_failing_management_api_never_turns_a_429_into_a_500(service_env, store, management_api):
    service_env.setenv("MAX_CONNECTIONS_PER_EMAIL", "1")
    ghosts(store, "g1")
    management_api.set("g1", "forbidden")
    response = invoke(connect_event("c2", email=EMAIL, type="general"))
    assert response["statusCode"] == 429
    assert store.get("g1").is_active  # an unclear answer counts as open
