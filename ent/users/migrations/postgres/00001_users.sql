-- Users service, PostgreSQL. Must describe the same tables as the ent schema
-- in ent/users/schema (checked by TestMigrationsMatchEntSchema).

-- +goose Up
CREATE TABLE "users" (
  "id" character varying NOT NULL,
  "name" character varying NOT NULL,
  "email" character varying NULL,
  "phone" character varying NULL,
  "webhook_url" character varying NULL,
  "webhook_secret" character varying NULL,
  "email_enabled" boolean NOT NULL DEFAULT true,
  "sms_enabled" boolean NOT NULL DEFAULT false,
  "webhook_enabled" boolean NOT NULL DEFAULT false,
  "in_app_enabled" boolean NOT NULL DEFAULT true,
  "categories" jsonb NULL,
  "quiet_start" character varying NULL,
  "quiet_end" character varying NULL,
  "quiet_time_zone" character varying NULL,
  "locale" character varying NOT NULL DEFAULT 'en',
  "order_count" bigint NOT NULL DEFAULT 0,
  "last_order_at" timestamptz NULL,
  "deleted_at" timestamptz NULL,
  "created_at" timestamptz NOT NULL,
  "updated_at" timestamptz NOT NULL,
  PRIMARY KEY ("id")
);
-- Emails are stored lower-cased, so this index is case-insensitive in effect;
-- deleted users have NULL here and free their address.
CREATE UNIQUE INDEX "users_email_key" ON "users" ("email");
-- The users connection pages in (created_at, id) order.
CREATE INDEX "user_created_at_id" ON "users" ("created_at", "id");

-- Inbox of consumed events (OrderCreated): the primary key is the
-- CloudEvents id, so a redelivered event cannot be applied twice.
CREATE TABLE "processed_events" (
  "id" character varying NOT NULL,
  "type" character varying NOT NULL,
  "processed_at" timestamptz NOT NULL,
  PRIMARY KEY ("id")
);

-- +goose Down
DROP TABLE "processed_events";
DROP TABLE "users";
