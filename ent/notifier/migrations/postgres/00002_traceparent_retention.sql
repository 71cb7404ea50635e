-- Notifier, PostgreSQL: the consumed event's traceparent on each delivery
-- (carried onto its status events), an index for the status-history
-- retention cleanup, and a NOTIFY on outbox inserts so the status relay of
-- any notifier instance wakes at once (internal/outbox LISTENs on
-- "herald_outbox"; its fallback poll covers lost notifications).

-- +goose Up
ALTER TABLE "deliveries" ADD COLUMN "traceparent" character varying NOT NULL DEFAULT '';
CREATE INDEX "statusevent_at" ON "status_events" ("at");

-- One notification per inserting statement, not per row, and only on
-- commit: NOTIFY inside a transaction is delivered when it commits.
-- +goose StatementBegin
CREATE FUNCTION "herald_outbox_notify"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('herald_outbox', TG_TABLE_NAME);
  RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER "outbox_events_notify" AFTER INSERT ON "outbox_events"
  FOR EACH STATEMENT EXECUTE FUNCTION "herald_outbox_notify"();

-- +goose Down
DROP TRIGGER "outbox_events_notify" ON "outbox_events";
DROP FUNCTION "herald_outbox_notify"();
DROP INDEX "statusevent_at";
ALTER TABLE "deliveries" DROP COLUMN "traceparent";
