"""The stack's settings: one typed, validated object read from CDK context.

Defaults live in ``cdk.json`` (``"context"``) and here; override any of them with
``cdk synth -c key=value``. Values given with ``-c`` arrive as strings, so numbers, booleans and
lists are accepted both as JSON values and as strings (lists as comma-separated text or JSON).
A bad value raises :class:`SettingsError` naming the key and what it accepts.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from aws_cdk import aws_logs as logs

from cdk_app.runtime_contract import DEFAULT_METRICS_NAMESPACE


class SettingsError(ValueError):
    """A context value is invalid; the message names the key and what it accepts."""


class ContextReader(Protocol):
    """What :meth:`StackSettings.from_context` needs from a construct node."""

    def try_get_context(self, key: str) -> Any:
        """Return the context value for ``key`` or None."""


# CloudWatch Logs retention periods, in days, and the RetentionDays member for each.
RETENTION_DAYS: dict[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}

ARCHITECTURES = ("arm64", "x86_64")
CONNECT_TOKEN_MODES = ("enabled", "disabled")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

_PARTITION = r"arn:aws(?:-[a-z]+)*"
_REGION_ACCOUNT = r"[a-z0-9-]+:\d{12}"
_SECRET_ARN = re.compile(rf"^{_PARTITION}:secretsmanager:{_REGION_ACCOUNT}:secret:[A-Za-z0-9/_+=.@-]+$")
_TOPIC_ARN = re.compile(rf"^{_PARTITION}:sns:{_REGION_ACCOUNT}:[A-Za-z0-9_-]{{1,256}}$")
_FUNCTION_ARN = re.compile(rf"^{_PARTITION}:lambda:{_REGION_ACCOUNT}:function:[A-Za-z0-9_-]{{1,64}}(?::[A-Za-z0-9$_-]+)?$")
_ROLE_ARN = re.compile(rf"^{_PARTITION}:iam::\d{{12}}:role/[A-Za-z0-9+=,.@_/-]{{1,512}}$")
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_STAGE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_API_NAME = re.compile(r"^[A-Za-z0-9 ._-]{1,128}$")
_CONNECTION_TYPE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SSM_PREFIX = re.compile(r"^(/[A-Za-z0-9_.-]+)+$")
_LOG_GROUP_NAME = re.compile(r"^[A-Za-z0-9_./#-]{1,512}$")
_METRICS_NAMESPACE = re.compile(r"^[A-Za-z0-9_./#:-]{1,255}$")
_RATE = re.compile(r"^rate\(([1-9]\d*) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\(\S+ \S+ \S+ \S+ \S+ \S+\)$")


@dataclass(frozen=True)
class StackSettings:
    """Validated settings of the WebSocket notification stack (see the README's settings table).

    Build it with :meth:`from_context`; every field has the documented default.
    """

    stage_name: str = "prod"
    api_name: str = "websocket-notifications"
    connection_ttl_minutes: int = 120
    cleanup_schedule: str = "rate(15 minutes)"
    allowed_connection_types: tuple[str, ...] = ("email-verification", "general")
    max_connections_per_email: int = 5
    throttling_rate_limit: float = 100.0
    throttling_burst_limit: int = 50
    log_retention_days: int = 30
    access_log_group_name: str = "/aws/apigateway/cc-websocket-api"
    create_api_gateway_logs_role: bool = False
    database_secret_arn: str | None = None
    vpc_id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    alarm_topic_arn: str | None = None
    alarm_email: str | None = None
    connection_count_alarm_threshold: int = 1000
    integration_error_alarm_threshold: int = 100
    existing_function_arn: str | None = None
    existing_function_role_arn: str | None = None
    ssm_parameter_prefix: str = "/websocket-notifications"
    connect_tokens: str = "enabled"
    connect_token_secret_arn: str | None = None
    architecture: str = "arm64"
    bundle: bool = True
    metrics_namespace: str = DEFAULT_METRICS_NAMESPACE
    log_level: str = "INFO"

    @property
    def log_retention(self) -> logs.RetentionDays:
        """The RetentionDays member for :attr:`log_retention_days`."""
        return RETENTION_DAYS[self.log_retention_days]

    @property
    def tokens_enabled(self) -> bool:
        """True when ``$connect`` requires a signed connect token."""
        return self.connect_tokens == "enabled"

    @property
    def bring_your_own_function(self) -> bool:
        """True when the routes integrate with an existing Lambda instead of the bundled one."""
        return self.existing_function_arn is not None

    @classmethod
    def from_context(cls, node: ContextReader) -> "StackSettings":
        """Read every setting from CDK context (``cdk.json`` plus ``-c`` overrides) and validate it.

        Raises :class:`SettingsError` naming the first bad key and what it accepts.
        """
        reader = _Reader(node)
        settings = cls(
            stage_name=reader.pattern("stageName", cls.stage_name, _STAGE_NAME, "1-128 letters, digits, '-' or '_'"),
            api_name=reader.pattern("apiName", cls.api_name, _API_NAME, "1-128 letters, digits, spaces, '.', '-' or '_'"),
            connection_ttl_minutes=reader.integer("connectionTtlMinutes", cls.connection_ttl_minutes, 1, 7 * 24 * 60),
            cleanup_schedule=reader.schedule("cleanupSchedule", cls.cleanup_schedule),
            allowed_connection_types=reader.names(
                "allowedConnectionTypes", cls.allowed_connection_types, _CONNECTION_TYPE,
                "lower-case names of letters, digits, '-' or '_' (e.g. email-verification,general)",
            ),
            max_connections_per_email=reader.integer("maxConnectionsPerEmail", cls.max_connections_per_email, 1, 1000),
            throttling_rate_limit=reader.number("throttlingRateLimit", cls.throttling_rate_limit, 1, 10_000),
            throttling_burst_limit=reader.integer("throttlingBurstLimit", cls.throttling_burst_limit, 1, 5_000),
            log_retention_days=reader.choice("logRetentionDays", cls.log_retention_days, tuple(RETENTION_DAYS), int),
            access_log_group_name=reader.pattern(
                "accessLogGroupName", cls.access_log_group_name, _LOG_GROUP_NAME, "a CloudWatch Logs log group name"
            ),
            create_api_gateway_logs_role=reader.boolean("createApiGatewayLogsRole", cls.create_api_gateway_logs_role),
            database_secret_arn=reader.optional_pattern("databaseSecretArn", _SECRET_ARN, "a Secrets Manager secret ARN"),
            vpc_id=reader.optional_pattern("vpcId", _VPC_ID, "a VPC id like vpc-0abc1234"),
            subnet_ids=reader.names("subnetIds", (), _SUBNET_ID, "subnet ids like subnet-0abc1234"),
            security_group_ids=reader.names("securityGroupIds", (), _SECURITY_GROUP_ID, "security group ids like sg-0abc1234"),
            alarm_topic_arn=reader.optional_pattern("alarmTopicArn", _TOPIC_ARN, "an SNS topic ARN"),
            alarm_email=reader.optional_pattern("alarmEmail", _EMAIL, "an e-mail address"),
            connection_count_alarm_threshold=reader.integer(
                "connectionCountAlarmThreshold", cls.connection_count_alarm_threshold, 1, 10_000_000
            ),
            integration_error_alarm_threshold=reader.integer(
                "integrationErrorAlarmThreshold", cls.integration_error_alarm_threshold, 1, 10_000_000
            ),
            existing_function_arn=reader.optional_pattern(
                "existingFunctionArn", _FUNCTION_ARN, "a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME)"
            ),
            existing_function_role_arn=reader.optional_pattern(
                "existingFunctionRoleArn", _ROLE_ARN, "an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
            ),
            ssm_parameter_prefix=reader.pattern(
                "ssmParameterPrefix", cls.ssm_parameter_prefix, _SSM_PREFIX, "a parameter path like /websocket-notifications"
            ),
            connect_tokens=reader.choice("connectTokens", cls.connect_tokens, CONNECT_TOKEN_MODES, str),
            connect_token_secret_arn=reader.optional_pattern(
                "connectTokenSecretArn", _SECRET_ARN, "a Secrets Manager secret ARN"
            ),
            architecture=reader.choice("architecture", cls.architecture, ARCHITECTURES, str),
            bundle=reader.boolean("bundle", cls.bundle),
            metrics_namespace=reader.pattern(
                "metricsNamespace", cls.metrics_namespace, _METRICS_NAMESPACE, "a CloudWatch metric namespace"
            ),
            log_level=reader.choice("logLevel", cls.log_level, LOG_LEVELS, str),
        )
        settings._check_combinations()
        return settings

    def _check_combinations(self) -> None:
        """Reject settings that are valid alone but not together."""
        if (self.subnet_ids or self.security_group_ids) and not self.vpc_id:
            raise SettingsError("subnetIds/securityGroupIds need vpcId: set vpcId to the VPC those ids belong to")
        if self.vpc_id and not self.subnet_ids:
            raise SettingsError("vpcId needs subnetIds: list the private subnets (with a route to the database) to use")
        if (self.existing_function_arn is None) != (self.existing_function_role_arn is None):
            raise SettingsError(
                "existingFunctionArn and existingFunctionRoleArn go together: set both to use an existing Lambda, "
                "or neither to deploy the bundled one"
            )
        if self.existing_function_arn and (self.vpc_id or self.database_secret_arn):
            raise SettingsError(
                "vpcId/databaseSecretArn configure the bundled function; with existingFunctionArn the existing "
                "function keeps its own network and database settings: remove them"
            )
        if self.alarm_topic_arn and self.alarm_email:
            raise SettingsError(
                "alarmTopicArn and alarmEmail are exclusive: set alarmTopicArn to use an existing topic, or "
                "alarmEmail to create a topic with that subscription"
            )
        if self.connect_token_secret_arn and not self.tokens_enabled:
            raise SettingsError("connectTokenSecretArn is set but connectTokens is 'disabled': remove one of them")


class _Reader:
    """Typed access to context values; each method raises SettingsError naming the key."""

    def __init__(self, node: ContextReader) -> None:
        self._node = node

    def _raw(self, key: str) -> Any:
        value = self._node.try_get_context(key)
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    def _coerce(self, key: str, raw: Any, convert: Callable[[Any], Any], accepts: str) -> Any:
        try:
            return convert(raw)
        except (TypeError, ValueError):
            raise SettingsError(f"{key}={raw!r} is invalid; expected {accepts}") from None

    def integer(self, key: str, default: int, minimum: int, maximum: int) -> int:
        raw = self._raw(key)
        if raw is None:
            return default
        accepts = f"an integer from {minimum} to {maximum}"
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise SettingsError(f"{key}={raw!r} is invalid; expected {accepts}")
        value = self._coerce(key, raw, int, accepts)
        if not minimum <= value <= maximum:
            raise SettingsError(f"{key}={value} is out of range; expected {accepts}")
        return value

    def number(self, key: str, default: float, minimum: float, maximum: float) -> float:
        raw = self._raw(key)
        if raw is None:
            return default
        accepts = f"a number from {minimum:g} to {maximum:g}"
        if isinstance(raw, bool):
            raise SettingsError(f"{key}={raw!r} is invalid; expected {accepts}")
        value = self._coerce(key, raw, float, accepts)
        if not minimum <= value <= maximum:
            raise SettingsError(f"{key}={value:g} is out of range; expected {accepts}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        raw = self._raw(key)
        if raw is None:
            return default
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("true", "false"):
            return str(raw).lower() == "true"
        raise SettingsError(f"{key}={raw!r} is invalid; expected true or false")

    def choice(self, key: str, default: Any, choices: tuple[Any, ...], kind: type) -> Any:
        raw = self._raw(key)
        if raw is None:
            return default
        accepts = "one of " + ", ".join(str(c) for c in choices)
        if isinstance(raw, bool):
            raise SettingsError(f"{key}={raw!r} is invalid; expected {accepts}")
        value = self._coerce(key, raw, kind, accepts)
        if value not in choices:
            raise SettingsError(f"{key}={raw!r} is invalid; expected {accepts}")
        return value

    def pattern(self, key: str, default: str, regex: re.Pattern[str], accepts: str) -> str:
        value = self.optional_pattern(key, regex, accepts)
        return default if value is None else value

    def optional_pattern(self, key: str, regex: re.Pattern[str], accepts: str) -> str | None:
        raw = self._raw(key)
        if raw is None:
            return None
        if not isinstance(raw, str) or not regex.match(raw):
            raise SettingsError(f"{key}={raw!r} is invalid; expected {accepts}")
        return raw

    def names(self, key: str, default: tuple[str, ...], regex: re.Pattern[str], accepts: str) -> tuple[str, ...]:
        raw = self._raw(key)
        if raw is None:
            return default
        if isinstance(raw, str):
            raw = self._coerce(key, raw, json.loads, f"a JSON list of {accepts}") if raw.startswith("[") else raw.split(",")
        if not isinstance(raw, list):
            raise SettingsError(f"{key}={raw!r} is invalid; expected a list of {accepts}")
        values = tuple(str(item).strip() for item in raw if str(item).strip())
        bad = [v for v in values if not regex.match(v)]
        if bad or not values:
            raise SettingsError(f"{key} has invalid entries {bad or raw!r}; expected a non-empty list of {accepts}")
        if len(set(values)) != len(values):
            raise SettingsError(f"{key} lists a value twice: {list(values)!r}")
        return values

    def schedule(self, key: str, default: str) -> str:
        raw = self._raw(key)
        if raw is None:
            return default
        if isinstance(raw, str):
            rate = _RATE.match(raw)
            singular = rate and (rate.group(1) == "1") == (not rate.group(2).endswith("s"))
            if singular or _CRON.match(raw):
                return raw
        raise SettingsError(
            f"{key}={raw!r} is invalid; expected an EventBridge schedule like 'rate(15 minutes)', "
            "'rate(1 hour)' or 'cron(0/15 * * * ? *)'"
        )
