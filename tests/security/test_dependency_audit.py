"""The dependency audit's wiring (``scripts/audit-dependencies``, ``make audit``), against a local PyPI.

The real audit needs pypi.org's per-version JSON API, which this project's CI network does not
serve (SECURITY.md), so it is not part of ``make test``. What ``make test`` does check is that the
audit cannot pass silently: the real pip-audit, through the real script, talks TLS to a local
server that answers for ``pypi.org`` (an HTTPS proxy that terminates the tunnel with a throwaway
certificate authority the client is told to trust). It must fail when PyPI cannot say (404), fail
on a known vulnerability, and pass only after asking about every installed package.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from cdk_app.runtime_contract import PROJECT_ROOT

AUDIT = PROJECT_ROOT / "scripts" / "audit-dependencies"
PIP_AUDIT = PROJECT_ROOT / ".venv-tools" / "bin" / "pip-audit"
VULNERABLE = "psycopg"
VULNERABILITY_ID = "PYSEC-0000-TEST"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a ``pypi.org`` server certificate it signs: (ca.pem, cert.pem, key.pem)."""
    if shutil.which("openssl") is None:
        pytest.fail("the audit test needs the openssl command: apt-get install -y openssl")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=audit test CA",
             "-keyout", "ca.key", "-out", "ca.pem", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=pypi.org", "-keyout", "key.pem", "-out", "req.csr",
             cwd=folder)
    (folder / "ext.cnf").write_text("subjectAltName=DNS:pypi.org\nbasicConstraints=CA:FALSE\n"
                                    "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "req.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
             "-extfile", "ext.cnf", "-out", "cert.pem", cwd=folder)
    return folder / "ca.pem", folder / "cert.pem", folder / "key.pem"


@dataclass
class FakePyPI:
    """An HTTPS proxy on loopback that answers every tunnelled request as ``pypi.org`` would."""

    tls: ssl.SSLContext
    mode: str = "404"  # "404", "clean" or "vulnerable"
    paths: list[str] = field(default_factory=list)
    port: int = 0

    def start(self) -> "FakePyPI":
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        client.settimeout(10)
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            if not head.startswith(b"CONNECT pypi.org:443 "):
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            with self.tls.wrap_socket(client, server_side=True) as secure:
                _PyPIHandler(secure, ("127.0.0.1", 0), self)

    def answer(self, path: str) -> tuple[int, dict[str, Any] | None]:
        self.paths.append(path)
        parts = path.strip("/").split("/")  # pypi/{name}/{version}/json
        if self.mode == "404" or len(parts) != 4:
            return 404, None
        name, version = parts[1], parts[2]
        vulnerabilities = []
        if self.mode == "vulnerable" and name == VULNERABLE:
            vulnerabilities = [{"id": VULNERABILITY_ID, "aliases": [], "fixed_in": ["99.0"], "summary": "test advisory",
                                "link": "https://example.invalid", "withdrawn": None}]
        return 200, {"info": {"name": name, "version": version}, "vulnerabilities": vulnerabilities}


class _PyPIHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def __init__(self, request: Any, client_address: Any, fake: FakePyPI) -> None:
        self.fake = fake
        super().__init__(request, client_address, None)  # type: ignore[arg-type]

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        status, document = self.fake.answer(self.path)
        body = json.dumps(document).encode() if document is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
        return


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_certificates(tmp_path_factory.mktemp("audit-ca"))


@pytest.fixture
def fake_pypi(certificates: tuple[Path, Path, Path]) -> Iterator[FakePyPI]:
    _, cert, key = certificates
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    fake = FakePyPI(tls).start()
    yield fake
    fake.stop()


def run_audit(fake: FakePyPI, ca: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    if not PIP_AUDIT.exists():
        pytest.fail(f"pip-audit is not installed at {PIP_AUDIT}: run `make tools` (`make test` does it first)")
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "all_proxy", "http_proxy")}
    env.update(HTTPS_PROXY=f"http://127.0.0.1:{fake.port}", https_proxy=f"http://127.0.0.1:{fake.port}",
               REQUESTS_CA_BUNDLE=str(ca))
    return subprocess.run([str(AUDIT), "--cache-dir", str(cache)], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def installed_packages() -> list[str]:
    frozen = subprocess.run([str(PROJECT_ROOT / ".venv" / "bin" / "pip"), "freeze", "--exclude-editable"],
                            capture_output=True, text=True, check=True, timeout=120).stdout.split()
    return [line for line in frozen if "==" in line]


def test_the_audit_fails_loudly_when_pypi_cannot_say(fake_pypi: FakePyPI, certificates, tmp_path: Path) -> None:
    run = run_audit(fake_pypi, certificates[0], tmp_path)
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "could not be audited" in output and "No known vulnerabilities found" not in output
    assert fake_pypi.paths, "pip-audit never reached the local PyPI"


def test_the_audit_fails_on_a_known_vulnerability(fake_pypi: FakePyPI, certificates, tmp_path: Path) -> None:
    fake_pypi.mode = "vulnerable"
    run = run_audit(fake_pypi, certificates[0], tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert VULNERABILITY_ID in run.stdout and VULNERABLE in run.stdout


def test_the_audit_passes_only_after_asking_about_every_installed_package(
    fake_pypi: FakePyPI, certificates, tmp_path: Path
) -> None:
    fake_pypi.mode = "clean"
    run = run_audit(fake_pypi, certificates[0], tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "No known vulnerabilities found" in run.stderr  # pip-audit prints its verdict on stderr
    packages = installed_packages()
    assert any(p.startswith("psycopg==") for p in packages) and any(p.startswith("aws-cdk-lib==") for p in packages)
    asked = {path.split("/")[2] for path in fake_pypi.paths}
    expected = {p.split("==")[0].lower().replace("_", "-").replace(".", "-") for p in packages}
    assert asked == expected
