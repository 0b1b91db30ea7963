"""A throwaway PostgreSQL cluster and a pgbouncer in front of it, under a folder of their own.

The one implementation the storm benchmark and the fault, pooling and saturation tests share
(``tests/conftest.py``). Never the shared server: :class:`ThrowawayCluster` runs ``initdb`` +
``pg_ctl`` (binaries in :data:`PG_BIN`) on a free port with the ``max_connections`` asked for; it
can be stopped and started again on the same data and port, frozen by its
:attr:`~ThrowawayCluster.postmaster_pid`, and :meth:`~ThrowawayCluster.destroy` stops it by that pid
and deletes its folder. :class:`Pgbouncer` runs pgbouncer in transaction pooling mode (the usual
stand-in for RDS Proxy; like RDS Proxy it refuses a startup ``options`` parameter) in front of it.
PostgreSQL and pgbouncer refuse to run as root; when run as root both run as the ``postgres`` user.
A missing binary raises :class:`ClusterError` with the command that installs it.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PGBOUNCER = os.environ.get("PGBOUNCER") or shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
"""Debian installs it in /usr/sbin, which is not on every user's PATH."""
RUN_AS = "postgres"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
SUPERUSER = "postgres"
DATABASE = "postgres"


class ClusterError(RuntimeError):
    """The throwaway cluster or pgbouncer could not be set up; the message says what to install."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_owner() -> dict[str, Any]:
    """``subprocess`` arguments that drop root to :data:`RUN_AS` (nothing when not root)."""
    return {"user": RUN_AS, "group": RUN_AS, "extra_groups": []} if os.geteuid() == 0 else {}


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, RUN_AS, RUN_AS)


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _stop_pid(pid: int, sig: int) -> None:
    """Signal a process that is not our child (the daemonised postmaster) and wait until it is gone."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    if not _wait_gone(pid, STOP_TIMEOUT_S):
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, STOP_TIMEOUT_S)


class ThrowawayCluster:
    """A PostgreSQL cluster of our own under ``base``; use as a context manager, or :meth:`start`
    and :meth:`destroy`. ``server_options`` are extra ``postgres`` options (e.g. ``-c fsync=off``)."""

    def __init__(self, base: Path, *, max_connections: int, server_options: str = "") -> None:
        self.base = base
        self.data = base / "data"
        self.max_connections = max_connections
        self.server_options = server_options
        self.port = 0

    @property
    def url(self) -> str:
        """libpq URL of the cluster's ``postgres`` database as the superuser (no TLS: a local throwaway)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}?sslmode=disable"

    @property
    def postmaster_pid(self) -> int | None:
        """The running server's pid (from ``postmaster.pid``), or None when it is stopped."""
        pid_file = self.data / "postmaster.pid"
        return int(pid_file.read_text().split()[0]) if pid_file.exists() else None

    def start(self) -> "ThrowawayCluster":
        """Create the cluster on first use, then start it (on the same port every time) and wait."""
        initdb = PG_BIN / "initdb"
        if not initdb.exists():
            raise ClusterError(f"{initdb} not found: install PostgreSQL 15 (apt-get install -y postgresql) or set PG_BIN")
        if not (self.data / "PG_VERSION").exists():
            self.base.mkdir(parents=True, exist_ok=True)
            _own(self.base)
            subprocess.run([str(initdb), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                            "--no-sync"], check=True, capture_output=True, timeout=START_TIMEOUT_S, **_as_owner())
        self.port = self.port or free_port()
        options = (f"-p {self.port} -c max_connections={self.max_connections} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.base} {self.server_options}")
        subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.base / "postgres.log"),
                        "-w", "-t", str(START_TIMEOUT_S), "start"],
                       check=True, capture_output=True, timeout=START_TIMEOUT_S + 5, **_as_owner())
        return self

    def stop(self) -> None:
        """Fast shutdown (sessions are disconnected), by the postmaster's pid; SIGKILL if it does not
        stop in time. The data stays, so :meth:`start` brings the same cluster back."""
        pid = self.postmaster_pid
        if pid is not None:
            _stop_pid(pid, signal.SIGINT)

    def destroy(self) -> None:
        """Stop the server by its pid (SIGCONT first, in case it was frozen) and delete ``base``."""
        pid = self.postmaster_pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> "ThrowawayCluster":
        try:
            return self.start()
        except BaseException:
            self.destroy()
            raise

    def __exit__(self, *exc: object) -> None:
        self.destroy()


class Pgbouncer:
    """pgbouncer in transaction mode in front of ``cluster``; ``url`` reaches the same database."""

    def __init__(self, base: Path, cluster: ThrowawayCluster, *, pool_size: int, max_clients: int) -> None:
        self.base = base
        self.cluster = cluster
        self.pool_size = pool_size
        self.max_clients = max_clients
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """libpq URL of the pooled database."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}?sslmode=disable"

    def start(self) -> "Pgbouncer":
        binary = shutil.which(PGBOUNCER)
        if binary is None:
            raise ClusterError(f"pgbouncer not found ({PGBOUNCER}): run `make pgbouncer` (apt-get install -y pgbouncer)")
        self.base.mkdir(parents=True, exist_ok=True)
        _own(self.base)
        self.port = free_port()
        users = self.base / "userlist.txt"
        users.write_text(f'"{SUPERUSER}" ""\n')
        config = self.base / "pgbouncer.ini"
        config.write_text("\n".join([
            "[databases]",
            f"{DATABASE} = host=127.0.0.1 port={self.cluster.port} dbname={DATABASE}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {users}",
            "pool_mode = transaction",
            f"default_pool_size = {self.pool_size}",
            f"max_client_conn = {self.max_clients}",
            f"logfile = {self.base / 'pgbouncer.log'}",
            "ignore_startup_parameters = extra_float_digits",
            "",
        ]))
        for path in (users, config):
            _own(path)
        self._process = subprocess.Popen([binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         **_as_owner())
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                log = (self.base / "pgbouncer.log")
                tail = log.read_text().splitlines()[-5:] if log.exists() else []
                raise ClusterError(f"pgbouncer exited with {self._process.returncode}: {tail}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise ClusterError(f"pgbouncer did not listen on port {self.port} within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        """Stop pgbouncer by its pid (SIGTERM: immediate shutdown)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGTERM)  # our child: wait() reaps it (kill(pid, 0) sees zombies)
            try:
                self._process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=STOP_TIMEOUT_S)
            self._process = None

    def __enter__(self) -> "Pgbouncer":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
