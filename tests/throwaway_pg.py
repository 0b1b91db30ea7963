"""A throwaway PostgreSQL cluster (and optionally pgbouncer in front of it) for fault tests.

Never the shared server on 5432: :class:`ThrowawayCluster` runs ``initdb`` + ``pg_ctl`` from
``/usr/lib/postgresql/15/bin`` on a free port in its own temporary folder, with trust auth and a
small ``max_connections``; tests may stop, restart, freeze (SIGSTOP) and kill it. Everything is
stopped by pid and deleted in :meth:`ThrowawayCluster.destroy`. The server refuses to run as root,
so when the tests run as root the binaries run as the ``postgres`` user (``runuser``).

:class:`Pgbouncer` runs Debian's ``pgbouncer`` in TRANSACTION pooling mode in front of a cluster,
with its default ``ignore_startup_parameters`` (it refuses a startup ``options`` parameter, as
RDS Proxy does). Missing binaries fail the test with the command that installs them.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
RUN_AS = "postgres"
"""The unprivileged user the servers run as when the tests run as root."""


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", RUN_AS, "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(_as_server_user(command), capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        pytest.fail(f"{what} failed ({done.returncode}): {done.stdout}{done.stderr}", pytrace=False)


def _wait_for_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"nothing answers on 127.0.0.1:{port} after {timeout_s} s", pytrace=False)


class ThrowawayCluster:
    """A PostgreSQL 15 cluster of its own, on a free port, under a temporary folder."""

    def __init__(self, *, max_connections: int = 20) -> None:
        if not (PG_BIN / "initdb").exists():
            pytest.fail(f"{PG_BIN}/initdb is missing: apt-get install -y postgresql-15", pytrace=False)
        self.root = Path(tempfile.mkdtemp(prefix="wst-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.max_connections = max_connections
        if os.geteuid() == 0:
            account = pwd.getpwnam(RUN_AS)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        _run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
              "--no-sync"], "initdb")
        self.start()

    @property
    def url(self) -> str:
        """URL of the ``postgres`` database as user ``postgres`` (no TLS: a local throwaway)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres?sslmode=disable"

    @property
    def postmaster_pid(self) -> int:
        """The pid the server wrote to ``postmaster.pid``."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c max_connections={self.max_connections} "
                   f"-c unix_socket_directories={self.root} -c fsync=off -c full_page_writes=off")
        _run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
              "-w", "-t", "30", "start"], "pg_ctl start")

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions are disconnected)."""
        _run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop"], "pg_ctl stop")

    def destroy(self) -> None:
        """Stop the server by its pid (SIGCONT first, in case a test froze it) and delete the folder."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            pid = self.postmaster_pid
            for sig in (signal.SIGCONT, signal.SIGQUIT):  # SIGQUIT: immediate shutdown
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
            deadline = time.monotonic() + 15
            while pid_file.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        shutil.rmtree(self.root, ignore_errors=True)


class Pgbouncer:
    """pgbouncer in transaction pooling mode in front of ``cluster`` (database ``postgres``)."""

    def __init__(self, cluster: ThrowawayCluster, *, pool_size: int = 4, max_client_conn: int = 200) -> None:
        if not os.path.exists(PGBOUNCER):
            pytest.fail("pgbouncer is missing: apt-get install -y pgbouncer (make test installs it)", pytrace=False)
        self.port = free_port()
        self.root = cluster.root
        config = self.root / "pgbouncer.ini"
        (self.root / "userlist.txt").write_text('"postgres" ""\n')
        config.write_text(
            "[databases]\n"
            f"postgres = host=127.0.0.1 port={cluster.port} dbname=postgres user=postgres\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.root / 'userlist.txt'}\n"
            f"pool_mode = transaction\ndefault_pool_size = {pool_size}\nmax_client_conn = {max_client_conn}\n"
            f"logfile = {self.root / 'pgbouncer.log'}\npidfile = {self.root / 'pgbouncer.pid'}\n"
        )
        if os.geteuid() == 0:
            account = pwd.getpwnam(RUN_AS)
            for path in (config, self.root / "userlist.txt"):
                os.chown(path, account.pw_uid, account.pw_gid)
        _run([PGBOUNCER, "-d", str(config)], "pgbouncer")
        _wait_for_port(self.port)

    @property
    def url(self) -> str:
        """URL of database ``postgres`` through pgbouncer."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres?sslmode=disable"

    def stop(self) -> None:
        """Stop pgbouncer by its pid."""
        pid_file = self.root / "pgbouncer.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.05)


def take_all_slots(url: str) -> list["object"]:
    """Open connections to ``url`` until the server refuses one for lack of slots; return them
    (the caller closes them, e.g. with :func:`close_and_wait`)."""
    import psycopg

    held = []
    while True:
        try:
            held.append(psycopg.connect(url, connect_timeout=3))
        except psycopg.OperationalError as exc:
            if "too many clients" not in str(exc):
                raise
            return held


def close_and_wait(admin: "object", conns: list["object"]) -> None:
    """Close ``conns`` and wait (bounded) until their server processes have left, so their slots
    are really free; ``admin`` is another connection to the same server."""
    pids = [conn.info.backend_pid for conn in conns]  # type: ignore[attr-defined]
    for conn in conns:
        conn.close()  # type: ignore[attr-defined]
    wait_until_gone(admin, "pid = ANY(%s)", pids)


def wait_until_gone(admin: "object", condition: str, value: object) -> None:
    """Wait (at most 5 s, then fail) until no row of pg_stat_activity matches ``condition``."""
    for _ in range(200):
        query = f"SELECT count(*) FROM pg_stat_activity WHERE {condition}"
        row = admin.execute(query, (value,)).fetchone()  # type: ignore[attr-defined]
        if row == (0,):
            return
        time.sleep(0.025)
    pytest.fail(f"server processes matching {condition} {value!r} did not exit")
