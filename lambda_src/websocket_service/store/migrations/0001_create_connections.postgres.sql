-- 0001: WebSocket connections (DESIGN.md "Store schema") and ws_add_connection(), which every
-- $connect calls. SQLite mirror: 0001_*.sqlite.sql (no function there).
CREATE TABLE websocket_connections (
    connection_id          text        PRIMARY KEY,
    user_email             text        NOT NULL,
    connection_type        text        NOT NULL,
    is_active              boolean     NOT NULL DEFAULT TRUE,
    connected_at           timestamptz NOT NULL,
    last_activity_at       timestamptz NOT NULL,
    disconnected_at        timestamptz,
    disconnect_status_code integer,
    disconnect_reason      text,
    source_ip              text,
    user_agent             text,
    domain_name            text,
    stage                  text
);

-- Fan-out lookups (active ids of one email and type) and the per-email cap count.
CREATE INDEX websocket_connections_active_email_type_idx
    ON websocket_connections (user_email, connection_type) WHERE is_active;

-- expire_idle / count_idle.
CREATE INDEX websocket_connections_active_last_activity_idx
    ON websocket_connections (last_activity_at) WHERE is_active;

-- purge_inactive / count_purgeable.
CREATE INDEX websocket_connections_inactive_disconnected_idx
    ON websocket_connections (disconnected_at) WHERE NOT is_active;

-- ws_add_connection(): the whole capped add of $connect in ONE statement (one network round
-- trip). SQLite needs no function: its 0001 has none.
--
-- The function takes a transaction-scoped advisory lock on the email (namespace 1465074993 =
-- 0x57534531, "WSE1"), then counts and inserts. Called as `SELECT ws_add_connection(...)` in
-- autocommit mode, the lock is held until that statement's implicit transaction commits, which
-- makes the new row visible before the next caller for the same email is granted the lock.
--
-- Why a function and not one INSERT with the lock in a CTE: under READ COMMITTED a plain statement
-- runs entirely on the snapshot taken when it starts, i.e. before it waits for the lock, so its
-- count would miss the row the previous lock holder just committed. Inside a VOLATILE PL/pgSQL
-- function every statement takes a fresh snapshot (READ COMMITTED), so the INSERT's count runs
-- after the lock is granted and sees every row committed by earlier holders. This relies on
-- READ COMMITTED, PostgreSQL's default (REPEATABLE READ would keep the first snapshot).
--
-- The INSERT mirrors the shared ADD_CAPPED statement in store/sql.py (which SQLite runs as is);
-- change them together (tests/contract/test_migrations.py checks they match), in a NEW migration
-- for this one (CREATE OR REPLACE FUNCTION), never by editing this file.
CREATE FUNCTION ws_add_connection(
    p_connection_id   text,
    p_user_email      text,
    p_connection_type text,
    p_connected_at    timestamptz,
    p_source_ip       text,
    p_user_agent      text,
    p_domain_name     text,
    p_stage           text,
    p_active_limit    integer
) RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1465074993, hashtext(p_user_email));
    INSERT INTO websocket_connections (connection_id, user_email, connection_type, is_active,
                                       connected_at, last_activity_at, source_ip, user_agent,
                                       domain_name, stage)
    SELECT p_connection_id, p_user_email, p_connection_type, TRUE, p_connected_at,
           p_connected_at, p_source_ip, p_user_agent, p_domain_name, p_stage
    WHERE (SELECT count(*) FROM websocket_connections
           WHERE user_email = p_user_email AND is_active
             AND connection_id <> p_connection_id) < p_active_limit
    ON CONFLICT (connection_id) DO UPDATE SET
        user_email = excluded.user_email, connection_type = excluded.connection_type,
        is_active = TRUE, connected_at = excluded.connected_at,
        last_activity_at = excluded.last_activity_at, disconnected_at = NULL,
        disconnect_status_code = NULL, disconnect_reason = NULL, source_ip = excluded.source_ip,
        user_agent = excluded.user_agent, domain_name = excluded.domain_name, stage = excluded.stage;
    RETURN FOUND;  -- inserted or replaced; false when the email already had p_active_limit others
END
$$;
