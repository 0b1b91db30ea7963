-- 0001: WebSocket connections (DESIGN.md "Store schema"). SQLite mirror: 0001_*.sqlite.sql.
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
