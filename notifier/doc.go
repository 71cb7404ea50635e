// Package notifier consumes OrderCreated and OrderCancelled events (each
// topic with its own group, one handler for both), asks the users service for
// the customer's preferences, decides per channel what to send (the policy
// gate), records one delivery row per channel and sends them from its own
// database with retries, publishing every status change as a
// NotificationStatus event through its own outbox. docs/notifier.md is the
// operator's view; this comment is the code's.
//
// # Consuming (consumer.go)
//
// For each message the consumer (Consumer.Handle):
//   - dead-letters it to "<topic>.dlq" (original headers plus
//     herald_dlq_reason, herald_dlq_topic, herald_dlq_at) when it is not a
//     valid OrderCreated or OrderCancelled CloudEvent (chosen by ce_type) or
//     cannot be rendered, and moves on;
//   - ignores it when its ce_id is already in the inbox (a redelivery);
//   - asks the users service (genqlient, package usersclient, behind a
//     circuit breaker) for the user's preferences. A failing or unreachable
//     users service, or an open breaker, returns an error, so the stream
//     layer retries the same message and nothing behind it on its key passes
//     it: work pauses, nothing is skipped;
//   - runs the policy gate (Decide, policy.go: a pure function) which gives
//     each channel no row, PENDING, DEFERRED (quiet hours, due at the end of
//     the window) or SKIPPED (with a reason). A deleted or unknown user gets
//     no rows;
//   - in ONE transaction inserts the inbox row (unique ce_id), the delivery
//     rows (unique per event and channel) and each row's first status event
//     (history + outbox). Only then does it return nil and the stream layer
//     commit the offset.
//
// HandleBatch does the same for the messages one Kafka poll returned for a
// partition: one inbox check, one users lookup per user, one transaction
// for all of them (falling back to one per event if it fails), poison
// messages dead-lettered one by one after the commit.
//
// # Delivering (worker.go)
//
// Workers claim due rows (PENDING, DEFERRED, RETRYING, or SENDING whose
// lease expired) in a short transaction (FOR UPDATE SKIP LOCKED on
// PostgreSQL), send them outside any transaction through the channel's
// channel.Sender, and record the outcome in a second transaction guarded by
// (status, attempts), so a stale outcome from a worker whose lease expired
// is dropped. Transient failures are retried with exponential backoff and
// jitter until MaxAttempts or MaxAge; permanent ones fail at once.
//
// A DEFERRED row (quiet hours) is re-checked before its first attempt: the
// worker asks the users service again through the consumer's breaker and
// runs Decide on the current policy (quiet hours aside). A deleted user's
// row is SKIPPED ("user deleted"), a switched-off channel's SKIPPED with
// that reason, a changed address used. If the users service cannot answer,
// the claim is released back to DEFERRED (row only, nothing published, no
// attempt counted) and tried again after a backoff step.
//
// The channels are the registered channel.Kinds (notifier/channel,
// registry.go): no code here names one. Senders come from Config.Channels
// (channels.go: each channel's configuration, declared once by its
// package); what a row sends is rendered at consume time by
// RenderLocalized (each channel's Kind.Render, e.g. the email channel's
// per-locale templates: the order confirmation or the cancellation notice,
// by the event's type); Deps can replace both.
//
// # Schema, tracing, retention
//
// The schema is created by versioned migrations in ent/notifier/migrations
// (migrate.go; HERALD_DB_MIGRATE=auto applies them at start, off only
// checks, `notifier migrate` applies them as a release step); ent's
// auto-migration is not used. The consumed event's traceparent (trace.go)
// is stored on each delivery, set on its status events, sent on the
// users-service requests for the event and logged. historyCleaner
// (retention.go) deletes status history older than StatusRetention; the
// status relay deletes published outbox rows with the same retention.
//
// # Statuses (status.go)
//
// Row statuses move forward only, along the table rowNext; SENDING is the
// internal claim and never published. Every other transition writes, in the
// transaction that changes the row, a StatusEvent (history) and an
// OutboxEvent that internal/outbox's Relay publishes to NotificationStatus
// (key: order id). Published statuses follow CanTransition:
//
//	PENDING   recorded, due now
//	DEFERRED  held until the user's quiet hours end (nextAttemptAt)
//	RETRYING  an attempt failed transiently; next at nextAttemptAt (reason)
//	SENT      accepted by the provider (SMTP: the relay answered 250)
//	FAILED    a permanent failure, or attempts/age exhausted (reason)
//	SKIPPED   will not be sent (no address, channel not configured, user
//	          deleted before a deferred delivery was due; reason)
//
// Delivery is at least once: between the provider's accept and our commit a
// crash resends, with the same delivery id (Message-ID, idempotency key).
package notifier
