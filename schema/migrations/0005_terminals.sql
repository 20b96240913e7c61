-- Terminals and their Cloud API payments (docs/terminals.md).

-- A registered card terminal. `term_test_simulator` (the sandbox's virtual terminal) has the
-- same id in every account, so ids are unique per account and environment only.
CREATE TABLE terminals (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    livemode        INTEGER NOT NULL,
    -- SHA-256 hex of the device key; NULL for the virtual simulator (no device connects).
    device_key_hash TEXT UNIQUE,
    -- The open connection's random id (a stale close must not mark a newer connection gone);
    -- NULL when no device is connected.
    connection_id   TEXT,
    -- Wall-clock unix seconds of the device's last message (the 60 s offline rule).
    last_seen_at    INTEGER,
    activated_at    INTEGER,
    -- The tpay_ whose session runs on it: set by a guarded UPDATE ... WHERE active_payment IS
    -- NULL in the create's batch, so one session at a time (terminal_busy).
    active_payment  TEXT,
    created         INTEGER NOT NULL,
    -- label, metadata, simulated: what the API shows that is not computed.
    data            TEXT NOT NULL,
    UNIQUE (account_id, livemode, id)
);

CREATE TABLE terminal_payments (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    account_id  TEXT NOT NULL,
    livemode    INTEGER NOT NULL,
    terminal_id TEXT NOT NULL,
    status      TEXT NOT NULL,
    version     INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL,
    -- The sandbox simulator's chosen test card (its pm_card_ id, never a number).
    sim_card    TEXT,
    data        TEXT NOT NULL
);
CREATE INDEX terminal_payments_list ON terminal_payments(account_id, livemode, seq);
CREATE INDEX terminal_payments_by_terminal ON terminal_payments(account_id, livemode, terminal_id, seq);
