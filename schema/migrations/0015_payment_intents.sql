-- Seed 004's payment intents (issue 17): a `pi_` is what a customer is asked to pay; each attempt
-- at paying it is a `pay_` (the payments table) with `payment_intent_id` set. docs/intents.md.

-- `status` is seed 004's vocabulary (created, pending, uncaptured, captured, cancelled, failed);
-- `payment_status` the latest attempt's status in seed 004's words, `has_refund` and
-- `settlement_status` are kept for search. `data` holds the object as returned.
CREATE TABLE payment_intents (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    account_id        TEXT NOT NULL,
    livemode          INTEGER NOT NULL,
    status            TEXT NOT NULL,
    amount            INTEGER NOT NULL,
    reference_id      TEXT,
    payment_status    TEXT,
    has_refund        INTEGER NOT NULL DEFAULT 0,
    settlement_status TEXT NOT NULL DEFAULT 'unsettled',
    version           INTEGER NOT NULL DEFAULT 0,
    created           INTEGER NOT NULL,
    data              TEXT NOT NULL
);
CREATE INDEX payment_intents_list ON payment_intents(account_id, livemode, seq);

-- The attempts of an intent, newest first.
ALTER TABLE payments ADD COLUMN payment_intent_id TEXT;
CREATE INDEX payments_intent ON payments(payment_intent_id, seq) WHERE payment_intent_id IS NOT NULL;
