"""Monthly cost estimate of the WebSocket notification channel (``wsctl cost``).

The seed guide's estimate has four lines -- connection minutes, messages, CloudWatch Logs (~$0.50
per GB) and Lambda ("no additional cost": it reused an existing backend Lambda) -- and reads its
example as one day: 1,000 users, 5 minutes per connection, 10 messages each -> $0.00125 of
connection minutes and $0.01 of messages per day, "< $0.02/day or ~$0.60/month". The ~$0.60 is
that rounded-up $0.02/day bound times 30 days; the two priced lines themselves add up to $0.01125
per day, $0.34 per month. This module reproduces those figures, prices the logs by volume, and
adds what the seed leaves out: messages are metered in 32 KB units, and our own Lambda function
is invoked for ``$connect``, ``$disconnect``, every message and the cleanup schedule.

Model (all inputs describe one day; a month is ``days_per_month`` such days):

* connection minutes = users x connections per user x minutes per connection;
* metered messages = users x messages per user x ceil(message size / 32 KB);
* Lambda requests = users x connections per user x 2 (``$connect`` + ``$disconnect``)
  + users x messages per user (one invocation handles or sends each message)
  + the cleanup schedule (every 15 minutes);
* Lambda GB-seconds = requests x average duration x memory;
* CloudWatch Logs GB = Lambda requests x log bytes per invocation (our JSON line, Lambda's
  START/END/REPORT lines and API Gateway's access log line: about 1,000 bytes) / 10^9.

* with ``database_awake_hours`` (the stack's ``database=create``): Aurora Serverless v2 at its
  0.5 ACU floor for the hours per day it is not paused, 1 GB of storage, its secret, and the VPC's
  NAT instance (t4g.nano, its 8 GB gp3 root volume and its public IPv4 address) around the clock.
  The cleanup schedule wakes a paused database: with ``rate(15 minutes)`` and a 5-minute auto-pause
  it is awake at least a third of the time (8 h a day) even with no users.

Free tiers (they vary by account age) and log storage ($0.03 per GB-month) are ignored. Prices are
us-east-1 list prices.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

from websocket_service.messenger import MAX_PAYLOAD_BYTES

PRICES_TAKEN_ON = "2026-11-25"
"""When the prices below were recorded (AWS pricing pages for API Gateway, Lambda, CloudWatch; us-east-1)."""
WEBSOCKET_MESSAGE_PRICE_PER_MILLION = 1.00
"""API Gateway WebSocket messages, first 1 billion per month."""
WEBSOCKET_MESSAGE_PRICE_PER_MILLION_OVER_BILLION = 0.80
"""API Gateway WebSocket messages beyond 1 billion per month."""
MESSAGE_TIER_SIZE = 1_000_000_000
CONNECTION_MINUTE_PRICE_PER_MILLION = 0.25
"""API Gateway WebSocket connection minutes."""
MESSAGE_METERING_BYTES = 32 * 1024
"""Messages are billed in 32 KB increments: a 33 KB message counts as two."""
LAMBDA_REQUEST_PRICE_PER_MILLION = 0.20
"""Lambda requests (arm64 and x86_64 alike)."""
LAMBDA_ARM64_PRICE_PER_GB_SECOND = 0.0000133334
"""Lambda duration on arm64 (Graviton), first 7.5 billion GB-seconds per month."""
CLOUDWATCH_LOGS_PRICE_PER_GB = 0.50
"""CloudWatch Logs ingestion (standard log class), the seed's "~$0.50 per GB"."""
DEFAULT_LOG_BYTES_PER_INVOCATION = 1000
"""Log volume per invocation: our one JSON line, Lambda's START/END/REPORT lines, the access log line."""
SEED_EXAMPLE = (1000, 5.0, 10.0)
"""The seed guide's example: users, minutes per connection, messages per user (per day)."""

AURORA_ACU_HOUR_PRICE = 0.12
"""Aurora Serverless v2 PostgreSQL (Aurora Standard), per ACU-hour; 0 while paused."""
AURORA_AWAKE_MIN_ACU = 0.5
"""The lowest capacity of a database that is not paused."""
AURORA_STORAGE_GB_MONTH_PRICE = 0.10
DATABASE_STORAGE_GB = 1.0
"""The connections table stays small: rows are purged a day after they go inactive."""
SECRET_MONTH_PRICE = 0.40
"""Secrets Manager, per secret and month (the database's generated credentials)."""
NAT_INSTANCE_HOUR_PRICE = 0.0042
"""EC2 t4g.nano on demand (the stack's NAT instance)."""
PUBLIC_IPV4_HOUR_PRICE = 0.005
"""A public IPv4 address (the NAT instance's)."""
EBS_GP3_GB_MONTH_PRICE = 0.08
NAT_ROOT_VOLUME_GB = 8
DAYS_PER_PRICED_MONTH = 30
"""Monthly list prices are spread over 30 days."""
IDLE_DATABASE_AWAKE_HOURS = 8.0
"""A database with no users is woken by the cleanup schedule: 5 of every 15 minutes."""

CLEANUP_RUNS_PER_DAY = 24 * 60 // 15
"""The cleanup schedule, ``rate(15 minutes)``."""
DEFAULT_MEMORY_MB = 256
"""The function's memory in the CDK stack."""
DEFAULT_LAMBDA_DURATION_MS = 20.0
"""A typical warm invocation (one indexed query, or one post); measure yours with ``make bench``."""
DEFAULT_MESSAGE_SIZE_BYTES = 512
MAX_MESSAGE_SIZE_BYTES = MAX_PAYLOAD_BYTES
"""API Gateway's message size limit; larger messages cannot be sent at all."""
MIN_MEMORY_MB = 128
MAX_MEMORY_MB = 10240
"""Lambda's memory range."""
MAX_DAYS_PER_MONTH = 31


class CostInputError(ValueError):
    """An input of the estimate is out of range; the message names it."""


@dataclass(frozen=True, slots=True)
class CostInputs:
    """Daily usage. Defaults: one connection per user, 512-byte messages, 256 MB, 20 ms, 30 days,
    1,000 bytes of logs per invocation."""

    users: int
    minutes_per_connection: float
    messages_per_user: float
    message_size_bytes: int = DEFAULT_MESSAGE_SIZE_BYTES
    connections_per_user: float = 1.0
    lambda_memory_mb: int = DEFAULT_MEMORY_MB
    lambda_duration_ms: float = DEFAULT_LAMBDA_DURATION_MS
    days_per_month: int = 30
    database_awake_hours: float | None = None
    """Hours per day the stack's own database (``database=create``) is not paused; None: no database line."""
    log_bytes_per_invocation: float = DEFAULT_LOG_BYTES_PER_INVOCATION

    def __post_init__(self) -> None:
        non_negative = ("users", "minutes_per_connection", "messages_per_user", "connections_per_user", "lambda_duration_ms",
                        "log_bytes_per_invocation")
        for name in non_negative:
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise CostInputError(f"{name} must be a number >= 0, got {value!r}")
        if not 1 <= self.message_size_bytes <= MAX_MESSAGE_SIZE_BYTES:
            raise CostInputError(
                f"message_size_bytes must be 1..{MAX_MESSAGE_SIZE_BYTES} (API Gateway's limit), got {self.message_size_bytes}"
            )
        if not MIN_MEMORY_MB <= self.lambda_memory_mb <= MAX_MEMORY_MB:
            raise CostInputError(f"lambda_memory_mb must be {MIN_MEMORY_MB}..{MAX_MEMORY_MB}, got {self.lambda_memory_mb}")
        if self.database_awake_hours is not None and not 0 <= self.database_awake_hours <= 24:
            raise CostInputError(f"database_awake_hours must be 0..24, got {self.database_awake_hours!r}")
        if not 1 <= self.days_per_month <= MAX_DAYS_PER_MONTH:
            raise CostInputError(f"days_per_month must be 1..{MAX_DAYS_PER_MONTH}, got {self.days_per_month}")


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """Usage and dollars for one period."""

    connection_minutes: float
    metered_messages: float
    lambda_requests: float
    lambda_gb_seconds: float
    log_gb: float
    connection_minutes_usd: float
    messages_usd: float
    logs_usd: float
    lambda_requests_usd: float
    lambda_duration_usd: float
    database_usd: float = 0.0
    """Aurora Serverless v2 compute, storage and secret (``database=create``)."""
    nat_usd: float = 0.0
    """The created VPC's NAT instance, its disk and public IPv4 address (``database=create``)."""

    @property
    def api_gateway_usd(self) -> float:
        """What the seed's estimate covers: connection minutes plus messages."""
        return self.connection_minutes_usd + self.messages_usd

    @property
    def lambda_usd(self) -> float:
        """Lambda requests plus duration."""
        return self.lambda_requests_usd + self.lambda_duration_usd

    @property
    def total_usd(self) -> float:
        """Everything estimated."""
        return self.api_gateway_usd + self.logs_usd + self.lambda_usd + self.database_usd + self.nat_usd

    def to_dict(self) -> dict[str, float]:
        """Fields and totals as a plain dict."""
        return {
            **asdict(self),
            "api_gateway_usd": self.api_gateway_usd,
            "lambda_usd": self.lambda_usd,
            "total_usd": self.total_usd,
        }


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """A daily and a monthly breakdown for the same inputs."""

    inputs: CostInputs
    daily: CostBreakdown
    monthly: CostBreakdown

    def to_dict(self) -> dict[str, object]:
        """Inputs, prices date and both breakdowns (``wsctl cost --json``)."""
        return {
            "inputs": asdict(self.inputs),
            "prices_taken_on": PRICES_TAKEN_ON,
            "daily": self.daily.to_dict(),
            "monthly": self.monthly.to_dict(),
        }


def metered_units(message_size_bytes: int) -> int:
    """How many billed messages one message of this size counts as (32 KB increments)."""
    return max(1, math.ceil(message_size_bytes / MESSAGE_METERING_BYTES))


def message_charge(messages: float) -> float:
    """Dollars for ``messages`` metered messages in one month, with the 1-billion tier."""
    first = min(messages, MESSAGE_TIER_SIZE)
    rest = max(0.0, messages - MESSAGE_TIER_SIZE)
    return (
        first * WEBSOCKET_MESSAGE_PRICE_PER_MILLION + rest * WEBSOCKET_MESSAGE_PRICE_PER_MILLION_OVER_BILLION
    ) / 1_000_000


def _breakdown(inputs: CostInputs, days: int) -> CostBreakdown:
    connections = inputs.users * inputs.connections_per_user * days
    messages = inputs.users * inputs.messages_per_user * days
    minutes = connections * inputs.minutes_per_connection
    metered = messages * metered_units(inputs.message_size_bytes)
    requests = connections * 2 + messages + CLEANUP_RUNS_PER_DAY * days
    gb_seconds = requests * (inputs.lambda_duration_ms / 1000) * (inputs.lambda_memory_mb / 1024)
    log_gb = requests * inputs.log_bytes_per_invocation / 1e9
    return CostBreakdown(
        connection_minutes=minutes,
        metered_messages=metered,
        lambda_requests=requests,
        lambda_gb_seconds=gb_seconds,
        log_gb=log_gb,
        connection_minutes_usd=minutes * CONNECTION_MINUTE_PRICE_PER_MILLION / 1_000_000,
        # The 1-billion tier is monthly: charge the month's volume, then take this period's share.
        messages_usd=message_charge(metered / days * inputs.days_per_month) * days / inputs.days_per_month,
        logs_usd=log_gb * CLOUDWATCH_LOGS_PRICE_PER_GB,
        lambda_requests_usd=requests * LAMBDA_REQUEST_PRICE_PER_MILLION / 1_000_000,
        lambda_duration_usd=gb_seconds * LAMBDA_ARM64_PRICE_PER_GB_SECOND,
        **_database_and_nat(inputs, days),
    )


def _database_and_nat(inputs: CostInputs, days: int) -> dict[str, float]:
    """The database=create lines for ``days`` days (nothing without ``database_awake_hours``)."""
    if inputs.database_awake_hours is None:
        return {}
    monthly_share = days / DAYS_PER_PRICED_MONTH
    compute = inputs.database_awake_hours * days * AURORA_AWAKE_MIN_ACU * AURORA_ACU_HOUR_PRICE
    fixed = (DATABASE_STORAGE_GB * AURORA_STORAGE_GB_MONTH_PRICE + SECRET_MONTH_PRICE) * monthly_share
    nat = (24 * days * (NAT_INSTANCE_HOUR_PRICE + PUBLIC_IPV4_HOUR_PRICE)
           + NAT_ROOT_VOLUME_GB * EBS_GP3_GB_MONTH_PRICE * monthly_share)
    return {"database_usd": compute + fixed, "nat_usd": nat}


def estimate(inputs: CostInputs) -> CostEstimate:
    """Daily and monthly cost for ``inputs``; see the module docstring for the model."""
    return CostEstimate(inputs, daily=_breakdown(inputs, 1), monthly=_breakdown(inputs, inputs.days_per_month))


def format_usd(value: float) -> str:
    """Dollars with at least two and at most six decimals: ``$0.00125``, ``$0.30``, ``$12.50``."""
    text = f"{value:,.6f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"${whole}.{decimals.ljust(2, '0')}"


def render(result: CostEstimate) -> str:
    """A human-readable table of ``result``: the seed's four lines, then totals."""
    i = result.inputs
    units = metered_units(i.message_size_bytes)
    rows: list[tuple[str, Callable[[CostBreakdown], float]]] = [
        ("API Gateway connection minutes", lambda b: b.connection_minutes_usd),
        ("API Gateway messages", lambda b: b.messages_usd),
        ("CloudWatch Logs (by volume)", lambda b: b.logs_usd),
        ("Lambda (requests + arm64 duration)", lambda b: b.lambda_usd),
    ]
    header = f"{'':36}{'per day':>14}{f'per month ({i.days_per_month} d)':>22}"
    lines = [
        f"Usage per day: {i.users:,} users x {i.connections_per_user:g} connection(s) x {i.minutes_per_connection:g} min, "
        f"{i.messages_per_user:g} messages of {i.message_size_bytes:,} B ({units} metered unit{'s' if units > 1 else ''} each)",
        f"Lambda: {i.lambda_memory_mb} MB, {i.lambda_duration_ms:g} ms per invocation, "
        f"{result.daily.lambda_requests:,.0f} invocations per day (incl. {CLEANUP_RUNS_PER_DAY} cleanup runs); "
        f"logs: {i.log_bytes_per_invocation:,.0f} B per invocation = {result.monthly.log_gb:.3f} GB per month",
        "",
        header,
    ]
    if i.database_awake_hours is not None:
        rows += [
            (f"Aurora Serverless v2, {i.database_awake_hours:g} h/day", lambda b: b.database_usd),
            ("NAT instance (t4g.nano), IPv4, disk", lambda b: b.nat_usd),
        ]
    for label, amount in rows:
        lines.append(f"{label:36}{format_usd(amount(result.daily)):>14}{format_usd(amount(result.monthly)):>22}")
    lines.append(f"{'Total':36}{format_usd(result.daily.total_usd):>14}{format_usd(result.monthly.total_usd):>22}")
    lines.append("")
    if (i.users, i.minutes_per_connection, i.messages_per_user) == SEED_EXAMPLE:
        seed_lines = result.daily.api_gateway_usd
        lines.append(
            f"The seed guide's example: connection minutes {format_usd(result.daily.connection_minutes_usd)} + messages "
            f"{format_usd(result.daily.messages_usd)} = {format_usd(seed_lines)} per day ({format_usd(seed_lines * 30)} per "
            f"30 days); its \"~$0.60/month\" is its rounded-up \"< $0.02/day\" bound x 30 days. It counted no Lambda "
            "cost (an existing backend Lambda) and no log volume."
        )
    left_out = "log storage and alarms" + ("" if i.database_awake_hours is not None else " and the database")
    lines.append(f"us-east-1 list prices recorded {PRICES_TAKEN_ON}; free tiers, {left_out} are not included.")
    return "\n".join(lines)
