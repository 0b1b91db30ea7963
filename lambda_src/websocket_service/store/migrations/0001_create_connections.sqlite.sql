-- 0001: WebSocket connections (DESIGN.md "Store schema"). PostgreSQL original: 0001_*.postgres.sql.
-- Datetimes are fixed-width ISO-8601 UTC text ('2026-11-25T22:39:53.000000Z'), so text order is
-- time order; booleans are 0/1.
CREATE TABLE websocket_connections (
    connection_id          TEXT    NOT NULL PRIMARY KEY,
    user_email             TEXT    NOT NULL,
    connection_type        TEXT    NOT NULL,
    is_active              INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    connected_at           TEXT    NOT NULL,
    last_activity_at       TEXT    NOT NULL,
    disconnected_at        TEXT,
    disconnect_status_code INTEGER,
    disconnect_reason      TEXT,
    source_ip              TEXT,
    user_agent             TEXT,
    domain_name            TEXT,
    stage                  TEXT
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
