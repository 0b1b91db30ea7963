"""Functional-test fixtures: AWS-shaped invocations of the real handler against real stores,
a real Management API server and real HTTP endpoints. Store fixtures come from tests/conftest.py."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.functional.helpers import closed_port as _closed_port
from tests.functional.http_servers import ManagementApiServer, RecordingServer
from websocket_service import handler as handler_module
from websocket_service import observability
from websocket_service.config import ALL_ENV_NAMES
from websocket_service.service import pending_disconnects

_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_SESSION_TOKEN": "test-session-token",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
_CLEARED_ENV = ALL_ENV_NAMES | {"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "AWS_PROFILE", "AWS_ENDPOINT_URL",
                                 "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[None]:
    """Dummy AWS credentials, no service settings leaking in, a fresh handler before and after."""
    for name in sorted(_CLEARED_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in _AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    handler_module.reset()
    pending_disconnects.take()  # a new container's queue is empty
    yield
    handler_module.reset()
    pending_disconnects.take()
    observability.configure("INFO")


@pytest.fixture
def closed_port() -> int:
    """A local TCP port nothing listens on."""
    return _closed_port()


@pytest.fixture
def management_api() -> Iterator[ManagementApiServer]:
    """A running Management API server (stage ``prod``)."""
    server = ManagementApiServer()
    yield server
    server.stop()


@pytest.fixture
def recording_server() -> Iterator[RecordingServer]:
    """A running server recording every request (answers 200 ``{}``)."""
    server = RecordingServer()
    yield server
    server.stop()


@pytest.fixture
def service_env(monkeypatch: pytest.MonkeyPatch, store, store_url: str, management_api: ManagementApiServer):
    """Handler environment: the ``store`` fixture's database and the Management API server."""
    monkeypatch.setenv("DATABASE_URL", store_url)
    monkeypatch.setenv("AWS_WEBSOCKET_API_GATEWAY_ENDPOINT", management_api.endpoint)
    return monkeypatch
