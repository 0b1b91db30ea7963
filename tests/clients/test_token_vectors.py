"""One vector file (clients/token-vectors.json) pins connect-token minting in Python, Java and Node.

The file is generated from ``websocket_service.tokens`` (clients/generate_token_vectors.py): it
must be current; the Python verifier accepts each valid token and refuses each listed spelling
with the named error; the Java minter (compiled with the JDK's javac, run with java) and the Node
minter (``clients/js/server.js``, through ``node --test``) reproduce every valid token.
"""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from websocket_service.tokens import TokenError, mint_token, verify_token

ROOT = Path(__file__).resolve().parents[2]
VECTORS_PATH = ROOT / "clients" / "token-vectors.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text("utf-8"))


def test_vector_file_is_generated_from_the_python_implementation() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "clients" / "generate_token_vectors.py"), "--check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(VECTORS["valid"]) >= 5 and len(VECTORS["refused"]) >= 15


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: f"{v['email'].strip()}-{v['ttlSeconds']}")
def test_python_mints_and_accepts_each_valid_vector(vector: dict[str, Any]) -> None:
    assert mint_token(vector["key"], vector["email"], vector["type"], ttl_seconds=vector["ttlSeconds"],
                      now=vector["now"]) == vector["token"]
    assert verify_token(vector["key"], vector["token"], vector["email"], vector["type"], now=vector["now"]) == vector["exp"]


@pytest.mark.parametrize("case", VECTORS["refused"], ids=lambda c: c["why"])
def test_python_verifier_refuses_each_spelling(case: dict[str, Any]) -> None:
    with pytest.raises(TokenError) as raised:
        verify_token(case["key"], case["token"], case["email"], case["type"], now=case["now"])
    assert raised.value.code == case["error"]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def test_java_minter_reproduces_every_valid_vector(tmp_path: Path) -> None:
    javac, java = shutil.which("javac"), shutil.which("java")
    if not (javac and java):
        pytest.fail("no JDK: apt-get install -y default-jdk-headless (make test installs it)")
    sources = [ROOT / "clients" / "java" / "ConnectTokens.java", ROOT / "clients" / "java" / "test" / "TokenVectors.java"]
    compiled = subprocess.run([javac, "-Xlint:all", "-Werror", "-d", str(tmp_path), *map(str, sources)],
                              capture_output=True, text=True, timeout=300)
    assert compiled.returncode == 0, compiled.stderr
    lines = "".join(f"{_b64(v['key'])}\t{_b64(v['email'])}\t{_b64(v['type'])}\t{v['ttlSeconds']}\t{v['now']}\n"
                    for v in VECTORS["valid"])
    run = subprocess.run([java, "-cp", str(tmp_path), "TokenVectors"], input=lines, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [v["token"] for v in VECTORS["valid"]]
