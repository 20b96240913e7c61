-- Metered usage (issue 15). `subscription_items` finds an item's subscription in one probe (the
-- items themselves live in the subscription's `data`); a removed item's row is deleted, so usage
-- for it is refused. `usage_records` holds one row per reported record (`mbu_`); a period's
-- quantity is aggregated from its rows when its invoice is finalized.

CREATE TABLE subscription_items (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL,
    livemode        INTEGER NOT NULL,
    subscription_id TEXT NOT NULL
);
INSERT INTO subscription_items (id, account_id, livemode, subscription_id)
    SELECT json_extract(i.value, '$.id'), s.account_id, s.livemode, s.id
    FROM subscriptions s, json_each(s.data, '$.items.data') i;

CREATE TABLE usage_records (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    account_id        TEXT NOT NULL,
    livemode          INTEGER NOT NULL,
    subscription_item TEXT NOT NULL,
    timestamp         INTEGER NOT NULL,
    action            TEXT NOT NULL,
    quantity          INTEGER NOT NULL,
    identifier        TEXT,
    created           INTEGER NOT NULL,
    data              TEXT NOT NULL
);
-- A period's records, and a list's page, by item.
CREATE INDEX usage_records_item ON usage_records(subscription_item, timestamp);
CREATE UNIQUE INDEX usage_records_identifier ON usage_records(subscription_item, identifier)
    WHERE identifier IS NOT NULL;
