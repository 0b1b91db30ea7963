"""Issue 15: the README's commands work as written without an activated virtualenv; `make bootstrap`,
`make deploy` (credentials first, then `wsctl preflight`) and `make destroy` (then what stays, and how to
remove it)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cdk_app.runtime_contract import PROJECT_ROOT

from .conftest import Synthesis


def logical_id(synthesis: Synthesis, prefix: str, resource_type: str) -> str:
    (found,) = [k for k in synthesis.resources(resource_type) if k.startswith(prefix)]
    return found


# --- 6. make destroy: what stays, and how to remove it ---------------------------------------------------------


def test_retained_resources_lists_what_stays_with_the_command_that_removes_it(default: Synthesis) -> None:
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "retained-resources"), "--template", str(default.template_path)],
        capture_output=True, text=True, check=True,
    )
    out = result.stdout
    data_key = logical_id(default, "DataKey", "AWS::KMS::Key")
    cluster = logical_id(default, "DatabaseCluster", "AWS::RDS::DBCluster")
    assert f"aws kms schedule-key-deletion --key-id <{data_key}>" in out
    for group in ("RouteHandlerLogs", "HandlerLogs", "GatewayAccessLogs", "ApiGatewayAccountLoggingLogs"):
        assert f"aws logs delete-log-group --log-group-name <{logical_id(default, group, 'AWS::Logs::LogGroup')}>" in out
    assert f"aws iam delete-role --role-name <{logical_id(default, 'ApiGatewayAccountLoggingRole', 'AWS::IAM::Role')}>" in out
    assert f"aws rds describe-db-cluster-snapshots --db-cluster-identifier <{cluster}>" in out
    assert f"/aws/rds/cluster/<{cluster}>/postgresql" in out
    assert "NetworkFlowLogs" not in out  # deleted with the stack


# --- 1. The README's commands, without an activated venv --------------------------------------------------------


def path_without_venv() -> str:
    """PATH with no virtualenv in it (and so no `python` with aws_cdk)."""
    return os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if ".venv" not in p and "virtualenv" not in p)


def readme_synth_examples() -> list[str]:
    lines = re.findall(r"^\s*(npx cdk synth[^\n`]*)", (PROJECT_ROOT / "README.md").read_text(), flags=re.MULTILINE)
    return [line.strip() for line in lines]


def test_the_readme_shows_synth_examples() -> None:
    assert readme_synth_examples(), "README.md lost its `npx cdk synth ...` example lines"


@pytest.mark.parametrize("command", readme_synth_examples())
def test_readme_synth_examples_run_verbatim_without_an_activated_venv(command: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "CDK_DEFAULT_REGION")}
    env.update(PATH=path_without_venv(), JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20")
    assert shutil.which("python3", path=env["PATH"]) is None or subprocess.run(
        ["python3", "-c", "import aws_cdk"], env=env, capture_output=True, check=False
    ).returncode != 0, "the test shell's own python3 must not have aws_cdk, or this proves nothing"
    result = subprocess.run(
        f"{command} --output {tmp_path}/cdk.out", shell=True, cwd=PROJECT_ROOT, env=env,
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "cdk.out" / "WebSocketNotifications.template.json").exists()


def test_the_cdk_app_command_says_make_setup_when_the_venv_is_missing(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(PROJECT_ROOT / "scripts" / "cdk-app", tmp_path / "scripts" / "cdk-app")
    result = subprocess.run([str(tmp_path / "scripts" / "cdk-app")], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "run `make setup` first" in line
    assert json.loads((PROJECT_ROOT / "cdk.json").read_text())["app"] == "scripts/cdk-app"


def no_credentials_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(tmp_path), AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true")
    return env


def test_make_deploy_without_credentials_stops_with_one_line_before_any_synth(tmp_path: Path) -> None:
    result = subprocess.run(["make", "-o", "setup", "deploy"], cwd=PROJECT_ROOT, env=no_credentials_env(tmp_path),
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "AWS credentials are missing" in result.stderr
    assert "cdk deploy" not in result.stdout and "Unable to resolve AWS account" not in result.stderr
    assert [line for line in result.stderr.splitlines() if "AWS credentials" in line] == [
        next(line for line in result.stderr.splitlines() if "AWS credentials" in line)
    ]


@pytest.mark.parametrize("target", ["bootstrap", "destroy"])
def test_make_bootstrap_and_destroy_check_credentials_first(target: str, tmp_path: Path) -> None:
    result = subprocess.run(["make", "-o", "setup", target], cwd=PROJECT_ROOT, env=no_credentials_env(tmp_path),
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "AWS credentials are missing" in result.stderr


def test_make_deploy_runs_preflight_with_the_same_settings_unless_preflight_0() -> None:
    def dry_run(*args: str) -> list[str]:
        result = subprocess.run(["make", "-n", "-o", "setup", "deploy", 'CDK_ARGS=-c stageName=dev', *args],
                                cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
        return result.stdout.splitlines()

    lines = dry_run()
    (preflight,) = [line for line in lines if "wsctl preflight" in line]
    assert preflight.endswith("wsctl preflight -c stageName=dev; fi")
    assert preflight.startswith('if [ "1" != "0" ]')
    (skipped,) = [line for line in dry_run("PREFLIGHT=0") if "wsctl preflight" in line]
    assert skipped.startswith('if [ "0" != "0" ]')
    # Credentials first, then preflight, then the deploy with the same settings.
    order = [next(i for i, line in enumerate(lines) if marker in line)
             for marker in ("check-aws-credentials", "wsctl preflight", "cdk deploy")]
    assert order == sorted(order)
    assert lines[order[2]].endswith("-c stageName=dev")
