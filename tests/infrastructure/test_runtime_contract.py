"""The CDK side and the runtime side agree on names (cdk_app never imports the runtime itself)."""
from __future__ import annotations

import ast
import importlib

from websocket_service import config

from cdk_app import runtime_contract as rc
from cdk_app.runtime_contract import PROJECT_ROOT

from .conftest import Synthesis

EXTENSION_PREFIX = "PARAMETERS_SECRETS_EXTENSION_"
EXTENSION_PREFIXES = (EXTENSION_PREFIX, "SSM_PARAMETER_STORE_", "SECRETS_MANAGER_")
"""Variables the Parameters and Secrets extension layer reads (set by CDK's params_and_secrets)."""


def cdk_env_names() -> dict[str, str]:
    return {name: value for name, value in vars(rc).items() if name.startswith("ENV_")}


def test_every_env_name_cdk_sets_is_the_runtimes_constant_of_the_same_name() -> None:
    for name, value in cdk_env_names().items():
        assert getattr(config, name) == value, name
    assert set(cdk_env_names().values()) <= config.ALL_ENV_NAMES


def test_metric_and_namespace_agree_with_the_runtime() -> None:
    assert rc.FAILED_DELIVERIES_METRIC == config.FAILED_DELIVERIES_METRIC
    assert rc.SERVICE_FAILURES_METRIC == config.SERVICE_FAILURES_METRIC
    assert rc.DEFAULT_METRICS_NAMESPACE == config.DEFAULT_METRICS_NAMESPACE


def test_handler_string_points_at_a_callable() -> None:
    module_name, _, attribute = rc.HANDLER.rpartition(".")
    assert callable(getattr(importlib.import_module(module_name), attribute))


def test_cdk_app_never_imports_the_runtime() -> None:
    for path in (PROJECT_ROOT / "cdk_app").glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not any(m.split(".")[0] == rc.PACKAGE_NAME for m in imported), path.name


def test_the_functions_environment_uses_only_runtime_names(default: Synthesis) -> None:
    function = default.handler_function()
    names = set(function["Properties"]["Environment"]["Variables"])
    ours = {n for n in names if not n.startswith(EXTENSION_PREFIXES)}
    assert ours <= config.ALL_ENV_NAMES
    assert {rc.ENV_MANAGEMENT_ENDPOINT, rc.ENV_CONNECTION_TTL_MINUTES, rc.ENV_ALLOWED_CONNECTION_TYPES,
            rc.ENV_MAX_CONNECTIONS_PER_EMAIL, rc.ENV_METRICS_NAMESPACE, rc.ENV_LOG_LEVEL} <= ours
    assert f"{EXTENSION_PREFIX}HTTP_PORT" in names  # the extension the runtime reads secrets through
