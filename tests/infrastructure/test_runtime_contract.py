"""The CDK side and the runtime side agree on names (cdk_app never imports the runtime itself)."""
from __future__ import annotations

import ast
import importlib

import pytest
from websocket_service import config

from cdk_app import runtime_contract as rc
from cdk_app.runtime_contract import PROJECT_ROOT
from cdk_app.settings import SettingsError, StackSettings

from .conftest import Synthesis
from .test_stack_settings import KEYS as SETTINGS_FIELDS
from .test_stack_settings import Context

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


@pytest.mark.parametrize("which", ["route", "ops"])
def test_the_functions_environment_uses_only_runtime_names(default: Synthesis, which: str) -> None:
    names = set(default.function(which)["Environment"]["Variables"])
    ours = {n for n in names if not n.startswith(EXTENSION_PREFIXES)}
    assert ours <= config.ALL_ENV_NAMES
    assert {rc.ENV_MANAGEMENT_ENDPOINT, rc.ENV_CONNECTION_TTL_MINUTES, rc.ENV_ALLOWED_CONNECTION_TYPES,
            rc.ENV_MAX_CONNECTIONS_PER_EMAIL, rc.ENV_METRICS_NAMESPACE, rc.ENV_LOG_LEVEL,
            rc.ENV_MANAGEMENT_API_METHODS} <= ours
    assert f"{EXTENSION_PREFIX}HTTP_PORT" in names  # the extension the runtime reads secrets through


# --- shared defaults and bounds (written once, in the asset) --------------------------------------
def test_both_sides_read_the_same_shared_defaults_file() -> None:
    assert rc.SHARED_DEFAULTS_FILE == config.SHARED_DEFAULTS_FILE
    assert rc.SHARED_DEFAULTS == config.SHARED_DEFAULTS
    assert set(rc.SHARED_DEFAULTS) <= config.ALL_ENV_NAMES  # keyed by the variable each setting is read from


def test_every_shared_setting_is_what_the_runtime_uses_when_the_variable_is_unset() -> None:
    runtime = config.Settings.from_env({})
    for env_name, spec in config.SHARED_DEFAULTS.items():
        value = getattr(runtime, env_name.lower())
        assert (list(value) if isinstance(value, tuple) else value) == spec["default"], env_name


@pytest.mark.parametrize("env_name", sorted(n for n, spec in rc.SHARED_DEFAULTS.items() if "minimum" in spec))
def test_runtime_accepts_exactly_the_shared_integer_bounds(env_name: str) -> None:
    low, high = rc.SHARED_DEFAULTS[env_name]["minimum"], rc.SHARED_DEFAULTS[env_name]["maximum"]
    for accepted in (low, high):
        assert getattr(config.Settings.from_env({env_name: str(accepted)}), env_name.lower()) == accepted
    for refused in (low - 1, high + 1):
        with pytest.raises(config.ConfigError, match=f"{env_name}={refused} is out of range"):
            config.Settings.from_env({env_name: str(refused)})


def context_key_settings() -> list[tuple[str, dict]]:
    return sorted((name, spec) for name, spec in rc.SHARED_DEFAULTS.items() if "context_key" in spec)


@pytest.mark.parametrize(("env_name", "spec"), context_key_settings())
def test_cdk_settings_default_to_the_shared_default(env_name: str, spec: dict) -> None:
    field = SETTINGS_FIELDS[spec["context_key"]]
    default = getattr(StackSettings(), field)
    assert (list(default) if isinstance(default, tuple) else default) == spec["default"], env_name


ROOM_FOR_THE_MAXIMUM = {
    "databaseStatementTimeoutMs": {"routeFunctionTimeoutSeconds": 28},
    "cleanupTimeBudgetSeconds": {"opsFunctionTimeoutSeconds": 900},
}
"""Function timeouts that make room for a runtime setting's maximum (they must stay under them)."""


@pytest.mark.parametrize(("env_name", "spec"), [(n, s) for n, s in context_key_settings() if "minimum" in s])
def test_cdk_settings_accept_exactly_the_shared_integer_bounds(env_name: str, spec: dict) -> None:
    key, field = spec["context_key"], SETTINGS_FIELDS[spec["context_key"]]
    room = ROOM_FOR_THE_MAXIMUM.get(key, {})
    for accepted in (spec["minimum"], spec["maximum"]):
        assert getattr(StackSettings.from_context(Context({**room, key: accepted})), field) == accepted
    for refused in (spec["minimum"] - 1, spec["maximum"] + 1):
        with pytest.raises(SettingsError, match=f"{key}={refused} is out of range"):
            StackSettings.from_context(Context({**room, key: refused}))


@pytest.mark.parametrize(("env_name", "spec"), [(n, s) for n, s in context_key_settings() if "choices" in s])
def test_cdk_settings_accept_exactly_the_shared_choices(env_name: str, spec: dict) -> None:
    key, field = spec["context_key"], SETTINGS_FIELDS[spec["context_key"]]
    for choice in spec["choices"]:
        if "required" in spec:  # a list setting: the required entries plus this one
            value: object = list(dict.fromkeys([*spec["required"], choice]))
            expected: object = tuple(value)  # type: ignore[arg-type]
            raw = ",".join(value)  # type: ignore[arg-type]
        else:
            value = expected = raw = choice
        assert getattr(StackSettings.from_context(Context({key: value})), field) == expected
        assert getattr(config.Settings.from_env({env_name: raw}), env_name.lower()) == expected
    with pytest.raises(SettingsError, match=key):
        StackSettings.from_context(Context({key: "NOT-A-CHOICE"}))
    with pytest.raises(config.ConfigError, match=env_name):
        config.Settings.from_env({env_name: "NOT-A-CHOICE"})


def test_required_management_method_is_required_on_both_sides() -> None:
    (required,) = rc.SHARED_DEFAULTS[rc.ENV_MANAGEMENT_API_METHODS]["required"]
    others = [m for m in rc.SHARED_DEFAULTS[rc.ENV_MANAGEMENT_API_METHODS]["choices"] if m != required]
    with pytest.raises(SettingsError, match=f"lacks {required}"):
        StackSettings.from_context(Context({"managementApiMethods": others}))
    with pytest.raises(config.ConfigError, match=f"lacks {required}"):
        config.Settings.from_env({rc.ENV_MANAGEMENT_API_METHODS: ",".join(others)})


def test_the_pooler_the_stack_sets_is_one_the_runtime_accepts() -> None:
    assert rc.RDS_PROXY_POOLER in rc.SHARED_DEFAULTS[rc.ENV_DB_POOLER]["choices"]
    assert config.Settings.from_env({rc.ENV_DB_POOLER: rc.RDS_PROXY_POOLER}).db_pooler == rc.RDS_PROXY_POOLER
