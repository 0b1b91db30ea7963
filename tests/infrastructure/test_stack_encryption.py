"""The stack's KMS key: what it encrypts, who may use it, and for what."""
from __future__ import annotations

import json
from typing import Any

import pytest

from cdk_app.encryption import LOGS_KEY_ACTIONS, QUEUE_WRITER_KEY_ACTIONS

from .conftest import CONFIGURATIONS, SynthFn, Synthesis


def data_key(synthesis: Synthesis) -> tuple[str, dict[str, Any]]:
    keys = {k: v for k, v in synthesis.resources("AWS::KMS::Key").items() if k.startswith("DataKey")}
    assert len(keys) == 1, sorted(synthesis.resources("AWS::KMS::Key"))
    return next(iter(keys.items()))


def key_ref(synthesis: Synthesis) -> dict[str, Any]:
    return {"Fn::GetAtt": [data_key(synthesis)[0], "Arn"]}


def test_default_has_one_rotating_retained_data_key(default: Synthesis) -> None:
    _, key = data_key(default)
    assert key["Properties"]["EnableKeyRotation"] is True
    # Kept on update and stack delete (the retained log groups stay readable); removed if its own creation rolls back.
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_every_log_group_and_queue_is_encrypted_with_the_data_key(synth: SynthFn, name: str) -> None:
    synthesis = synth(name)
    for logical_id, group in synthesis.resources("AWS::Logs::LogGroup").items():
        assert group["Properties"].get("KmsKeyId") == key_ref(synthesis), logical_id
    for logical_id, queue in synthesis.resources("AWS::SQS::Queue").items():
        assert queue["Properties"].get("KmsMasterKeyId") == key_ref(synthesis), logical_id


def test_the_created_token_secret_is_encrypted_with_the_data_key(default: Synthesis) -> None:
    (secret,) = [v for k, v in default.resources("AWS::SecretsManager::Secret").items()
                 if k.startswith("SecretsConnectTokenSecret")]
    assert secret["Properties"]["KmsKeyId"] == key_ref(default)


def statements(synthesis: Synthesis) -> list[dict[str, Any]]:
    return data_key(synthesis)[1]["Properties"]["KeyPolicy"]["Statement"]


def test_cloudwatch_logs_may_use_the_key_only_for_this_accounts_log_groups(default: Synthesis) -> None:
    (logs,) = [s for s in statements(default) if s.get("Sid") == "CloudWatchLogsForThisAccountsLogGroups"]
    assert logs["Principal"] == {"Service": {"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".", {"Ref": "AWS::URLSuffix"}]]}}
    assert sorted(logs["Action"]) == sorted(LOGS_KEY_ACTIONS)
    condition = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert condition == {"Fn::Join": ["", [
        "arn:", {"Ref": "AWS::Partition"}, ":logs:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"}, ":log-group:*",
    ]]}


def service_statements(synthesis: Synthesis) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for statement in statements(synthesis):
        services = statement.get("Principal", {}).get("Service", [])  # a token (logs.{region}) is a dict
        for service in [services] if isinstance(services, str) else services if isinstance(services, list) else []:
            found[service] = statement
    return found


def test_queue_writing_services_are_limited_to_this_account_and_to_sending(synth: SynthFn) -> None:
    default, with_topic = synth("default"), synth("vpc_database")  # vpc_database has the e-mail alarm topic
    assert set(service_statements(default)) == {"events.amazonaws.com"}
    assert set(service_statements(with_topic)) == {"events.amazonaws.com", "sns.amazonaws.com"}
    for statement in service_statements(with_topic).values():
        assert sorted(statement["Action"]) == sorted(QUEUE_WRITER_KEY_ACTIONS)
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_the_function_role_may_use_the_key_only_to_send_to_its_dead_letter_queue_and_read_the_secret(
    default: Synthesis,
) -> None:
    policies = json.dumps(default.resources("AWS::IAM::Policy"))
    role_kms = [
        s for p in default.resources("AWS::IAM::Policy").values() for s in p["Properties"]["PolicyDocument"]["Statement"]
        if any(a.startswith("kms:") for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
    ]
    # One statement per function role (route and ops), each for its own dead-letter queue.
    assert role_kms == 2 * [{"Action": sorted(QUEUE_WRITER_KEY_ACTIONS), "Effect": "Allow", "Resource": key_ref(default)}], policies
    (secret_read,) = [s for s in statements(default) if s.get("Principal", {}).get("AWS", {}) == {"Fn::GetAtt": [
        next(iter(k for k in default.resources("AWS::IAM::Role") if k.startswith("RouteHandlerRole"))), "Arn"]}]
    assert secret_read["Action"] == "kms:Decrypt"
    assert "secretsmanager." in json.dumps(secret_read["Condition"]["StringEquals"]["kms:ViaService"])
