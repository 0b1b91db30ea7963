"""clients/python/websocket_notify.py (the helper a backend copies) with real boto3: by Lambda
invoke against the local gateway's Invoke API (what `wsctl local` serves), and by EventBridge, whose
PutEvents request is captured and its event delivered through the handler's EventBridge path. Both
payloads are the notify schema's shape."""
from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import jsonschema
import pytest
from botocore.config import Config
from websockets.asyncio.client import connect

from gateway_support import WAIT_S, Recorder, run
from local_gateway.server import LocalGateway
from tests.functional.http_servers import RecordingServer

ROOT = Path(__file__).resolve().parents[2]
EMAIL = "helper@example.com"
FUNCTION = "websocket-service-local"
SCHEMA = json.loads((ROOT / "lambda_src/websocket_service/schemas/notify.schema.json").read_text())


def _load_helper() -> Any:
    spec = importlib.util.spec_from_file_location("websocket_notify", ROOT / "clients/python/websocket_notify.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


helper = _load_helper()


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="anything",
                        aws_secret_access_key="anything",
                        config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=WAIT_S))


def lambda_client(gateway: LocalGateway) -> Any:
    return _client("lambda", f"http://127.0.0.1:{gateway.port}")


@pytest.fixture
def events_api() -> Iterator[RecordingServer]:
    """Stands in for EventBridge's PutEvents endpoint: records the request, answers like AWS."""
    server = RecordingServer({"/": (200, {"FailedEntryCount": 0, "Entries": [{"EventId": "11710aed-b79e-4468-a20b"}]})})
    yield server
    server.stop()


def client_url(gateway: LocalGateway) -> str:
    return f"{gateway.url}?email={quote(EMAIL)}&type=email-verification"


async def _wait_connected(recorder: Recorder) -> None:
    await asyncio.to_thread(recorder.wait_for, lambda e: e.get("requestContext", {}).get("routeKey") == "$connect")


def test_send_notify_by_invoke_pushes_through_the_gateway(gateway: LocalGateway, recorder: Recorder) -> None:
    async def scenario() -> tuple[dict[str, Any], Any]:
        async with connect(client_url(gateway)) as ws:
            await _wait_connected(recorder)
            answer = await asyncio.to_thread(
                helper.send_notify, EMAIL, "email-verification", {"type": "email-verified"},
                function_name=FUNCTION, client=lambda_client(gateway))
            return answer, json.loads(await ws.recv())

    answer, pushed = run(scenario())
    assert answer["ok"] is True and (answer["sent"], answer["kept"]) == (1, True)
    assert pushed == {"type": "email-verified", "messageId": answer["messageId"]}
    (invoked,) = [e for e in recorder.events if e.get("action") == "notify"]
    assert invoked == {"action": "notify", "email": EMAIL, "type": "email-verification",
                       "message": {"type": "email-verified"}}
    jsonschema.Draft202012Validator(SCHEMA).validate(invoked)


def test_a_refused_payload_raises_with_the_functions_error_code(gateway: LocalGateway) -> None:
    with pytest.raises(helper.NotifyRefusedError) as info:
        helper.send_notify("not-an-address", "email-verification", "hi", function_name=FUNCTION,
                           client=lambda_client(gateway))
    assert info.value.code == "invalid_email"
    with pytest.raises(helper.NotifyRefusedError, match="invalid_type"):
        helper.send_notify(EMAIL, "admin", "hi", function_name=FUNCTION, client=lambda_client(gateway))


def test_send_notify_by_eventbridge_puts_the_detail_the_handler_delivers(
    gateway: LocalGateway, recorder: Recorder, events_api: RecordingServer
) -> None:
    answer = helper.send_notify(EMAIL, "email-verification", {"type": "email-verified"}, via="eventbridge",
                                event_bus="careconnect", client=_client("events", events_api.base_url))
    assert answer == {"ok": True, "eventId": "11710aed-b79e-4468-a20b"}
    (request,) = events_api.requests
    assert request.headers["x-amz-target"] == "AWSEvents.PutEvents"
    (entry,) = json.loads(request.body)["Entries"]
    assert (entry["EventBusName"], entry["Source"], entry["DetailType"]) == (
        "careconnect", helper.DEFAULT_SOURCE, helper.DEFAULT_DETAIL_TYPE)
    detail = json.loads(entry["Detail"])
    jsonschema.Draft202012Validator(SCHEMA).validate(detail)
    # What EventBridge delivers to the rule's target: the entry inside the event envelope.
    event = {"version": "0", "id": "11710aed-b79e-4468-a20b", "detail-type": entry["DetailType"],
             "source": entry["Source"], "account": "123456789012", "time": "2026-12-03T12:00:00Z",
             "region": "us-east-1", "resources": [], "detail": detail}

    async def scenario() -> tuple[dict[str, Any], Any]:
        async with connect(client_url(gateway)) as ws:
            await _wait_connected(recorder)
            response = await asyncio.to_thread(lambda_client(gateway).invoke, FunctionName=FUNCTION,
                                               Payload=json.dumps(event).encode())
            return json.loads(response["Payload"].read()), json.loads(await ws.recv())

    result, pushed = run(scenario())
    assert result["ok"] is True and result["sent"] == 1
    assert pushed == {"type": "email-verified", "messageId": result["messageId"]}


def test_eventbridge_refusing_the_event_raises(events_api: RecordingServer) -> None:
    events_api.routes["/"] = (200, {"FailedEntryCount": 1, "Entries": [
        {"ErrorCode": "NotAuthorizedForSourceException", "ErrorMessage": "Not authorized for the source."}]})
    with pytest.raises(helper.NotifyError, match="NotAuthorizedForSourceException"):
        helper.send_notify(EMAIL, "email-verification", "hi", via="eventbridge", event_bus="careconnect",
                           client=_client("events", events_api.base_url))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({}, "needs function_name"),
        ({"via": "eventbridge"}, "needs event_bus"),
        ({"via": "sqs", "function_name": "f"}, "via must be one of invoke, eventbridge"),
    ],
)
def test_bad_arguments_are_refused_before_any_call(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        helper.send_notify(EMAIL, "email-verification", "hi", **kwargs)
    with pytest.raises(ValueError, match="message must be"):
        helper.notify_detail(EMAIL, "email-verification", None)


def test_the_helper_imports_only_the_standard_library_and_boto3() -> None:
    import ast

    tree = ast.parse((ROOT / "clients/python/websocket_notify.py").read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported - {"__future__", "boto3"} <= set(sys.stdlib_module_names)
