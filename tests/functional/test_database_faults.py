"""Database faults, through the real handler, on the session's throwaway PostgreSQL cluster.

Each test states what the WebSocket client sees, proves no row is half-written, and that service
resumes in the same process, with no restart of the function: a backend killed between
invocations, the server stopped and restarted (with ``$disconnect`` calls during the outage: the
same user then reconnects with 200, whether the container kept its queue of unrecorded
disconnects or died with it), the server frozen with SIGSTOP (the client deadline holds),
a statement over its timeout, and a server with no connection slot free.

Timeouts are small (statement 300 ms, so the client deadline is 1.3 s; connect 1 s). The only
time bound asserted is :data:`FUNCTION_TIMEOUT_S`, the kind of timeout the route function has:
without a client deadline a frozen server keeps ``$connect`` waiting for ever.
"""
from __future__ import annotations

import os
import signal
import time
from typing import Any

import psycopg
import pytest

from tests.events import load_event
from tests.functional.helpers import (
    UNAVAILABLE_CONNECT_BODY,
    body_of,
    connect_event,
    invocation_lines,
    invoke,
    log_lines,
    metric_lines,
)
from tests.throwaway_pg import close_and_wait, take_all_slots, wait_until_gone
from websocket_service import handler as handler_module
from websocket_service.service import get_service, pending_disconnects

APP = "faults-fn"
"""application_name of the function's database sessions (to find them in pg_stat_activity)."""
STATEMENT_TIMEOUT_MS = 300
FUNCTION_TIMEOUT_S = 10
EMAIL = "ada@example.com"
COLUMNS = ("connection_id", "user_email", "connection_type", "is_active", "source_ip", "user_agent", "stage")




@pytest.fixture
def function_env(monkeypatch: pytest.MonkeyPatch, throwaway_cluster: Any, cluster_admin: Any, management_api: Any) -> Any:
    """The function's settings: the throwaway cluster, small timeouts, a cap of 2 per email."""
    monkeypatch.setenv("DATABASE_URL", f"{throwaway_cluster.url}&application_name={APP}")
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", str(STATEMENT_TIMEOUT_MS))
    monkeypatch.setenv("DB_CONNECT_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("MAX_CONNECTIONS_PER_EMAIL", "2")
    monkeypatch.setenv("AWS_WEBSOCKET_API_GATEWAY_ENDPOINT", management_api.endpoint)
    return monkeypatch


def connect(connection_id: str, email: str = EMAIL) -> dict[str, Any]:
    return invoke(connect_event(connection_id, email=email, type="general"))


def disconnect(connection_id: str, status_code: int = 1001) -> dict[str, Any]:
    event = load_event("disconnect")
    event["requestContext"]["connectionId"] = connection_id
    event["requestContext"]["disconnectStatusCode"] = status_code
    return invoke(event)


def rows(cluster_admin: psycopg.Connection[Any]) -> dict[str, tuple[Any, ...]]:
    """Every stored row by connection id (the columns a $connect writes, plus is_active)."""
    found = cluster_admin.execute(f"SELECT {', '.join(COLUMNS)} FROM websocket_connections").fetchall()
    return {row[0]: row for row in found}


def whole_row(connection_id: str, email: str = EMAIL, *, active: bool = True) -> tuple[Any, ...]:
    """The complete row a $connect from connect.json with this id and email writes."""
    return (connection_id, email, "general", active, "203.0.113.9", "Mozilla/5.0 (Flutter test)", "prod")


def function_pids(cluster_admin: psycopg.Connection[Any]) -> list[int]:
    found = cluster_admin.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (APP,)).fetchall()
    return [row[0] for row in found]


def error_line(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The log line of the last invocation, which must have failed (ERROR)."""
    line = invocation_lines(log_lines(capsys))[-1]
    assert line["level"] == "ERROR"
    return line


def test_a_backend_killed_between_invocations_is_replaced_on_the_next_one(function_env, cluster_admin, capsys):
    assert connect("c1")["statusCode"] == 200
    service = get_service()
    [first] = function_pids(cluster_admin)
    cluster_admin.execute("SELECT pg_terminate_backend(%s, 5000)", (first,))  # e.g. a failover, an idle kill

    # The client sees nothing: the store notices the dead connection, reconnects and re-runs once.
    assert connect("c2")["statusCode"] == 200
    assert function_pids(cluster_admin) != [first]
    assert get_service() is service  # same container state, no restart
    assert rows(cluster_admin) == {"c1": whole_row("c1"), "c2": whole_row("c2")}


def test_a_stopped_server_answers_500_and_service_resumes_when_it_is_back(
    function_env, cluster_admin, throwaway_cluster, capsys
):
    assert connect("c1")["statusCode"] == 200
    throwaway_cluster.stop()
    try:
        response = connect("c2")
        assert response["statusCode"] == 500 and body_of(response) == UNAVAILABLE_CONNECT_BODY
        line = error_line(capsys)
        assert line["outcome"] == "store_error" and "could not connect to PostgreSQL" in line["error_message"]
    finally:
        throwaway_cluster.start()
    with psycopg.connect(throwaway_cluster.url, autocommit=True) as after:
        assert rows(after) == {"c1": whole_row("c1")}  # nothing of c2 was written
    assert connect("c2")["statusCode"] == 200  # same process, no restart
    with psycopg.connect(throwaway_cluster.url, autocommit=True) as after:
        assert rows(after) == {"c1": whole_row("c1"), "c2": whole_row("c2")}


def test_disconnects_during_an_outage_are_applied_later_so_the_same_user_reconnects(
    function_env, cluster_admin, throwaway_cluster, management_api, capsys
):
    assert [connect(cid)["statusCode"] for cid in ("c1", "c2", "c3")] == [200, 200, 429]  # cap of 2
    # Before refusing, the function checked that both counted connections are really open.
    assert sorted((r.method, r.connection_id) for r in management_api.requests) == [("GET", "c1"), ("GET", "c2")]
    throwaway_cluster.stop()
    try:
        # API Gateway delivers the $disconnect events while the database is down: 500 each.
        assert [disconnect(cid)["statusCode"] for cid in ("c1", "c2")] == [500, 500]
        assert len(pending_disconnects) == 2  # kept by this container
    finally:
        throwaway_cluster.start()
    capsys.readouterr()

    assert connect("c3")["statusCode"] == 200  # the user is not locked out
    assert len(pending_disconnects) == 0
    with psycopg.connect(throwaway_cluster.url, autocommit=True) as after:
        assert rows(after) == {"c1": whole_row("c1", active=False), "c2": whole_row("c2", active=False),
                               "c3": whole_row("c3")}
        recorded = after.execute(
            "SELECT disconnect_status_code, disconnect_reason, disconnected_at < connected_at + interval '1 hour' "
            "FROM websocket_connections WHERE connection_id = 'c1'"
        ).fetchone()
    assert recorded == (1001, "Going away", True)  # what the original $disconnect said
    assert len(management_api.requests) == 2  # no GetConnection this time: the queue sufficed


def test_disconnects_lost_with_their_container_are_released_by_get_connection(
    function_env, cluster_admin, throwaway_cluster, management_api
):
    assert [connect(cid)["statusCode"] for cid in ("c1", "c2")] == [200, 200]
    throwaway_cluster.stop()
    try:
        assert [disconnect(cid)["statusCode"] for cid in ("c1", "c2")] == [500, 500]
    finally:
        throwaway_cluster.start()
    handler_module.reset()
    pending_disconnects.take()  # the container died: its queue is gone; c1 and c2 stay active
    management_api.set("c1", "gone")  # what API Gateway answers for closed connections
    management_api.set("c2", "gone")

    assert connect("c3")["statusCode"] == 200  # a new container: GetConnection finds the ghosts
    assert sorted((r.method, r.connection_id) for r in management_api.requests) == [("GET", "c1"), ("GET", "c2")]
    with psycopg.connect(throwaway_cluster.url, autocommit=True) as after:
        assert rows(after) == {"c1": whole_row("c1", active=False), "c2": whole_row("c2", active=False),
                               "c3": whole_row("c3")}


def test_a_frozen_server_is_bounded_by_the_client_deadline_and_service_resumes(
    function_env, cluster_admin, throwaway_cluster, management_api, capsys
):
    assert connect("c1")["statusCode"] == 200
    [backend] = function_pids(cluster_admin)
    postmaster = throwaway_cluster.postmaster_pid
    os.kill(backend, signal.SIGSTOP)  # the session's server process stops answering
    try:
        started = time.monotonic()
        response = connect("c2")
        frozen_session_s = time.monotonic() - started
        assert response["statusCode"] == 500 and body_of(response) == UNAVAILABLE_CONNECT_BODY
        line = error_line(capsys)
        assert f"did not answer add within the client deadline ({STATEMENT_TIMEOUT_MS + 1000} ms" in line[
            "error_message"]

        os.kill(postmaster, signal.SIGSTOP)  # now the whole server: a new connection cannot start either
        started = time.monotonic()
        response = connect("c3")
        frozen_server_s = time.monotonic() - started
        assert response["statusCode"] == 500
        line = error_line(capsys)
        assert "could not connect to PostgreSQL" in line["error_message"]
        assert "connect_timeout 1 s" in line["error_message"]
    finally:
        os.kill(postmaster, signal.SIGCONT)
        os.kill(backend, signal.SIGCONT)
    assert frozen_session_s < FUNCTION_TIMEOUT_S and frozen_server_s < FUNCTION_TIMEOUT_S

    wait_until_gone(cluster_admin, "pid = %s", backend)  # the abandoned session ends once it runs again
    # c2's statement reached the frozen process before the deadline; thawed, it ran it whole or not
    # at all (never half). If whole, the row is a ghost of a handshake API Gateway rejected (the
    # 500), so GetConnection answers 410 for it, and the cap's check releases it.
    management_api.set("c2", "gone")
    assert connect("c4")["statusCode"] == 200  # same process, no restart; the same user gets in
    stored = rows(cluster_admin)
    assert stored.pop("c2", whole_row("c2", active=False)) == whole_row("c2", active=False)
    assert stored == {"c1": whole_row("c1"), "c4": whole_row("c4")}  # c3 never reached the server


def test_a_statement_over_its_timeout_answers_500_writes_nothing_and_keeps_the_connection(
    function_env, cluster_admin, throwaway_cluster, capsys
):
    assert connect("c1")["statusCode"] == 200
    [backend] = function_pids(cluster_admin)
    with psycopg.connect(throwaway_cluster.url) as locker:  # holds the lock until rollback
        locker.execute("LOCK TABLE websocket_connections IN ACCESS EXCLUSIVE MODE")
        response = connect("c2")
        locker.rollback()
    assert response["statusCode"] == 500 and body_of(response) == UNAVAILABLE_CONNECT_BODY
    line = error_line(capsys)
    assert f"cancelled by statement_timeout ({STATEMENT_TIMEOUT_MS} ms" in line["error_message"]
    assert rows(cluster_admin) == {"c1": whole_row("c1")}
    assert connect("c2")["statusCode"] == 200
    assert function_pids(cluster_admin) == [backend]  # the same healthy connection went on
    assert rows(cluster_admin) == {"c1": whole_row("c1"), "c2": whole_row("c2")}


def test_a_full_server_is_database_saturated_then_the_function_backs_off_and_recovers(
    function_env, cluster_admin, throwaway_cluster, capsys
):
    held = take_all_slots(throwaway_cluster.url)
    capsys.readouterr()
    try:
        response = connect("c1")
        assert response["statusCode"] == 500 and body_of(response) == UNAVAILABLE_CONNECT_BODY
        lines = log_lines(capsys)
        (line,) = invocation_lines(lines)
        assert (line["level"], line["outcome"]) == ("ERROR", "database_saturated")
        assert "max_connections" in line["error_message"] and "DATABASE_URL" not in line["error_message"]
        assert len(metric_lines(lines, "DatabaseSaturated")) == 1
        assert len(metric_lines(lines, "ServiceFailures")) == 1
        store = get_service().store  # kept (not rebuilt): its backoff lives on

        response = connect("c1")  # during the backoff: the same answer, without dialling
        assert response["statusCode"] == 500
        (line,) = invocation_lines(log_lines(capsys))
        assert line["outcome"] == "database_saturated" and "not dialling" in line["error_message"]
    finally:
        close_and_wait(cluster_admin, held)
    assert get_service().store is store
    time.sleep(store.backoff_remaining_s)  # at most BACKOFF_BASE_S after the first refusal
    assert connect("c1")["statusCode"] == 200
    assert rows(cluster_admin) == {"c1": whole_row("c1")}
