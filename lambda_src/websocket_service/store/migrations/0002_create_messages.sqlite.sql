-- 0002: messages kept for replay (issue 16). PostgreSQL original: 0002_*.postgres.sql.
-- AUTOINCREMENT: ids are never reused, even after the newest rows are purged (a messageId must
-- stay unique). Writers are serialised by the database write lock, so ids commit in order.
CREATE TABLE websocket_messages (
    id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    user_email      TEXT    NOT NULL,
    connection_type TEXT    NOT NULL,
    body            BLOB    NOT NULL,  -- UTF-8, as on PostgreSQL (bytea)
    is_json         INTEGER NOT NULL CHECK (is_json IN (0, 1)),
    created_at      TEXT    NOT NULL,
    expires_at      TEXT    NOT NULL
);

-- messages_after: one (email, type) in id order.
CREATE INDEX websocket_messages_email_type_id_idx
    ON websocket_messages (user_email, connection_type, id);

-- purge_expired_messages / count_expired_messages.
CREATE INDEX websocket_messages_expires_idx
    ON websocket_messages (expires_at);
