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
from typing import Any, Callable, Mapping, Protocol

from aws_cdk import aws_logs as logs

from cdk_app import runtime_contract as rc
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
DATABASE_MODES = ("create", "existing", "sqlite-demo")
"""``create``: Aurora Serverless v2 PostgreSQL in a VPC the stack creates; ``existing``: your
PostgreSQL through ``databaseSecretArn``; ``sqlite-demo``: a throwaway SQLite file per container."""
VPC_EGRESS_MODES = ("nat-instance", "nat-gateway")
"""How the created VPC's private subnets reach the internet (the management API has no VPC endpoint)."""
MAX_AURORA_CAPACITY = 256
CONNECT_TOKEN_MODES = ("enabled", "disabled")
DATABASE_PROXY_MODES = ("none", "create")
_SHARED = rc.SHARED_DEFAULTS
"""Defaults and bounds shared with the function (``lambda_src/websocket_service/shared_defaults.json``)."""
LOG_LEVELS: tuple[str, ...] = tuple(_SHARED[rc.ENV_LOG_LEVEL]["choices"])
MANAGEMENT_API_METHOD_CHOICES: tuple[str, ...] = tuple(_SHARED[rc.ENV_MANAGEMENT_API_METHODS]["choices"])
REQUIRED_MANAGEMENT_API_METHODS: tuple[str, ...] = tuple(_SHARED[rc.ENV_MANAGEMENT_API_METHODS]["required"])

API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS = 29
"""API Gateway gives up on a WebSocket integration after 29 s: the route function must end first."""
LAMBDA_MAX_TIMEOUT_SECONDS = 900
LAMBDA_MEMORY_MB = (128, 10_240)
POSTGRES_MAX_CONNECTIONS = 262_143
"""PostgreSQL's upper limit for ``max_connections``."""

_PARTITION = r"arn:aws(?:-[a-z]+)*"
_REGION_ACCOUNT = r"[a-z0-9-]+:\d{12}"
_SECRET_ARN = re.compile(rf"^{_PARTITION}:secretsmanager:{_REGION_ACCOUNT}:secret:[A-Za-z0-9/_+=.@!-]+$")
_KMS_KEY_ARN = re.compile(rf"^{_PARTITION}:kms:{_REGION_ACCOUNT}:key/[A-Za-z0-9-]{{1,128}}$")
_CERTIFICATE_ARN = re.compile(rf"^{_PARTITION}:acm:{_REGION_ACCOUNT}:certificate/[A-Za-z0-9-]{{1,128}}$")
_DOMAIN_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_HOSTED_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,32}$")
_DATABASE_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}$")
_DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")
_TOPIC_ARN = re.compile(rf"^{_PARTITION}:sns:{_REGION_ACCOUNT}:[A-Za-z0-9_-]{{1,256}}$")
_FUNCTION_ARN = re.compile(rf"^{_PARTITION}:lambda:{_REGION_ACCOUNT}:function:[A-Za-z0-9_-]{{1,64}}(?::[A-Za-z0-9$_-]+)?$")
_ROLE_ARN = re.compile(rf"^{_PARTITION}:iam::\d{{12}}:role/[A-Za-z0-9+=,.@_/-]{{1,512}}$")
_IMAGE_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")
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
_HTTP_METHOD = re.compile(r"^[A-Z]+$")
_DB_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,62}$")
_RATE = re.compile(r"^rate\(([1-9]\d*) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\(\S+ \S+ \S+ \S+ \S+ \S+\)$")


@dataclass(frozen=True)
class StackSettings:
    """Validated settings of the WebSocket notification stack (see the README's settings table).

    Build it with :meth:`from_context`; every field has the documented default.
    """

    stage_name: str = "prod"
    api_name: str = "websocket-notifications"
    connection_ttl_minutes: int = _SHARED[rc.ENV_CONNECTION_TTL_MINUTES]["default"]
    cleanup_schedule: str = "rate(15 minutes)"
    allowed_connection_types: tuple[str, ...] = tuple(_SHARED[rc.ENV_ALLOWED_CONNECTION_TYPES]["default"])
    max_connections_per_email: int = _SHARED[rc.ENV_MAX_CONNECTIONS_PER_EMAIL]["default"]
    throttling_rate_limit: float = 1000.0
    throttling_burst_limit: int = 2000
    log_retention_days: int = 30
    access_log_group_name: str | None = None
    create_api_gateway_logs_role: bool = True
    database: str = "create"
    database_secret_arn: str | None = None
    database_secret_kms_key_arn: str | None = None
    database_host: str | None = None
    database_port: int | None = None
    database_name: str | None = None
    database_min_capacity: float = 0.0
    database_max_capacity: float = 2.0
    vpc_egress: str = "nat-instance"
    nat_instance_image_id: str | None = None
    vpc_id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    database_security_group_id: str | None = None
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
    log_level: str = _SHARED[rc.ENV_LOG_LEVEL]["default"]
    management_api_methods: tuple[str, ...] = tuple(_SHARED[rc.ENV_MANAGEMENT_API_METHODS]["default"])
    reserved_concurrency: int = 100
    ops_reserved_concurrency: int = 10
    provisioned_concurrency: int = 0
    database_max_connections: int = 189
    database_reserved_connections: int = 20
    route_function_timeout_seconds: int = 10
    route_function_memory_mb: int = 256
    ops_function_timeout_seconds: int = 120
    ops_function_memory_mb: int = 512
    database_proxy: str = "none"
    database_proxy_borrow_timeout_seconds: int = 5
    database_cluster_identifier: str | None = None
    database_instance_identifier: str | None = None
    domain_name: str | None = None
    certificate_arn: str | None = None
    hosted_zone_id: str | None = None
    hosted_zone_name: str | None = None
    inactive_retention_hours: int = _SHARED[rc.ENV_INACTIVE_RETENTION_HOURS]["default"]
    cleanup_batch_size: int = _SHARED[rc.ENV_CLEANUP_BATCH_SIZE]["default"]
    cleanup_time_budget_seconds: int = _SHARED[rc.ENV_CLEANUP_TIME_BUDGET_SECONDS]["default"]
    cleanup_duty_cycle_percent: int = _SHARED[rc.ENV_CLEANUP_DUTY_CYCLE_PERCENT]["default"]
    database_statement_timeout_ms: int = _SHARED[rc.ENV_DB_STATEMENT_TIMEOUT_MS]["default"]
    database_pooler: str = _SHARED[rc.ENV_DB_POOLER]["default"]
    replay_window_minutes: int = _SHARED[rc.ENV_REPLAY_WINDOW_MINUTES]["default"]
    replay_without_tokens: bool = _SHARED[rc.ENV_REPLAY_WITHOUT_TOKENS]["default"]

    def _check_runtime_budgets(self) -> None:
        """Runtime settings must fit in the functions' timeouts; the pooler must not contradict the proxy."""
        route_ms = self.route_function_timeout_seconds * 1000
        if self.database_statement_timeout_ms >= route_ms:
            raise SettingsError(
                f"databaseStatementTimeoutMs={self.database_statement_timeout_ms} must be under "
                f"routeFunctionTimeoutSeconds={self.route_function_timeout_seconds} ({route_ms} ms): PostgreSQL must "
                "cancel a statement before the route function times out; lower it or raise the function timeout"
            )
        if self.cleanup_time_budget_seconds >= self.ops_function_timeout_seconds:
            raise SettingsError(
                f"cleanupTimeBudgetSeconds={self.cleanup_time_budget_seconds} must be under opsFunctionTimeoutSeconds="
                f"{self.ops_function_timeout_seconds}: a cleanup run must end and report before the ops function "
                "times out; lower the budget or raise the function timeout"
            )
        if self.proxy_enabled and self.database_pooler not in ("auto", rc.RDS_PROXY_POOLER):
            raise SettingsError(
                f"databasePooler={self.database_pooler} contradicts databaseProxy=create (the functions connect "
                f"through RDS Proxy: DB_POOLER={rc.RDS_PROXY_POOLER}); leave databasePooler at auto or set "
                f"{rc.RDS_PROXY_POOLER}"
            )

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

    @property
    def proxy_enabled(self) -> bool:
        """True when the stack puts an RDS Proxy between the functions and the database."""
        return self.database_proxy == "create"

    @property
    def database_connections_for_functions(self) -> int:
        """Connections of ``databaseMaxConnections`` left to this stack's functions."""
        return self.database_max_connections - self.database_reserved_connections

    @property
    def creates_database(self) -> bool:
        """True when the stack stands up its own Aurora Serverless v2 PostgreSQL (and VPC)."""
        return self.database == "create" and not self.bring_your_own_function

    @classmethod
    def from_mapping(cls, context: Mapping[str, Any]) -> "StackSettings":
        """The same settings from a plain context mapping (``cdk.json``'s ``"context"`` with ``-c``
        values applied), outside an App: ``wsctl preflight`` reads them this way."""
        return cls.from_context(_MappingContext(context))

    @classmethod
    def from_context(cls, node: ContextReader) -> "StackSettings":
        """Read every setting from CDK context (``cdk.json`` plus ``-c`` overrides) and validate it.

        Raises :class:`SettingsError` naming the first bad key and what it accepts.
        """
        reader = _Reader(node)
        settings = cls(
            stage_name=reader.pattern("stageName", cls.stage_name, _STAGE_NAME, "1-128 letters, digits, '-' or '_'"),
            api_name=reader.pattern("apiName", cls.api_name, _API_NAME, "1-128 letters, digits, spaces, '.', '-' or '_'"),
            connection_ttl_minutes=reader.integer(
                "connectionTtlMinutes", cls.connection_ttl_minutes, *_bounds(rc.ENV_CONNECTION_TTL_MINUTES)
            ),
            cleanup_schedule=reader.schedule("cleanupSchedule", cls.cleanup_schedule),
            allowed_connection_types=reader.names(
                "allowedConnectionTypes", cls.allowed_connection_types, _CONNECTION_TYPE,
                "lower-case names of letters, digits, '-' or '_' (e.g. email-verification,general)",
            ),
            max_connections_per_email=reader.integer(
                "maxConnectionsPerEmail", cls.max_connections_per_email, *_bounds(rc.ENV_MAX_CONNECTIONS_PER_EMAIL)
            ),
            throttling_rate_limit=reader.number("throttlingRateLimit", cls.throttling_rate_limit, 1, 10_000),
            throttling_burst_limit=reader.integer("throttlingBurstLimit", cls.throttling_burst_limit, 1, 5_000),
            log_retention_days=reader.choice("logRetentionDays", cls.log_retention_days, tuple(RETENTION_DAYS), int),
            access_log_group_name=reader.optional_pattern(
                "accessLogGroupName", _LOG_GROUP_NAME, "a CloudWatch Logs log group name"
            ),
            create_api_gateway_logs_role=reader.boolean("createApiGatewayLogsRole", cls.create_api_gateway_logs_role),
            database=_database_mode(reader),
            database_secret_arn=reader.optional_pattern("databaseSecretArn", _SECRET_ARN, "a Secrets Manager secret ARN"),
            database_secret_kms_key_arn=reader.optional_pattern(
                "databaseSecretKmsKeyArn", _KMS_KEY_ARN, "a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)"
            ),
            database_host=reader.optional_pattern("databaseHost", _DATABASE_HOST, "a host name or IPv4 address"),
            database_port=reader.optional_integer("databasePort", 1, 65535),
            database_name=reader.optional_pattern(
                "databaseName", _DATABASE_NAME, "a PostgreSQL database name (letters, digits, '_', '$', '-'; max 63)"
            ),
            database_min_capacity=reader.capacity("databaseMinCapacity", cls.database_min_capacity),
            database_max_capacity=reader.capacity("databaseMaxCapacity", cls.database_max_capacity),
            vpc_egress=reader.choice("vpcEgress", cls.vpc_egress, VPC_EGRESS_MODES, str),
            nat_instance_image_id=reader.optional_pattern(
                "natInstanceImageId", _IMAGE_ID, "an arm64 Amazon Linux AMI id like ami-0abc1234"
            ),
            vpc_id=reader.optional_pattern("vpcId", _VPC_ID, "a VPC id like vpc-0abc1234"),
            subnet_ids=reader.names("subnetIds", (), _SUBNET_ID, "subnet ids like subnet-0abc1234"),
            security_group_ids=reader.names("securityGroupIds", (), _SECURITY_GROUP_ID, "security group ids like sg-0abc1234"),
            database_security_group_id=reader.optional_pattern(
                "databaseSecurityGroupId", _SECURITY_GROUP_ID, "the database's security group id like sg-0abc1234"
            ),
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
            management_api_methods=reader.methods("managementApiMethods", cls.management_api_methods),
            reserved_concurrency=reader.integer("reservedConcurrency", cls.reserved_concurrency, 1, 10_000),
            ops_reserved_concurrency=reader.integer("opsReservedConcurrency", cls.ops_reserved_concurrency, 1, 1_000),
            provisioned_concurrency=reader.integer("provisionedConcurrency", cls.provisioned_concurrency, 0, 10_000),
            database_max_connections=reader.integer(
                "databaseMaxConnections", cls.database_max_connections, 2, POSTGRES_MAX_CONNECTIONS
            ),
            database_reserved_connections=reader.integer(
                "databaseReservedConnections", cls.database_reserved_connections, 0, POSTGRES_MAX_CONNECTIONS
            ),
            route_function_timeout_seconds=reader.integer(
                "routeFunctionTimeoutSeconds", cls.route_function_timeout_seconds, 3,
                API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS - 1,
            ),
            route_function_memory_mb=reader.integer("routeFunctionMemoryMb", cls.route_function_memory_mb, *LAMBDA_MEMORY_MB),
            ops_function_timeout_seconds=reader.integer(
                "opsFunctionTimeoutSeconds", cls.ops_function_timeout_seconds, 30, LAMBDA_MAX_TIMEOUT_SECONDS
            ),
            ops_function_memory_mb=reader.integer("opsFunctionMemoryMb", cls.ops_function_memory_mb, *LAMBDA_MEMORY_MB),
            database_proxy=reader.choice("databaseProxy", cls.database_proxy, DATABASE_PROXY_MODES, str),
            replay_window_minutes=reader.integer(
                "replayWindowMinutes", cls.replay_window_minutes, *_bounds(rc.ENV_REPLAY_WINDOW_MINUTES)
            ),
            replay_without_tokens=reader.boolean("replayWithoutTokens", cls.replay_without_tokens),
            database_proxy_borrow_timeout_seconds=reader.integer(
                "databaseProxyBorrowTimeoutSeconds", cls.database_proxy_borrow_timeout_seconds, 1,
                API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS - 2,
            ),
            database_cluster_identifier=reader.optional_pattern(
                "databaseClusterIdentifier", _DB_IDENTIFIER, "an Aurora DB cluster identifier (letters, digits, '-')"
            ),
            database_instance_identifier=reader.optional_pattern(
                "databaseInstanceIdentifier", _DB_IDENTIFIER, "an RDS DB instance identifier (letters, digits, '-')"
            ),
            domain_name=reader.optional_pattern(
                "domainName", _DOMAIN_NAME, "a lower-case DNS name like ws.example.com"
            ),
            certificate_arn=reader.optional_pattern(
                "certificateArn", _CERTIFICATE_ARN, "an ACM certificate ARN in the stack's region"
            ),
            hosted_zone_id=reader.optional_pattern("hostedZoneId", _HOSTED_ZONE_ID, "a Route 53 hosted zone id like Z0123456789ABC"),
            hosted_zone_name=reader.optional_pattern("hostedZoneName", _DOMAIN_NAME, "the hosted zone's domain like example.com"),
            inactive_retention_hours=reader.integer(
                "inactiveRetentionHours", cls.inactive_retention_hours, *_bounds(rc.ENV_INACTIVE_RETENTION_HOURS)
            ),
            cleanup_batch_size=reader.integer("cleanupBatchSize", cls.cleanup_batch_size, *_bounds(rc.ENV_CLEANUP_BATCH_SIZE)),
            cleanup_time_budget_seconds=reader.integer(
                "cleanupTimeBudgetSeconds", cls.cleanup_time_budget_seconds, *_bounds(rc.ENV_CLEANUP_TIME_BUDGET_SECONDS)
            ),
            cleanup_duty_cycle_percent=reader.integer(
                "cleanupDutyCyclePercent", cls.cleanup_duty_cycle_percent, *_bounds(rc.ENV_CLEANUP_DUTY_CYCLE_PERCENT)
            ),
            database_statement_timeout_ms=reader.integer(
                "databaseStatementTimeoutMs", cls.database_statement_timeout_ms, *_bounds(rc.ENV_DB_STATEMENT_TIMEOUT_MS)
            ),
            database_pooler=reader.choice(
                "databasePooler", cls.database_pooler, tuple(_SHARED[rc.ENV_DB_POOLER]["choices"]), str
            ),
        )
        settings._check_combinations()
        return settings

    def _check_combinations(self) -> None:
        """Reject settings that are valid alone but not together."""
        self._check_runtime_budgets()
        if (self.subnet_ids or self.security_group_ids) and not self.vpc_id:
            raise SettingsError("subnetIds/securityGroupIds need vpcId: set vpcId to the VPC those ids belong to")
        if self.vpc_id and not self.subnet_ids:
            raise SettingsError("vpcId needs subnetIds: list the private subnets (with a route to the database) to use")
        if (self.existing_function_arn is None) != (self.existing_function_role_arn is None):
            raise SettingsError(
                "existingFunctionArn and existingFunctionRoleArn go together: set both to use an existing Lambda, "
                "or neither to deploy the bundled one"
            )
        database_keys = (
            self.vpc_id, self.database_secret_arn, self.database_secret_kms_key_arn, self.database_host,
            self.database_port, self.database_name,
        )
        if self.existing_function_arn and any(v is not None for v in database_keys):
            raise SettingsError(
                "vpcId/databaseSecretArn/databaseSecretKmsKeyArn/databaseHost/databasePort/databaseName configure the "
                "bundled function; with existingFunctionArn the existing function keeps its own network and database "
                "settings: remove them"
            )
        self._check_database()
        self._check_domain()
        if self.alarm_topic_arn and self.alarm_email:
            raise SettingsError(
                "alarmTopicArn and alarmEmail are exclusive: set alarmTopicArn to use an existing topic, or "
                "alarmEmail to create a topic with that subscription"
            )
        if self.connect_token_secret_arn and not self.tokens_enabled:
            raise SettingsError("connectTokenSecretArn is set but connectTokens is 'disabled': remove one of them")
        self._check_database_budget()
        self._check_proxy()
        self._check_database_admission()

    def _check_database_admission(self) -> None:
        """An existing database in a VPC must admit the stack's functions (or proxy) from the first deploy.

        A security group created in the same deploy cannot be admitted in advance, so the deploy-time
        migration would time out, the rollback delete the group, and every retry get a new group id.
        """
        if self.nat_instance_image_id and not (self.creates_database and self.vpc_egress == "nat-instance"):
            raise SettingsError(
                "natInstanceImageId only applies to the NAT instance of the VPC the stack creates (database=create "
                "with vpcEgress=nat-instance): remove it"
            )
        if self.database_security_group_id and not self.vpc_id:
            raise SettingsError("databaseSecurityGroupId needs vpcId and subnetIds: the VPC of the database and the functions")
        if self.database != "existing" or self.bring_your_own_function:
            return
        if not (self.proxy_enabled or self.vpc_id) or self.database_security_group_id or self.security_group_ids:
            return
        reaches = "the RDS Proxy the stack creates" if self.proxy_enabled else "functions in vpcId"
        raise SettingsError(
            f"{'databaseProxy=create' if self.proxy_enabled else 'database=existing with vpcId'} needs "
            "databaseSecurityGroupId or securityGroupIds: the database's security group must admit "
            f"{reaches} before the deploy-time migration runs. Set databaseSecurityGroupId=sg-... (the "
            "database's security group: the stack adds the inbound rule on the database port) or "
            "securityGroupIds=sg-... (groups the database already admits)"
        )

    def _check_database_budget(self) -> None:
        """Instances can never outnumber the database connections reserved for them.

        Without a proxy every warm instance of either function holds one connection, so the two
        reserved concurrencies must fit in ``databaseMaxConnections - databaseReservedConnections``.
        With the proxy the functions hold proxy connections; the proxy's own pool is sized to that
        budget (:mod:`cdk_app.proxy`), so only the budget itself must be positive.
        """
        if self.database_reserved_connections >= self.database_max_connections:
            raise SettingsError(
                f"databaseReservedConnections={self.database_reserved_connections} leaves no connection of "
                f"databaseMaxConnections={self.database_max_connections} to this stack: lower it, or raise "
                "databaseMaxConnections to the database's real max_connections"
            )
        if self.provisioned_concurrency > self.reserved_concurrency:
            raise SettingsError(
                f"provisionedConcurrency={self.provisioned_concurrency} exceeds reservedConcurrency="
                f"{self.reserved_concurrency}: Lambda cannot keep more instances ready than it may run; lower "
                "provisionedConcurrency or raise reservedConcurrency"
            )
        if self.proxy_enabled or self.bring_your_own_function:
            return
        instances = self.reserved_concurrency + self.ops_reserved_concurrency
        budget = self.database_connections_for_functions
        if instances > budget:
            raise SettingsError(
                f"reservedConcurrency={self.reserved_concurrency} + opsReservedConcurrency="
                f"{self.ops_reserved_concurrency} = {instances} function instances, each holding one database "
                f"connection, but databaseMaxConnections={self.database_max_connections} - "
                f"databaseReservedConnections={self.database_reserved_connections} leaves only {budget}: lower "
                f"the concurrencies to a total of at most {budget}, use a bigger database (and raise "
                "databaseMaxConnections), or set databaseProxy=create"
            )

    def _check_proxy(self) -> None:
        """The RDS Proxy needs the database, its secret and a VPC, and must answer before the route times out."""
        if self.database_cluster_identifier and self.database_instance_identifier:
            raise SettingsError(
                "databaseClusterIdentifier and databaseInstanceIdentifier are exclusive: set the cluster "
                "identifier for Aurora, the instance identifier for RDS for PostgreSQL"
            )
        if not self.proxy_enabled:
            return
        if self.database != "existing":
            raise SettingsError(
                f"databaseProxy=create puts RDS Proxy in front of an existing database, but database is "
                f"{self.database!r}: set database=existing with databaseSecretArn, vpcId, subnetIds and "
                "databaseClusterIdentifier or databaseInstanceIdentifier (the database the stack creates is "
                "sized by databaseMaxCapacity instead)"
            )
        missing = [
            key for key, value in (
                ("databaseSecretArn", self.database_secret_arn),
                ("vpcId", self.vpc_id),
                ("databaseClusterIdentifier or databaseInstanceIdentifier",
                 self.database_cluster_identifier or self.database_instance_identifier),
            ) if not value
        ]
        if missing:
            raise SettingsError(
                f"databaseProxy=create needs {', '.join(missing)}: the proxy logs in with the database secret, "
                "runs in the function's VPC subnets and targets that database"
            )
        if self.database_proxy_borrow_timeout_seconds >= self.route_function_timeout_seconds:
            raise SettingsError(
                f"databaseProxyBorrowTimeoutSeconds={self.database_proxy_borrow_timeout_seconds} must be shorter "
                f"than routeFunctionTimeoutSeconds={self.route_function_timeout_seconds}, so a client waiting for a "
                "pooled connection gets an error answer before the function times out: lower it"
            )


    def _check_database(self) -> None:
        """Each database mode takes exactly the settings it uses."""
        if self.bring_your_own_function:
            return
        existing_only = {
            "databaseSecretArn": self.database_secret_arn, "databaseSecretKmsKeyArn": self.database_secret_kms_key_arn,
            "databaseHost": self.database_host, "databasePort": self.database_port, "databaseName": self.database_name,
            "vpcId": self.vpc_id, "databaseClusterIdentifier": self.database_cluster_identifier,
            "databaseSecurityGroupId": self.database_security_group_id,
            "databaseInstanceIdentifier": self.database_instance_identifier,
        }
        given = [key for key, value in existing_only.items() if value is not None]
        if self.database == "existing" and self.database_secret_arn is None:
            raise SettingsError(
                "database=existing needs databaseSecretArn: the ARN of a Secrets Manager secret in the RDS format "
                "(add databaseHost/databasePort/databaseName when it holds only username and password)"
            )
        if self.database != "existing" and given:
            raise SettingsError(
                f"{'/'.join(given)} only apply to database=existing (database is {self.database!r}): "
                "add -c database=existing, or remove them"
            )
        if self.database_min_capacity > self.database_max_capacity:
            raise SettingsError(
                f"databaseMinCapacity={self.database_min_capacity:g} is above databaseMaxCapacity="
                f"{self.database_max_capacity:g}: lower the minimum or raise the maximum"
            )
        if self.database_max_capacity < 1:
            raise SettingsError(
                f"databaseMaxCapacity={self.database_max_capacity:g} is too small; expected at least 1 ACU "
                "(Aurora Serverless v2 needs 1 ACU or more when the minimum is 0)"
            )

    def _check_domain(self) -> None:
        """A custom domain needs its certificate; a hosted zone needs both its id and name."""
        if (self.domain_name is None) != (self.certificate_arn is None):
            raise SettingsError(
                "domainName and certificateArn go together: set both for a custom domain (the ACM certificate in the "
                "stack's region must cover domainName), or neither for the execute-api URL"
            )
        if (self.hosted_zone_id is None) != (self.hosted_zone_name is None):
            raise SettingsError("hostedZoneId and hostedZoneName go together: set both to create the alias record")
        if self.hosted_zone_id and not self.domain_name:
            raise SettingsError("hostedZoneId/hostedZoneName need domainName and certificateArn: set them, or remove the zone")
        if self.hosted_zone_name and self.domain_name and not (
            self.domain_name == self.hosted_zone_name or self.domain_name.endswith("." + self.hosted_zone_name)
        ):
            raise SettingsError(
                f"domainName={self.domain_name!r} is not inside hostedZoneName={self.hosted_zone_name!r}: use the zone "
                "that holds the domain"
            )


def _bounds(env_name: str) -> tuple[int, int]:
    """(minimum, maximum) of a runtime setting, from the file shared with the function."""
    return _SHARED[env_name]["minimum"], _SHARED[env_name]["maximum"]


def _database_mode(reader: "_Reader") -> str:
    """``database``, defaulting to ``existing`` when databaseSecretArn is set and ``create`` otherwise."""
    default = "existing" if reader.present("databaseSecretArn") else "create"
    return reader.choice("database", default, DATABASE_MODES, str)


class _MappingContext:
    """A :class:`ContextReader` over a mapping (what ``node.try_get_context`` answers in an App)."""

    def __init__(self, context: Mapping[str, Any]) -> None:
        self._context = dict(context)

    def try_get_context(self, key: str) -> Any:
        return self._context.get(key)


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

    def optional_integer(self, key: str, minimum: int, maximum: int) -> int | None:
        """An integer in range, or None when the key is not set."""
        return self.integer(key, None, minimum, maximum)  # type: ignore[arg-type]

    def present(self, key: str) -> bool:
        """True when ``key`` has a non-empty value."""
        return self._raw(key) is not None

    def capacity(self, key: str, default: float) -> float:
        """Aurora capacity units: 0 to 256 in steps of 0.5."""
        value = self.number(key, default, 0, MAX_AURORA_CAPACITY)
        if (value * 2) != int(value * 2):
            raise SettingsError(f"{key}={value:g} is invalid; expected Aurora capacity units in steps of 0.5 (0, 0.5, 1, ...)")
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

    def names(
        self, key: str, default: tuple[str, ...], regex: re.Pattern[str], accepts: str, *, raw: Any = None
    ) -> tuple[str, ...]:
        raw = self._raw(key) if raw is None else raw
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

    def methods(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """A list of distinct @connections methods from the shared choices, with every required one."""
        accepts = f"methods from {', '.join(MANAGEMENT_API_METHOD_CHOICES)}"
        raw = self._raw(key)
        if raw is None:
            return default
        if isinstance(raw, str):
            raw = raw.upper()
        elif isinstance(raw, list):
            raw = [str(item).upper() for item in raw]
        methods = self.names(key, default, _HTTP_METHOD, accepts, raw=raw)
        bad = [m for m in methods if m not in MANAGEMENT_API_METHOD_CHOICES]
        if bad:
            raise SettingsError(f"{key} has invalid entries {bad!r}; expected a non-empty list of {accepts}")
        missing = [m for m in REQUIRED_MANAGEMENT_API_METHODS if m not in methods]
        if missing:
            raise SettingsError(
                f"{key}={list(methods)!r} lacks {', '.join(missing)}; the function needs POST to push to clients"
            )
        return methods

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
