-- The Worker's queue consumer runs the deliveries of one event at a time (webhooks::runner).
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_id);
