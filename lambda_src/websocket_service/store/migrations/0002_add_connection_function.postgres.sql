-- 0002: ws_add_connection(), the whole capped add in ONE statement (one network round trip per
-- $connect). SQLite needs no function: 0002_*.sqlite.sql is a no-op kept for equal numbering.
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
-- change them together, in a new migration for this one.
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
