"""The conformance suite's target and clients.

By default the target is ``wsctl local`` started as a real subprocess (port 0, a fresh SQLite
file, default settings), stopped with SIGTERM at the end. Set ``CONFORMANCE_WS_URL``
(``wss://{api}.execute-api.{region}.amazonaws.com/{stage}``) and
``CONFORMANCE_MANAGEMENT_ENDPOINT`` (``https://{api}.execute-api.{region}.amazonaws.com/{stage}``)
to run the same scenarios against a deployed stack, with AWS credentials in the environment;
``CONFORMANCE_DATABASE_URL`` then lets the delivery scenarios find a client's connection id in the
stack's database, and ``CONFORMANCE_TOKEN_SECRET`` signs connect tokens when the stack requires them.

Clients: WebSocket scenarios run through Python ``websockets`` and Node ``ws``; management
scenarios through boto3 and the JS SDK v3 (``node_client.mjs``). The AWS CLI is not among them:
awscli 1.x pins botocore exactly and no release matches this project's botocore pin (see README).
"""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance_support import WAIT_S, WSCTL, Target


def _local_target(tmp: Path) -> Iterator[Target]:
    if not WSCTL.exists():
        pytest.fail(f"{WSCTL} is missing: run make setup")
    env = {k: v for k, v in os.environ.items()
           if k not in ("CONNECT_TOKEN_SECRET", "CONNECT_TOKEN_SECRET_ARN", "DATABASE_SECRET_ARN", "MANAGEMENT_API_METHODS")}
    process = subprocess.Popen([str(WSCTL), "local", "--port", "0", "--database-url", f"sqlite:///{tmp / 'conformance.db'}",
                                "--log-level", "WARNING"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    banner = ""
    try:
        while "Press Ctrl+C" not in banner:
            try:
                banner += lines.get(timeout=WAIT_S)
            except queue.Empty:
                pytest.fail(f"wsctl local printed no banner (exit status {process.poll()})")
        ws_url = re.search(r"WebSocket URL:\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
        endpoint = re.search(r"Management endpoint:\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
        console = re.search(r"Console:\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
        yield Target(ws_url=ws_url, management_endpoint=endpoint, console_url=console)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The stack under test: a deployed one from CONFORMANCE_* variables, else ``wsctl local``."""
    ws_url = os.environ.get("CONFORMANCE_WS_URL", "").strip()
    endpoint = os.environ.get("CONFORMANCE_MANAGEMENT_ENDPOINT", "").strip()
    if bool(ws_url) != bool(endpoint):
        pytest.fail("set both CONFORMANCE_WS_URL and CONFORMANCE_MANAGEMENT_ENDPOINT (or neither, to test wsctl local)")
    if ws_url:
        yield Target(ws_url=ws_url.rstrip("/"), management_endpoint=endpoint.rstrip("/"),
                     database_url=os.environ.get("CONFORMANCE_DATABASE_URL") or None,
                     token_secret=os.environ.get("CONFORMANCE_TOKEN_SECRET") or None)
        return
    yield from _local_target(tmp_path_factory.mktemp("conformance"))
