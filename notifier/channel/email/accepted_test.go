package email

import "testing"

// A message the relay accepted is a success even when the connection fails
// right after: reporting an error would make the worker send it again. The
// scripted relay accepts the message (250 after DATA) and then fails the
// RSET that go-mail sends next, an edge mailpit cannot produce.
func TestSendAcceptedThenResetFails(t *testing.T) {
	rs := &relayScript{failReset: true}
	s := scriptSender(t, rs.start(t), nil)
	res, err := s.Send(t.Context(), orderMessage(t, "ada@example.com"))
	if err != nil {
		t.Fatalf("Send after the relay accepted the message: %v", err)
	}
	if res.ProviderID == "" || rs.messages.Load() != 1 {
		t.Fatalf("result %+v, relay accepted %d messages; want a Message-ID and 1", res, rs.messages.Load())
	}
}
