-- 0003: ws_keep_message() (migration 0002) commits without waiting for the WAL flush
-- (synchronous_commit off, transaction-local, as cleanup batches do): notify no longer waits a
-- fsync per message before it pushes. A database crash may lose the last fraction of a second of
-- kept messages; their live pushes went out anyway. Same signature, same INSERT (the shared
-- KEEP_MESSAGE, checked by tests/contract/test_migrations.py against the newest definition).
-- SQLite mirror: 0003_*.sqlite.sql (nothing to do there).
CREATE OR REPLACE FUNCTION ws_keep_message(
    p_user_email      text,
    p_connection_type text,
    p_body            bytea,
    p_is_json         boolean,
    p_created_at      timestamptz,
    p_expires_at      timestamptz
) RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    kept_id bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1465078321, hashtext(p_user_email || ' ' || p_connection_type));
    PERFORM set_config('synchronous_commit', 'off', true);  -- this transaction only
    INSERT INTO websocket_messages (user_email, connection_type, body, is_json, created_at, expires_at)
    VALUES (p_user_email, p_connection_type, p_body, p_is_json, p_created_at, p_expires_at)
    RETURNING id INTO kept_id;
    RETURN kept_id;
END
$$;
