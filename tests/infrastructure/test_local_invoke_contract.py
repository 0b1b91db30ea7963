"""The local gateway's Lambda Invoke API stands in for the deployed function: same timeout."""
from __future__ import annotations

from cdk_app import handler_function
from local_gateway.lambda_api import DEFAULT_FUNCTION_TIMEOUT_S


def test_local_invokes_time_out_like_the_deployed_function() -> None:
    assert DEFAULT_FUNCTION_TIMEOUT_S == handler_function.TIMEOUT.to_seconds()
