"""Every region AWS lists: the extension layer (or its absence) per region and architecture.

The layer table is checked for every region aws-cdk-lib knows (cheap: no synth per region); the
region-agnostic template's mapping and condition are checked against that table; a few
representative regions are synthesized for real (layer present, arm64 missing, China, GovCloud,
a region without the extension, and a refused ISO region).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import region_info

from cdk_app.application import STACK_ID, build_app
from cdk_app.extension_layer import (
    EXTENSION_VERSION_NUMBER,
    SUPPORTED_PARTITIONS,
    check_region,
    layer_arn,
    layer_arns,
    regions,
    supported_regions,
)
from cdk_app.settings import ARCHITECTURES, SettingsError

from .conftest import Synthesis, project_context

ALL_REGIONS = [r.name for r in regions()]
LAYER_NAMES = {"arm64": "AWS-Parameters-and-Secrets-Lambda-Extension-Arm64", "x86_64": "AWS-Parameters-and-Secrets-Lambda-Extension"}


def test_aws_cdk_lists_the_regions_the_issue_names() -> None:
    named = {"ap-northeast-3", "eu-central-2", "me-central-1", "ca-west-1", "il-central-1", "mx-central-1",
             "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ap-south-2", "eu-south-2",
             "ap-east-2", "cn-north-1", "cn-northwest-1", "us-gov-west-1", "us-gov-east-1"}
    assert named <= set(supported_regions())


@pytest.mark.parametrize("region", ALL_REGIONS)
def test_every_region_is_served_with_the_layer_where_published_or_refused_in_one_line(region: str) -> None:
    info = region_info.RegionInfo.get(region)
    if info.partition not in SUPPORTED_PARTITIONS:
        with pytest.raises(ValueError) as error:
            check_region(region)
        assert "\n" not in str(error.value) and region in str(error.value) and info.partition in str(error.value)
        return
    check_region(region)  # served
    for architecture in ARCHITECTURES:
        arn = layer_arn(region, architecture)
        fact = region_info.Fact.find(
            region, region_info.FactName.params_and_secrets_lambda_layer(EXTENSION_VERSION_NUMBER, architecture)
        )
        assert arn == fact  # exactly AWS's published table, as aws-cdk-lib carries it
        if arn is not None:
            partition, service, arn_region, _account, kind, name, _version = arn.split(":")[1:]
            assert (partition, service, arn_region, kind, name) == (info.partition, "lambda", region, "layer",
                                                                    LAYER_NAMES[architecture])
        assert (region in layer_arns(architecture)) == (arn is not None)


def test_layer_coverage_is_what_aws_publishes() -> None:
    x86, arm = layer_arns("x86_64"), layer_arns("arm64")
    assert set(arm) <= set(x86)  # arm64 is published in fewer regions
    assert {"us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"} <= set(x86)
    assert "us-gov-west-1" not in arm and "cn-north-1" not in arm
    assert not {"ap-southeast-7", "mx-central-1", "ca-west-1"} & set(x86)  # served without the layer


def regions_in_condition(expression: Any, conditions: dict[str, Any]) -> set[str]:
    """The AWS::Region values a (nested) Fn::Or / Fn::Equals / Condition expression accepts."""
    if isinstance(expression, dict):
        if "Fn::Equals" in expression:
            left, right = expression["Fn::Equals"]
            assert left == {"Ref": "AWS::Region"}
            return {right}
        if "Fn::Or" in expression:
            assert 2 <= len(expression["Fn::Or"]) <= 10  # CloudFormation's limits
            return set().union(*(regions_in_condition(e, conditions) for e in expression["Fn::Or"]))
        if "Condition" in expression:
            return regions_in_condition(conditions[expression["Condition"]], conditions)
    raise AssertionError(f"unexpected condition expression {expression!r}")


@pytest.mark.parametrize("name", ["default", "tokens_disabled"])
def test_region_agnostic_template_deploys_everywhere(synth, name: str) -> None:
    synthesis: Synthesis = synth(name)
    architecture = "x86_64" if name == "tokens_disabled" else "arm64"
    (condition_id, value, otherwise) = synthesis.handler_function()["Properties"]["Layers"][0]["Fn::If"]
    mapping_id = value["Fn::FindInMap"][0]
    mapping = synthesis.template_json["Mappings"][mapping_id]
    assert {region: entry["arn"] for region, entry in mapping.items()} == layer_arns(architecture)
    conditions = synthesis.template_json["Conditions"]
    assert regions_in_condition(conditions[condition_id], conditions) == set(mapping)
    assert otherwise == {"Ref": "AWS::NoValue"}  # elsewhere: no layer, the runtime reads secrets with boto3
    # No other mapping could fail with "Unable to get mapping" in a region it does not list.
    functions = {synthesis.function_id("route"), synthesis.function_id("ops")}
    for function_id in functions:  # both functions choose the layer the same way
        assert synthesis.template_json["Resources"][function_id]["Properties"]["Layers"][0]["Fn::If"] == [
            condition_id, value, otherwise]
    assert "FindInMap" not in json.dumps({k: v for k, v in synthesis.template_json["Resources"].items()
                                          if k not in functions})


def synth_for_region(region: str, tmp_path: Path, **context: Any) -> dict[str, Any]:
    """Synthesize for one region, with cdk-nag on: any unacknowledged finding fails the synth."""
    app, _stack = build_app(context=project_context(**context), outdir=str(tmp_path), region=region)
    app.synth()
    return json.loads((tmp_path / f"{STACK_ID}.template.json").read_text())


def handler_layers(template: dict[str, Any]) -> list[Any] | None:
    (function,) = [v for k, v in template["Resources"].items()
                   if k.startswith("HandlerFunction") and v["Type"] == "AWS::Lambda::Function"]
    return function["Properties"].get("Layers")


@pytest.mark.parametrize(
    ("region", "architecture", "database"),
    [
        ("us-east-1", "arm64", "create"),  # layer published for arm64
        ("ap-southeast-7", "arm64", "create"),  # a new region without the extension: no layer, boto3
        ("cn-north-1", "x86_64", "sqlite-demo"),  # China
        ("us-gov-west-1", "arm64", "sqlite-demo"),  # GovCloud: x86_64 only, so no arm64 layer
    ],
)
def test_synth_for_one_region_carries_that_regions_layer_or_none(
    tmp_path: Path, region: str, architecture: str, database: str
) -> None:
    template = synth_for_region(region, tmp_path, architecture=architecture, database=database)
    expected = layer_arn(region, architecture)
    assert handler_layers(template) == ([expected] if expected else None)
    assert "Mappings" not in template or not any("arn" in json.dumps(m) for m in template["Mappings"].values())


def test_synth_refuses_an_iso_region_with_a_one_line_reason() -> None:
    with pytest.raises(SettingsError) as error:
        build_app(context=project_context(), region="us-iso-east-1", compliance_checks=False)
    assert str(error.value) == (
        "region us-iso-east-1 is in partition aws-iso, which this stack does not support "
        "(supported: aws, aws-cn, aws-us-gov)"
    )


def test_a_region_newer_than_aws_cdk_is_served_without_the_layer() -> None:
    check_region("xx-future-1")  # not refused: the region-agnostic template deploys there too
    assert layer_arn("xx-future-1", "arm64") is None and layer_arn("xx-future-1", "x86_64") is None
