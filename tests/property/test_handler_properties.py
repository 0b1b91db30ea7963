"""Property-based tests: whole hostile events through the real handler on SQLite AND PostgreSQL.

Each generated event is handed to the real handler twice, once with a service on a SQLite store and
once with a service on a PostgreSQL store (same settings, same token secret, same history of
events), and these invariants must hold:

* no exception escapes the handler (a direct invoke may raise only for OUR failures, and client
  input never causes one);
* WebSocket answers (any event with a ``requestContext``) are 200 or 4xx, never 5xx;
* client input never logs an ERROR and never emits ``ServiceFailures``;
* a refused ``$connect`` stores nothing (the row counts do not change);
* both stores answer the same event the same way (identical results).

Case counts: :mod:`tests.property.counts`; the profile: ``conftest.py`` (totals in the terminal summary).
"""
from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.functional.http_servers import ManagementApiServer
from tests.property.counts import CASES, OTHER_CASES, WEBSOCKET_CASES
from tests.property.strategies import TOKEN_SECRET, any_events, websocket_events
from websocket_service import handler as handler_module
from websocket_service import service as service_module
from websocket_service.config import Settings
from websocket_service.service import Service
from websocket_service.store import ConnectionStore, open_store

BATCH = 5
"""Events per generated example (a sequence: later events meet the state earlier ones left)."""
FAR_FUTURE = datetime.now(timezone.utc) + timedelta(days=3650)


class Backend:
    """One store and the service the handler uses with it."""

    def __init__(self, name: str, url: str, endpoint: str) -> None:
        self.name = name
        self.store: ConnectionStore = open_store(url)
        self.store.migrate()
        settings_ = Settings(management_endpoint=endpoint, max_connections_per_email=3)
        self.service = Service(settings_, self.store, token_secret=TOKEN_SECRET)

    def rows(self) -> tuple[int, int]:
        """(active, inactive) row counts through the store protocol."""
        return (self.store.count_idle(idle_before=FAR_FUTURE),
                self.store.count_purgeable(disconnected_before=FAR_FUTURE))

    def invoke(self, event: Any) -> tuple[Any, list[dict[str, Any]]]:
        """Run the real handler with this backend's service; return (result or the exception, log lines)."""
        out = io.StringIO()
        # the container's cached service, as get_service() caches it
        with service_module.use_service(self.service):
            with contextlib.redirect_stdout(out):
                try:
                    result: Any = handler_module.handler(event, None)
                except Exception as error:  # noqa: BLE001 - recorded, then asserted absent
                    result = error
        lines = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
        return result, lines


@pytest.fixture
def backends(pg_database_url: str, sqlite_database_url: str) -> Iterator[list[Backend]]:
    server = ManagementApiServer()
    # Commits without waiting for the WAL flush (a per-session setting of these test connections
    # only): thousands of single-row commits, and durability is not what these tests check.
    parts = urlsplit(pg_database_url)
    query = dict(parse_qsl(parts.query))
    query["options"] = f"{query.get('options', '')} -c synchronous_commit=off".strip()
    fast_pg_url = urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))
    pair = [Backend("sqlite", sqlite_database_url, server.endpoint),
            Backend("postgres", fast_pg_url, server.endpoint)]
    try:
        yield pair
    finally:
        for backend in pair:
            backend.service.close()
        server.stop()


def _check(backends: list[Backend], event: Any) -> None:
    answers = []
    context = event.get("requestContext") if isinstance(event, dict) else None
    connect = isinstance(context, dict) and context.get("eventType") == "CONNECT"
    for backend in backends:
        before = backend.rows() if connect else None
        result, lines = backend.invoke(event)
        where = f"[{backend.name}] event {event!r:.600}"
        assert not isinstance(result, BaseException), f"{where}: {type(result).__name__} escaped: {result}"
        assert not [line for line in lines if "ServiceFailures" in line], f"{where}: counted as OUR failure"
        errors = [line for line in lines if line.get("level") == "ERROR"
                  and line.get("outcome") != "cfn_response_failed"]  # no CloudFormation to answer: logged
        assert not errors, f"{where}: logged an ERROR: {errors}"
        if isinstance(event, dict) and "requestContext" in event:
            status = result.get("statusCode")
            assert status == 200 or 400 <= status < 500, f"{where}: WebSocket answer {result}"
            if status != 200 and connect:
                assert backend.rows() == before, f"{where}: a refused $connect changed the rows"
        answers.append(_without_durations(result))
    assert answers[0] == answers[1], f"event {event!r:.600}: stores disagree: {answers}"


DURATIONS = ("longest_batch_ms", "paused_ms", "elapsed_ms")
"""Wall-clock measurements in a cleanup answer: the two stores agree on everything but these."""


def _without_durations(result: Any) -> Any:
    if isinstance(result, dict) and result.get("action") == "cleanup":
        return {key: value for key, value in result.items() if key not in DURATIONS}
    return result


@settings(max_examples=WEBSOCKET_CASES // BATCH)
@given(events=st.lists(websocket_events(), min_size=BATCH, max_size=BATCH))
def test_websocket_events_on_both_stores(backends, events):
    for event in events:
        CASES["websocket"] += 1
        _check(backends, event)


@settings(max_examples=OTHER_CASES // BATCH)
@given(events=st.lists(any_events(), min_size=BATCH, max_size=BATCH))
def test_any_invocation_payload_on_both_stores(backends, events):
    for event in events:
        CASES["any"] += 1
        _check(backends, event)
