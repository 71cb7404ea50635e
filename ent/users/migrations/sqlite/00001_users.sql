-- Users service, SQLite. Must describe the same tables as the ent schema
-- in ent/users/schema (checked by TestMigrationsMatchEntSchema).

-- +goose Up
CREATE TABLE `users` (
  `id` text NOT NULL,
  `name` text NOT NULL,
  `email` text NULL,
  `phone` text NULL,
  `webhook_url` text NULL,
  `webhook_secret` text NULL,
  `email_enabled` bool NOT NULL DEFAULT (true),
  `sms_enabled` bool NOT NULL DEFAULT (false),
  `webhook_enabled` bool NOT NULL DEFAULT (false),
  `in_app_enabled` bool NOT NULL DEFAULT (true),
  `categories` json NULL,
  `quiet_start` text NULL,
  `quiet_end` text NULL,
  `quiet_time_zone` text NULL,
  `locale` text NOT NULL DEFAULT ('en'),
  `order_count` integer NOT NULL DEFAULT (0),
  `last_order_at` datetime NULL,
  `deleted_at` datetime NULL,
  `created_at` datetime NOT NULL,
  `updated_at` datetime NOT NULL,
  PRIMARY KEY (`id`)
);
CREATE UNIQUE INDEX `users_email_key` ON `users` (`email`);
CREATE INDEX `user_created_at_id` ON `users` (`created_at`, `id`);

CREATE TABLE `processed_events` (
  `id` text NOT NULL,
  `type` text NOT NULL,
  `processed_at` datetime NOT NULL,
  PRIMARY KEY (`id`)
);

-- +goose Down
DROP TABLE `processed_events`;
DROP TABLE `users`;
