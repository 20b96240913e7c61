-- Money after the payment (docs/money.md): the sandbox clock, refunds, disputes, the double-entry
-- ledger with its balances and balance transactions, settlements, payouts, and the time-driven
-- steps that move them.

-- Seconds added to real time for this account's sandbox (the test clock); only ever grows.
ALTER TABLE accounts ADD COLUMN clock_offset INTEGER NOT NULL DEFAULT 0;
-- `manual`, `daily`, `weekly` or `monthly`: when the available balance is paid out by itself.
ALTER TABLE accounts ADD COLUMN payout_interval TEXT NOT NULL DEFAULT 'daily';

CREATE TABLE refunds (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode   INTEGER NOT NULL,
    payment_id TEXT NOT NULL,
    status     TEXT NOT NULL,
    version    INTEGER NOT NULL DEFAULT 0,
    created    INTEGER NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX refunds_payment ON refunds(account_id, livemode, payment_id, seq);

CREATE TABLE disputes (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode   INTEGER NOT NULL,
    payment_id TEXT NOT NULL,
    status     TEXT NOT NULL,
    version    INTEGER NOT NULL DEFAULT 0,
    created    INTEGER NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX disputes_list ON disputes(account_id, livemode, seq);

CREATE TABLE payouts (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode   INTEGER NOT NULL,
    status     TEXT NOT NULL,
    version    INTEGER NOT NULL DEFAULT 0,
    created    INTEGER NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX payouts_list ON payouts(account_id, livemode, seq);

CREATE TABLE settlements (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode   INTEGER NOT NULL,
    currency   TEXT NOT NULL,
    version    INTEGER NOT NULL DEFAULT 0,
    created    INTEGER NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX settlements_list ON settlements(account_id, livemode, seq);

-- One row per movement of a merchant balance (the API's `txn_` objects). Immutable except for
-- the settlement and payout columns, which the daily batch and automatic payouts fill in.
CREATE TABLE balance_transactions (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    account_id        TEXT NOT NULL,
    livemode          INTEGER NOT NULL,
    currency          TEXT NOT NULL,
    amount            INTEGER NOT NULL,
    fee               INTEGER NOT NULL,
    net               INTEGER NOT NULL,
    source_type       TEXT NOT NULL,
    source_id         TEXT NOT NULL,
    description       TEXT,
    available_on      INTEGER NOT NULL,
    settlement_status TEXT NOT NULL CHECK (settlement_status IN ('unsettled', 'settled')),
    settlement_id     TEXT,
    settled_at        INTEGER,
    payout_id         TEXT,
    created           INTEGER NOT NULL,
    updated           INTEGER NOT NULL
);
CREATE INDEX balance_transactions_list ON balance_transactions(account_id, livemode, seq);
CREATE INDEX balance_transactions_unsettled ON balance_transactions(account_id, livemode, available_on) WHERE settlement_status = 'unsettled';
CREATE INDEX balance_transactions_settlement ON balance_transactions(settlement_id, seq) WHERE settlement_id IS NOT NULL;
CREATE INDEX balance_transactions_payout ON balance_transactions(payout_id, seq) WHERE payout_id IS NOT NULL;

-- The double-entry ledger: every posting's lines sum to zero per currency (shared/src/ledger.rs).
CREATE TABLE ledger_entries (
    seq            INTEGER PRIMARY KEY,
    account_id     TEXT NOT NULL,
    livemode       INTEGER NOT NULL,
    -- The transaction (txn_), settlement (stl_) or payout (po_) that posted the line.
    posting_id     TEXT NOT NULL,
    ledger_account TEXT NOT NULL,
    currency       TEXT NOT NULL,
    amount         INTEGER NOT NULL,
    created        INTEGER NOT NULL
);
CREATE INDEX ledger_entries_posting ON ledger_entries(posting_id);

-- The merchant's two balances per currency, kept equal to the sums of its ledger accounts
-- `merchant_pending` and `merchant_available` by the same postings. A payout's guarded UPDATE
-- (`available >= amount`) is what keeps two concurrent payouts from overdrawing.
CREATE TABLE balances (
    account_id TEXT NOT NULL,
    livemode   INTEGER NOT NULL,
    currency   TEXT NOT NULL,
    pending    INTEGER NOT NULL DEFAULT 0,
    available  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, livemode, currency)
) WITHOUT ROWID;

-- Time-driven steps, due in account-clock seconds (real time + the sandbox clock offset). One
-- row per (account, environment, kind, object); a step deletes its row in the batch it commits.
CREATE TABLE scheduled_jobs (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    livemode   INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    object_id  TEXT NOT NULL,
    due_at     INTEGER NOT NULL,
    created    INTEGER NOT NULL
);
CREATE UNIQUE INDEX scheduled_jobs_one ON scheduled_jobs(account_id, livemode, kind, object_id);
CREATE INDEX scheduled_jobs_due ON scheduled_jobs(due_at);
