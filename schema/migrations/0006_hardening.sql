-- Hardening (docs/security.md, issue 14).

-- Idempotency: the random token of the request that holds a claim. `finish` and `release` match
-- it, so a request that outlived its claim (taken over after 60 s by a retry) can neither commit
-- its answer beside the retry's nor delete the retry's claim.
ALTER TABLE idempotency_keys ADD COLUMN claim TEXT;

-- Retention (docs/security.md): the purges find what is old by these.
CREATE INDEX idempotency_keys_created ON idempotency_keys(created);
CREATE INDEX events_created ON events(created);
CREATE INDEX webhook_deliveries_done ON webhook_deliveries(created) WHERE status <> 'pending';

-- Settings are per environment: a sandbox key must not change what live does. The payout
-- schedule moves here from `accounts.payout_interval` (kept, no longer read), copied to both
-- environments; an environment without a row has the defaults.
CREATE TABLE environment_settings (
    account_id      TEXT NOT NULL,
    livemode        INTEGER NOT NULL CHECK (livemode IN (0, 1)),
    payout_interval TEXT NOT NULL DEFAULT 'daily',
    PRIMARY KEY (account_id, livemode)
) WITHOUT ROWID;
INSERT INTO environment_settings (account_id, livemode, payout_interval)
    SELECT id, 0, payout_interval FROM accounts;
INSERT INTO environment_settings (account_id, livemode, payout_interval)
    SELECT id, 1, payout_interval FROM accounts;

-- The platform an account is connected to (`vinr account create --platform acct_...`): a
-- payment's `on_behalf_of` may name only the caller's own connected accounts.
ALTER TABLE accounts ADD COLUMN platform_id TEXT;
CREATE INDEX accounts_platform ON accounts(platform_id) WHERE platform_id IS NOT NULL;
