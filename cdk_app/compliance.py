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
