-- Orders service, SQLite. Must describe the same tables as the ent schema
-- in ent/orders/schema (checked by TestMigrationsMatchEntSchema).

-- +goose Up
CREATE TABLE `orders` (
  `id` text NOT NULL,
  `user_id` text NOT NULL,
  `currency` text NOT NULL,
  `total_minor` integer NOT NULL,
  `status` text NOT NULL DEFAULT ('CREATED'),
  `created_at` datetime NOT NULL,
  `updated_at` datetime NOT NULL,
  `cancelled_at` datetime NULL,
  `cancel_reason` text NULL,
  `idempotency_key` text NULL,
  `request_hash` text NULL,
  PRIMARY KEY (`id`)
);
CREATE INDEX `order_user_id_created_at_id` ON `orders` (`user_id`, `created_at`, `id`);
CREATE INDEX `order_created_at_id` ON `orders` (`created_at`, `id`);
-- One order per (user, idempotency key); rows without a key never collide.
CREATE UNIQUE INDEX `order_user_id_idempotency_key` ON `orders` (`user_id`, `idempotency_key`);

CREATE TABLE `order_items` (
  `id` integer NOT NULL PRIMARY KEY AUTOINCREMENT,
  `position` integer NOT NULL,
  `sku` text NOT NULL,
  `name` text NOT NULL,
  `quantity` integer NOT NULL,
  `unit_price_minor` integer NOT NULL,
  `order_items` text NOT NULL,
  CONSTRAINT `order_items_orders_items` FOREIGN KEY (`order_items`) REFERENCES `orders` (`id`) ON DELETE NO ACTION
);

CREATE TABLE `outbox_events` (
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
CREATE INDEX `outboxevent_status_created_at` ON `outbox_events` (`status`, `created_at`);

-- +goose Down
DROP TABLE `outbox_events`;
DROP TABLE `order_items`;
DROP TABLE `orders`;
