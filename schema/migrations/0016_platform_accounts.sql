-- Platform accounts (issue 17, seed 004): a platform's secret key creates connected accounts
-- (`POST /v1/accounts`) and acts as one of them with `x-account-id`. Accounts made by
-- `vinr account create --platform` (with keys of their own) have always had `platform_id`.

-- The environment a connected account was created in (an account made through the API exists
-- in its platform's sandbox or live mode only); NULL for accounts made by the CLI, which have
-- keys in both.
ALTER TABLE accounts ADD COLUMN livemode INTEGER;
-- Seed 004's `business_id`: groups the accounts of one business (`x-business-id`).
ALTER TABLE accounts ADD COLUMN business_id TEXT;
-- The account object as returned (business_name, email, metadata, ...); NULL for CLI accounts.
ALTER TABLE accounts ADD COLUMN data TEXT;
-- A platform's accounts, newest first (by rowid, the insertion order; `accounts_platform` of
-- 0006 indexes platform_id), and those of one business.
CREATE INDEX accounts_business ON accounts(platform_id, business_id) WHERE business_id IS NOT NULL;
