"""Recording, next to the resource concerned, why a checkov check does not apply to it.

checkov reads suppressions for CloudFormation from the resource's ``Metadata``::

    Metadata:
      checkov:
        skip:
          - id: CKV_AWS_117
            comment: why this resource is deliberately so

The tests run checkov on every synthesized configuration and require every failed check to be
fixed or skipped this way, each skip with its reason.
"""
from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

MIN_REASON_LENGTH = 40
"""A reason shorter than this cannot explain anything (the tests hold every skip to it)."""


def skip_checkov(construct: Construct, check_id: str, reason: str) -> None:
    """Suppress checkov's ``check_id`` on ``construct``'s CloudFormation resource, with ``reason``.

    ``construct`` is a ``CfnResource`` or an L2 whose ``node.default_child`` is one. Skips
    accumulate; skipping the same check again replaces its reason.
    """
    resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    if not isinstance(resource, cdk.CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to carry a checkov skip")
    if len(reason) < MIN_REASON_LENGTH:
        raise ValueError(f"the reason for skipping {check_id} must say why (at least {MIN_REASON_LENGTH} characters)")
    existing = resource.get_metadata("checkov") or {}
    skips = [skip for skip in existing.get("skip", []) if skip["id"] != check_id]
    resource.add_metadata("checkov", {**existing, "skip": [*skips, {"id": check_id, "comment": reason}]})


BASIC_EXECUTION_POLICY_FINDING = (
    "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"
)
"""cdk-nag's finding for the AWS-managed logging policy on CDK's own helper functions' roles."""


def cdk_helper(scope: Construct, id_prefix: str) -> Construct:
    """The singleton helper construct (a custom-resource function) CDK added at the top of ``scope``'s stack."""
    stack = cdk.Stack.of(scope)
    found = next((c for c in stack.node.children if c.node.id.startswith(id_prefix)), None)
    if found is None:
        raise RuntimeError(f"CDK created no helper construct {id_prefix}* in {stack.node.path}")
    return found


def skip_checkov_for_cdk_helper_function(function: Construct, *, name: str, calls: str) -> None:
    """The checkov skips every CDK custom-resource helper function needs: ``name`` says which helper,
    ``calls`` what it calls (it holds no data, so no VPC)."""
    for check, reason in (
        ("CKV_AWS_115", f"{name} runs only during deploys; a concurrency reservation would take from the "
         "account's unreserved pool for nothing"),
        ("CKV_AWS_116", f"{name} is a custom resource: CloudFormation gets its failure directly, there is no "
         "asynchronous event to keep"),
        ("CKV_AWS_117", f"{name} only calls {calls}; it holds no data and needs no VPC"),
    ):
        skip_checkov(function, check, reason)
