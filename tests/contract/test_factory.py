"""open_store URL forms, database_url_from_secret, lazy driver imports and the migration files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

import websocket_service.store as store_package
from websocket_service.store import StoreConfigError, database_url_from_secret, open_store
from websocket_service.store.postgres import PostgresConnectionStore
from websocket_service.store.schema import DIALECTS, MIGRATIONS_DIR, load_migrations
from websocket_service.store.sqlite import MEMORY, SqliteConnectionStore

PASSWORD = "p@ss:w/rd?#%&="
RDS_SECRET = {
    "engine": "postgres",
    "username": "app user",
    "password": PASSWORD,
    "host": "db.cluster-abc.eu-west-1.rds.amazonaws.com",
    "port": 5433,
    "dbname": "connections",
}


# --- open_store ---------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "PostgreSQL"])
def test_postgres_urls_give_a_postgres_store_without_connecting(scheme: str) -> None:
    store = open_store(f"{scheme}://app:secret@127.0.0.1:1/db")  # nothing listens on port 1
    assert isinstance(store, PostgresConnectionStore)
    assert store.target == "app@127.0.0.1:1/db"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///connections.db", "connections.db"),
        ("sqlite:///data/connections.db", "data/connections.db"),
        ("sqlite:////var/lib/ws/connections.db", "/var/lib/ws/connections.db"),
        ("sqlite:///:memory:", MEMORY),
        ("  sqlite:///x.db  ", "x.db"),
    ],
)
def test_sqlite_urls_give_a_sqlite_store_on_that_path(url: str, path: str) -> None:
    store = open_store(url)
    assert isinstance(store, SqliteConnectionStore)
    assert store.path == path


def test_open_store_does_not_touch_the_disk(tmp_path: Path) -> None:
    open_store(f"sqlite:///{tmp_path}/later/connections.db")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", "DATABASE_URL is empty"),
        ("   ", "DATABASE_URL is empty"),
        ("mysql://root:hunter2@db/app", "DATABASE_URL scheme 'mysql' is not supported"),
        ("sqlite://host/connections.db", "DATABASE_URL scheme 'sqlite' is not supported"),
        ("connections.db", "DATABASE_URL is not a database URL"),
        ("root:hunter2@db:5432/app", "DATABASE_URL is not a database URL"),
        ("sqlite:///", "DATABASE_URL sqlite:/// needs a file path"),
        ("sqlite:///x.db?mode=ro", "takes no query parameters"),
    ],
)
def test_unusable_urls_are_rejected_with_the_accepted_forms(url: str, expected: str) -> None:
    with pytest.raises(StoreConfigError) as caught:
        open_store(url)
    message = str(caught.value)
    assert expected in message
    assert "postgresql://USER:PASSWORD@HOST:PORT/DBNAME" in message and "sqlite:///:memory:" in message
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"connect_timeout_s": 0}, "DB_CONNECT_TIMEOUT_SECONDS"),
        ({"statement_timeout_ms": -1}, "DB_STATEMENT_TIMEOUT_MS"),
        ({"migration_timeout_ms": 0}, "the migration timeout"),
    ],
)
def test_timeouts_must_be_positive(kwargs: dict[str, int], name: str) -> None:
    with pytest.raises(StoreConfigError, match=f"{name} .* must be a positive integer"):
        open_store("sqlite:///:memory:", **kwargs)


def test_psycopg_is_imported_only_when_a_postgres_store_is_opened() -> None:
    script = (
        "import sys\n"
        "from websocket_service.store import open_store\n"
        "store = open_store('sqlite:///:memory:'); store.migrate(); store.close()\n"
        "print('psycopg' in sys.modules)\n"
        "open_store('postgresql://u@127.0.0.1:1/db')\n"
        "print('psycopg' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True"]


def test_backend_classes_are_reexported_lazily() -> None:
    assert store_package.PostgresConnectionStore is PostgresConnectionStore
    assert store_package.SqliteConnectionStore is SqliteConnectionStore
    with pytest.raises(AttributeError, match="no attribute 'MysqlConnectionStore'"):
        store_package.MysqlConnectionStore  # noqa: B018


# --- database_url_from_secret -------------------------------------------------------------------
def test_secret_becomes_a_url_with_percent_encoded_credentials() -> None:
    url = database_url_from_secret(json.dumps(RDS_SECRET))
    assert url.startswith("postgresql://app%20user:")
    assert conninfo_to_dict(url) == {
        "user": "app user",
        "password": PASSWORD,
        "host": "db.cluster-abc.eu-west-1.rds.amazonaws.com",
        "port": "5433",
        "dbname": "connections",
    }


def test_secret_port_and_dbname_default_to_rds_defaults() -> None:
    secret = {k: v for k, v in RDS_SECRET.items() if k not in {"port", "dbname"}}
    params = conninfo_to_dict(database_url_from_secret(json.dumps(secret)))
    assert (params["port"], params["dbname"]) == ("5432", "postgres")


def test_secret_port_may_be_a_string_and_host_an_ipv6_literal() -> None:
    secret = {**RDS_SECRET, "port": "6432", "host": "2001:db8::5"}
    params = conninfo_to_dict(database_url_from_secret(json.dumps(secret)))
    assert (params["host"], params["port"]) == ("2001:db8::5", "6432")


def test_host_override_replaces_only_the_secrets_host() -> None:
    """DATABASE_HOST (an RDS Proxy endpoint) wins over the secret's host; the rest stays."""
    proxy = "ws-proxy.proxy-abc.eu-west-1.rds.amazonaws.com"
    params = conninfo_to_dict(database_url_from_secret(json.dumps(RDS_SECRET), host=proxy))
    assert params == {**conninfo_to_dict(database_url_from_secret(json.dumps(RDS_SECRET))), "host": proxy}


def test_url_from_secret_connects_for_real(postgres_url: str) -> None:
    server = conninfo_to_dict(postgres_url)
    secret = {
        "username": server.get("user", "postgres"),
        "password": PASSWORD,  # ignored by the test server's trust authentication
        "host": server.get("host", "127.0.0.1"),
        "port": int(server.get("port", 5432)),
        "dbname": server.get("dbname", "test"),
    }
    with psycopg.connect(database_url_from_secret(json.dumps(secret)), connect_timeout=5) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (secret["dbname"],)


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        ({"password": PASSWORD, "port": 5432}, "lacks username, host"),
        ({"username": "app", "host": "db", "password": ""}, "lacks password"),
        ({"username": "app", "host": "db", "password": PASSWORD, "port": 0}, "has port 0; expected 1..65535"),
        ({"username": "app", "host": "db", "password": PASSWORD, "port": "x"}, "has port 'x'"),
        ({"username": "app", "host": "db", "password": PASSWORD, "port": True}, "has port True"),
        ({"username": ["app"], "host": "db", "password": PASSWORD}, "has non-string username"),
    ],
)
def test_bad_secrets_name_the_problem_without_the_password(secret: dict[str, object], expected: str) -> None:
    with pytest.raises(StoreConfigError, match="DATABASE_SECRET_ARN") as caught:
        database_url_from_secret(json.dumps(secret))
    assert expected in str(caught.value)
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [(f'{{"password": "{PASSWORD}", ', "is not valid JSON"), ('["a", "b"]', "must be a JSON object")],
)
def test_secrets_that_are_not_json_objects_are_rejected(text: str, expected: str) -> None:
    with pytest.raises(StoreConfigError, match=expected) as caught:
        database_url_from_secret(text)
    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None  # the JSON error would quote the secret


# --- migration files ----------------------------------------------------------------------------
def test_every_migration_exists_for_every_dialect_in_order() -> None:
    versions = {d: [(m.version, m.name) for m in load_migrations(d)] for d in DIALECTS}
    assert versions["postgres"] == versions["sqlite"]
    assert [v for v, _ in versions["sqlite"]] == list(range(1, len(versions["sqlite"]) + 1))
    assert {p.name for p in MIGRATIONS_DIR.glob("*.sql")} == {
        f"{v:04d}_{n}.{d}.sql" for d in DIALECTS for v, n in versions[d]
    }


def test_first_migration_creates_the_designed_table_and_partial_indexes() -> None:
    for migration in (load_migrations("postgres")[0], load_migrations("sqlite")[0]):
        sql = " ".join(migration.sql.split())
        assert "CREATE TABLE websocket_connections" in sql
        assert "ON websocket_connections (user_email, connection_type) WHERE is_active" in sql
        assert "ON websocket_connections (last_activity_at) WHERE is_active" in sql
    assert "connected_at timestamptz NOT NULL" in " ".join(load_migrations("postgres")[0].sql.split())


# --- RDS-managed master-user secrets (username and password only) ------------------------------
def test_rds_managed_secret_takes_host_port_and_dbname_from_settings() -> None:
    secret = {"username": "postgres", "password": PASSWORD}
    url = database_url_from_secret(json.dumps(secret), host="db.cluster-abc.eu-west-1.rds.amazonaws.com", port=6432,
                                   dbname="careconnect")
    params = conninfo_to_dict(url)
    assert (params["host"], params["port"], params["dbname"]) == ("db.cluster-abc.eu-west-1.rds.amazonaws.com", "6432",
                                                                  "careconnect")


def test_the_secrets_port_and_dbname_win_but_the_host_setting_replaces_its_host() -> None:
    # DATABASE_HOST points at an RDS Proxy in front of the database the secret describes (same port and database).
    params = conninfo_to_dict(database_url_from_secret(json.dumps(RDS_SECRET), host="other.example", port=1, dbname="x"))
    assert (params["host"], params["port"], params["dbname"]) == ("other.example", "5433", "connections")


def test_rds_managed_secret_without_a_host_setting_says_which_setting_to_add() -> None:
    with pytest.raises(StoreConfigError, match="lacks host.*DATABASE_HOST") as error:
        database_url_from_secret(json.dumps({"username": "postgres", "password": PASSWORD}))
    assert PASSWORD not in str(error.value)


def test_rds_managed_secret_connects_for_real_with_the_host_from_settings(postgres_url: str) -> None:
    server = conninfo_to_dict(postgres_url)
    secret = {"username": server.get("user", "postgres"), "password": PASSWORD}  # trust auth ignores it
    url = database_url_from_secret(json.dumps(secret), host=server.get("host", "127.0.0.1"),
                                   port=int(server.get("port", 5432)), dbname=server.get("dbname", "test"))
    with psycopg.connect(url, connect_timeout=5) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (server.get("dbname", "test"),)
