-- Which pending deliveries are being attempted right now, and until when (issue 14, fair shares
-- between accounts). A dispatcher sets it with its lease and clears it when it records the
-- answer; a lease whose dispatcher died simply runs out. The Worker's queue consumers and cron
-- sweeps run in separate isolates, so this is how they count each account's and endpoint's
-- attempts in flight (webhooks::fair, webhooks::runner); `vinr dev` counts in memory as well.
ALTER TABLE webhook_deliveries ADD COLUMN leased_until INTEGER;
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries(leased_until) WHERE status = 'pending';
