"""The messenger's HTTP client over TLS (https endpoints): verified certificates, keep-alive reuse."""
from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Iterator

import pytest

from tests.functional.helpers import log_lines
from websocket_service.messenger import Messenger

REAL_ID = "BFHPhfCWIAMCKlQ="


class TlsServer:
    """A real TLS listener on 127.0.0.1 answering every request ``200`` (keep-alive); records
    each request's head and body and how many TCP connections it accepted."""

    def __init__(self, cert: Path, key: Path, *, answer: bool = True) -> None:
        """``answer=False``: close every connection once a request arrived, answering nothing."""
        self.answer = answer
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._answer, args=(raw,), daemon=True).start()

    def _answer(self, raw: socket.socket) -> None:
        try:
            with self.context.wrap_socket(raw, server_side=True) as conn:
                buffer = b""
                while True:
                    while b"\r\n\r\n" not in buffer:
                        data = conn.recv(65536)
                        if not data:
                            return
                        buffer += data
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), 0)
                    while len(buffer) < length:
                        buffer += conn.recv(65536)
                    self.requests.append(head + b"\r\n\r\n" + buffer[:length])
                    buffer = buffer[length:]
                    if not self.answer:
                        return
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        except (OSError, ssl.SSLError):
            return

    def stop(self) -> None:
        self.listener.close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.fail("the TLS tests need the openssl command to make a certificate: make tools "
                    "(or apt-get install -y openssl)", pytrace=False)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[TlsServer]:
    server = TlsServer(*certificate)
    yield server
    server.stop()


def test_posts_go_over_verified_tls_on_one_kept_connection(tls_server, certificate):
    messenger = Messenger(f"https://localhost:{tls_server.port}/prod")
    poster = messenger._get_poster()
    poster._connections._tls = ssl.create_default_context(cafile=str(certificate[0]))  # trust the test's own CA
    try:
        assert messenger.post(REAL_ID, b'{"type":"hello"}') == "sent"
        assert messenger.post(REAL_ID, b'{"type":"again"}') == "sent"
    finally:
        messenger.close()
    assert tls_server.accepted == 1
    first, second = tls_server.requests
    assert first.startswith(b"POST /prod/@connections/BFHPhfCWIAMCKlQ%3D HTTP/1.1\r\n")
    assert b"\r\nHost: localhost:%d\r\n" % tls_server.port in first
    assert first.endswith(b'\r\n\r\n{"type":"hello"}') and second.endswith(b'\r\n\r\n{"type":"again"}')


def test_a_certificate_that_does_not_verify_fails_the_post(tls_server, capsys):
    """The default trust (botocore's CA bundle) does not know the self-signed certificate."""
    messenger = Messenger(f"https://localhost:{tls_server.port}/prod")
    try:
        assert messenger.post(REAL_ID, b"x") == "failed"
    finally:
        messenger.close()
    assert tls_server.requests == []
    (line,) = log_lines(capsys)
    assert (line["error"], line["attempts"]) == ("SSLError", 1)


def test_a_tls_connection_closed_before_any_answer_is_retried_once(certificate, capsys):
    server = TlsServer(*certificate, answer=False)
    messenger = Messenger(f"https://localhost:{server.port}/prod")
    messenger._get_poster()._connections._tls = ssl.create_default_context(cafile=str(certificate[0]))
    try:
        assert messenger.post(REAL_ID, b"x") == "failed"
    finally:
        messenger.close()
        server.stop()
    assert server.accepted == 2
    (line,) = log_lines(capsys)
    assert (line["error"], line["attempts"]) == ("ProtocolError", 2)
