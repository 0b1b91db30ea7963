"""Settings errors name the variable and the accepted values (config.py is shared; these pin it)."""
from __future__ import annotations

import pytest

from websocket_service.config import ConfigError, Settings


def test_defaults_need_no_environment():
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///websocket_connections.db"
    assert settings.allowed_connection_types == ("email-verification", "general")
    assert settings.auto_migrate is False
    assert settings.db_idle_release_seconds == 240
    assert settings.cleanup_time_budget_seconds == 20
    assert settings.cleanup_duty_cycle_percent == 25
    assert settings.management_api_methods == ("POST", "GET")
    assert settings.db_pooler == "auto"


def test_db_pooler_is_read_case_insensitively():
    assert Settings.from_env({"DB_POOLER": " RDS-Proxy "}).db_pooler == "rds-proxy"
    assert Settings.from_env({"DB_POOLER": "none"}).db_pooler == "none"


def test_store_settings_are_read():
    settings = Settings.from_env({"DB_IDLE_RELEASE_SECONDS": "0", "CLEANUP_TIME_BUDGET_SECONDS": "300",
                                  "CLEANUP_DUTY_CYCLE_PERCENT": "100", "MANAGEMENT_API_METHODS": " post, GET,DELETE "})
    assert settings.db_idle_release_seconds == 0  # never release
    assert settings.cleanup_time_budget_seconds == 300
    assert settings.cleanup_duty_cycle_percent == 100  # unpaced
    assert settings.management_api_methods == ("POST", "GET", "DELETE")


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"CONNECTION_TTL_MINUTES": "two hours"}, "CONNECTION_TTL_MINUTES='two hours' is not an integer"),
        ({"CONNECTION_TTL_MINUTES": "0"}, "CONNECTION_TTL_MINUTES=0 is out of range"),
        ({"MAX_CONNECTIONS_PER_EMAIL": "100000"}, "MAX_CONNECTIONS_PER_EMAIL=100000 is out of range"),
        ({"ALLOWED_CONNECTION_TYPES": " , "}, "ALLOWED_CONNECTION_TYPES lists no type"),
        ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL='CHATTY'"),
        ({"DB_STATEMENT_TIMEOUT_MS": "60000"}, "DB_STATEMENT_TIMEOUT_MS=60000 is out of range"),
        ({"AUTO_MIGRATE": "sometimes"}, "AUTO_MIGRATE='sometimes' is not a boolean"),
        ({"DB_IDLE_RELEASE_SECONDS": "-1"}, "DB_IDLE_RELEASE_SECONDS=-1 is out of range; expected 0..3600"),
        ({"CLEANUP_TIME_BUDGET_SECONDS": "0"}, "CLEANUP_TIME_BUDGET_SECONDS=0 is out of range; expected 1..840"),
        ({"CLEANUP_DUTY_CYCLE_PERCENT": "0"}, "CLEANUP_DUTY_CYCLE_PERCENT=0 is out of range; expected 1..100"),
        ({"CLEANUP_DUTY_CYCLE_PERCENT": "0.5"}, "CLEANUP_DUTY_CYCLE_PERCENT='0.5' is not an integer; expected 1..100"),
        ({"MANAGEMENT_API_METHODS": "POST,PATCH"}, "expected a comma list of distinct POST, GET, DELETE"),
        ({"MANAGEMENT_API_METHODS": "POST,POST"}, "expected a comma list of distinct POST, GET, DELETE"),
        ({"MANAGEMENT_API_METHODS": "GET"}, "MANAGEMENT_API_METHODS='GET' lacks POST"),
        ({"DB_POOLER": "pgpool"}, "DB_POOLER='pgpool'; expected one of auto, none, pgbouncer, rds-proxy"),
        ({"REPLAY_WINDOW_MINUTES": "1441"}, "REPLAY_WINDOW_MINUTES=1441 is out of range; expected 0..1440"),
        ({"REPLAY_WINDOW_MINUTES": "-1"}, "REPLAY_WINDOW_MINUTES=-1 is out of range; expected 0..1440"),
        ({"REPLAY_WITHOUT_TOKENS": "maybe"}, "REPLAY_WITHOUT_TOKENS='maybe' is not a boolean"),
    ],
)
def test_bad_values_raise_config_error_naming_the_variable(env, fragment):
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert fragment in str(info.value)


def test_token_secret_is_not_in_repr():
    settings = Settings.from_env({"CONNECT_TOKEN_SECRET": "hunter2"})
    assert settings.connect_token_secret == "hunter2"
    assert "hunter2" not in repr(settings)


def test_management_api_methods_default_to_post_and_get_and_accept_a_comma_list():
    assert Settings.from_env({}).management_api_methods == ("POST", "GET")
    assert Settings.from_env({"MANAGEMENT_API_METHODS": "post, delete"}).management_api_methods == ("POST", "DELETE")


def test_database_host_overrides_nothing_unless_set():
    assert Settings.from_env({}).database_host is None
    assert Settings.from_env({"DATABASE_HOST": " proxy.example "}).database_host == "proxy.example"


def test_replay_settings_default_to_a_15_minute_window_that_needs_tokens():
    settings = Settings.from_env({})
    assert (settings.replay_window_minutes, settings.replay_without_tokens) == (15, False)
    settings = Settings.from_env({"REPLAY_WINDOW_MINUTES": "0", "REPLAY_WITHOUT_TOKENS": "true"})
    assert (settings.replay_window_minutes, settings.replay_without_tokens) == (0, True)
