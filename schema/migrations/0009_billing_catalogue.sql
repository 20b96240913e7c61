-- Billing's catalogue (issue 15): products and their prices. As every object table: `data` is the
-- object's JSON, the other columns filter, order and guard (`version`).

CREATE TABLE products (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode   INTEGER NOT NULL,
    active     INTEGER NOT NULL,
    -- Deleted products stay (their id is never reused) but are not found or listed.
    deleted    INTEGER NOT NULL DEFAULT 0,
    version    INTEGER NOT NULL DEFAULT 0,
    created    INTEGER NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX products_list ON products(account_id, livemode, deleted, seq);

CREATE TABLE prices (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode   INTEGER NOT NULL,
    product_id TEXT NOT NULL,
    active     INTEGER NOT NULL,
    -- 1 for a recurring price, 0 for a one-time one (the `type` filter).
    recurring  INTEGER NOT NULL,
    version    INTEGER NOT NULL DEFAULT 0,
    created    INTEGER NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX prices_list ON prices(account_id, livemode, seq);
-- A product's prices: the `product` filter, and the check before a product is deleted.
CREATE INDEX prices_product ON prices(product_id, seq);
