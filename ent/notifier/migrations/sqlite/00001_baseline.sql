-- Notifier, SQLite: the schema as ent's auto-migration created it before
-- versioned migrations. IF NOT EXISTS adopts a database made that way; on an
-- empty database it creates everything. Together with the later files it
-- must describe the ent schema in ent/notifier/schema (checked by
-- TestMigrationsMatchEntSchema).

-- +goose Up
CREATE TABLE IF NOT EXISTS `deliveries` (
  `id` uuid NOT NULL,
  `event_id` text NOT NULL,
  `event_type` text NOT NULL DEFAULT (''),
  `order_id` text NOT NULL,
  `user_id` text NOT NULL,
  `channel` text NOT NULL,
  `category` text NOT NULL DEFAULT (''),
  `critical` bool NOT NULL DEFAULT (false),
  `locale` text NOT NULL DEFAULT (''),
  `recipient` text NOT NULL DEFAULT (''),
  `secret` text NOT NULL DEFAULT (''),
  `status` text NOT NULL DEFAULT ('PENDING'),
  `public_status` text NOT NULL DEFAULT ('PENDING'),
  `status_at` datetime NOT NULL,
  `attempts` integer NOT NULL DEFAULT (0),
  `next_attempt_at` datetime NOT NULL,
  `last_error` text NOT NULL DEFAULT (''),
  `message_id` text NOT NULL DEFAULT (''),
  `subject` text NOT NULL DEFAULT (''),
  `body` text NOT NULL DEFAULT (''),
  `html_body` text NOT NULL DEFAULT (''),
  `payload` blob NULL,
  `created_at` datetime NOT NULL,
  `sent_at` datetime NULL,
  PRIMARY KEY (`id`)
);
CREATE UNIQUE INDEX IF NOT EXISTS `delivery_event_id_channel` ON `deliveries` (`event_id`, `channel`);
CREATE INDEX IF NOT EXISTS `delivery_status_next_attempt_at` ON `deliveries` (`status`, `next_attempt_at`);

CREATE TABLE IF NOT EXISTS `inbox_events` (
  `id` integer NOT NULL PRIMARY KEY AUTOINCREMENT,
  `event_id` text NOT NULL,
  `topic` text NOT NULL,
  `received_at` datetime NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS `inbox_events_event_id_key` ON `inbox_events` (`event_id`);

CREATE TABLE IF NOT EXISTS `outbox_events` (
  `id` text NOT NULL,
  `topic` text NOT NULL,
  `key` text NOT NULL,
  `headers` json NOT NULL,
  `payload` blob NOT NULL,
  `status` text NOT NULL DEFAULT ('pending'),
  `created_at` datetime NOT NULL,
  `published_at` datetime NULL,
  `attempts` integer NOT NULL DEFAULT (0),
  `last_error` text NULL,
  PRIMARY KEY (`id`)
);
CREATE INDEX IF NOT EXISTS `outboxevent_status_created_at` ON `outbox_events` (`status`, `created_at`);

CREATE TABLE IF NOT EXISTS `status_events` (
  `id` uuid NOT NULL,
  `delivery_id` uuid NOT NULL,
  `event_id` text NOT NULL,
  `order_id` text NOT NULL,
  `user_id` text NOT NULL,
  `channel` text NOT NULL,
  `from_status` text NOT NULL,
  `status` text NOT NULL,
  `attempt` integer NOT NULL,
  `reason` text NOT NULL DEFAULT (''),
  `next_attempt_at` datetime NULL,
  `at` datetime NOT NULL,
  PRIMARY KEY (`id`)
);
CREATE INDEX IF NOT EXISTS `statusevent_delivery_id_at` ON `status_events` (`delivery_id`, `at`);

-- +goose Down
DROP TABLE `status_events`;
DROP TABLE `outbox_events`;
DROP TABLE `inbox_events`;
DROP TABLE `deliveries`;
