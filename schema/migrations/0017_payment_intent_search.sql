-- Seed 004's intent search (`POST /v1/payment_intents/search`, issue 17): every column it
-- filters or sorts on is a column, and one covering index holds them all, so the count and the
-- page's ids are read from the index alone (docs/intents.md, "Search"). `updated` and the two
-- amounts join the columns 0015 kept for it.
ALTER TABLE payment_intents ADD COLUMN updated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payment_intents ADD COLUMN amount_captured INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payment_intents ADD COLUMN amount_refunded INTEGER NOT NULL DEFAULT 0;
UPDATE payment_intents SET
    updated = created,
    amount_captured = COALESCE(json_extract(data, '$.amount_captured'), 0),
    amount_refunded = COALESCE(json_extract(data, '$.amount_refunded'), 0);
-- Led by created (the default order): a search ordered by creation walks it and stops after
-- its page; any other order or filter scans it without touching the rows (`seq` is the rowid,
-- which every index ends with).
CREATE INDEX payment_intents_search ON payment_intents(
    account_id, livemode, created, status, payment_status, settlement_status, has_refund,
    amount, amount_captured, amount_refunded, updated, reference_id
);
