"""cdk-nag (AwsSolutions + Serverless) and cfn-lint on every configuration."""
from __future__ import annotations


import pytest
from cfnlint.api import lint_file

from .conftest import CONFIGURATIONS, SynthFn, Synthesis

PACKS = {"AwsSolutions", "Serverless"}
CDK_OWN_ACKNOWLEDGEMENTS = {
    "CloudFormation-Validate::W3010",  # the AZs of the VPC the stack creates
    "CloudFormation-Validate::F3002",  # the flow log's camelCase DestinationOptions
    "CloudFormation-Validate::F3003",  # (same)
}
"""aws-cdk-lib acknowledges these itself on the VPC it builds (database=create)."""


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_cdk_nag_reports_no_unacknowledged_findings(synth: SynthFn, name: str) -> None:
    synthesis = synth(name)
    report = synthesis.validation_report()
    findings = [
        f"{v['ruleName']} at {[c['constructPath'] for c in v['violatingConstructs']]}"
        for plugin in report["pluginReports"] for v in plugin["violations"]
    ]
    assert synthesis.validation_error is None, "\n".join(findings) or synthesis.validation_error
    assert findings == []
    assert {p["pluginName"] for p in report["pluginReports"]} == PACKS
    assert all(p["conclusion"] == "success" for p in report["pluginReports"])


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_every_acknowledgement_has_a_reason(synth: SynthFn, name: str) -> None:
    acknowledged = {rule: reason for entry in synth(name).entries("aws:cdk:acknowledged-rules") for rule, reason in entry.items()}
    assert acknowledged, "expected the documented acknowledgements (see the report)"
    for rule, reason in acknowledged.items():
        assert rule.split("::")[0] in PACKS or rule in CDK_OWN_ACKNOWLEDGEMENTS, rule
        assert len(reason) > 40, f"{rule}: reason too short to explain anything: {reason!r}"


def test_the_acknowledged_rules_of_the_default_stack_are_exactly_the_known_ones(default: Synthesis) -> None:
    rules = {rule.split("[")[0] for entry in default.entries("aws:cdk:acknowledged-rules") for rule in entry}
    assert rules == {
        "AwsSolutions::AwsSolutions-IAM5",  # X-Ray Resource '*'; @connections/* of this API and stage
        "AwsSolutions::AwsSolutions-IAM4",  # AWS-managed policies: API Gateway's logs role, Lambda in a VPC
        "AwsSolutions::AwsSolutions-L1",  # CDK's SDK-call function (the NAT image lookup): aws-cdk-lib's runtime
        "AwsSolutions::AwsSolutions-APIG4",  # WebSocket routes: the function checks signed tokens on $connect
        "AwsSolutions::AwsSolutions-SMG4",  # the short-lived token key and the database master secret
        "AwsSolutions::AwsSolutions-SQS3",  # DLQs need no DLQ
        "AwsSolutions::AwsSolutions-EC26",  # NAT instance root volume: encrypted through an override nag cannot see
        "AwsSolutions::AwsSolutions-EC28",  # NAT instance: no detailed monitoring
        "AwsSolutions::AwsSolutions-EC29",  # NAT instance: replaceable, no termination protection
        "AwsSolutions::AwsSolutions-RDS6",  # database login with the generated secret, not IAM tokens
        "AwsSolutions::AwsSolutions-RDS10",  # no deletion protection: a failed first deploy must roll back
        "AwsSolutions::AwsSolutions-RDS11",  # default PostgreSQL port inside a private VPC
        "Serverless::Serverless-SQSRedrivePolicy",  # DLQs have nothing to redrive to
        "Serverless::Serverless-LambdaDLQ",  # the logs-role custom resource reports failures to CloudFormation
        "Serverless::Serverless-LambdaTracing",  # ... and is not traced
        "Serverless::Serverless-LambdaDefaultMemorySize",  # ... and runs on 128 MB on purpose
    } | CDK_OWN_ACKNOWLEDGEMENTS


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_cfn_lint_finds_no_errors(synth: SynthFn, name: str) -> None:
    matches = lint_file(synth(name).template_path)
    errors = [f"{m.rule.id} {m.message} ({m.path})" for m in matches if m.rule.id.startswith("E")]
    assert errors == []


OUR_WARNINGS = {"websocket:ephemeral-store", "websocket:tokens-disabled", "websocket:no-migration-on-deploy"}


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_synth_warnings_are_only_our_documented_ones(synth: SynthFn, name: str) -> None:
    for warning in synth(name).entries("aws:cdk:warning"):
        assert any(f"[ack: {w}]" in warning for w in OUR_WARNINGS), warning
