-- API key management (issue 14 point 8): keys get ids (`key_...`) so they can be listed, rolled
-- and revoked through the API; restricted keys (`rk_test_` / `rk_live_`) carry permissions.
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt (nothing references
-- it) with the kind 'restricted' allowed, and existing keys get ids in creation order.
CREATE TABLE api_keys_v7 (
    -- Insertion order, for "newest first" lists and their cursors.
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    key_hash    TEXT NOT NULL UNIQUE,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    livemode    INTEGER NOT NULL CHECK (livemode IN (0, 1)),
    kind        TEXT NOT NULL CHECK (kind IN ('secret', 'public', 'restricted')),
    name        TEXT,
    -- e.g. "sk_test_4eC3", for display and logs; never enough to authenticate.
    redacted    TEXT NOT NULL,
    -- Restricted keys only: JSON object from resource group to 'read' or 'write'
    -- (crate::permissions; groups not named are 'none').
    permissions TEXT,
    created     INTEGER NOT NULL,
    -- Set when the key is rolled: it keeps working until then (real time, unix seconds).
    expires_at  INTEGER,
    revoked_at  INTEGER,
    -- The key this one replaced (POST /v1/api_keys/:id/roll).
    rolled_from TEXT
);

INSERT INTO api_keys_v7 (id, key_hash, account_id, livemode, kind, redacted, created, revoked_at)
SELECT 'key_' || lower(hex(randomblob(12))), key_hash, account_id, livemode, kind, redacted, created, revoked_at
FROM api_keys ORDER BY created, rowid;

DROP TABLE api_keys;
ALTER TABLE api_keys_v7 RENAME TO api_keys;
CREATE INDEX api_keys_account ON api_keys(account_id, livemode, seq);
