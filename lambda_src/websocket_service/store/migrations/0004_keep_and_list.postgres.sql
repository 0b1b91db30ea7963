-- 0004: ws_keep_and_list(): notify keeps its message AND reads the active connections it pushes to
-- in ONE round trip (it took two: ws_keep_message, then the SELECT of active ids). Expand only:
-- code that finds no such function (a deploy runs the new code before this migration) falls back
-- to those two round trips. SQLite mirror: 0004_*.sqlite.sql (nothing to do there).
--
-- The function takes ws_keep_message's transaction-scoped advisory lock on the (email, type)
-- (namespace 1465078321, "WSR1"), inserts the shared KEEP_MESSAGE and then selects the active ids
-- with the shared ACTIVE_IDS query (store/sql.py; tests/contract/test_migrations.py checks both
-- copies). Each statement of a plpgsql function takes a fresh snapshot (READ COMMITTED), so the
-- SELECT sees every connection committed before it started. The insert commits only when the
-- function's transaction ends, AFTER that SELECT: on its own that would lose a message for a page
-- whose $connect commits between the SELECT and the commit (not in the list, and its replay
-- would not see the message yet). Replay closes that gap: it reads after taking the SHARED form
-- of the same advisory lock in its own transaction (SqlConnectionStore.messages_after), and a
-- page replays only after its $connect has committed. So for a page P:
--   * P's $connect committed before the SELECT's snapshot: P is in the list, the push reaches it;
--   * it committed after that snapshot: the function already held the lock (taken before the
--     insert), so P's replay, which starts later still, either finds the lock held and waits
--     until this transaction commits, or runs after the commit; its SELECT (a statement after the
--     lock, fresh snapshot) sees the message.
-- The exclusive lock also keeps ws_keep_message's order: ids of one (email, type) commit in id
-- order. synchronous_commit is off for this transaction only, as in ws_keep_message (0003).
CREATE FUNCTION ws_keep_and_list(
    p_user_email      text,
    p_connection_type text,
    p_body            bytea,
    p_is_json         boolean,
    p_created_at      timestamptz,
    p_expires_at      timestamptz,
    OUT kept_id       bigint,
    OUT connection_ids text[]
)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1465078321, hashtext(p_user_email || ' ' || p_connection_type));
    PERFORM set_config('synchronous_commit', 'off', true);  -- this transaction only
    INSERT INTO websocket_messages (user_email, connection_type, body, is_json, created_at, expires_at)
    VALUES (p_user_email, p_connection_type, p_body, p_is_json, p_created_at, p_expires_at)
    RETURNING id INTO kept_id;
    connection_ids := ARRAY(
        SELECT connection_id FROM websocket_connections
        WHERE user_email = p_user_email AND connection_type = p_connection_type AND is_active
        ORDER BY connected_at, connection_id
    );
END
$$;
