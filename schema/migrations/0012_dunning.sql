-- Dunning settings, per environment beside the payout schedule: the waits (days, comma
-- separated, each counted from the attempt before; '' = no retries) between a subscription
-- invoice's failed automatic charge and its retries, and what happens after the last one.
-- An environment without a row has these defaults.
ALTER TABLE environment_settings ADD COLUMN billing_retry_days TEXT NOT NULL DEFAULT '3,5,7';
ALTER TABLE environment_settings ADD COLUMN billing_after_final_failure TEXT NOT NULL DEFAULT 'cancel';
