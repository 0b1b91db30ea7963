"""The stack: composes the constructs and wires grants, environment and synth-time warnings."""
from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from cdk_app import runtime_contract as rc
from cdk_app.account_logging import ApiGatewayAccountLogging
from cdk_app.cleanup import CleanupSchedule
from cdk_app.dashboard import OperationsDashboard
from cdk_app.database import RESUME_CONNECT_TIMEOUT_SECONDS, NotificationDatabase
from cdk_app.domain import CustomDomain
from cdk_app.encryption import DataEncryptionKey
from cdk_app.gateway import WebSocketGateway
from cdk_app.handler_function import NotificationFunction
from cdk_app.monitoring import Monitoring, database_connections_metric
from cdk_app.network import NotificationNetwork
from cdk_app.parameters import MANAGEMENT_ENDPOINT_PARAMETER, EndpointPublication
from cdk_app.proxy import POSTGRES_PORT, DatabaseProxy, imported_target
from cdk_app.schema import SchemaMigration
from cdk_app.schema_registry import NotifySchemaRegistry
from cdk_app.secrets import NotificationSecrets
from cdk_app.settings import StackSettings

EPHEMERAL_STORE_WARNING = (
    "database=sqlite-demo: the function uses an ephemeral SQLite file in /tmp "
    f"({rc.ENV_DATABASE_URL}={rc.EPHEMERAL_DATABASE_URL}); each Lambda instance has its own copy and loses "
    "it on every cold start, so a notify from another instance finds nothing. For throwaway demos only: remove "
    "-c database=sqlite-demo to get a real PostgreSQL (database=create), or use database=existing with databaseSecretArn"
)
EXISTING_VPC_INFO = (
    "vpcId is given by id, so synth cannot see its routes: the subnets in subnetIds need a route to the internet "
    "(a NAT gateway or NAT instance). Posting to @connections has no VPC endpoint; Secrets Manager and the "
    "CloudFormation response (S3) need one or the NAT too. An execute-api interface VPC endpoint with private DNS "
    "in that VPC makes every @connections call answer 403 (public APIs cannot be reached through it): turn its "
    "private DNS off, or run the functions in a VPC without one (`wsctl preflight` checks)"
)
TOKENS_DISABLED_WARNING = (
    "connectTokens is 'disabled': anyone who knows an e-mail address can open a connection and receive its "
    "notifications. Use this only until the frontend sends ?token=; remove -c connectTokens=disabled to turn "
    "token checks back on."
)
NO_MIGRATION_ON_DEPLOY_WARNING = (
    "existingFunctionArn is set: this stack runs no schema migration on deploy (the migration custom resource "
    "belongs to the bundled function). The existing function must run the 'migrate' action itself (invoke it "
    f"with {json.dumps({'action': rc.MIGRATE_ACTION})} after each deploy that brings new migrations), or the operator "
    "runs `wsctl migrate` against the database, before clients connect."
)

CONNECT_AUTHORIZATION = {
    True: "the function verifies a signed, short-lived HMAC token (?token=) and rejects the handshake with 401/403",
    False: "token checks are switched off by connectTokens=disabled (synth warns); the function still validates "
    "e-mail and type and caps connections per e-mail",
}
"""How ``$connect`` is authorised, by whether connect tokens are on (recorded for cdk-nag)."""


class WebSocketNotificationStack(cdk.Stack):
    """API Gateway WebSocket API + a route function + an ops function + cleanup, migration, alarms, outputs.

    The bundled handler runs as two functions from the same asset: :attr:`route_handler` serves the
    three WebSocket routes with a short timeout, :attr:`handler` (the "ops" function) serves notify,
    cleanup and migrate. :attr:`handler` is the function backends invoke (``FunctionName``). With an
    existing function both are that function.

    :param settings: validated settings (see :class:`cdk_app.settings.StackSettings`).
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: StackSettings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        self.network: NotificationNetwork | None = None
        self.database: NotificationDatabase | None = None
        if settings.creates_database:
            self.network = NotificationNetwork(
                self, "Network", egress=settings.vpc_egress, log_retention=settings.log_retention,
                nat_instance_image_id=settings.nat_instance_image_id,
            )
            self.database = NotificationDatabase(
                self,
                "Database",
                vpc=self.network.vpc,
                subnets=self.network.private_subnets,
                min_capacity=settings.database_min_capacity,
                max_capacity=settings.database_max_capacity,
                log_retention=settings.log_retention,
            )
        self.secrets = NotificationSecrets(
            self,
            "Secrets",
            database_secret_arn=settings.database_secret_arn,
            database_secret=self.database.secret if self.database else None,
            database_secret_kms_key_arn=settings.database_secret_kms_key_arn,
            tokens_enabled=settings.tokens_enabled,
            token_secret_arn=settings.connect_token_secret_arn,
        )
        self.database_proxy: DatabaseProxy | None = None
        if settings.proxy_enabled and self.secrets.database_secret is not None and settings.vpc_id:
            self.database_proxy = DatabaseProxy(
                self,
                "DatabaseProxy",
                target=imported_target(
                    self,
                    cluster_identifier=settings.database_cluster_identifier,
                    instance_identifier=settings.database_instance_identifier,
                ),
                secret=self.secrets.database_secret,
                vpc_id=settings.vpc_id,
                subnet_ids=settings.subnet_ids,
                database_max_connections=settings.database_max_connections,
                database_reserved_connections=settings.database_reserved_connections,
                borrow_timeout_seconds=settings.database_proxy_borrow_timeout_seconds,
                extra_security_group_ids=settings.security_group_ids,
            )
            self.secrets.grant_decrypt_database_secret(self.database_proxy.role)
        self.bundled_function: NotificationFunction | None = None
        """The ops function (notify, cleanup, migrate), when bundled."""
        self.route_function: NotificationFunction | None = None
        """The route function ($connect, $disconnect, $default), when bundled."""
        if settings.bring_your_own_function:
            self.handler, self.handler_role = self._existing_function()
            self.route_handler, self.route_handler_role = self.handler, self.handler_role
        else:
            self.route_function = self._bundled_function(
                "RouteHandler",
                description="WebSocket notifications: the $connect/$disconnect/$default routes",
                timeout_seconds=settings.route_function_timeout_seconds,
                memory_mb=settings.route_function_memory_mb,
                reserved_concurrency=settings.reserved_concurrency,
                provisioned_concurrency=settings.provisioned_concurrency,
                reads_token_secret=True,
            )
            self.bundled_function = self._bundled_function(
                "Handler",
                description="WebSocket notifications: notify, cleanup and migrate (direct invokes and events)",
                timeout_seconds=settings.ops_function_timeout_seconds,
                memory_mb=settings.ops_function_memory_mb,
                reserved_concurrency=settings.ops_reserved_concurrency,
                reads_token_secret=False,
            )
            self.handler, self.handler_role = self.bundled_function.function, self.bundled_function.role
            self.route_handler = self.route_function.invocable
            self.route_handler_role = self.route_function.role
        self.gateway = WebSocketGateway(
            self,
            "Gateway",
            handler=self.route_handler,
            api_name=settings.api_name,
            stage_name=settings.stage_name,
            throttling_rate_limit=settings.throttling_rate_limit,
            throttling_burst_limit=settings.throttling_burst_limit,
            access_log_group_name=settings.access_log_group_name,
            log_retention=settings.log_retention,
            connect_authorization=CONNECT_AUTHORIZATION[settings.tokens_enabled],
        )
        self.domain: CustomDomain | None = None
        if settings.domain_name and settings.certificate_arn:
            self.domain = CustomDomain(
                self,
                "Domain",
                api=self.gateway.api,
                stage=self.gateway.stage,
                domain_name=settings.domain_name,
                certificate_arn=settings.certificate_arn,
                hosted_zone_id=settings.hosted_zone_id,
                hosted_zone_name=settings.hosted_zone_name,
            )
        self.account_logging: ApiGatewayAccountLogging | None = None
        if settings.create_api_gateway_logs_role:
            self.account_logging = ApiGatewayAccountLogging(
                self, "ApiGatewayAccountLogging", log_retention=settings.log_retention
            )
            self.gateway.stage.node.add_dependency(self.account_logging.registration)
        self._grant()
        self.database_admission = self._admit_to_database()
        self.cleanup = CleanupSchedule(self, "Cleanup", handler=self.handler, schedule_expression=settings.cleanup_schedule)
        functions, reserved = self._watched_functions()
        database_connections = (
            self.database.cluster.metric_database_connections(statistic=cloudwatch.Stats.MAXIMUM, period=cdk.Duration.minutes(1))
            if self.database is not None
            else database_connections_metric(
                cluster_identifier=settings.database_cluster_identifier,
                instance_identifier=settings.database_instance_identifier,
            )
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            functions=functions,
            reserved_concurrency=reserved,
            stage=self.gateway.stage,
            metrics_namespace=settings.metrics_namespace,
            connection_count_threshold=settings.connection_count_alarm_threshold,
            integration_error_threshold=settings.integration_error_alarm_threshold,
            database_connections=database_connections,
            database_max_connections=settings.database_max_connections,
            alarm_topic_arn=settings.alarm_topic_arn,
            alarm_email=settings.alarm_email,
        )
        self.dashboard = OperationsDashboard(
            self,
            "Dashboard",
            stage=self.gateway.stage,
            functions=functions,
            reserved_concurrency=reserved,
            metrics_namespace=settings.metrics_namespace,
            cleanup_log_group=self.bundled_function.log_group if self.bundled_function else None,
            database_connections=database_connections,
            database_max_connections=settings.database_max_connections,
            proxy_name=self.database_proxy.proxy.db_proxy_name if self.database_proxy else None,
        )
        self.endpoints = EndpointPublication(
            self,
            "Endpoints",
            websocket_url=self.domain.websocket_url if self.domain else self.gateway.websocket_url,
            management_endpoint=self.gateway.management_endpoint,
            api_id=self.gateway.api.api_id,
            stage_name=self.gateway.stage.stage_name,
            parameter_prefix=settings.ssm_parameter_prefix,
            function_name=self.handler.function_name if self.bundled_function else settings.existing_function_arn or "",
            function_log_group_name=self._function_log_group_name(),
            access_log_group_name=self.gateway.access_log_group.log_group_name,
            token_secret_arn=self.secrets.token_secret.secret_arn if self.secrets.token_secret else None,
            domain_name_target=self.domain.target if self.domain and self.domain.record is None else None,
        )
        self.notify_schema = NotifySchemaRegistry(
            self, "NotifySchema", allowed_connection_types=settings.allowed_connection_types
        )
        self.schema_migration: SchemaMigration | None = None
        if self.bundled_function is None:
            # An existing function's environment is not ours: it reads the endpoint from SSM.
            self.endpoints.parameters[MANAGEMENT_ENDPOINT_PARAMETER].grant_read(self.handler_role)
        else:
            for bundled in self._bundled_functions():
                bundled.function.add_environment(rc.ENV_MANAGEMENT_ENDPOINT, self.gateway.management_endpoint)
            self.schema_migration = SchemaMigration(
                self,
                "Schema",
                handler=self.bundled_function.function,
                function_timeout_seconds=settings.ops_function_timeout_seconds,
            )
            # Clients can only connect once the stage exists: make it wait for the table.
            self.gateway.stage.node.add_dependency(self.schema_migration)
            # The first cleanup must find the table: the schedule starts after the migration.
            self.cleanup.rule.node.add_dependency(self.schema_migration)
            if self.database_admission is not None:
                # The migration is the first client of the database: admitted before it runs.
                self.schema_migration.node.add_dependency(self.database_admission)
            if self.database_proxy is not None:
                # ...and goes through the proxy: wait for its target group (the database registered).
                self.schema_migration.node.add_dependency(self.database_proxy)
            if self.database is not None and self.network is not None:
                # The migration needs the database up and the NAT route (to answer CloudFormation).
                self.schema_migration.node.add_dependency(self.database, self.network)
        self._warn_about_demo_settings()
        data_key = self.node.try_find_child(DataEncryptionKey.CONSTRUCT_ID)
        if isinstance(data_key, DataEncryptionKey):
            data_key.use_partition_endpoints_in_via_service()

    def _bundled_function(
        self,
        construct_id: str,
        *,
        description: str,
        timeout_seconds: int,
        memory_mb: int,
        reserved_concurrency: int,
        reads_token_secret: bool,
        provisioned_concurrency: int = 0,
    ) -> NotificationFunction:
        """One of the two bundled functions (same asset, handler, network and database settings)."""
        s = self.settings
        bundled = NotificationFunction(
            self,
            construct_id,
            architecture=s.architecture,
            bundle=s.bundle,
            log_retention=s.log_retention,
            environment=self._runtime_environment(reads_token_secret=reads_token_secret),
            description=description,
            timeout_seconds=timeout_seconds,
            memory_mb=memory_mb,
            reserved_concurrency=reserved_concurrency,
            provisioned_concurrency=provisioned_concurrency,
            vpc_id=s.vpc_id,
            subnet_ids=s.subnet_ids,
            security_group_ids=s.security_group_ids,
            vpc=self.network.vpc if self.network else None,
            vpc_subnets=self.network.private_subnets if self.network else None,
        )
        if self.database_proxy is not None:
            self.database_proxy.allow_from(bundled.function)
        if self.database is not None:
            self.database.cluster.connections.allow_default_port_from(bundled.function, f"The {construct_id} function")
        return bundled

    def _admit_to_database(self) -> ec2.ISecurityGroup | None:
        """With ``databaseSecurityGroupId``: an inbound rule on the database's security group, on the
        database port, from the proxy's security group (with the proxy) or the functions' (without).

        None when the setting is absent (``database=create`` admits its functions itself).
        """
        s = self.settings
        if not s.database_security_group_id or self.bundled_function is None:
            return None
        database_group = ec2.SecurityGroup.from_security_group_id(
            self, "DatabaseSecurityGroup", s.database_security_group_id, mutable=True, allow_all_outbound=False
        )
        port = ec2.Port.tcp(s.database_port or POSTGRES_PORT)
        if self.database_proxy is not None:
            database_group.connections.allow_from(self.database_proxy.security_group, port, "RDS Proxy of the WebSocket notification functions")
        else:
            for bundled in self._bundled_functions():
                database_group.connections.allow_from(bundled.function, port, f"WebSocket notification function {bundled.node.id}")
        return database_group

    def _bundled_functions(self) -> list[NotificationFunction]:
        return [f for f in (self.route_function, self.bundled_function) if f is not None]

    def _watched_functions(self) -> tuple[dict[str, lambda_.IFunction], dict[str, int]]:
        """Functions to alarm on and chart by label, and the reserved concurrency of the bundled ones."""
        if self.route_function is None or self.bundled_function is None:
            return {"": self.handler}, {}
        functions = {"Route": self.route_function.function, "Ops": self.bundled_function.function}
        return functions, {"Route": self.route_function.reserved_concurrency, "Ops": self.bundled_function.reserved_concurrency}

    def _grant(self) -> None:
        """Each role gets what its function does: both push (notify from ops; the route function checks
        connections with GET); only the route function verifies connect tokens."""
        methods = self.settings.management_api_methods
        self.gateway.grant_manage_connections(self.route_handler_role, methods=methods)
        self.secrets.grant_read(self.route_handler_role)
        if self.handler_role is not self.route_handler_role:
            self.gateway.grant_manage_connections(self.handler_role, methods=methods)
            self.secrets.grant_read_database(self.handler_role)

    def _existing_function(self) -> tuple[lambda_.IFunction, iam.IRole]:
        """Import the function (and its role) that the routes should invoke instead of ours."""
        role = iam.Role.from_role_arn(self, "ExistingFunctionRole", self.settings.existing_function_role_arn or "")
        function = lambda_.Function.from_function_attributes(
            self,
            "ExistingFunction",
            function_arn=self.settings.existing_function_arn or "",
            role=role,
            same_environment=True,
        )
        return function, role

    def _function_log_group_name(self) -> str:
        """The bundled function's log group, or Lambda's default group name for an existing function."""
        if self.bundled_function is not None:
            return self.bundled_function.log_group.log_group_name
        function_name = (self.settings.existing_function_arn or "").split(":")[6]
        return f"/aws/lambda/{function_name}"

    def _runtime_environment(self, *, reads_token_secret: bool) -> dict[str, str]:
        """A bundled function's environment (the management endpoint is added once the stage exists).

        Only the route function gets the token secret: the ops function never sees a ``$connect``.
        """
        s = self.settings
        environment = {
            rc.ENV_CONNECTION_TTL_MINUTES: str(s.connection_ttl_minutes),
            rc.ENV_ALLOWED_CONNECTION_TYPES: ",".join(s.allowed_connection_types),
            rc.ENV_MAX_CONNECTIONS_PER_EMAIL: str(s.max_connections_per_email),
            rc.ENV_METRICS_NAMESPACE: s.metrics_namespace,
            rc.ENV_LOG_LEVEL: s.log_level,
            rc.ENV_MANAGEMENT_API_METHODS: ",".join(s.management_api_methods),
            rc.ENV_INACTIVE_RETENTION_HOURS: str(s.inactive_retention_hours),
            rc.ENV_CLEANUP_BATCH_SIZE: str(s.cleanup_batch_size),
            rc.ENV_CLEANUP_TIME_BUDGET_SECONDS: str(s.cleanup_time_budget_seconds),
            rc.ENV_CLEANUP_DUTY_CYCLE_PERCENT: str(s.cleanup_duty_cycle_percent),
            rc.ENV_DB_STATEMENT_TIMEOUT_MS: str(s.database_statement_timeout_ms),
            rc.ENV_DB_POOLER: s.database_pooler,
            rc.ENV_REPLAY_WINDOW_MINUTES: str(s.replay_window_minutes),
            rc.ENV_REPLAY_WITHOUT_TOKENS: "true" if s.replay_without_tokens else "false",
        }
        if self.secrets.database_secret is not None:
            environment[rc.ENV_DATABASE_SECRET_ARN] = self.secrets.database_secret.secret_arn
            optional = {rc.ENV_DATABASE_HOST: s.database_host, rc.ENV_DATABASE_NAME: s.database_name,
                        rc.ENV_DATABASE_PORT: None if s.database_port is None else str(s.database_port)}
            environment.update({name: value for name, value in optional.items() if value is not None})
            if self.database is not None:
                environment[rc.ENV_DB_CONNECT_TIMEOUT_SECONDS] = str(RESUME_CONNECT_TIMEOUT_SECONDS)
        else:
            environment[rc.ENV_DATABASE_URL] = rc.EPHEMERAL_DATABASE_URL
            environment[rc.ENV_AUTO_MIGRATE] = "true"  # each container's /tmp file starts empty
        if self.database_proxy is not None:
            environment[rc.ENV_DATABASE_HOST] = self.database_proxy.endpoint
            # Said, not only detected from the host: transaction pooling needs the pool-safe protocol.
            environment[rc.ENV_DB_POOLER] = rc.RDS_PROXY_POOLER
        if reads_token_secret and self.secrets.token_secret is not None:
            environment[rc.ENV_CONNECT_TOKEN_SECRET_ARN] = self.secrets.token_secret.secret_arn
        return environment

    def _warn_about_demo_settings(self) -> None:
        """Synth-time warnings for demo-only settings and for steps the operator must take instead."""
        if self.bundled_function is not None and self.secrets.database_secret is None:
            cdk.Annotations.of(self).add_warning_v2("websocket:ephemeral-store", EPHEMERAL_STORE_WARNING)
        if self.settings.vpc_id:
            cdk.Annotations.of(self).add_info(EXISTING_VPC_INFO)
        if not self.settings.tokens_enabled:
            cdk.Annotations.of(self).add_warning_v2("websocket:tokens-disabled", TOKENS_DISABLED_WARNING)
        if self.settings.bring_your_own_function:
            cdk.Annotations.of(self).add_warning_v2("websocket:no-migration-on-deploy", NO_MIGRATION_ON_DEPLOY_WARNING)
