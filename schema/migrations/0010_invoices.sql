-- Billing's invoices (issue 15): one-off invoices now, subscriptions' invoices next. Lines live in
-- the invoice's `data`; the columns beside it filter lists (customer, subscription, status).

CREATE TABLE invoices (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    account_id      TEXT NOT NULL,
    livemode        INTEGER NOT NULL,
    customer_id     TEXT NOT NULL,
    subscription_id TEXT,
    status          TEXT NOT NULL,
    version         INTEGER NOT NULL DEFAULT 0,
    created         INTEGER NOT NULL,
    data            TEXT NOT NULL
);
CREATE INDEX invoices_list ON invoices(account_id, livemode, seq);
CREATE INDEX invoices_customer ON invoices(customer_id, seq);
CREATE INDEX invoices_subscription ON invoices(subscription_id, seq) WHERE subscription_id IS NOT NULL;
