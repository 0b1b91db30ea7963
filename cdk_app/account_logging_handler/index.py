"""Custom resource: register API Gateway's CloudWatch Logs role only if the account has none.

CloudFormation sends Create/Update/Delete with ``ResourceProperties.RoleArn`` (the role this stack
made). On Create and Update the handler reads the account settings (``GetAccount``) and sets
``cloudwatchRoleArn`` (``UpdateAccount``) only when it is empty: another team's role is never
overwritten. Delete changes nothing, because other APIs in the region log through that role too.
The answer (SUCCESS or FAILED with a reason) is PUT to the pre-signed ``ResponseURL`` before the
invocation's time runs out. Runs on the Lambda Python runtime (boto3 included); no CDK imports.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import time
import urllib.request
from typing import Any
from urllib.parse import urlsplit

PHYSICAL_ID = "api-gateway-account-cloudwatch-role"
RESPONSE_TIMEOUT_S = 10.0
RESERVE_MS = 15_000
"""Time kept back to send the answer to CloudFormation."""
RETRY_DELAY_S = 5.0
"""A role created moments ago may not be usable yet (IAM is eventually consistent): retry UpdateAccount."""
CONNECT_TIMEOUT_S, READ_TIMEOUT_S, ATTEMPTS = 5, 10, 2
CALL_BUDGET_S = (CONNECT_TIMEOUT_S + READ_TIMEOUT_S) * ATTEMPTS
"""The longest one API Gateway call can take; a call is only started when this much time is left."""


def _client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "apigateway",
        config=Config(
            connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
            retries={"total_max_attempts": ATTEMPTS, "mode": "standard"},
        ),
    )


def ensure_role(client: Any, role_arn: str, deadline: float) -> dict[str, str]:
    """Set ``role_arn`` as the account's CloudWatch role if none is set; return what the account uses."""
    from botocore.exceptions import ClientError

    _check_time(deadline)
    current = client.get_account().get("cloudwatchRoleArn")
    if current:
        return {"RoleArn": current, "Registered": "false"}
    while True:
        _check_time(deadline)
        try:
            client.update_account(
                patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role_arn}]
            )
            return {"RoleArn": role_arn, "Registered": "true"}
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code != "BadRequestException" or time.monotonic() + RETRY_DELAY_S + CALL_BUDGET_S > deadline:
                raise
        time.sleep(RETRY_DELAY_S)


def _check_time(deadline: float) -> None:
    """Refuse to start a call that might not end before the answer to CloudFormation is due."""
    if time.monotonic() + CALL_BUDGET_S > deadline:
        raise TimeoutError("not enough time left in the invocation to call API Gateway; retry the deploy")


RESPONSE_HOST = re.compile(
    r"cloudformation-custom-resource-response-[a-z0-9]+\.s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com(?:\.cn)?"
)
"""CloudFormation's response buckets in every partition (``cfn-vpce-bucketnames.html``): the same
rule as the service handler's ``CFN_RESPONSE_HOST`` (this asset cannot import it; a test keeps
the two in agreement)."""


LOOPBACK_ENV = "CFN_RESPONSE_ALLOW_LOOPBACK"
"""Tests only (the stack never sets it), as for the service: ``true`` also accepts a loopback
``ResponseURL``, where tests run a stand-in for CloudFormation's bucket."""


def response_url(value: Any) -> str:
    """``ResponseURL`` if it is https on CloudFormation's response hosts, else ``ValueError``:
    a forged event must not make this function PUT to an address of the sender's choosing."""
    parts = urlsplit(value if isinstance(value, str) else "")
    if parts.scheme == "https" and RESPONSE_HOST.fullmatch(parts.hostname or "") and not parts.username:
        return value
    if os.environ.get(LOOPBACK_ENV, "").strip().lower() == "true" and parts.scheme in ("http", "https"):
        host = parts.hostname or ""
        try:
            if host == "localhost" or ipaddress.ip_address(host).is_loopback:
                return value
        except ValueError:
            pass
    raise ValueError("ResponseURL is not an https URL on CloudFormation's response bucket; nothing was sent")


def send(event: dict[str, Any], status: str, data: dict[str, str], reason: str) -> None:
    """PUT the custom-resource answer to CloudFormation's pre-signed URL (refused, ``ValueError``,
    when it is not on CloudFormation's response hosts)."""
    url = response_url(event.get("ResponseURL"))
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000],
            "PhysicalResourceId": event.get("PhysicalResourceId") or PHYSICAL_ID,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": data,
        }
    ).encode()
    request = urllib.request.Request(
        url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=RESPONSE_TIMEOUT_S):
        pass


def handler(event: dict[str, Any], context: Any) -> None:
    """Entry point of the custom resource."""
    try:
        response_url(event.get("ResponseURL"))
    except ValueError as error:  # checked before any account call: a forged event changes nothing
        print(json.dumps({"level": "WARNING", "request": event.get("RequestType"), "status": "refused",
                          "reason": str(error)}))
        return
    deadline = time.monotonic() + max(0, context.get_remaining_time_in_millis() - RESERVE_MS) / 1000
    data: dict[str, str] = {}
    try:
        if event["RequestType"] in ("Create", "Update"):
            data = ensure_role(_client(), event["ResourceProperties"]["RoleArn"], deadline)
            reason = (
                "registered this stack's role" if data["Registered"] == "true"
                else "the account already has a CloudWatch Logs role; left unchanged"
            )
        else:
            reason = "account settings are left as they are on delete (other APIs may log through the role)"
        status = "SUCCESS"
    except Exception as error:  # noqa: BLE001 - every failure must reach CloudFormation as FAILED
        status, reason = "FAILED", f"{type(error).__name__}: {error}"
    print(json.dumps({"level": "INFO" if status == "SUCCESS" else "ERROR", "request": event.get("RequestType"),
                      "status": status, "reason": reason}))
    send(event, status, data, reason)
