"""Where the AWS Parameters and Secrets Lambda Extension exists, and the function's layer for it.

The extension is published per region and architecture (arm64 is missing in several regions, and
newer regions have neither). Its ARNs come from aws-cdk-lib's region facts for
:data:`EXTENSION_VERSION`. The function works without it: the runtime reads secrets with boto3 when
nothing answers on the extension's port (``websocket_service.secrets``). So:

* a template for one region (``build_app(region=...)``) carries the layer if it exists there,
  and none otherwise;
* a region-agnostic template (the default) carries a mapping of the regions that have it and a
  condition, so it deploys in EVERY region: with the layer where it exists, without it elsewhere;
* regions outside :data:`SUPPORTED_PARTITIONS` (the isolated ISO partitions) are refused at synth.

To move to a newer extension release: bump aws-cdk-lib, set :data:`EXTENSION_VERSION` to the newest
``ParamsAndSecretsVersions`` member, run the region test (tests/infrastructure/test_regions.py) and
refresh the snapshot.
"""
from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import region_info
from constructs import Construct

EXTENSION_VERSION = lambda_.ParamsAndSecretsVersions.V1_0_103
"""Newest extension release aws-cdk-lib 2.275 knows (1.0.103, with the fixes published for it)."""
EXTENSION_VERSION_NUMBER = EXTENSION_VERSION.value.removeprefix("V").replace("_", ".")
"""``1.0.103``: the key of aws-cdk-lib's region facts."""
SUPPORTED_PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
"""Commercial, China and GovCloud. The ISO partitions lack services the stack uses."""
MAX_CONDITIONS_PER_OR = 10
"""CloudFormation's Fn::Or takes 2 to 10 conditions."""


class UnsupportedRegionError(ValueError):
    """The stack cannot be deployed to this region; the message says why in one line."""


def regions() -> list[region_info.RegionInfo]:
    """Every region aws-cdk-lib lists, in name order."""
    return sorted(region_info.RegionInfo.regions, key=lambda r: r.name)


def supported_regions() -> list[str]:
    """Regions in the partitions the stack supports."""
    return [r.name for r in regions() if r.partition in SUPPORTED_PARTITIONS]


def layer_arn(region: str, architecture: str) -> str | None:
    """The extension layer's ARN in ``region`` for ``architecture``, or None where it is not published."""
    fact = region_info.FactName.params_and_secrets_lambda_layer(EXTENSION_VERSION_NUMBER, architecture)
    return region_info.Fact.find(region, fact)


def layer_arns(architecture: str) -> dict[str, str]:
    """``{region: layer ARN}`` for every supported region where the extension exists for ``architecture``."""
    return {name: arn for name in supported_regions() if (arn := layer_arn(name, architecture))}


def check_region(region: str) -> None:
    """Raise :class:`UnsupportedRegionError` for a region the stack cannot serve."""
    info = region_info.RegionInfo.get(region)
    partition = info.partition
    if partition is None:
        return  # a region newer than aws-cdk-lib: served like any commercial region without the layer
    if partition not in SUPPORTED_PARTITIONS:
        raise UnsupportedRegionError(
            f"region {region} is in partition {partition}, which this stack does not support "
            f"(supported: {', '.join(SUPPORTED_PARTITIONS)})"
        )


class SecretsExtensionLayer(Construct):
    """Chooses the extension layer for the function's region and architecture.

    :attr:`layer` is None when the region is known and the extension does not exist there; for a
    region-agnostic stack it is a layer whose ARN is conditional (``AWS::NoValue`` elsewhere).

    :param architecture: ``arm64`` or ``x86_64``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, architecture: str) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.available_in = layer_arns(architecture)
        self.condition: cdk.CfnCondition | None = None
        if not cdk.Token.is_unresolved(stack.region):
            arn = self.available_in.get(stack.region)
        else:
            mapping = cdk.CfnMapping(
                self, "Arns", mapping={region: {"arn": value} for region, value in self.available_in.items()}
            )
            self.condition = cdk.CfnCondition(self, "Available", expression=self._region_in(list(self.available_in)))
            arn = cdk.Fn.condition_if(
                self.condition.logical_id, mapping.find_in_map(cdk.Aws.REGION, "arn"), cdk.Aws.NO_VALUE
            ).to_string()
        self.layer: lambda_.ParamsAndSecretsLayerVersion | None = (
            lambda_.ParamsAndSecretsLayerVersion.from_version_arn(arn, log_level=lambda_.ParamsAndSecretsLogLevel.WARN)
            if arn
            else None
        )

    @classmethod
    def of(cls, scope: Construct, *, architecture: str) -> "SecretsExtensionLayer":
        """The stack's one layer choice for ``architecture`` (created on first use), so functions
        of the same architecture share one mapping and one condition."""
        stack = cdk.Stack.of(scope)
        construct_id = f"SecretsExtension{architecture.replace('_', '').capitalize()}"
        existing = stack.node.try_find_child(construct_id)
        if isinstance(existing, cls):
            return existing
        return cls(stack, construct_id, architecture=architecture)

    def _region_in(self, names: list[str]) -> cdk.ICfnConditionExpression:
        """``AWS::Region`` is one of ``names`` (nested Fn::Or, at most 10 conditions each)."""
        conditions: list[cdk.ICfnConditionExpression] = [cdk.Fn.condition_equals(cdk.Aws.REGION, n) for n in names]
        while len(conditions) > 1:
            conditions = [
                cdk.Fn.condition_or(*chunk) if len(chunk) > 1 else chunk[0]
                for chunk in (
                    conditions[i : i + MAX_CONDITIONS_PER_OR] for i in range(0, len(conditions), MAX_CONDITIONS_PER_OR)
                )
            ]
        return conditions[0]
