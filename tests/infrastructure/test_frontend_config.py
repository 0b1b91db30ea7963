"""cdk_app.frontend_config: cdk deploy --outputs-file JSON -> frontend configuration."""
from __future__ import annotations

import ast
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from cdk_app import frontend_config
from cdk_app.frontend_config import FrontendConfigError, config_from_outputs

OUTPUTS = {
    "WebSocketNotifications": {
        "WebSocketUrl": "wss://abc123.execute-api.us-east-1.amazonaws.com/prod",
        "ManagementEndpoint": "https://abc123.execute-api.us-east-1.amazonaws.com/prod",
        "ApiId": "abc123",
        "StageName": "prod",
    }
}


@pytest.fixture
def outputs_file(tmp_path: Path) -> Path:
    path = tmp_path / "cdk-outputs.json"
    path.write_text(json.dumps(OUTPUTS))
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cdk_app.frontend_config", *args], capture_output=True, text=True, check=False)


def test_json_format_has_the_client_url_and_not_the_management_endpoint(outputs_file: Path) -> None:
    result = run(str(outputs_file))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "websocketUrl": "wss://abc123.execute-api.us-east-1.amazonaws.com/prod", "apiId": "abc123", "stageName": "prod"
    }
    assert "https://" not in result.stdout


def test_dart_define_format_gives_flutter_flags(outputs_file: Path) -> None:
    result = run(str(outputs_file), "--format", "dart-define")
    assert result.returncode == 0, result.stderr
    assert shlex.split(result.stdout) == [
        "--dart-define=WEBSOCKET_URL=wss://abc123.execute-api.us-east-1.amazonaws.com/prod",
        "--dart-define=WEBSOCKET_API_ID=abc123",
        "--dart-define=WEBSOCKET_STAGE=prod",
    ]


def test_output_option_writes_a_file(outputs_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "frontend-config.json"
    assert run(str(outputs_file), "-o", str(target)).returncode == 0
    assert json.loads(target.read_text())["websocketUrl"].startswith("wss://")


def test_stack_option_picks_one_of_several_stacks() -> None:
    several = {**OUTPUTS, "Other": {**OUTPUTS["WebSocketNotifications"], "ApiId": "other1"}}
    with pytest.raises(FrontendConfigError, match="pass --stack"):
        config_from_outputs(several)
    assert config_from_outputs(several, stack_name="Other").api_id == "other1"


@pytest.mark.parametrize(
    ("document", "stack", "message"),
    [
        ({"WebSocketNotifications": {"WebSocketUrl": "wss://x/prod"}}, None, "outputs missing: ApiId, StageName"),
        ({"WebSocketNotifications": {**OUTPUTS["WebSocketNotifications"], "WebSocketUrl": "https://x/prod"}}, None,
         "not a wss:// URL"),
        ({"WebSocketNotifications": {**OUTPUTS["WebSocketNotifications"], "WebSocketUrl": "ws://ws.example.com/prod"}},
         None, r"not a wss:// URL \(ws:// is accepted only on a loopback host"),
        ({"WebSocketNotifications": {**OUTPUTS["WebSocketNotifications"], "WebSocketUrl": "ws://127.0.0.1.nip.io/prod"}},
         None, "not a wss:// URL"),
        ({}, None, "found none"),
        (OUTPUTS, "Nope", "stack 'Nope' not found"),
        (["not", "an", "object"], None, "must hold a JSON object"),
    ],
)
def test_bad_documents_raise_a_clear_error(document: object, stack: str | None, message: str) -> None:
    with pytest.raises(FrontendConfigError, match=message):
        config_from_outputs(document, stack_name=stack)  # type: ignore[arg-type]


LOCAL_OUTPUTS = {  # what `wsctl local --outputs-file` writes (wsctl.cli.local_outputs)
    "LocalGateway": {"WebSocketUrl": "ws://127.0.0.1:8080/prod", "ManagementEndpoint": "http://127.0.0.1:8080/prod",
                     "ApiId": "local", "StageName": "prod", "FunctionName": "websocket-service-local"},
}


def test_local_gateway_outputs_give_a_local_configuration(tmp_path: Path) -> None:
    from wsctl.cli import LOCAL_STACK_NAME

    assert set(LOCAL_OUTPUTS) == {LOCAL_STACK_NAME}
    path = tmp_path / "local.json"
    path.write_text(json.dumps(LOCAL_OUTPUTS))
    result = run(str(path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "websocketUrl": "ws://127.0.0.1:8080/prod", "apiId": "local", "stageName": "prod", "local": True}
    assert result.stderr.startswith("note: a local configuration (ws://127.0.0.1:8080/prod")
    flags = shlex.split(run(str(path), "--format", "dart-define").stdout)
    assert "--dart-define=WEBSOCKET_LOCAL=true" in flags
    for host in ("localhost:9000", "[::1]:8080", "127.0.0.2:8080"):
        local = {"LocalGateway": {**LOCAL_OUTPUTS["LocalGateway"], "WebSocketUrl": f"ws://{host}/prod"}}
        assert config_from_outputs(local).local is True


def test_a_deployed_configuration_does_not_say_local(outputs_file: Path) -> None:
    assert "local" not in json.loads(run(str(outputs_file)).stdout)
    assert "WEBSOCKET_LOCAL" not in run(str(outputs_file), "--format", "dart-define").stdout


def test_cli_reports_bad_input_in_one_line_with_status_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    for args in ([str(broken)], [str(tmp_path / "absent.json")]):
        result = run(*args)
        assert result.returncode == 2
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_module_does_not_import_aws_cdk() -> None:
    tree = ast.parse(Path(frontend_config.__file__).read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(m and m.startswith(("aws_cdk", "constructs", "jsii")) for m in modules)
