// Package notifier consumes OrderCreated events, asks the users service for
// the customer's preferences, records one delivery row per enabled channel
// and sends them from its own database with retries.
//
// # Consuming
//
// For each message the consumer (Consumer.Handle):
//   - dead-letters it to "<topic>.dlq" (original headers plus
//     herald_dlq_reason) when it is not a valid OrderCreated CloudEvent, and
//     moves on;
//   - ignores it when its ce_id is already in the inbox (a redelivery);
//   - asks the users service (genqlient, package usersclient) for the user.
//     An unreachable or failing users service returns an error, so the stream
//     layer retries the same message and nothing behind it on its key passes
//     it: work pauses, nothing is skipped. An unknown user is recorded with no
//     deliveries;
//   - in ONE transaction inserts the inbox row (unique ce_id) and one
//     delivery per enabled channel (unique per event and channel). Only then
//     does it return nil and the stream layer commit the offset.
//
// # Delivering
//
// Workers (Worker) claim due rows, send them outside any transaction and
// record the outcome. Delivery statuses move forward only:
//
//	PENDING   created by the consumer, due now
//	SENDING   claimed by a worker until next_attempt_at (its lease); a worker
//	          that dies leaves it to be claimed again when the lease ends
//	RETRYING  a transient failure (connection, TLS, SMTP 4xx); due again at
//	          next_attempt_at after capped exponential backoff
//	SENT      accepted by the relay (SMTP 250 after DATA), with message_id
//	FAILED    a permanent failure (SMTP 5xx, unusable address)
//	SKIPPED   never sent: the channel is enabled but unusable (no phone), or
//	          not built yet (SMS); last_error holds the reason
//
// Delivery is at least once: between the relay's accept and our commit a
// crash resends, with the same Message-ID (<delivery id>@<from domain>) so
// receivers can tell.
package notifier
