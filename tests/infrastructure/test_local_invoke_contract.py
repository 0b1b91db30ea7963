"""The local gateway's Lambda Invoke API stands in for the deployed ops function: same timeout."""
from __future__ import annotations

from cdk_app.settings import StackSettings
from local_gateway.lambda_api import DEFAULT_FUNCTION_TIMEOUT_S


def test_local_invokes_time_out_like_the_deployed_ops_function() -> None:
    assert DEFAULT_FUNCTION_TIMEOUT_S == StackSettings.ops_function_timeout_seconds
