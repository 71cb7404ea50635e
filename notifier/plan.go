package notifier

import (
	"github.com/heraldhq/herald/ent/notifier/delivery"
	"github.com/heraldhq/herald/internal/events"
)

// Reasons recorded on SKIPPED deliveries.
const (
	ReasonNoEmail        = "email enabled but the user has no email address"
	ReasonNoPhone        = "sms enabled but the user has no phone number"
	ReasonSMSUnavailable = "sms channel not yet available"
)

// plannedDelivery is one row the consumer will insert for an event.
type plannedDelivery struct {
	Channel   delivery.Channel
	Recipient string
	Status    delivery.Status
	Reason    string
	Email     Email
}

// planDeliveries decides which deliveries an order implies for a user. It is
// pure so the policy can be tested without infrastructure:
//   - a channel the user disabled gets no row at all;
//   - email enabled → one PENDING email (SKIPPED if there is no address);
//   - sms enabled → one SKIPPED row: no phone, or (for now) the SMS channel is
//     not built yet. Recording it keeps the decision visible and the row
//     becomes PENDING once SMS sending exists.
func planDeliveries(order events.OrderCreated, user Contact) ([]plannedDelivery, error) {
	var out []plannedDelivery
	if user.EmailOn {
		d := plannedDelivery{Channel: delivery.ChannelEmail, Recipient: user.Email, Status: delivery.StatusPENDING}
		if user.Email == "" {
			d.Status, d.Reason = delivery.StatusSKIPPED, ReasonNoEmail
		} else {
			msg, err := RenderOrderConfirmation(order, user.Name)
			if err != nil {
				return nil, err
			}
			d.Email = msg
		}
		out = append(out, d)
	}
	if user.SMSOn {
		d := plannedDelivery{Channel: delivery.ChannelSms, Recipient: user.Phone, Status: delivery.StatusSKIPPED, Reason: ReasonSMSUnavailable}
		if user.Phone == "" {
			d.Reason = ReasonNoPhone
		}
		out = append(out, d)
	}
	return out, nil
}
