"""app.py as the CDK CLI runs it: context from CDK_CONTEXT_JSON, assembly into CDK_OUTDIR."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cdk_app.runtime_contract import PROJECT_ROOT

from .conftest import Synthesis, project_context


def run_app(context: dict, outdir: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if k != "CDK_DEFAULT_REGION"}, "CDK_CONTEXT_JSON": json.dumps(context),
           "CDK_OUTDIR": str(outdir), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", **extra_env}
    return subprocess.run([sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False)


def test_a_bad_setting_fails_with_the_key_and_no_stack_trace(tmp_path: Path) -> None:
    result = run_app(project_context(logRetentionDays=10), tmp_path)
    assert result.returncode == 1
    assert "Invalid setting: logRetentionDays=10" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "manifest.json").exists()


def test_good_settings_write_the_assembly(tmp_path: Path) -> None:
    result = run_app(project_context(stageName="dev"), tmp_path)
    assert result.returncode == 0, result.stderr
    template = json.loads((tmp_path / "WebSocketNotifications.template.json").read_text())
    assert template["Outputs"]["StageName"]["Value"] == "dev"
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert all(p["conclusion"] == "success" for p in report["pluginReports"])


def test_the_template_stays_region_agnostic_whatever_region_the_cli_reports(tmp_path: Path) -> None:
    # The CLI always sets CDK_DEFAULT_REGION (us-east-1 when nothing is configured): a template pinned to it
    # could not be deployed anywhere else, so app.py ignores it and the layer comes from a per-region mapping.
    result = run_app(project_context(database="sqlite-demo"), tmp_path, CDK_DEFAULT_REGION="us-east-1")
    assert result.returncode == 0, result.stderr
    template = json.loads((tmp_path / "WebSocketNotifications.template.json").read_text())
    assert any(key.startswith("SecretsExtensionArm64") for key in template["Mappings"])


CDK_CLI_OBSOLETE_FLAGS = {  # the CDK CLI never reports these (aws-cdk lib/commands/flags/operations.ts)
    "@aws-cdk/core:enableStackNameDuplicates", "@aws-cdk/aws-s3:grantWriteWithoutAcl", "@aws-cdk/aws-kms:defaultKeyPolicies",
}


def test_every_feature_flag_is_decided_so_synth_prints_no_flag_notice(default: Synthesis) -> None:
    """Issue 14: `make synth` ended with "80 feature flags are not configured". The CLI counts the
    app's flags that cdk.json leaves unset and whose default is not the recommended value (its
    FlagOperations.filterNeedsAttention); cdk.json now records each one at its current default, so
    the template is unchanged (snapshot) and nothing is left undecided."""
    manifest = json.loads((default.outdir / "manifest.json").read_text())
    (report,) = [a for a in manifest["artifacts"].values() if a["type"] == "cdk:feature-flag-report"]
    undecided = sorted(
        name for name, flag in report["properties"]["flags"].items()
        if name not in CDK_CLI_OBSOLETE_FLAGS and flag.get("userValue") is None
        and (flag.get("unconfiguredBehavesLike") or {}).get("v2", False) != flag.get("recommendedValue")
    )
    assert undecided == []
