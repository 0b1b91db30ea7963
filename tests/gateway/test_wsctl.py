"""The ``wsctl`` console script, run as a real subprocess against real stores and gateways."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import pytest
from websockets.asyncio.client import connect

from gateway_support import WAIT_S, Recorder, printed_wsctl, run
from wsctl.cli import build_parser, limits_from_args, replay_environment
from local_gateway.server import DUMMY_AWS_ENV, GatewayLimits, LocalGateway
from websocket_service.store import open_store
from websocket_service.store.base import ConnectionStore, NewConnection
from websocket_service.tokens import verify_token

WSCTL = Path(sys.executable).with_name("wsctl")
EMAIL = "cli@example.com"


def wsctl(*args: str, env: dict[str, str] | None = None, unset: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    """Run the installed console script with the current environment (plus ``env``, minus ``unset``)."""
    if not WSCTL.exists():
        pytest.fail(f"{WSCTL} is missing: install the project into the venv (make setup, or pip install -e .)")
    environment = {name: value for name, value in {**os.environ, **(env or {})}.items() if name not in unset}
    return subprocess.run([str(WSCTL), *args], capture_output=True, text=True, timeout=120, env=environment)


def assert_clean_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("wsctl ")]
    assert len(error_lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in error_lines[0]


# --- cost / token ---------------------------------------------------------------------------
def test_cost_reproduces_the_seed_example() -> None:
    result = wsctl("cost", "--users", "1000", "--minutes", "5", "--messages", "10", "--json")
    assert result.returncode == 0, result.stderr
    daily = json.loads(result.stdout)["daily"]
    assert daily["connection_minutes_usd"] == pytest.approx(0.00125)
    assert daily["messages_usd"] == pytest.approx(0.01)
    text = wsctl("cost", "--users", "1000", "--minutes", "5", "--messages", "10").stdout
    assert re.search(r"API Gateway connection minutes\s+\$0\.00125\s+\$0\.0375", text)
    assert re.search(r"API Gateway messages\s+\$0\.01\s+\$0\.30", text)
    assert re.search(r"CloudWatch Logs \(by volume\)\s+\$0\.006048\s+\$0\.18144", text)
    assert "Lambda (requests + arm64 duration)" in text and "~$0.60/month" in text


def test_cost_with_the_stacks_own_database() -> None:
    text = wsctl("cost", "--users", "0", "--minutes", "0", "--messages", "0", "--database-awake-hours", "8").stdout
    assert re.search(r"Aurora Serverless v2, 8 h/day\s+\$0\.496667\s+\$14\.90", text)
    assert re.search(r"NAT instance \(t4g\.nano\), IPv4, disk\s+\$0\.242133\s+\$7\.264", text)


def assert_usage_error(result: subprocess.CompletedProcess[str], option: str, expected: str) -> None:
    """argparse's rejection: exit 2, the usage, and one ``error: argument OPTION: ...`` line."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    assert result.stderr.startswith("usage: wsctl ")
    (error_line,) = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert f"error: argument {option}: " in error_line
    assert expected in error_line
    assert result.stdout == ""


COST = ("cost", "--users", "10", "--minutes", "5", "--messages", "1")


BAD_NUMBERS = [
    (("connections", "--limit", "0"), "--limit", "0 is out of range; expected an integer >= 1"),
    (("connections", "--limit", "ten"), "--limit", "'ten' is not an integer"),
    (("token", "--email", EMAIL, "--secret", "k", "--ttl", "0"), "--ttl", "expected an integer >= 1 and <= 900"),
    (("token", "--email", EMAIL, "--secret", "k", "--ttl", "3600"), "--ttl", "3600 is out of range"),
    (("local", "--port", "70000"), "--port", "expected an integer >= 0 and <= 65535"),
    (("local", "--idle-timeout", "0"), "--idle-timeout", "expected a number > 0"),
    (("local", "--integration-timeout", "inf"), "--integration-timeout", "inf is out of range"),
    (("local", "--max-frame-bytes", "-1"), "--max-frame-bytes", "expected an integer >= 1"),
    (("local", "--management-latency-ms", "-5"), "--management-latency-ms", "expected a number >= 0 and <= 10000"),
    (("cost", "--users", "-1", "--minutes", "5", "--messages", "1"), "--users", "expected an integer >= 0"),
    (("cost", "--users", "10", "--minutes", "nan", "--messages", "1"), "--minutes", "nan is out of range"),
    ((*COST, "--database-awake-hours", "25"), "--database-awake-hours", "expected a number >= 0 and <= 24"),
    ((*COST, "--message-size", "200000"), "--message-size", "expected an integer >= 1 and <= 131072"),
    ((*COST, "--memory", "64"), "--memory", "expected an integer >= 128 and <= 10240"),
    ((*COST, "--days", "0"), "--days", "expected an integer >= 1 and <= 31"),
    ((*COST, "--connections-per-user", "-0.5"), "--connections-per-user", "expected a number >= 0"),
    (("migrate", "--timeout", "0"), "--timeout", "expected an integer >= 1 and <= 86400"),
]


@pytest.mark.parametrize(
    ("args", "option", "expected"),
    BAD_NUMBERS,
    ids=[f"{args[0]} {option} {args[args.index(option) + 1]}" for args, option, _ in BAD_NUMBERS],
)
def test_bad_numbers_are_usage_errors(args: tuple[str, ...], option: str, expected: str) -> None:
    assert_usage_error(wsctl(*args), option, expected)


def test_local_defaults_are_the_gateway_limits() -> None:
    args = build_parser().parse_args(["local"])
    assert limits_from_args(args) == GatewayLimits()
    assert args.two_way_route is None  # cmd_local then uses the gateway's default, {"$default"}


def test_local_two_way_route_must_be_a_route(tmp_path: Path) -> None:
    result = wsctl("local", "--port", "0", "--two-way-route", "subscribe",
                   "--database-url", f"sqlite:///{tmp_path / 'x.db'}")
    assert_clean_error(result, "two-way routes ['subscribe']")


def test_token_is_verifiable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONNECT_TOKEN_SECRET", raising=False)
    monkeypatch.delenv("CONNECT_TOKEN_SECRET_ARN", raising=False)
    token = wsctl("token", "--email", " CLI@Example.com ", "--type", "general", "--secret", "k").stdout.strip()
    assert verify_token("k", token, EMAIL, "general") > 0
    from_env = wsctl("token", "--email", EMAIL, "--json", env={"CONNECT_TOKEN_SECRET": "env-secret"})
    document = json.loads(from_env.stdout)
    assert verify_token("env-secret", document["token"], EMAIL, "email-verification") > 0
    assert_clean_error(wsctl("token", "--email", EMAIL), "CONNECT_TOKEN_SECRET")


def test_token_refuses_types_and_emails_the_service_rejects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALLOWED_CONNECTION_TYPES", raising=False)
    bogus = wsctl("token", "--email", EMAIL, "--type", "bogus", "--secret", "k")
    assert_clean_error(bogus, "--type 'bogus'", "email-verification, general", "ALLOWED_CONNECTION_TYPES")
    assert bogus.stdout == ""  # no token minted
    assert_clean_error(wsctl("token", "--email", "not-an-email", "--secret", "k"), "email")
    custom = {"ALLOWED_CONNECTION_TYPES": "alerts,digest"}
    assert_clean_error(wsctl("token", "--email", EMAIL, "--type", "general", "--secret", "k", env=custom),
                       "alerts, digest")
    token = wsctl("token", "--email", EMAIL, "--type", " digest ", "--secret", "k", "--json", env=custom)
    document = json.loads(token.stdout)
    assert document["type"] == "digest"
    assert verify_token("k", document["token"], EMAIL, "digest") > 0


# --- store commands ---------------------------------------------------------------------------
def test_migrate_is_idempotent(sqlite_database_url: str) -> None:
    first = wsctl("migrate", "--database-url", sqlite_database_url, "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["applied"]
    second = wsctl("migrate", "--database-url", sqlite_database_url)
    assert second.stdout.strip() == "schema already up to date"


def test_migrate_waits_for_the_migration_lock_as_long_as_timeout_says(pg_database_url: str) -> None:
    import psycopg

    from websocket_service.store.postgres import MIGRATION_LOCK
    from websocket_service.store.schema import load_migrations

    assert build_parser().parse_args(["migrate"]).timeout == 600  # not the Lambda's 20 s
    with psycopg.connect(pg_database_url) as other_migrator:  # not autocommit: holds the lock until rollback
        other_migrator.execute(MIGRATION_LOCK)
        blocked = wsctl("migrate", "--database-url", pg_database_url, "--timeout", "1")
        other_migrator.rollback()
    assert_clean_error(blocked, "migrate waited 1000 ms for the migration lock", "another migration holds the lock")
    applied = wsctl("migrate", "--database-url", pg_database_url, "--timeout", "30", "--json")
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["applied"] == [m.version for m in load_migrations("postgres")]


def _local_tcp_ports(pid: int) -> list[int]:
    """Local TCP ports of the sockets process ``pid`` holds (from /proc: its fds' socket inodes)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _as_if_from_a_terminal() -> None:
    """``preexec_fn``: SIGINT back to its default in the child, as a terminal's foreground job has it.

    A non-interactive shell starts background jobs (``make test &``, CI runners, job wrappers) with
    SIGINT ignored, the child inherits that, and Python installs no KeyboardInterrupt handler for an
    ignored signal: the SIGINT the test sends was then silently dropped and the test timed out
    (it "failed under load" when run in the background, and passed when run alone in a terminal).
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_a_command_is_one_line_and_exit_130(pg_database_url: str, postgres_url: str) -> None:
    """Interrupting a blocked migrate (any command but `local`) ends cleanly, like a shell tool."""
    import time

    import psycopg

    from websocket_service.store.postgres import MIGRATION_LOCK

    with psycopg.connect(pg_database_url) as other_migrator:  # holds the migration lock until rollback
        other_migrator.execute(MIGRATION_LOCK)
        process = subprocess.Popen([str(WSCTL), "migrate", "--database-url", pg_database_url, "--timeout", "60"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   preexec_fn=_as_if_from_a_terminal)
        try:
            with psycopg.connect(postgres_url, autocommit=True) as observer:
                deadline = time.monotonic() + 30
                while not observer.execute(  # wait until *this* wsctl waits on the lock (others share the server)
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE l.locktype = 'advisory' AND NOT l.granted AND a.client_port = ANY(%s)",
                    (_local_tcp_ports(process.pid),),
                ).fetchone()[0]:
                    assert time.monotonic() < deadline, "wsctl migrate never waited for the lock"
                    time.sleep(0.05)
            process.send_signal(signal.SIGINT)
            _out, err = process.communicate(timeout=30)
        finally:
            process.kill()
        other_migrator.rollback()
    assert process.returncode == 130
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "wsctl migrate: interrupted"


def test_bad_database_url_is_one_clear_line() -> None:
    assert_clean_error(wsctl("connections", "--database-url", "mysql://db/x"), "DATABASE_URL")


def _stale_connection(store: ConnectionStore, connection_id: str, hours_ago: float) -> None:
    store.add(
        NewConnection(connection_id, EMAIL, "general", datetime.now(timezone.utc) - timedelta(hours=hours_ago)),
        active_limit=100,
    )


def test_cleanup_dry_run_counts_then_cleanup_expires(sqlite_store: ConnectionStore, sqlite_database_url: str) -> None:
    _stale_connection(sqlite_store, "STALEAAAAAAAAAA=", hours_ago=5)  # older than the 120-minute TTL
    _stale_connection(sqlite_store, "FRESHAAAAAAAAAA=", hours_ago=0)
    dry = wsctl("cleanup", "--dry-run", "--json", "--database-url", sqlite_database_url)
    assert json.loads(dry.stdout) == {"expired": 1, "purged": 0, "dry_run": True, "purged_messages": 0,
                                      "complete": True, "batches": 0, "longest_batch_ms": 0.0, "elapsed_ms": 0.0,
                                      "paused_ms": 0.0}
    assert sqlite_store.get("STALEAAAAAAAAAA=").is_active  # type: ignore[union-attr]
    real = wsctl("cleanup", "--database-url", sqlite_database_url)
    assert real.stdout.strip() == "expired 1 idle connection(s), purged 0 old row(s) and 0 expired replay message(s)"
    assert not sqlite_store.get("STALEAAAAAAAAAA=").is_active  # type: ignore[union-attr]
    assert sqlite_store.get("FRESHAAAAAAAAAA=").is_active  # type: ignore[union-attr]


# --- against a running gateway ----------------------------------------------------------------
def _client_url(gateway: LocalGateway, email: str, connection_type: str = "email-verification") -> str:
    return f"{gateway.url}?email={email}&type={connection_type}"


def test_notify_pushes_to_the_dialog(gateway: LocalGateway, sqlite_database_url: str) -> None:
    async def scenario() -> tuple[subprocess.CompletedProcess[str], Any]:
        async with connect(_client_url(gateway, EMAIL)) as ws:
            result = await asyncio.to_thread(
                wsctl, "notify", "--email", EMAIL, "--json",
                "--endpoint", gateway.management_endpoint, "--database-url", sqlite_database_url,
            )
            return result, json.loads(await ws.recv())

    result, pushed = run(scenario())
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer == {
        "ok": True, "sent": 1, "gone": 0, "failed": 0, "undelivered": 0, "complete": True,
        "messageId": answer["messageId"], "kept": True, "endpoint": gateway.management_endpoint}
    assert pushed == {"type": "email-verified", "email": EMAIL, "messageId": answer["messageId"]}
    assert result.stderr == ""  # issue 14: --json writes no EMF or INFO record on stderr, only real warnings


def test_notify_prints_one_human_line_without_metric_records(gateway: LocalGateway, sqlite_database_url: str) -> None:
    """Issue 11: the human output is one line per result; the EMF metric record stays behind --json."""
    async def scenario() -> subprocess.CompletedProcess[str]:
        async with connect(_client_url(gateway, EMAIL)), connect(_client_url(gateway, EMAIL)):
            return await asyncio.to_thread(
                wsctl, "notify", "--email", EMAIL, "--endpoint", gateway.management_endpoint,
                "--database-url", sqlite_database_url,
            )

    result = run(scenario())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{EMAIL} (email-verification): delivered to 2 connections via {gateway.management_endpoint}"]
    assert "_aws" not in result.stderr and "{" not in result.stderr  # no EMF, no JSON log lines


def test_local_management_methods_option_and_env() -> None:
    parser = build_parser()
    assert parser.parse_args(["local", "--management-methods", "post,delete"]).management_methods == ("POST", "DELETE")
    assert parser.parse_args(["local"]).management_methods is None  # then MANAGEMENT_API_METHODS, else POST,GET
    refused = wsctl("local", "--management-methods", "GET")
    assert refused.returncode == 2
    assert "argument --management-methods: 'GET' lacks POST; the function needs it to push" in refused.stderr


def test_local_replay_options_set_the_handlers_settings() -> None:
    parser = build_parser()
    args = parser.parse_args(["local", "--replay-window", "0", "--replay-without-tokens"])
    assert replay_environment(args) == {"REPLAY_WINDOW_MINUTES": "0", "REPLAY_WITHOUT_TOKENS": "true"}
    assert replay_environment(parser.parse_args(["local"])) == {}  # the environment's own values apply
    refused = wsctl("local", "--replay-window", "1441")
    assert refused.returncode == 2 and "argument --replay-window: 1441 is out of range" in refused.stderr


def test_notify_with_message_and_without_listeners(gateway: LocalGateway, sqlite_database_url: str) -> None:
    args = ("--endpoint", gateway.management_endpoint, "--database-url", sqlite_database_url)
    nobody = wsctl("notify", "--email", EMAIL, *args)
    assert nobody.returncode == 0 and "nothing sent" in nobody.stdout
    assert_clean_error(wsctl("notify", "--email", EMAIL, "--type", "general", *args), "--message")
    assert_clean_error(wsctl("notify", "--email", "nope", *args), "email")
    assert_clean_error(wsctl("notify", "--email", EMAIL, "--type", "bogus", *args),
                       "--type 'bogus'", "email-verification, general")
    assert_clean_error(wsctl("notify", "--email", EMAIL, "--endpoint", "wss://x.example.com/prod",
                             "--database-url", sqlite_database_url), "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT")


def test_notify_require_delivery_fails_when_nobody_received_it(gateway: LocalGateway, sqlite_database_url: str) -> None:
    args = ("notify", "--email", EMAIL, "--endpoint", gateway.management_endpoint, "--database-url", sqlite_database_url)
    nobody = wsctl(*args, "--require-delivery")
    assert nobody.returncode == 1 and "nothing sent" in nobody.stdout
    assert nobody.stderr.strip() == (
        f"wsctl notify: nothing delivered to {EMAIL} (email-verification) and --require-delivery was given")

    async def scenario() -> subprocess.CompletedProcess[str]:
        async with connect(_client_url(gateway, EMAIL)) as ws:
            result = await asyncio.to_thread(wsctl, *args, "--require-delivery")
            await ws.recv()
            return result

    delivered = run(scenario())
    assert delivered.returncode == 0, delivered.stderr


@pytest.mark.parametrize("message", ['{"type":"email-verified"', "[1, 2", '  {"type": oops}'])
def test_notify_refuses_a_message_that_starts_like_json_but_is_not(message: str, sqlite_database_url: str) -> None:
    """A typo in a JSON message is a usage error (exit 2, the JSON error named), never sent as text."""
    result = wsctl("notify", "--email", EMAIL, "--message", message, "--database-url", sqlite_database_url)
    assert_usage_error(result, "--message", "starts like JSON but is not valid JSON: ")
    assert re.search(r"line 1 column \d+", result.stderr)


def test_notify_text_that_does_not_start_like_json_is_still_text() -> None:
    from wsctl.cli import _message_option

    assert _message_option("hello {world}") == "hello {world}"
    assert _message_option('{"ok": true}') == '{"ok": true}'


def test_connections_on_an_unmigrated_database_says_to_run_wsctl_migrate(tmp_path: Path) -> None:
    result = wsctl("connections", "--database-url", f"sqlite:///{tmp_path / 'fresh.db'}")
    assert_clean_error(result, "run `wsctl migrate` (same --database-url)")
    assert '{"action": "migrate"}' not in result.stderr


@pytest.mark.parametrize("command", [("connections",), ("migrate",), ("local", "--port", "0")])
def test_a_sqlite_url_in_a_missing_folder_is_refused_not_created(tmp_path: Path, command: tuple[str, ...]) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    result = wsctl(*command, "--database-url", f"sqlite:///{missing / 'x.db'}")
    assert_clean_error(result, f"the folder of the SQLite database does not exist: {missing}")
    assert not (tmp_path / "no").exists()


def test_version_comes_from_the_package_metadata() -> None:
    from importlib import metadata

    result = wsctl("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wsctl {metadata.version('websocket-notifications')}"


def test_a_closed_pipe_exits_quietly_with_141() -> None:
    """``wsctl ... | head``: the reader left before wsctl wrote; no traceback, the SIGPIPE status."""
    reader, writer = os.pipe()
    os.close(reader)  # the reader has gone before wsctl writes a byte
    try:
        process = subprocess.run([str(WSCTL), *COST], stdout=writer, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(writer)
    assert process.returncode == 141
    assert process.stderr == ""


def test_notify_treats_any_loopback_endpoint_as_the_local_gateway(
    start_gateway: Callable[..., LocalGateway], sqlite_database_url: str, tmp_path: Path
) -> None:
    gateway = start_gateway(host="127.0.0.2")  # all of 127.0.0.0/8 is loopback
    no_credentials = {  # boto3 finds no credentials: wsctl must supply the dummy ones itself
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }

    async def scenario() -> tuple[subprocess.CompletedProcess[str], Any]:
        async with connect(_client_url(gateway, EMAIL)) as ws:
            result = await asyncio.to_thread(
                wsctl, "notify", "--email", EMAIL, "--json", "--endpoint", gateway.management_endpoint,
                "--database-url", sqlite_database_url, env=no_credentials, unset=(*DUMMY_AWS_ENV, "AWS_SESSION_TOKEN"),
            )
            return result, json.loads(await ws.recv())

    assert gateway.management_endpoint.startswith("http://127.0.0.2:")
    result, pushed = run(scenario())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sent"] == 1
    assert pushed == {"type": "email-verified", "email": EMAIL, "messageId": pushed["messageId"]}  # kept for replay


def test_connections_lists_and_filters(gateway: LocalGateway, recorder: Recorder, sqlite_database_url: str) -> None:
    def listing(*args: str) -> list[dict[str, Any]]:
        return json.loads(wsctl("connections", "--json", "--database-url", sqlite_database_url, *args).stdout)

    async def scenario() -> None:
        async with connect(_client_url(gateway, "stays@example.com", "general")):
            async with connect(_client_url(gateway, "leaves@example.com")) as leaving:
                await leaving.close(4000, "done")
            await asyncio.to_thread(recorder.wait_for_route, "$disconnect")
            assert [c["email"] for c in await asyncio.to_thread(listing, "--active")] == ["stays@example.com"]
            closed = await asyncio.to_thread(listing, "--inactive")
            assert [(c["email"], c["disconnect_status_code"]) for c in closed] == [("leaves@example.com", 4000)]
            assert [c["type"] for c in await asyncio.to_thread(listing, "--email", "STAYS@example.com")] == ["general"]
            text = (await asyncio.to_thread(wsctl, "connections", "--database-url", sqlite_database_url)).stdout
            assert "stays@example.com" in text and "leaves@example.com" in text and "4000" in text

    run(scenario())


def test_gateway_with_postgres(start_gateway: Callable[..., LocalGateway], pg_store: ConnectionStore,
                               pg_database_url: str) -> None:
    gateway = start_gateway(database_url=pg_database_url)

    async def scenario() -> str:
        async with connect(_client_url(gateway, EMAIL)) as ws:
            result = await asyncio.to_thread(
                wsctl, "notify", "--email", EMAIL, "--endpoint", gateway.management_endpoint,
                "--database-url", pg_database_url,
            )
            assert result.stdout.startswith(f"{EMAIL} (email-verification): delivered to 1 connection via"), result.stderr
            return await ws.recv()

    assert json.loads(run(scenario()))["type"] == "email-verified"
    rows = pg_store.list_connections(user_email=EMAIL)
    assert len(rows) == 1 and rows[0].stage == "prod"


# --- wsctl local ----------------------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_wsctl_local_runs_until_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: int) -> None:
    """Issue 10: on SIGTERM (a service manager, a container stop) or Ctrl+C every client gets a 1001
    close frame and its $disconnect runs (row inactive) before the process exits."""
    monkeypatch.delenv("CONNECT_TOKEN_SECRET", raising=False)
    database_url = f"sqlite:///{tmp_path / 'local.db'}"
    process = subprocess.Popen(
        [str(WSCTL), "local", "--port", "0", "--database-url", database_url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        banner = []
        while not banner or not banner[-1].startswith("Press Ctrl+C"):
            try:
                banner.append(lines.get(timeout=WAIT_S).rstrip())
            except queue.Empty:
                pytest.fail(f"wsctl local printed no banner; stderr: {process.stderr.read() if process.poll() is not None else ''}")  # type: ignore[union-attr]
        text = "\n".join(banner)
        ws_url = re.search(r"WebSocket URL:\s+(ws://127\.0\.0\.1:\d+/prod)", text).group(1)  # type: ignore[union-attr]
        port = ws_url.rsplit(":", 1)[1].split("/")[0]
        assert f"Management endpoint:  http://127.0.0.1:{port}/prod" in text
        assert f"-m websockets \"{ws_url}?email=you%40example.com&type=email-verification\"" in text
        # Issue 14: a store other than the default is in the printed commands, so following them works.
        command = printed_wsctl(WSCTL)
        assert f"  {command} notify --email you@example.com --endpoint http://127.0.0.1:{port}/prod --database-url {database_url}\n" in text
        assert f"  {command} connections --active --database-url {database_url}\n" in text
        assert "sqlite:///" in text
        assert f"Console:              http://127.0.0.1:{port}/console" in text
        assert "@connections methods: POST, GET" in text

        async def scenario() -> None:
            async with connect(f"{ws_url}?email={EMAIL}&type=general") as ws, \
                    connect(f"{ws_url}?email={EMAIL}&type=email-verification") as dialog:
                for client in (ws, dialog):
                    await client.send('{"action":"ping"}')
                    assert await client.recv() == '{"type":"pong"}'
                process.send_signal(signum)  # stop with both clients still connected
                for client in (ws, dialog):
                    await client.wait_closed()
                    assert client.close_code == 1001

        run(scenario())
        assert process.wait(timeout=WAIT_S * 4) == 0  # bounded: stop_timeout_s is 39 s at most
        stderr = process.stderr.read()  # type: ignore[union-attr]
        assert "Traceback" not in stderr
        assert "stopping: closing 2 connections (1001)" in stderr and stderr.rstrip().endswith("stopped")
        store = open_store(database_url)
        try:
            rows = store.list_connections(user_email=EMAIL)
            assert len(rows) == 2
            assert all(not row.is_active and row.disconnect_status_code == 1001 for row in rows)  # $disconnect ran
        finally:
            store.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_wsctl_local_reports_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = wsctl("local", "--port", port, "--database-url", f"sqlite:///{tmp_path / 'busy.db'}")
    assert_clean_error(result, f"cannot listen on 127.0.0.1:{port}")


@pytest.mark.parametrize(("args", "env"), [
    (["--secret", ""], {}),
    (["--secret", "   "], {}),
    ([], {"CONNECT_TOKEN_SECRET": "  "}),
])
def test_wsctl_token_refuses_a_blank_secret(args, env, monkeypatch, capsys):
    """``wsctl token`` reads the secret with the function's own reader: blank is an error, exit 1."""
    from wsctl.cli import main

    for name in ("CONNECT_TOKEN_SECRET", "CONNECT_TOKEN_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["token", "--email", "a@example.com", *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("wsctl token: error: ") and "blank" in err and "v1." not in err


def test_the_banners_hints_name_wsctl_as_this_shell_can_run_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """``make local`` and ``.venv/bin/wsctl local`` run without an activated venv: the "Try it"
    hints then say ``.venv/bin/wsctl``, not a ``wsctl`` the shell cannot find."""
    from wsctl.cli import wsctl_command

    monkeypatch.setattr(sys, "argv", [".venv/bin/wsctl", "local"])
    monkeypatch.chdir(WSCTL.parent.parent.parent)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert wsctl_command() == ".venv/bin/wsctl"
    monkeypatch.setenv("PATH", f"{WSCTL.parent}{os.pathsep}/usr/bin")
    assert wsctl_command() == "wsctl"  # PATH finds this very program
    monkeypatch.setattr(sys, "argv", [str(Path(__file__).parents[2] / "wsctl" / "__main__.py"), "local"])
    assert wsctl_command() == f"{sys.executable} -m wsctl"
