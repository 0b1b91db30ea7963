"""checkov on every synthesized configuration: no failed check, and every skip is in code with its reason.

checkov runs once over all the configurations' templates (from its own pinned virtualenv,
``.venv-tools``, created by ``make tools``; ``make test`` makes it). A check the stack fails by design
is skipped on its resource with :func:`cdk_app.compliance.skip_checkov`, never on the command line.
"""
from __future__ import annotations

import json
import os
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest

from cdk_app.compliance import MIN_REASON_LENGTH
from cdk_app.runtime_contract import PROJECT_ROOT

from .conftest import CONFIGURATIONS, SynthFn

CHECKOV = PROJECT_ROOT / ".venv-tools" / "bin" / "checkov"
CHECKOV_TIMEOUT_S = 600


@dataclass
class CheckovResults:
    """checkov's results for one template."""

    passed: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def ids(self, outcome: str) -> set[tuple[str, str]]:
        """(check id, logical id) pairs of ``outcome`` (``passed``, ``failed`` or ``skipped``)."""
        return {(c["check_id"], c["resource"].split(".", 1)[1]) for c in getattr(self, outcome)}


@pytest.fixture(scope="session")
def checkov(synth: SynthFn) -> dict[str, CheckovResults]:
    """checkov's results per configuration name (one checkov run for all of them)."""
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed at {CHECKOV}: run `make tools` (`make test` does it first)")
    templates = {str(synth(name).template_path.resolve()): name for name in CONFIGURATIONS}
    command = [str(CHECKOV), "--framework", "cloudformation", "--output", "json", "--skip-download", "--compact"]
    for path in templates:
        command += ["--file", path]
    env = {k: v for k, v in os.environ.items() if k != "LOG_LEVEL"}  # checkov reads LOG_LEVEL too
    run = subprocess.run(command, capture_output=True, text=True, timeout=CHECKOV_TIMEOUT_S, env=env, check=False)
    assert run.returncode in (0, 1), f"checkov crashed ({run.returncode}):\n{run.stderr[-4000:]}"
    report = json.loads(run.stdout)
    assert isinstance(report, dict) and report.get("check_type") == "cloudformation", run.stdout[:2000]
    assert report["results"]["parsing_errors"] == []
    results: dict[str, CheckovResults] = defaultdict(CheckovResults)
    for outcome in ("passed", "failed", "skipped"):
        for check in report["results"][f"{outcome}_checks"]:
            getattr(results[templates[check["file_abs_path"]]], outcome).append(check)
    return dict(results)


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_checkov_finds_no_failed_check(checkov: dict[str, CheckovResults], name: str) -> None:
    results = checkov[name]
    assert len(results.passed) >= 20, "checkov evaluated (almost) nothing: is the template empty?"
    failures = [f"{c['check_id']} {c['check_name']!r} on {c['resource']}" for c in results.failed]
    assert failures == [], "fix each, or skip it on its resource with cdk_app.compliance.skip_checkov and a reason"


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_every_checkov_skip_sits_on_its_resource_with_a_reason(
    synth: SynthFn, checkov: dict[str, CheckovResults], name: str
) -> None:
    resources = synth(name).template_json["Resources"]
    for check in checkov[name].skipped:
        logical_id = check["resource"].split(".", 1)[1]
        in_template = {s["id"]: s["comment"] for s in resources[logical_id]["Metadata"]["checkov"]["skip"]}
        assert in_template[check["check_id"]] == check["check_result"]["suppress_comment"]
        assert len(check["check_result"]["suppress_comment"]) >= MIN_REASON_LENGTH, check["check_id"]


def test_the_default_stack_skips_exactly_the_known_checks(synth: SynthFn, checkov: dict[str, CheckovResults]) -> None:
    default = synth("default")

    def only(resource_type: str, prefix: str = "") -> str:
        (logical_id,) = [k for k in default.resources(resource_type) if k.startswith(prefix)]
        return logical_id

    account_logging = only("AWS::Lambda::Function", "ApiGatewayAccountLogging")
    # CDK's own helpers: the log-retention function (RDS's postgresql log group) and the SDK-call function
    # (the NAT image read once at create), invoked by CloudFormation, holding no data.
    log_retention = only("AWS::Lambda::Function", "LogRetention")
    sdk_call = only("AWS::Lambda::Function", "AWS679f53fac002430cb0da5b7982bd2287")
    expected = {
        *{(check, helper) for check in ("CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117") for helper in (log_retention, sdk_call)},
        ("CKV_AWS_111", only("AWS::IAM::Policy", "LogRetention")),  # put/delete retention on a name known at deploy
        *{("CKV_AWS_173", default.function_id(w)) for w in ("route", "ops")},  # settings and ARNs only
        # the custom resource's handler: invoked by CloudFormation, calls a public AWS API, runs once per deploy
        ("CKV_AWS_116", account_logging), ("CKV_AWS_117", account_logging), ("CKV_AWS_115", account_logging),
        ("CKV_AWS_162", only("AWS::RDS::DBCluster")),  # password from Secrets Manager, no IAM database auth
        ("CKV_AWS_118", only("AWS::RDS::DBInstance")),  # no enhanced monitoring on a database that scales to zero
        ("CKV_AWS_149", only("AWS::SecretsManager::Secret", "WebSocketNotificationsDatabaseClusterSecret")),
        ("CKV_AWS_88", only("AWS::EC2::Instance")),  # a NAT instance needs its public IP
    }
    assert checkov["default"].ids("skipped") == expected


def test_a_function_in_a_vpc_passes_the_vpc_check_instead_of_skipping_it(
    synth: SynthFn, checkov: dict[str, CheckovResults]
) -> None:
    vpc = synth("vpc_database")
    for function_id in (vpc.function_id("route"), vpc.function_id("ops")):
        assert ("CKV_AWS_117", function_id) in checkov["vpc_database"].ids("passed")
        assert ("CKV_AWS_117", function_id) not in checkov["vpc_database"].ids("skipped")


def test_encryption_checks_pass_rather_than_being_skipped(checkov: dict[str, CheckovResults]) -> None:
    # KMS for log groups (158), queues (27) and the token secret (149): fixed with the stack's key.
    for check_id in ("CKV_AWS_158", "CKV_AWS_27", "CKV_AWS_149"):
        assert any(c == check_id for c, _ in checkov["default"].ids("passed")), check_id
    for check_id in ("CKV_AWS_158", "CKV_AWS_27"):
        assert not any(c == check_id for results in checkov.values() for c, _ in results.ids("skipped")), check_id
    # 149 is skipped only on the secret RDS generates for the cluster the stack creates (AWS-managed key).
    assert {r for results in checkov.values() for c, r in results.ids("skipped") if c == "CKV_AWS_149"} <= {
        r for results in checkov.values() for c, r in results.ids("passed") | results.ids("skipped")
        if r.startswith("WebSocketNotificationsDatabaseClusterSecret")}
