-- Notifier, SQLite: the consumed event's traceparent on each delivery
-- (carried onto its status events) and an index for the status-history
-- retention cleanup.

-- +goose Up
ALTER TABLE `deliveries` ADD COLUMN `traceparent` text NOT NULL DEFAULT ('');
CREATE INDEX `statusevent_at` ON `status_events` (`at`);

-- +goose Down
DROP INDEX `statusevent_at`;
ALTER TABLE `deliveries` DROP COLUMN `traceparent`;
