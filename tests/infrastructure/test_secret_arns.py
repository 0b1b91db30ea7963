"""Secrets Manager ARNs by their real shape, grants for partial ARNs, KMS keys, RDS-managed secrets."""
from __future__ import annotations

import json

import pytest

from cdk_app import runtime_contract as rc
from cdk_app.secrets import ArnShape, arn_shape

from .conftest import KMS_KEY_ARN, RDS_SECRET_PARTIAL_ARN, SynthFn

PREFIX = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("prod/db-master-AbC12x", ArnShape.COMPLETE),
        ("rds-secret-a1b2c3", ArnShape.COMPLETE),
        ("rds!cluster-0aB1c2", ArnShape.COMPLETE),  # RDS-managed secrets' names
        ("websocket/connect-token-XyZ789", ArnShape.COMPLETE),
        ("prod/websocket-db", ArnShape.PARTIAL),
        ("websocket", ArnShape.PARTIAL),
        ("prod/db_master", ArnShape.PARTIAL),
        ("rds-secret", ArnShape.AMBIGUOUS),  # '-secret' looks like a random suffix
        ("prod/db-master", ArnShape.AMBIGUOUS),
    ],
)
def test_arn_shape(name: str, shape: ArnShape) -> None:
    assert arn_shape(PREFIX + name) is shape


def secret_statements(synthesis) -> list[dict]:
    return [s for p in synthesis.handler_policies() for s in p["Properties"]["PolicyDocument"]["Statement"]
            if "secretsmanager" in json.dumps(s["Action"])]


def test_an_ambiguous_partial_arn_is_granted_with_the_suffix_wildcard_and_as_written(synth: SynthFn) -> None:
    resources = json.dumps([s["Resource"] for s in secret_statements(synth("rds_managed_secret"))])
    assert f'"{RDS_SECRET_PARTIAL_ARN}-??????"' in resources  # the partial ARN the migration reads with
    assert f'"{RDS_SECRET_PARTIAL_ARN}"' in resources  # in case it was the complete ARN of secret 'rds'


def test_a_complete_arn_is_granted_exactly(synth: SynthFn) -> None:
    resources = json.dumps([s["Resource"] for s in secret_statements(synth("vpc_database"))])
    assert "??????" not in resources and "prod/websocket-db-AbC123" in resources


def test_customer_managed_key_is_granted_decrypt_through_secrets_manager_only(synth: SynthFn) -> None:
    statements = [s for p in synth("rds_managed_secret").handler_policies() for s in p["Properties"]["PolicyDocument"]["Statement"]
                  if "kms:" in json.dumps(s["Action"]) and s["Resource"] == KMS_KEY_ARN]
    assert statements == [{
        "Action": "kms:Decrypt", "Effect": "Allow", "Resource": KMS_KEY_ARN,
        "Condition": {"StringEquals": {"kms:ViaService": {"Fn::Join": ["", [
            "secretsmanager.", {"Ref": "AWS::Region"}, ".", {"Ref": "AWS::URLSuffix"}]]}}},
    }]


def test_rds_managed_secret_gets_host_port_and_dbname_from_settings(synth: SynthFn) -> None:
    env = synth("rds_managed_secret").handler_function()["Properties"]["Environment"]["Variables"]
    assert env[rc.ENV_DATABASE_SECRET_ARN] == RDS_SECRET_PARTIAL_ARN
    assert (env[rc.ENV_DATABASE_HOST], env[rc.ENV_DATABASE_PORT], env[rc.ENV_DATABASE_NAME]) == (
        "db.cluster-abc.us-east-1.rds.amazonaws.com", "5433", "careconnect")
    assert rc.ENV_DB_CONNECT_TIMEOUT_SECONDS not in env  # only a database that pauses needs the long timeout
