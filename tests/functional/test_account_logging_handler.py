"""The custom resource that registers API Gateway's CloudWatch Logs role only where none is set.

Real boto3 ``apigateway`` client against a local server that answers GetAccount/UpdateAccount
like API Gateway (``GET``/``PATCH /account``), and a real server standing in for CloudFormation's
pre-signed ResponseURL.
"""
from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from types import ModuleType
from urllib.parse import urlsplit

import pytest

from cdk_app.account_logging import HANDLER_DIR
from tests.functional.http_servers import RecordingServer, Request, _Server

OUR_ROLE = "arn:aws:iam::123456789012:role/WebSocketNotifications-ApiGatewayAccountLoggingRole-AbC"
OTHER_TEAMS_ROLE = "arn:aws:iam::123456789012:role/platform-apigateway-logs"


def load_handler() -> ModuleType:
    spec = importlib.util.spec_from_file_location("account_logging_index", HANDLER_DIR / "index.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ApiGatewayAccount:
    """Answers ``GET /account`` and ``PATCH /account`` like API Gateway's account settings."""

    def __init__(self, role_arn: str | None, *, reject_patches: int = 0) -> None:
        self.role_arn = role_arn
        self.reject_patches = reject_patches  # a freshly created role is not usable yet (IAM propagation)
        self._lock = threading.Lock()
        self._server = _Server(self._respond).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def requests(self) -> list[Request]:
        return self._server.requests

    def stop(self) -> None:
        self._server.stop()

    def _account(self) -> bytes:
        document = {"throttleSettings": {"burstLimit": 5000, "rateLimit": 10000.0}, "features": [], "apiKeyVersion": "4"}
        if self.role_arn:
            document["cloudwatchRoleArn"] = self.role_arn
        return json.dumps(document).encode()

    def _respond(self, _: BaseHTTPRequestHandler, request: Request) -> tuple[int, dict[str, str], bytes]:
        self._server.record(request)
        json_headers = {"Content-Type": "application/json"}
        if urlsplit(request.raw_path).path != "/account":
            return 404, {**json_headers, "x-amzn-ErrorType": "NotFoundException"}, b'{"message":"Not Found"}'
        if request.method == "GET":
            return 200, json_headers, self._account()
        if request.method == "PATCH":
            with self._lock:
                if self.reject_patches:
                    self.reject_patches -= 1
                    return 400, {**json_headers, "x-amzn-ErrorType": "BadRequestException"}, json.dumps(
                        {"message": "The role ARN does not have required permissions set to API Gateway"}).encode()
                (operation,) = json.loads(request.body)["patchOperations"]
                assert operation["op"] == "replace" and operation["path"] == "/cloudwatchRoleArn"
                self.role_arn = operation["value"]
            return 200, json_headers, self._account()
        return 405, json_headers, b'{"message":"Method Not Allowed"}'


class Context:
    """The Lambda context's remaining-time accessor."""

    def __init__(self, remaining_ms: int = 120_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def cloudformation() -> Iterator[RecordingServer]:
    server = RecordingServer()
    yield server
    server.stop()


def event(request_type: str, response_url: str) -> dict:
    document = {
        "RequestType": request_type, "ResponseURL": f"{response_url}/cfn-response?X-Amz-Signature=abc",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/WebSocketNotifications/1",
        "RequestId": "req-1", "LogicalResourceId": "ApiGatewayAccountLoggingRegistration",
        "ResourceType": "Custom::ApiGatewayAccountCloudWatchRole", "ResourceProperties": {"RoleArn": OUR_ROLE},
    }
    if request_type != "Create":
        document["PhysicalResourceId"] = "api-gateway-account-cloudwatch-role"
    return document


def run(request_type: str, account: ApiGatewayAccount, cloudformation: RecordingServer,
        monkeypatch: pytest.MonkeyPatch, *, retry_delay_s: float = 0.01, **context: int) -> dict:
    monkeypatch.setenv("AWS_ENDPOINT_URL_API_GATEWAY", account.endpoint)
    handler = load_handler()
    monkeypatch.setenv(handler.LOOPBACK_ENV, "true")  # the stand-in for CloudFormation's bucket is on loopback
    monkeypatch.setattr(handler, "RETRY_DELAY_S", retry_delay_s)
    handler.handler(event(request_type, cloudformation.base_url), Context(**context))
    (answer,) = [r for r in cloudformation.requests if r.method == "PUT"]
    return json.loads(answer.body)


def patches(account: ApiGatewayAccount) -> list[Request]:
    return [r for r in account.requests if r.method == "PATCH"]


def test_a_fresh_account_gets_our_role(monkeypatch, cloudformation) -> None:
    account = ApiGatewayAccount(None)
    try:
        answer = run("Create", account, cloudformation, monkeypatch)
    finally:
        account.stop()
    assert account.role_arn == OUR_ROLE and len(patches(account)) == 1
    assert answer["Status"] == "SUCCESS" and answer["Data"] == {"RoleArn": OUR_ROLE, "Registered": "true"}
    assert answer["PhysicalResourceId"] == "api-gateway-account-cloudwatch-role"
    assert (answer["StackId"], answer["RequestId"], answer["LogicalResourceId"]) == (
        "arn:aws:cloudformation:us-east-1:123456789012:stack/WebSocketNotifications/1", "req-1",
        "ApiGatewayAccountLoggingRegistration")


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_another_teams_role_is_never_overwritten(monkeypatch, cloudformation, request_type: str) -> None:
    account = ApiGatewayAccount(OTHER_TEAMS_ROLE)
    try:
        answer = run(request_type, account, cloudformation, monkeypatch)
    finally:
        account.stop()
    assert account.role_arn == OTHER_TEAMS_ROLE and patches(account) == []
    assert answer["Status"] == "SUCCESS" and answer["Data"] == {"RoleArn": OTHER_TEAMS_ROLE, "Registered": "false"}


def test_delete_leaves_the_account_settings_alone(monkeypatch, cloudformation) -> None:
    account = ApiGatewayAccount(OUR_ROLE)
    try:
        answer = run("Delete", account, cloudformation, monkeypatch)
    finally:
        account.stop()
    assert account.requests == []  # not even read: other APIs keep logging through the role
    assert answer["Status"] == "SUCCESS" and account.role_arn == OUR_ROLE


def test_a_role_that_is_not_usable_yet_is_retried_until_it_is(monkeypatch, cloudformation) -> None:
    account = ApiGatewayAccount(None, reject_patches=2)
    try:
        answer = run("Create", account, cloudformation, monkeypatch)
    finally:
        account.stop()
    assert len(patches(account)) == 3 and account.role_arn == OUR_ROLE
    assert answer["Status"] == "SUCCESS"


def test_no_time_left_to_retry_fails_the_deploy_with_the_reason(monkeypatch, cloudformation) -> None:
    account = ApiGatewayAccount(None, reject_patches=100)
    handler = load_handler()
    # Time for the two calls, not for the 5 s pause and another call after the rejected update.
    remaining_ms = handler.RESERVE_MS + int(handler.CALL_BUDGET_S * 1000) + 4000
    try:
        answer = run("Create", account, cloudformation, monkeypatch, retry_delay_s=handler.RETRY_DELAY_S,
                     remaining_ms=remaining_ms)
    finally:
        account.stop()
    assert answer["Status"] == "FAILED" and account.role_arn is None
    assert answer["Reason"].startswith("BadRequestException:") and "required permissions" in answer["Reason"]
    assert len(patches(account)) == 1


def test_no_time_for_even_one_call_answers_failed_without_calling(monkeypatch, cloudformation) -> None:
    account = ApiGatewayAccount(None)
    try:
        answer = run("Create", account, cloudformation, monkeypatch, remaining_ms=20_000)
    finally:
        account.stop()
    assert account.requests == [] and answer["Status"] == "FAILED"
    assert answer["Reason"] == "TimeoutError: not enough time left in the invocation to call API Gateway; retry the deploy"
