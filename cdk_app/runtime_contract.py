"""What the CDK app knows about the Lambda package, defined once on this side.

``cdk_app`` never imports the runtime (``websocket_service``); the only bridge is the asset path,
the handler string and the environment variable names below. A test in ``tests/infrastructure``
checks that every name here agrees with ``websocket_service.config``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SOURCE_DIR = PROJECT_ROOT / "lambda_src"
"""The function's asset directory: the package plus its pinned ``requirements.txt``."""
PACKAGE_NAME = "websocket_service"
REQUIREMENTS_FILE = LAMBDA_SOURCE_DIR / "requirements.txt"
MIGRATIONS_DIR = LAMBDA_SOURCE_DIR / PACKAGE_NAME / "store" / "migrations"
HANDLER = f"{PACKAGE_NAME}.handler.handler"
NOTIFY_SCHEMA_FILE = LAMBDA_SOURCE_DIR / PACKAGE_NAME / "schemas" / "notify.schema.json"
"""The notify contract (JSON Schema draft 2020-12), written once in the asset; the stack publishes it."""
SHARED_DEFAULTS_FILE = LAMBDA_SOURCE_DIR / PACKAGE_NAME / "shared_defaults.json"
"""Default and bounds of each runtime setting, written once for both sides (read here by path)."""
SHARED_DEFAULTS: dict[str, dict[str, Any]] = json.loads(SHARED_DEFAULTS_FILE.read_text(encoding="utf-8"))["settings"]

# Environment variable names the function reads (websocket_service.config.ENV_*).
ENV_MANAGEMENT_ENDPOINT = "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT"
ENV_DATABASE_URL = "DATABASE_URL"
ENV_DATABASE_SECRET_ARN = "DATABASE_SECRET_ARN"
ENV_DATABASE_HOST = "DATABASE_HOST"
ENV_DATABASE_PORT = "DATABASE_PORT"
ENV_DATABASE_NAME = "DATABASE_NAME"
ENV_DB_CONNECT_TIMEOUT_SECONDS = "DB_CONNECT_TIMEOUT_SECONDS"
ENV_CONNECTION_TTL_MINUTES = "CONNECTION_TTL_MINUTES"
ENV_ALLOWED_CONNECTION_TYPES = "ALLOWED_CONNECTION_TYPES"
ENV_MAX_CONNECTIONS_PER_EMAIL = "MAX_CONNECTIONS_PER_EMAIL"
ENV_CONNECT_TOKEN_SECRET_ARN = "CONNECT_TOKEN_SECRET_ARN"
ENV_METRICS_NAMESPACE = "METRICS_NAMESPACE"
ENV_LOG_LEVEL = "LOG_LEVEL"
ENV_AUTO_MIGRATE = "AUTO_MIGRATE"
ENV_MANAGEMENT_API_METHODS = "MANAGEMENT_API_METHODS"
ENV_DATABASE_HOST = "DATABASE_HOST"
ENV_DB_POOLER = "DB_POOLER"
ENV_DB_STATEMENT_TIMEOUT_MS = "DB_STATEMENT_TIMEOUT_MS"
ENV_INACTIVE_RETENTION_HOURS = "INACTIVE_RETENTION_HOURS"
ENV_CLEANUP_BATCH_SIZE = "CLEANUP_BATCH_SIZE"
ENV_CLEANUP_TIME_BUDGET_SECONDS = "CLEANUP_TIME_BUDGET_SECONDS"
ENV_CLEANUP_DUTY_CYCLE_PERCENT = "CLEANUP_DUTY_CYCLE_PERCENT"
ENV_REPLAY_WINDOW_MINUTES = "REPLAY_WINDOW_MINUTES"
ENV_REPLAY_WITHOUT_TOKENS = "REPLAY_WITHOUT_TOKENS"
RDS_PROXY_POOLER = "rds-proxy"
"""``DB_POOLER`` of functions that connect through the stack's RDS Proxy (pool-safe protocol)."""

EPHEMERAL_DATABASE_URL = "sqlite:////tmp/websocket_connections.db"
"""Demo-only store used when no database secret is configured (lost on every cold start); the
function then sets ``AUTO_MIGRATE`` so each new container creates its own table."""

FAILED_DELIVERIES_METRIC = "FailedDeliveries"
"""EMF metric the function emits (no dimensions) when a post to a connection fails."""
SERVICE_FAILURES_METRIC = "ServiceFailures"
"""EMF metric the function emits (no dimensions) for each invocation that failed on its side."""
DEFAULT_METRICS_NAMESPACE: str = SHARED_DEFAULTS[ENV_METRICS_NAMESPACE]["default"]

INVOCATION_LOG_MESSAGE = "invocation"
"""``message`` of the one JSON log line the function writes per invocation (with ``route``, ``outcome``)."""
CLEANUP_LOG_ROUTES = ("direct:cleanup", "eventbridge:scheduled")
"""``route`` values of cleanup invocations in that line; a successful one also carries these counts:"""
CLEANUP_LOG_COUNTS = ("expired", "purged")

# Direct-invoke payloads the function understands.
CLEANUP_EVENT = {"action": "cleanup"}
MIGRATE_ACTION = "migrate"
