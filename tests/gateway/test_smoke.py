"""``wsctl smoke`` against the local gateway standing in for a deployed stack: real WebSocket
connections, real boto3 Lambda/Secrets Manager/CloudFormation clients, the real handler and store."""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import pytest

from gateway_support import WAIT_S, Recorder, printed_wsctl
from wsctl.cli import LOCAL_STACK_NAME, local_outputs, write_outputs_file
from local_gateway.server import LocalGateway
from wsctl.smoke import STEPS, SmokeOptions, SmokeReport, outputs_from_file, outputs_from_stack, run_smoke
from tests.functional.helpers import closed_port
from tests.functional.http_servers import RecordingServer
from websocket_service import handler as handler_module
from websocket_service.service import get_service, use_service
from websocket_service.store.base import ConnectionStore

WSCTL = Path(sys.executable).with_name("wsctl")
KEY = "smoke-test-token-key"
TOKEN_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:connect-token-AbCdEf"


def smoke(path: Path, **options: Any) -> SmokeReport:
    return run_smoke(lambda: outputs_from_file(path), SmokeOptions(**options), target=str(path))


def statuses(report: SmokeReport) -> dict[str, str]:
    return {step.name: step.status for step in report.steps}


def assert_failed_at(report: SmokeReport, step: str, *fragments: str) -> None:
    assert not report.ok
    failed = report.failed
    assert failed is not None and failed.name == step, report.render()
    after = list(STEPS)[list(STEPS).index(step) + 1:]
    assert all(statuses(report)[name] == "skipped" for name in after)
    text = f"{failed.detail} | {failed.hint}"
    for fragment in fragments:
        assert fragment in text, text
    rendered = report.render()
    assert f"FAIL at step {step}: {failed.detail}" in rendered and f"hint: {failed.hint}" in rendered
    assert report.to_dict()["failed_step"] == step and report.to_dict()["hint"] == failed.hint


@pytest.fixture
def outputs_path(tmp_path: Path) -> Path:
    return tmp_path / "cdk-outputs.json"


def write_outputs(path: Path, gateway: LocalGateway, **extra: str) -> Path:
    document = local_outputs(gateway)
    document[LOCAL_STACK_NAME].update(extra)
    path.write_text(json.dumps(document))
    return path


# --- passing runs -------------------------------------------------------------------------------
def test_smoke_passes_end_to_end_through_the_function(gateway: LocalGateway, recorder: Recorder, outputs_path: Path,
                                                     sqlite_store: ConnectionStore) -> None:
    write_outputs_file(gateway, str(outputs_path))
    report = smoke(outputs_path, email="smoke@example.com")
    assert report.ok, report.render()
    assert statuses(report) == {name: "skipped" if name == "token" else "pass" for name in STEPS}
    assert all(step.ms >= 0 for step in report.steps) and report.total_ms > 0
    assert report.render().splitlines()[-1].startswith("PASS: 8 steps in ")
    # The notify and the status check went through Lambda's Invoke API to the handler, as in AWS.
    direct = [event for event in recorder.events if "requestContext" not in event]
    assert [event["action"] for event in direct[:1]] == ["notify"]
    assert direct[0]["email"] == "smoke@example.com" and direct[0]["message"]["type"] == "smoke-test"
    assert {event["action"] for event in direct[1:]} == {"connection_status"}
    (row,) = sqlite_store.list_connections(user_email="smoke@example.com")
    assert not row.is_active and row.disconnect_status_code == 1000
    assert report.steps[STEPS.index("whoami")].detail == f"connection {row.connection_id}"


def test_smoke_mints_a_token_with_the_key_from_the_environment(start_gateway: Callable[..., LocalGateway],
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               outputs_path: Path) -> None:
    monkeypatch.setenv("CONNECT_TOKEN_SECRET", KEY)  # the handler requires tokens signed with it
    report = smoke(write_outputs(outputs_path, start_gateway()))
    assert report.ok, report.render()
    assert report.steps[STEPS.index("token")].detail.endswith("with the key from CONNECT_TOKEN_SECRET")


def gateway_with_the_key_read_now(start_gateway: Callable[..., LocalGateway]) -> LocalGateway:
    """A gateway whose handler uses a service built now, from the environment as it is now: the
    function reads its key at its cold start (in AWS), whatever the smoke's shell holds later."""
    built: dict[str, Any] = {}

    def handler(event: Any, context: Any) -> Any:
        with use_service(built["service"]):  # in every worker thread of the gateway
            return handler_module.handler(event, context)

    gateway = start_gateway(handler=handler)
    built["service"] = get_service()  # after start: the environment now names this gateway's endpoint
    return gateway


def test_smoke_reads_the_token_key_from_the_stacks_secret(start_gateway: Callable[..., LocalGateway],
                                                         monkeypatch: pytest.MonkeyPatch, outputs_path: Path) -> None:
    monkeypatch.setenv("CONNECT_TOKEN_SECRET", KEY)
    gateway = gateway_with_the_key_read_now(start_gateway)
    monkeypatch.setenv("CONNECT_TOKEN_SECRET", "a-stale-local-key")  # the stack's secret wins over the shell's
    secrets_manager = RecordingServer({"/": (200, {"ARN": TOKEN_ARN, "Name": "connect-token", "SecretString": KEY})})
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", secrets_manager.base_url)
        report = smoke(write_outputs(outputs_path, gateway, ConnectTokenSecretArn=TOKEN_ARN))
        (request,) = secrets_manager.requests
    finally:
        secrets_manager.stop()
    assert report.ok, report.render()
    assert report.steps[STEPS.index("token")].detail.endswith("with the key from ConnectTokenSecretArn")
    assert request.headers["x-amz-target"] == "secretsmanager.GetSecretValue"
    assert json.loads(request.body) == {"SecretId": TOKEN_ARN}


# --- failing runs -------------------------------------------------------------------------------
def test_a_wrong_token_key_fails_at_connect(start_gateway: Callable[..., LocalGateway], monkeypatch: pytest.MonkeyPatch,
                                            outputs_path: Path, sqlite_store: ConnectionStore) -> None:
    monkeypatch.setenv("CONNECT_TOKEN_SECRET", KEY)
    report = smoke(write_outputs(outputs_path, start_gateway()), token_secret="not-the-stacks-key")
    assert_failed_at(report, "connect", "handshake rejected with HTTP 403", "ConnectTokenSecretArn")
    assert sqlite_store.list_connections() == []


def test_a_stack_that_requires_tokens_fails_at_connect_without_a_key(start_gateway: Callable[..., LocalGateway],
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     outputs_path: Path) -> None:
    monkeypatch.setenv("CONNECT_TOKEN_SECRET", KEY)
    gateway = gateway_with_the_key_read_now(start_gateway)  # the function has its key; the smoke's shell none
    monkeypatch.delenv("CONNECT_TOKEN_SECRET")
    report = smoke(write_outputs(outputs_path, gateway))
    assert statuses(report)["token"] == "skipped"
    assert_failed_at(report, "connect", "handshake rejected with HTTP 401", "pass --token-secret KEY")


def test_a_secret_the_caller_cannot_read_fails_at_token(gateway: LocalGateway, monkeypatch: pytest.MonkeyPatch,
                                                        outputs_path: Path) -> None:
    secrets_manager = RecordingServer({"/": (400, {"__type": "AccessDeniedException", "message": "not allowed"})})
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", secrets_manager.base_url)
        report = smoke(write_outputs(outputs_path, gateway, ConnectTokenSecretArn=TOKEN_ARN))
    finally:
        secrets_manager.stop()
    assert_failed_at(report, "token", "AccessDeniedException: not allowed", "secretsmanager:GetSecretValue", TOKEN_ARN)


def test_a_function_that_does_not_exist_fails_at_notify(gateway: LocalGateway, outputs_path: Path) -> None:
    report = smoke(write_outputs(outputs_path, gateway, FunctionName="cc-backend-main"))
    assert_failed_at(report, "notify", "ResourceNotFoundException: Function not found: "
                     "arn:aws:lambda:us-east-1:000000000000:function:cc-backend-main", "'cc-backend-main' does not exist")
    assert statuses(report)["whoami"] == "pass"


def test_a_function_that_fails_reports_its_error(start_gateway: Callable[..., LocalGateway], recorder: Recorder,
                                                 outputs_path: Path) -> None:
    def broken_direct_invokes(event: dict[str, Any], context: Any) -> Any:
        if "requestContext" not in event:
            raise RuntimeError("store_error: the database is paused")
        return recorder(event, context)

    report = smoke(write_outputs(outputs_path, start_gateway(handler=broken_direct_invokes)))
    assert_failed_at(report, "notify", "the function raised RuntimeError: store_error: the database is paused",
                     "wsctl local")


def test_a_function_that_does_not_see_the_connection_fails_at_notify(start_gateway: Callable[..., LocalGateway],
                                                                    recorder: Recorder, outputs_path: Path) -> None:
    def another_functions_store(event: dict[str, Any], context: Any) -> Any:
        if event.get("action") == "notify":  # as if FunctionName served another API or database
            event = {**event, "email": "nobody-here@example.com"}
        return recorder(event, context)

    report = smoke(write_outputs(outputs_path, start_gateway(handler=another_functions_store)))
    assert_failed_at(report, "notify", "notify sent nothing (sent 0, gone 0, failed 0)",
                     "FunctionName is not the function behind the routes")


def test_an_integration_error_on_the_default_route_fails_at_ping(start_gateway: Callable[..., LocalGateway],
                                                                 recorder: Recorder, outputs_path: Path) -> None:
    def failing_messages(event: dict[str, Any], context: Any) -> Any:
        if event.get("requestContext", {}).get("eventType") == "MESSAGE":
            raise RuntimeError("the function crashed")
        return recorder(event, context)

    report = smoke(write_outputs(outputs_path, start_gateway(handler=failing_messages)))
    assert_failed_at(report, "ping", 'ping answered {"message": "Internal server error"', "the $default route failed")


def test_a_lost_disconnect_fails_at_inactive(start_gateway: Callable[..., LocalGateway], recorder: Recorder,
                                             outputs_path: Path, sqlite_store: ConnectionStore) -> None:
    def without_disconnects(event: dict[str, Any], context: Any) -> Any:
        if event.get("requestContext", {}).get("routeKey") == "$disconnect":
            return {"statusCode": 200}  # API Gateway delivers $disconnect best effort
        return recorder(event, context)

    report = smoke(write_outputs(outputs_path, start_gateway(handler=without_disconnects)), timeout_s=1.0)
    assert_failed_at(report, "inactive", "still active 1 s after the close", "$disconnect did not reach the function")
    (row,) = sqlite_store.list_connections()
    assert row.is_active


def test_an_unreachable_websocket_url_fails_at_connect(tmp_path: Path) -> None:
    port = closed_port()
    path = tmp_path / "stale.json"
    path.write_text(json.dumps({LOCAL_STACK_NAME: {
        "WebSocketUrl": f"ws://127.0.0.1:{port}/prod", "ManagementEndpoint": f"http://127.0.0.1:{port}/prod",
        "FunctionName": "websocket-service-local"}}))
    assert_failed_at(smoke(path, timeout_s=5), "connect", f"cannot open ws://127.0.0.1:{port}/prod",
                     "is `wsctl local` running")


GOOD = {"WebSocketUrl": "wss://abc123.execute-api.eu-west-1.amazonaws.com/prod",
        "ManagementEndpoint": "https://abc123.execute-api.eu-west-1.amazonaws.com/prod",
        "FunctionName": "WebSocketNotifications-Handler-AbC"}


@pytest.mark.parametrize(("content", "fragments"), [
    (None, ["does not exist", "make deploy"]),
    ("{not json", ["cannot read", "cdk deploy --outputs-file"]),
    (json.dumps(["a"]), ["is not a cdk outputs file"]),
    (json.dumps({"A": GOOD, "B": GOOD}), ["has 2 stacks with a WebSocketUrl output (A, B)", "--stack NAME"]),
    (json.dumps({"A": {k: v for k, v in GOOD.items() if k != "FunctionName"}}),
     ["stack 'A' lacks output(s) FunctionName", "redeploy the stack with this version"]),
    (json.dumps({"A": {**GOOD, "ManagementEndpoint": GOOD["WebSocketUrl"]}}), ["ManagementEndpoint output", "wss://"]),
    (json.dumps({"A": {**GOOD, "WebSocketUrl": GOOD["ManagementEndpoint"]}}), ["is not a ws:// or wss:// URL"]),
])
def test_bad_outputs_fail_at_the_first_step(tmp_path: Path, content: str | None, fragments: list[str]) -> None:
    path = tmp_path / "cdk-outputs.json"
    if content is not None:
        path.write_text(content)
    assert_failed_at(smoke(path), "outputs", *fragments)


def test_the_stack_is_picked_by_name_and_its_region_used(tmp_path: Path) -> None:
    path = tmp_path / "cdk-outputs.json"
    path.write_text(json.dumps({"A": GOOD, "B": {**GOOD, "FunctionName": "other"}}))
    assert outputs_from_file(path, stack_name="B").function_name == "other"
    report = run_smoke(lambda: outputs_from_file(path, stack_name="Missing"), SmokeOptions(), target=str(path))
    assert_failed_at(report, "outputs", "has no stack 'Missing' (it has: A, B)")


# --- CloudFormation DescribeStacks -------------------------------------------------------------
class FakeCloudFormation:
    """A real HTTP server answering DescribeStacks in CloudFormation's query-protocol XML."""

    def __init__(self, stacks: dict[str, dict[str, str]]) -> None:
        self.stacks = stacks
        self.actions: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
                owner.actions.append(form.get("Action", ""))
                status, body = owner.answer(form.get("StackName", ""))
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def answer(self, name: str) -> tuple[int, bytes]:
        ns = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
        if name not in self.stacks:
            return 400, (f'<ErrorResponse xmlns="{ns}"><Error><Type>Sender</Type><Code>ValidationError</Code>'
                         f"<Message>Stack with id {escape(name)} does not exist</Message></Error>"
                         "<RequestId>r1</RequestId></ErrorResponse>").encode()
        outputs = "".join(f"<member><OutputKey>{escape(k)}</OutputKey><OutputValue>{escape(v)}</OutputValue></member>"
                          for k, v in self.stacks[name].items())
        return 200, (f'<DescribeStacksResponse xmlns="{ns}"><DescribeStacksResult><Stacks><member>'
                     f"<StackName>{escape(name)}</StackName><StackId>arn:aws:cloudformation:us-east-1:1:stack/{name}/1</StackId>"
                     "<CreationTime>2026-12-01T00:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus>"
                     f"<Outputs>{outputs}</Outputs></member></Stacks></DescribeStacksResult>"
                     "<ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></DescribeStacksResponse>").encode()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def cloudformation(monkeypatch: pytest.MonkeyPatch, gateway_env: None) -> Iterator[FakeCloudFormation]:
    """The fake on ``AWS_ENDPOINT_URL_CLOUDFORMATION``, with the gateway tests' dummy credentials."""
    server = FakeCloudFormation({})
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", server.url)
    yield server
    server.stop()


def test_outputs_are_read_from_cloudformation(cloudformation: FakeCloudFormation) -> None:
    cloudformation.stacks["WebSocketNotifications"] = {**GOOD, "ApiId": "abc123"}
    outputs = outputs_from_stack("WebSocketNotifications", region="eu-west-1", timeout_s=WAIT_S)
    assert (outputs.stack_name, outputs.websocket_url, outputs.function_name) == (
        "WebSocketNotifications", GOOD["WebSocketUrl"], GOOD["FunctionName"])
    assert cloudformation.actions == ["DescribeStacks"]
    report = run_smoke(lambda: outputs_from_stack("Nope", region="eu-west-1", timeout_s=WAIT_S), SmokeOptions(), target="Nope")
    assert_failed_at(report, "outputs", "ValidationError: Stack with id Nope does not exist", "check the outputs and --region")


# --- the command line ---------------------------------------------------------------------------
def wsctl(*args: str) -> subprocess.CompletedProcess[str]:
    if not WSCTL.exists():
        pytest.fail(f"{WSCTL} is missing: install the project into the venv (make setup, or pip install -e .)")
    return subprocess.run([str(WSCTL), *args], capture_output=True, text=True, timeout=120)


def test_wsctl_smoke_reads_the_stack_from_cloudformation(gateway: LocalGateway, cloudformation: FakeCloudFormation) -> None:
    cloudformation.stacks["Local"] = local_outputs(gateway)[LOCAL_STACK_NAME]
    result = wsctl("smoke", "--stack", "Local", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["target"] == "stack Local (CloudFormation)"
    assert [step["name"] for step in report["steps"]] == list(STEPS)
    assert cloudformation.actions == ["DescribeStacks"]


def test_wsctl_local_writes_outputs_that_wsctl_smoke_proves(tmp_path: Path, gateway_env: None,
                                                            sqlite_database_url: str) -> None:
    outputs = tmp_path / "local-outputs.json"
    process = subprocess.Popen([str(WSCTL), "local", "--port", "0", "--database-url", sqlite_database_url,
                                "--outputs-file", str(outputs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        banner: list[str] = []
        while not banner or not banner[-1].startswith("Press Ctrl+C"):  # printed after the outputs file is written
            try:
                banner.append(lines.get(timeout=WAIT_S))
            except queue.Empty:
                pytest.fail("wsctl local printed no banner")
        assert f"  Outputs file:         {outputs} ({printed_wsctl(WSCTL)} smoke --outputs {outputs})\n" in banner
        (stack,) = json.loads(outputs.read_text()).values()
        assert set(stack) == {"WebSocketUrl", "ManagementEndpoint", "ApiId", "StageName", "FunctionName"}
        passed = wsctl("smoke", "--outputs", str(outputs))
        assert passed.returncode == 0, passed.stdout + passed.stderr
        assert passed.stdout.startswith(f"wsctl smoke: {outputs}\n") and "\nPASS: 8 steps in " in passed.stdout
        for name in STEPS:
            assert f" {name} " in passed.stdout
        failed = wsctl("smoke", "--outputs", str(outputs), "--function", "nope")
        assert failed.returncode == 1 and "Traceback" not in failed.stdout + failed.stderr
        assert "FAIL at step notify: ResourceNotFoundException: Function not found" in failed.stdout
        assert "\nhint: " in failed.stdout
    finally:
        process.terminate()
        process.wait(timeout=WAIT_S)
    assert os.path.exists(outputs)
