-- VINR edge: the one schema shared by the local host (rusqlite), Spin SQLite and Cloudflare D1.
-- Every business row carries (account_id, livemode): objects never cross accounts or environments.
-- `seq` is the insertion order used for "newest first" lists and cursors.
-- `data` holds the object's full JSON as the API returns it (minus expansions); the columns
-- beside it exist only to filter, order and guard transitions (`version`).

CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    -- HMAC key for card fingerprints: the same card gives the same fingerprint within one account only.
    fingerprint_key TEXT NOT NULL,
    created         INTEGER NOT NULL
);

-- API keys are stored as hex(sha256(key)); the plaintext is shown once, at creation.
CREATE TABLE api_keys (
    key_hash   TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    livemode   INTEGER NOT NULL CHECK (livemode IN (0, 1)),
    kind       TEXT NOT NULL CHECK (kind IN ('secret', 'public')),
    -- e.g. "sk_test_4eC3", for display and logs; never enough to authenticate.
    redacted   TEXT NOT NULL,
    created    INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX api_keys_account ON api_keys(account_id);

-- Idempotency: one row per (account, environment, key). state 'in_flight' while the first request
-- runs; 'done' with the stored response once it has committed (in the same transaction as its writes).
CREATE TABLE idempotency_keys (
    account_id   TEXT NOT NULL,
    livemode     INTEGER NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    status       INTEGER,
    body         TEXT,
    created      INTEGER NOT NULL,
    PRIMARY KEY (account_id, livemode, key)
) WITHOUT ROWID;

CREATE TABLE customers (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode   INTEGER NOT NULL,
    email      TEXT,
    deleted    INTEGER NOT NULL DEFAULT 0,
    version    INTEGER NOT NULL DEFAULT 0,
    created    INTEGER NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX customers_list ON customers(account_id, livemode, deleted, seq);

CREATE TABLE payment_methods (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    account_id  TEXT NOT NULL,
    livemode    INTEGER NOT NULL,
    customer_id TEXT,
    -- Sandbox only: how this test card behaves when charged (cards::TestBehavior code); NULL live.
    test_behavior TEXT,
    version     INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX payment_methods_customer ON payment_methods(account_id, livemode, customer_id, seq);

CREATE TABLE payments (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    account_id  TEXT NOT NULL,
    livemode    INTEGER NOT NULL,
    customer_id TEXT,
    status      TEXT NOT NULL,
    version     INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX payments_list ON payments(account_id, livemode, seq);
-- Partial: payments without a customer (guest checkouts) cost no index write.
CREATE INDEX payments_customer ON payments(account_id, livemode, customer_id, seq) WHERE customer_id IS NOT NULL;

CREATE TABLE charges (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode   INTEGER NOT NULL,
    payment_id TEXT NOT NULL,
    version    INTEGER NOT NULL DEFAULT 0,
    created    INTEGER NOT NULL,
    data       TEXT NOT NULL
);

-- The transactional outbox: every state change writes its event here in the same commit.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode   INTEGER NOT NULL,
    type       TEXT NOT NULL,
    created    INTEGER NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX events_list ON events(account_id, livemode, seq);

-- Guard for atomic batches without interactive transactions (D1 `batch()`, and the same SQL
-- everywhere): `INSERT INTO guard_one(n) VALUES (changes())` right after a conditional UPDATE
-- aborts the whole batch unless that UPDATE touched exactly one row. Nothing is ever stored.
CREATE VIEW guard_one AS SELECT 0 AS n;
CREATE TRIGGER guard_one_check INSTEAD OF INSERT ON guard_one
WHEN NEW.n <> 1
BEGIN
    SELECT RAISE(ABORT, 'vinr_conflict');
END;
