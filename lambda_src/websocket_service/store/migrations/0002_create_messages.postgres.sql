-- 0002: messages kept for replay (issue 16). Notify keeps each message it sends for
-- REPLAY_WINDOW_MINUTES; a connection asks for what it missed with {"action": "replay", "after": id}.
-- SQLite mirror: 0002_*.sqlite.sql. Expand only: the code that keeps and replays messages
-- tolerates this table's absence (notify answers "kept": false) until this migration has run.
CREATE TABLE websocket_messages (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_email      text        NOT NULL,
    connection_type text        NOT NULL,
    body            bytea       NOT NULL,  -- UTF-8; text would refuse a NUL a text message may hold
    is_json         boolean     NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);

-- messages_after: one (email, type) in id order.
CREATE INDEX websocket_messages_email_type_id_idx
    ON websocket_messages (user_email, connection_type, id);

-- purge_expired_messages / count_expired_messages.
CREATE INDEX websocket_messages_expires_idx
    ON websocket_messages (expires_at);

-- ws_keep_message(): the shared KEEP_MESSAGE insert (store/sql.py) after a transaction-scoped
-- advisory lock on the (email, type) (namespace 1465078321 = 0x57535231, "WSR1"). Called as one
-- autocommit `SELECT ws_keep_message(...)`, the lock is held until the insert commits, so ids of
-- one (email, type) commit in id order: a replay "after" id N can never miss a message with a
-- smaller id that commits later. (A bare identity insert gives no such order across concurrent
-- transactions.) tests/contract/test_migrations.py checks the INSERT matches KEEP_MESSAGE.
CREATE FUNCTION ws_keep_message(
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
    INSERT INTO websocket_messages (user_email, connection_type, body, is_json, created_at, expires_at)
    VALUES (p_user_email, p_connection_type, p_body, p_is_json, p_created_at, p_expires_at)
    RETURNING id INTO kept_id;
    RETURN kept_id;
END
$$;
