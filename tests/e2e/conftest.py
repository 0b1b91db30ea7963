"""Fixtures of the browser tests: headless Chromium (Debian's package) and an in-process gateway."""
from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_support import CHROMIUM, WAIT_S
from local_gateway.background import BackgroundGateway
from local_gateway.server import DUMMY_AWS_ENV, LocalGateway
from websocket_service.config import ENV_CONNECT_TOKEN_SECRET, ENV_DATABASE_URL, ENV_MANAGEMENT_ENDPOINT
from websocket_service.service import reset_service
from websocket_service.store.base import ConnectionStore


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Any]:
    """Factory: start headless Chromium on a URL; return the page's DevTools WebSocket URL."""
    if not CHROMIUM.exists():
        pytest.fail("install Debian's chromium: apt-get install -y chromium")
    processes: list[subprocess.Popen[bytes]] = []

    def launch(url: str) -> str:
        profile = tmp_path / "chromium-profile"
        process = subprocess.Popen(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        processes.append(process)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + WAIT_S
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Chromium did not open its DevTools port (exit status {process.poll()})")
            time.sleep(0.05)
        port = port_file.read_text().splitlines()[0]
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
                pages = [t for t in json.load(answer) if t["type"] == "page" and t["url"].startswith(url)]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            if time.monotonic() > deadline:
                pytest.fail(f"Chromium has no page for {url}")
            time.sleep(0.05)

    yield launch
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, sqlite_database_url: str, sqlite_store: ConnectionStore) -> Iterator[LocalGateway]:
    """The local gateway with the real handler on this test's SQLite store (environment restored after)."""
    monkeypatch.delenv(ENV_CONNECT_TOKEN_SECRET, raising=False)
    monkeypatch.setenv(ENV_DATABASE_URL, sqlite_database_url)
    monkeypatch.setenv(ENV_MANAGEMENT_ENDPOINT, "http://127.0.0.1:9/replaced-by-the-gateway")
    for name, value in DUMMY_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    with BackgroundGateway(LocalGateway(port=0, database_url=sqlite_database_url)) as running:
        yield running
    reset_service()
