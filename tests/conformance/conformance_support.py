"""Helpers of the conformance suite: the target under test and the Node client (see conftest.py)."""
from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import pytest
from botocore.config import Config

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NODE_CLIENT = Path(__file__).with_name("node_client.mjs")
WSCTL = Path(sys.executable).with_name("wsctl")
WAIT_S = 30.0
"""Failure bound for a subprocess to answer (never a timing assertion)."""


@dataclass(frozen=True)
class Target:
    """The two URLs under test, plus how to find a client's connection id."""

    ws_url: str
    management_endpoint: str
    console_url: str | None = None
    database_url: str | None = None
    token_secret: str | None = None

    @property
    def local(self) -> bool:
        return self.console_url is not None

    def client_url(self, email: str, connection_type: str = "email-verification") -> str:
        """The URL a client connects to, with the query (and a token when the target needs one)."""
        query = f"email={quote(email)}&type={connection_type}"
        if self.token_secret:
            from websocket_service.tokens import mint_token

            query += f"&token={quote(mint_token(self.token_secret, email, connection_type))}"
        return f"{self.ws_url}?{query}"

    def connection_ids(self, email: str, connection_type: str = "email-verification") -> list[str]:
        """Ids of the open connections of ``email`` (console API locally, the database when deployed)."""
        if self.console_url is not None:
            with urllib.request.urlopen(f"{self.console_url}/api/connections", timeout=10) as answer:
                snapshot = json.load(answer)
            return [c["connectionId"] for c in snapshot["connections"]
                    if c["email"] == email and c["type"] == connection_type]
        if not self.database_url:
            pytest.fail("set CONFORMANCE_DATABASE_URL so delivery scenarios can find connection ids in the stack's database")
        from websocket_service.store import open_store

        store = open_store(self.database_url)
        try:
            return store.active_connection_ids(email, connection_type)
        finally:
            store.close()

    def boto3_client(self, endpoint: str | None = None) -> Any:
        """boto3's management client for this target (dummy credentials locally)."""
        endpoint = endpoint or self.management_endpoint
        local = urlsplit(endpoint).scheme == "http"
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or _region_of(endpoint)
        credentials = {"aws_access_key_id": "local", "aws_secret_access_key": "local"} if local else {}
        return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, region_name=region,
                            config=Config(retries={"max_attempts": 1, "mode": "standard"}), **credentials)


def _region_of(endpoint: str) -> str:
    match = re.search(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com", endpoint)
    return match.group(1) if match else "us-east-1"


def node(request: dict[str, Any]) -> dict[str, Any]:
    """Run one operation of ``node_client.mjs``; its JSON answer."""
    if shutil.which("node") is None or not (PROJECT_ROOT / "node_modules" / "ws").exists():
        pytest.fail("the Node client needs node and the pinned npm packages: run make setup (npm ci)")
    result = subprocess.run(["node", str(NODE_CLIENT), json.dumps(request)], capture_output=True, text=True,
                            timeout=60, cwd=PROJECT_ROOT, env={**os.environ, "NODE_NO_WARNINGS": "1"})
    lines = result.stdout.strip().splitlines()
    assert lines, f"node client printed nothing (exit {result.returncode}): {result.stderr}"
    return json.loads(lines[-1])


class NodeListener:
    """A Node ``ws`` client kept open in a subprocess; its received messages arrive on a queue."""

    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(["node", str(NODE_CLIENT), json.dumps({"op": "listen", "url": url})],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
                                        env={**os.environ, "NODE_NO_WARNINGS": "1"})
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.next() == {"open": True}

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self.lines.put(json.loads(line))

    def next(self) -> dict[str, Any]:
        try:
            return self.lines.get(timeout=WAIT_S)
        except queue.Empty:
            pytest.fail(f"the Node listener said nothing within {WAIT_S} s")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=WAIT_S)


