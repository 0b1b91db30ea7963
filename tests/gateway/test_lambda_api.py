"""Lambda's Invoke API on the local gateway's port, called through boto3's real ``lambda`` client."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config

from gateway_support import WAIT_S, Recorder
from local_gateway.lambda_api import MAX_PAYLOAD_BYTES, function_arn
from local_gateway.server import LocalGateway

FUNCTION = "websocket-service-local"


def lambda_client(gateway: LocalGateway) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=f"http://127.0.0.1:{gateway.port}",
        region_name="us-east-1",
        aws_access_key_id="anything",
        aws_secret_access_key="anything",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=WAIT_S),
    )


def invoke(gateway: LocalGateway, payload: Any, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    response = lambda_client(gateway).invoke(FunctionName=kwargs.pop("name", FUNCTION), Payload=payload, **kwargs)
    raw = response["Payload"].read()
    return response, json.loads(raw) if raw else None


def test_invoke_runs_the_handler_like_lambda(gateway: LocalGateway, recorder: Recorder) -> None:
    response, result = invoke(gateway, json.dumps({"action": "cleanup", "dry_run": True}))
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    assert result == {"ok": True, "action": "cleanup", "expired": 0, "purged": 0, "purged_messages": 0, "dry_run": True,
                      "complete": True}
    assert recorder.events[-1] == {"action": "cleanup", "dry_run": True}
    context = recorder.contexts[-1]
    assert context.function_name == FUNCTION and context.get_remaining_time_in_millis() > 0


@pytest.mark.parametrize("name", [FUNCTION, function_arn(FUNCTION), f"000000000000:function:{FUNCTION}",
                                  f"{FUNCTION}:$LATEST", f"{function_arn(FUNCTION)}:$LATEST"])
def test_the_function_is_found_by_name_and_arn(gateway: LocalGateway, name: str) -> None:
    response, result = invoke(gateway, b"", name=name)
    assert response["StatusCode"] == 200
    assert result["error"] == "unsupported_event"  # an empty payload reaches the handler as {}


@pytest.mark.parametrize(("name", "qualifier", "missing"), [
    ("other-function", None, function_arn("other-function")),
    (function_arn("other-function"), None, function_arn("other-function")),
    (FUNCTION, "live", f"{function_arn(FUNCTION)}:live"),
    (f"{FUNCTION}:3", None, f"{function_arn(FUNCTION)}:3"),
])
def test_unknown_functions_are_resource_not_found(gateway: LocalGateway, name: str, qualifier: str | None,
                                                  missing: str) -> None:
    client = lambda_client(gateway)
    with pytest.raises(client.exceptions.ResourceNotFoundException) as info:
        client.invoke(FunctionName=name, Payload=b"{}", **({"Qualifier": qualifier} if qualifier else {}))
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert info.value.response["Error"]["Message"] == f"Function not found: {missing}"


def test_a_raising_handler_is_an_unhandled_function_error(start_gateway: Callable[..., LocalGateway]) -> None:
    def explode(event: Any, context: Any) -> Any:
        raise ValueError("the handler broke")

    response, error = invoke(start_gateway(handler=explode), b"{}")
    assert response["StatusCode"] == 200 and response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "the handler broke"
    assert error["requestId"] and any("explode" in frame for frame in error["stackTrace"])


def test_a_service_failure_of_the_real_handler_reaches_the_caller(gateway: LocalGateway,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.functional.helpers import closed_port
    from websocket_service.service import reset_service

    monkeypatch.setenv("DATABASE_URL", f"postgresql://nobody@127.0.0.1:{closed_port()}/none?connect_timeout=2")
    reset_service()
    response, error = invoke(gateway, json.dumps({"action": "connection_status", "connection_id": "x="}))
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ServiceFailureError" and error["errorMessage"].startswith("store_error: ")


def test_a_handler_past_its_timeout_is_sandbox_timedout(start_gateway: Callable[..., LocalGateway]) -> None:
    release = threading.Event()
    gateway = start_gateway(handler=lambda event, context: release.wait(WAIT_S))
    gateway.lambda_api.timeout_s = 0.2
    try:
        response, error = invoke(gateway, b"{}")
    finally:
        release.set()
    assert response["FunctionError"] == "Unhandled" and error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith("Task timed out after 0.20 seconds")


def test_event_invocations_answer_202_and_run_in_the_background(gateway: LocalGateway, recorder: Recorder) -> None:
    response, body = invoke(gateway, json.dumps({"action": "cleanup"}), InvocationType="Event")
    assert response["StatusCode"] == 202 and body is None
    assert recorder.wait_for(lambda event: event == {"action": "cleanup"})


def test_dry_run_checks_without_invoking(gateway: LocalGateway, recorder: Recorder) -> None:
    response, body = invoke(gateway, b"{}", InvocationType="DryRun")
    assert response["StatusCode"] == 204 and body is None and recorder.events == []


def test_payloads_over_the_websocket_limit_but_within_lambdas_are_accepted(
        start_gateway: Callable[..., LocalGateway]) -> None:
    gateway = start_gateway(handler=lambda event, context: {"size": len(event["pad"])})
    _, result = invoke(gateway, json.dumps({"pad": "x" * 1_000_000}))
    assert result == {"size": 1_000_000}


def test_bad_payloads_are_refused_like_lambda(gateway: LocalGateway, recorder: Recorder) -> None:
    client = lambda_client(gateway)
    with pytest.raises(client.exceptions.InvalidRequestContentException, match="Could not parse request body into json"):
        client.invoke(FunctionName=FUNCTION, Payload=b"{not json")
    with pytest.raises(client.exceptions.RequestTooLargeException, match=f"smaller than {MAX_PAYLOAD_BYTES} bytes"):
        client.invoke(FunctionName=FUNCTION, Payload=b" " * (MAX_PAYLOAD_BYTES + 1))
    assert recorder.events == []


def test_the_websocket_api_and_management_api_still_work_beside_it(gateway: LocalGateway) -> None:
    # The Invoke API shares the port: other paths keep their meaning.
    from gateway_support import management_client

    client = management_client(gateway)
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId="Nobody0000000AA=", Data=b"x")
