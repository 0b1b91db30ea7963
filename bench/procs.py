"""Child processes the benchmarks drive: JSON lines on stdout, commands on stdin, every wait bounded.

:class:`Child` starts a process, drains its stdout in a thread (so a chatty child never blocks on
a full pipe) and hands back the lines that are JSON objects, or the first line matching a pattern.
Stopping signals the child by its own pid and kills it if it does not exit in time.
"""
from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT_S = 15
PROFILED_STOP_TIMEOUT_S = 120
"""A gateway under cProfile may still be running the $disconnect of many clients when stopped."""


class ChildError(RuntimeError):
    """A benchmark child process died, printed an error or did not answer in time."""


class Child:
    """A running child process; use as a context manager so it is always stopped."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, name: str = "") -> None:
        self.name = name or Path(argv[0]).name
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._tail: list[str] = []
        self.process = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1, cwd=ROOT, env=dict(env if env is not None else os.environ),
        )
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    @property
    def tail(self) -> list[str]:
        """The child's last few output lines."""
        return self._tail[-5:]

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.process.pid

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._tail = (self._tail + [line.rstrip()])[-20:]
            self._lines.put(line)
        self._lines.put(None)

    def _next_line(self, deadline: float) -> str:
        try:
            line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise ChildError(f"{self.name} gave no answer in time; last output: {self._tail[-5:]}") from None
        if line is None:
            raise ChildError(f"{self.name} exited ({self.process.poll()}); last output: {self._tail[-10:]}")
        return line

    def wait_for(self, pattern: str, *, timeout_s: float) -> re.Match[str]:
        """The first output line matching the regular expression ``pattern``."""
        deadline = time.monotonic() + timeout_s
        compiled = re.compile(pattern)
        while True:
            match = compiled.search(self._next_line(deadline))
            if match:
                return match

    def event(self, *, timeout_s: float) -> dict[str, Any]:
        """The next output line that is a JSON object with an ``event`` key."""
        deadline = time.monotonic() + timeout_s
        while True:
            line = self._next_line(deadline).strip()
            if line.startswith("{"):
                try:
                    document = json.loads(line)
                except ValueError:
                    continue
                if isinstance(document, dict) and "event" in document:
                    if document["event"] == "error":
                        raise ChildError(f"{self.name}: {document.get('message')}")
                    return document

    def send(self, command: str) -> None:
        """Write one command line to the child's stdin."""
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def ask(self, command: str, *, timeout_s: float) -> dict[str, Any]:
        """Send ``command`` and return the next event."""
        self.send(command)
        return self.event(timeout_s=timeout_s)

    def rss_kb(self) -> int:
        """The child's resident set size (VmRSS) in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise ChildError(f"{self.name} has no VmRSS (exited?)")

    def stop(self) -> None:
        """SIGTERM (then SIGKILL after :data:`STOP_TIMEOUT_S`) this child, by its pid."""
        self.stop_with(signal.SIGTERM)

    def stop_with(self, sig: int, *, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Send ``sig`` (then SIGKILL after ``timeout_s``) to this child, by its pid."""
        if self.process.poll() is None:
            try:
                self.process.send_signal(sig)
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass

    def __enter__(self) -> "Child":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the block (the in-process handler reads them); restore the
    previous values, or their absence, afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def python_child(module: str, *args: str, env: Mapping[str, str] | None = None) -> Child:
    """``python -m module args...`` as a :class:`Child` (unbuffered output)."""
    full_env = dict(env if env is not None else os.environ)
    full_env["PYTHONUNBUFFERED"] = "1"
    return Child([sys.executable, "-m", module, *args], env=full_env, name=module)


def emit(**document: Any) -> None:
    """For children: print one JSON event line."""
    print(json.dumps(document), flush=True)


WSCTL = Path(sys.executable).with_name("wsctl")
GATEWAY_START_TIMEOUT_S = 60
PRODUCTION_LOG_LEVEL = "INFO"
"""The handler's log level in the stack (its default): benchmarks run the handler at it, so its log lines are paid for."""
BENCH_AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
"""Dummy credentials: boto3 signs requests even to the local gateway, which does not check them."""


class LocalGatewayChild(Child):
    """``wsctl local`` on a free port in a process of its own, with its URLs read from its banner."""

    def __init__(self, *, database_url: str, latency_ms: float = 0, env: Mapping[str, str] | None = None,
                 profile_path: Path | None = None, handler: str | None = None) -> None:
        """``profile_path``: run under cProfile and write its stats there when stopped (SIGINT);
        ``handler``: ``--handler`` (a ``bench.`` module is importable: the repository is on PYTHONPATH)."""
        full_env = {**os.environ, **BENCH_AWS_ENV, "LOG_LEVEL": "ERROR", "PYTHONUNBUFFERED": "1", **(env or {})}
        if handler:
            full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), full_env.get("PYTHONPATH", "")]))
        profiler = [sys.executable, "-m", "cProfile", "-o", str(profile_path)] if profile_path else []
        self._stop_signal = signal.SIGINT if profile_path else signal.SIGTERM
        super().__init__(
            [*profiler, str(WSCTL), "local", "--port", "0", "--database-url", database_url,
             "--management-latency-ms", str(latency_ms), "--log-level", "ERROR",
             *(["--handler", handler] if handler else [])],
            env=full_env, name="wsctl local",
        )
        try:
            self.url = self.wait_for(r"WebSocket URL:\s+(ws://\S+)", timeout_s=GATEWAY_START_TIMEOUT_S)[1]
            self.management_endpoint = self.wait_for(r"Management endpoint:\s+(http://\S+)",
                                                     timeout_s=GATEWAY_START_TIMEOUT_S)[1]
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the gateway: SIGINT when profiled (Ctrl+C lets cProfile write its stats), else SIGTERM."""
        if self._stop_signal == signal.SIGINT:
            self.stop_with(signal.SIGINT, timeout_s=PROFILED_STOP_TIMEOUT_S)
        else:
            self.stop_with(signal.SIGTERM)
