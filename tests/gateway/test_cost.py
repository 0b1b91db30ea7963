"""The cost model behind ``wsctl cost``."""
from __future__ import annotations

import pytest

from wsctl.cost import (
    CLEANUP_RUNS_PER_DAY,
    IDLE_DATABASE_AWAKE_HOURS,
    CostInputError,
    CostInputs,
    estimate,
    format_usd,
    message_charge,
    metered_units,
    render,
)

SEED = CostInputs(users=1000, minutes_per_connection=5, messages_per_user=10)


def test_reproduces_the_seed_example_for_api_gateway() -> None:
    daily = estimate(SEED).daily
    assert daily.connection_minutes == 5_000
    assert daily.metered_messages == 10_000
    assert daily.connection_minutes_usd == pytest.approx(0.00125)
    assert daily.messages_usd == pytest.approx(0.01)
    assert daily.api_gateway_usd < 0.02  # the seed's "< $0.02/day"


def test_logs_are_priced_by_volume() -> None:
    daily = estimate(SEED).daily
    assert daily.log_gb == pytest.approx(daily.lambda_requests * 1000 / 1e9)
    assert daily.logs_usd == pytest.approx(daily.log_gb * 0.50)  # the seed's "~$0.50 per GB"
    quiet = estimate(CostInputs(users=1000, minutes_per_connection=5, messages_per_user=10, log_bytes_per_invocation=0))
    assert quiet.daily.logs_usd == 0 and quiet.daily.total_usd == pytest.approx(daily.total_usd - daily.logs_usd)


def test_render_has_the_seeds_four_lines_and_explains_its_monthly_figure() -> None:
    text = render(estimate(SEED))
    labels = [line.split("  ")[0] for line in text.splitlines() if line.startswith(("API Gateway", "CloudWatch", "Lambda ("))]
    assert labels == ["API Gateway connection minutes", "API Gateway messages", "CloudWatch Logs (by volume)",
                      "Lambda (requests + arm64 duration)"]
    assert "$0.01125 per day ($0.3375 per 30 days)" in text
    assert '"~$0.60/month" is its rounded-up "< $0.02/day" bound x 30 days' in text
    other = render(estimate(CostInputs(users=10, minutes_per_connection=5, messages_per_user=10)))
    assert "seed guide" not in other  # the explanation belongs to the seed's example only


def test_month_is_days_times_a_day() -> None:
    result = estimate(SEED)
    assert result.monthly.connection_minutes_usd == pytest.approx(0.00125 * 30)
    assert result.monthly.messages_usd == pytest.approx(0.30)
    assert result.monthly.total_usd == pytest.approx(result.daily.total_usd * 30)


def test_adds_lambda_requests_and_duration() -> None:
    daily = estimate(SEED).daily
    # $connect + $disconnect per connection, one invocation per message, the cleanup schedule.
    assert daily.lambda_requests == 1000 * 2 + 1000 * 10 + CLEANUP_RUNS_PER_DAY
    assert daily.lambda_gb_seconds == pytest.approx(daily.lambda_requests * 0.020 * 0.25)
    assert daily.lambda_requests_usd == pytest.approx(daily.lambda_requests * 0.20 / 1e6)
    assert daily.lambda_duration_usd == pytest.approx(daily.lambda_gb_seconds * 0.0000133334)
    assert daily.total_usd == pytest.approx(daily.api_gateway_usd + daily.logs_usd + daily.lambda_usd)


@pytest.mark.parametrize(("size", "units"), [(1, 1), (32 * 1024, 1), (32 * 1024 + 1, 2), (128 * 1024, 4)])
def test_messages_are_metered_in_32_kb_units(size: int, units: int) -> None:
    assert metered_units(size) == units
    daily = estimate(CostInputs(users=1000, minutes_per_connection=5, messages_per_user=10, message_size_bytes=size)).daily
    assert daily.messages_usd == pytest.approx(0.01 * units)


def test_messages_over_a_billion_are_cheaper() -> None:
    assert message_charge(1_000_000_000) == pytest.approx(1000.0)
    assert message_charge(2_000_000_000) == pytest.approx(1000.0 + 800.0)


@pytest.mark.parametrize(
    "kwargs",
    [{"users": -1}, {"message_size_bytes": 131_073}, {"lambda_memory_mb": 64}, {"days_per_month": 0},
     {"minutes_per_connection": float("nan")}],
)
def test_bad_inputs_name_the_field(kwargs: dict[str, float]) -> None:
    values = {"users": 1, "minutes_per_connection": 1.0, "messages_per_user": 1.0, **kwargs}
    with pytest.raises(CostInputError, match=next(iter(kwargs))):
        CostInputs(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "text"), [(0.00125, "$0.00125"), (0.01, "$0.01"), (0.3, "$0.30"), (1234.5, "$1,234.50")])
def test_format_usd(value: float, text: str) -> None:
    assert format_usd(value) == text


# --- database=create: the stack's own Aurora Serverless v2 and NAT instance --------------------
def test_without_a_database_nothing_is_added() -> None:
    monthly = estimate(SEED).monthly
    assert (monthly.database_usd, monthly.nat_usd) == (0.0, 0.0)


def test_idle_database_costs_its_cleanup_wakeups_storage_secret_and_the_nat() -> None:
    idle = estimate(CostInputs(users=0, minutes_per_connection=0, messages_per_user=0,
                               database_awake_hours=IDLE_DATABASE_AWAKE_HOURS)).monthly
    # 8 h/day at 0.5 ACU x $0.12, 1 GB x $0.10, one secret $0.40.
    assert idle.database_usd == pytest.approx(8 * 30 * 0.5 * 0.12 + 0.10 + 0.40)
    # t4g.nano + public IPv4 around the clock, 8 GB gp3.
    assert idle.nat_usd == pytest.approx(720 * (0.0042 + 0.005) + 8 * 0.08)
    # the cleanup runs' Lambda requests and their log lines are the only other costs of an idle stack
    assert idle.total_usd == pytest.approx(idle.lambda_usd + idle.logs_usd + idle.database_usd + idle.nat_usd)


def test_a_database_awake_all_day_under_the_seed_load() -> None:
    loaded = estimate(CostInputs(users=1000, minutes_per_connection=5, messages_per_user=10, database_awake_hours=24))
    assert loaded.monthly.database_usd == pytest.approx(720 * 0.5 * 0.12 + 0.50)
    assert loaded.daily.database_usd * 30 == pytest.approx(loaded.monthly.database_usd)
    assert "Aurora Serverless v2, 24 h/day" in render(loaded) and "NAT instance" in render(loaded)
    assert "and the database" not in render(loaded)
    assert "and the database" in render(estimate(SEED))


def test_awake_hours_out_of_range_name_the_field() -> None:
    with pytest.raises(CostInputError, match="database_awake_hours"):
        CostInputs(users=1, minutes_per_connection=1, messages_per_user=1, database_awake_hours=25)
