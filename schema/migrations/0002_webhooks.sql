-- Webhook endpoints and deliveries (issue 3). Deliveries are fanned out from an event in the
-- same batch that writes the event (see shared/src/events.rs), so the outbox is the
-- `webhook_deliveries` table itself: nothing is lost if a process dies after the commit.

CREATE TABLE webhook_endpoints (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    account_id     TEXT NOT NULL,
    livemode       INTEGER NOT NULL,
    url            TEXT NOT NULL,
    -- JSON array of event types; "*" matches every type.
    enabled_events TEXT NOT NULL,
    disabled       INTEGER NOT NULL DEFAULT 0,
    -- Signing secrets. After a roll the previous one keeps signing until previous_expires_at.
    secret              TEXT NOT NULL,
    previous_secret     TEXT,
    previous_expires_at INTEGER,
    -- Set when a delivery to this endpoint gave up after 72 h; cleared by its next success.
    failing_since  INTEGER,
    deleted        INTEGER NOT NULL DEFAULT 0,
    version        INTEGER NOT NULL DEFAULT 0,
    created        INTEGER NOT NULL,
    data           TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints(account_id, livemode, deleted, seq);

-- One row per (event, endpoint): its state and next attempt.
CREATE TABLE webhook_deliveries (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    account_id       TEXT NOT NULL,
    livemode         INTEGER NOT NULL,
    endpoint_id      TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    -- pending: waiting for its next attempt; succeeded: a 2xx arrived; failed: gave up (72 h).
    status           TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- Unix milliseconds; the dispatcher takes rows with next_attempt_at <= now.
    next_attempt_at  INTEGER,
    -- Unix milliseconds of the commit that created the delivery: retries stop 72 h after it.
    created_ms       INTEGER NOT NULL,
    last_status_code INTEGER,
    last_error       TEXT,
    last_duration_ms INTEGER,
    last_attempt_at  INTEGER,
    created          INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, seq);
