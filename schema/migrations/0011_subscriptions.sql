-- Billing's subscriptions (issue 15). Items (with their prices) live in `data`; renewals are
-- `scheduled_jobs` rows (`subscription_renew`), written in the same batch as the change.

CREATE TABLE subscriptions (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    account_id  TEXT NOT NULL,
    livemode    INTEGER NOT NULL,
    customer_id TEXT NOT NULL,
    status      TEXT NOT NULL,
    version     INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX subscriptions_list ON subscriptions(account_id, livemode, seq);
CREATE INDEX subscriptions_customer ON subscriptions(customer_id, seq);
