-- Engagement (issue 16): the loyalty program, accounts (`loy_`), points transactions (`ptx_`),
-- rewards (`rwd_`), redemptions (`rdm_`) and the points ledger. docs/engagement.md explains it.

-- The environment's program (JSON, `domain::loyalty::Program`). NULL until the program is set or
-- the first loyalty account is created: a capture then costs one primary-key probe and no more.
ALTER TABLE environment_settings ADD COLUMN loyalty_program TEXT;

-- An account's balances are columns changed by deltas in the batch of the movement that changes
-- them (as `balances` for money), so concurrent earnings never conflict; `data` holds the rest
-- (customer, metadata, created). `credited` counts every point that ever became active, in the
-- order it did; `consumed` every active point that left (spent, expired, reversed). The balance is
-- `credited - consumed` and an active lot [credit_start, credit_start + lot_points) is spent
-- oldest first by comparing with `consumed` (domain::loyalty::lot_remaining).
CREATE TABLE loyalty_accounts (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    account_id      TEXT NOT NULL,
    livemode        INTEGER NOT NULL,
    customer_id     TEXT NOT NULL,
    pending_points  INTEGER NOT NULL DEFAULT 0,
    credited        INTEGER NOT NULL DEFAULT 0,
    consumed        INTEGER NOT NULL DEFAULT 0,
    spent_points    INTEGER NOT NULL DEFAULT 0,
    expired_points  INTEGER NOT NULL DEFAULT 0,
    lifetime_points INTEGER NOT NULL DEFAULT 0,
    tier            TEXT,
    created         INTEGER NOT NULL,
    data            TEXT NOT NULL
);
CREATE INDEX loyalty_accounts_list ON loyalty_accounts(account_id, livemode, seq);
-- One account per customer, and the capture path's probe.
CREATE UNIQUE INDEX loyalty_accounts_customer ON loyalty_accounts(account_id, livemode, customer_id);

-- Points transactions. `tier_points` is what a row counts toward a tier (earnings, less their
-- reversals); `payment_id` finds a payment's earning when it is refunded or disputed; `reverses`
-- names the earning a reversal reverses; `credit_start`/`lot_points` are set once points are
-- active (a lot), `lot_open` until the lot's expiry step ran.
CREATE TABLE loyalty_transactions (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    account_id      TEXT NOT NULL,
    livemode        INTEGER NOT NULL,
    loyalty_account TEXT NOT NULL,
    type            TEXT NOT NULL,
    status          TEXT NOT NULL,
    points          INTEGER NOT NULL,
    tier_points     INTEGER NOT NULL DEFAULT 0,
    payment_id      TEXT,
    reverses        TEXT,
    points_reversed INTEGER NOT NULL DEFAULT 0,
    credit_start    INTEGER,
    lot_points      INTEGER,
    version         INTEGER NOT NULL DEFAULT 0,
    created         INTEGER NOT NULL,
    data            TEXT NOT NULL
);
CREATE INDEX loyalty_transactions_list ON loyalty_transactions(account_id, livemode, seq);
CREATE INDEX loyalty_transactions_account ON loyalty_transactions(loyalty_account, created);
CREATE INDEX loyalty_transactions_payment ON loyalty_transactions(payment_id) WHERE payment_id IS NOT NULL;
CREATE INDEX loyalty_transactions_reverses ON loyalty_transactions(reverses) WHERE reverses IS NOT NULL;

-- The points ledger: every movement posts lines that sum to zero (domain::loyalty::Delta::lines),
-- in the batch of the movement. `ledger_account` is points_issued (the program's side) or the
-- customer's points_pending / points_active / points_spent / points_expired.
CREATE TABLE points_entries (
    seq             INTEGER PRIMARY KEY,
    account_id      TEXT NOT NULL,
    livemode        INTEGER NOT NULL,
    posting_id      TEXT NOT NULL,
    loyalty_account TEXT NOT NULL,
    ledger_account  TEXT NOT NULL,
    points          INTEGER NOT NULL,
    created         INTEGER NOT NULL
);
CREATE INDEX points_entries_account ON points_entries(loyalty_account, ledger_account);
CREATE INDEX points_entries_env ON points_entries(account_id, livemode, ledger_account);

-- Rewards. `stock` (NULL: unlimited) is a column taken by a guarded delta, so concurrent
-- redemptions of one reward never conflict until it runs out; `data` holds the rest.
CREATE TABLE loyalty_rewards (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    account_id  TEXT NOT NULL,
    livemode    INTEGER NOT NULL,
    active      INTEGER NOT NULL,
    stock       INTEGER,
    version     INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX loyalty_rewards_list ON loyalty_rewards(account_id, livemode, seq);

CREATE TABLE loyalty_redemptions (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    account_id      TEXT NOT NULL,
    livemode        INTEGER NOT NULL,
    loyalty_account TEXT NOT NULL,
    status          TEXT NOT NULL,
    version         INTEGER NOT NULL DEFAULT 0,
    created         INTEGER NOT NULL,
    data            TEXT NOT NULL
);
CREATE INDEX loyalty_redemptions_list ON loyalty_redemptions(account_id, livemode, seq);
CREATE INDEX loyalty_redemptions_account ON loyalty_redemptions(loyalty_account, seq);
