package notifier

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/ent/notifier/delivery"
)

func TestPlanDeliveries(t *testing.T) {
	type row struct {
		channel delivery.Channel
		status  delivery.Status
		reason  string
	}
	tests := []struct {
		name string
		user Contact
		want []row
	}{
		{"email only", Contact{Email: "a@example.com", EmailOn: true},
			[]row{{delivery.ChannelEmail, delivery.StatusPENDING, ""}}},
		{"nothing enabled", Contact{Email: "a@example.com", Phone: "+4915112345678"}, nil},
		{"email disabled, sms without phone", Contact{Email: "a@example.com", SMSOn: true},
			[]row{{delivery.ChannelSms, delivery.StatusSKIPPED, ReasonNoPhone}}},
		{"both enabled", Contact{Email: "a@example.com", Phone: "+4915112345678", EmailOn: true, SMSOn: true},
			[]row{{delivery.ChannelEmail, delivery.StatusPENDING, ""}, {delivery.ChannelSms, delivery.StatusSKIPPED, ReasonSMSUnavailable}}},
		{"email enabled without address", Contact{EmailOn: true},
			[]row{{delivery.ChannelEmail, delivery.StatusSKIPPED, ReasonNoEmail}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := planDeliveries(sampleOrder(), tc.user)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d deliveries %+v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Channel != w.channel || g.Status != w.status || g.Reason != w.reason {
					t.Errorf("delivery %d = %s/%s/%q, want %s/%s/%q", i, g.Channel, g.Status, g.Reason, w.channel, w.status, w.reason)
				}
				if g.Status == delivery.StatusPENDING && (g.Email.Subject == "" || g.Email.Text == "" || g.Email.HTML == "") {
					t.Errorf("pending email has no rendered content: %+v", g.Email)
				}
			}
		})
	}
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 10 * time.Second}
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second},
		{5, 10 * time.Second}, {60, 10 * time.Second},
	}
	for _, tc := range tests {
		if got := b.Delay(tc.attempt); got != tc.want {
			t.Errorf("Delay(%d) = %v, want %v", tc.attempt, got, tc.want)
		}
	}
}
