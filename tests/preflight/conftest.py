"""A real AWS API emulator for the preflight tests: moto's server (pinned in requirements.txt).

``moto_server`` (session) runs ``ThreadedMotoServer`` on a free loopback port; ``aws_env`` points
boto3 at it through ``AWS_ENDPOINT_URL`` (boto3's own variable: the preflight code is unchanged)
with moto's test credentials, resets moto's state (``POST /moto-api/reset``) so each test starts
from an empty account, and sets Lambda's quota to 1,000 (see below).

One gap of moto 5.2.5, filled here and nowhere else: it has no Lambda ``GetAccountSettings``
(``GET /2016-08-19/account-settings/`` answers 404). :func:`_add_get_account_settings` adds that
one route to moto's own Lambda backend, computed from moto's own state: the quota is moto's
``MOTO_LAMBDA_CONCURRENCY_QUOTA`` (the variable moto's ``PutFunctionConcurrency`` enforces, keeping
100 unreserved) and ``UnreservedConcurrentExecutions`` is that quota minus the reserved concurrency
of the functions moto holds. So a test can reserve concurrency on real moto functions and see both
moto's refusal and the preflight's answer move together.
"""
from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

try:
    from moto.awslambda import urls as lambda_urls
    from moto.awslambda.responses import LambdaResponse
    from moto.server import ThreadedMotoServer
except ImportError as error:  # never a silent skip: the dependency is pinned in requirements.txt
    raise RuntimeError(f"moto[server] is missing ({error}): run `make setup` (requirements.txt pins it)") from None

QUOTA_VARIABLE = "MOTO_LAMBDA_CONCURRENCY_QUOTA"
ACCOUNT_SETTINGS_PATH = r"{0}/(?P<api_version>[^/]+)/account-settings/?$"


def _get_account_settings(self: LambdaResponse) -> Any:
    """Lambda GetAccountSettings from moto's state (the route moto lacks)."""
    quota = int(os.environ.get(QUOTA_VARIABLE, "1000"))
    functions = self.backend.list_functions()
    reserved = sum(int(fn.reserved_concurrency or 0) for fn in functions)
    body = {
        "AccountLimit": {"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000, "CodeSizeZipped": 52428800,
                         "ConcurrentExecutions": quota, "UnreservedConcurrentExecutions": quota - reserved},
        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": len(functions)},
    }
    return 200, {}, json.dumps(body)


def _add_get_account_settings() -> None:
    lambda_urls.url_paths.setdefault(ACCOUNT_SETTINGS_PATH, LambdaResponse.dispatch)
    LambdaResponse.get_account_settings = _get_account_settings  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of moto's server, stopped at the end of the session."""
    _add_get_account_settings()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> str:
    """boto3 (in this process and in subprocesses) talks to a freshly reset moto in us-east-1."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:  # nosec B310 - loopback emulator
        assert response.status == 200
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")  # nosec B105 - moto's dummy key
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv(QUOTA_VARIABLE, "1000")
    return moto_server
