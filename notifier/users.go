package notifier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/Khan/genqlient/graphql"
	"github.com/sony/gobreaker/v2"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/notifier/channel"
	"github.com/heraldhq/herald/notifier/usersclient"
)

// UserDirectory looks up what the policy gate needs about a user. Any error
// is a reason to retry (the stream layer pauses on it), never to skip: an
// unknown or deleted user is a Policy with that Status, not an error.
type UserDirectory interface {
	Policy(ctx context.Context, userID, category string) (Policy, error)
}

// pinger is implemented by directories that can check their backend.
type pinger interface {
	Ping(ctx context.Context) error
}

// UsersClient asks the users subgraph through the genqlient client.
type UsersClient struct {
	gql graphql.Client
	url string
	hc  *http.Client
}

// NewUsersClient returns a directory over the users subgraph at url. hc
// should carry a timeout; the stream layer retries whatever fails.
// Requests carry the traceparent of the event being processed, and the
// notifier's service identity: the only caller users gives webhook signing
// secrets to.
func NewUsersClient(url string, hc *http.Client) *UsersClient {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	traced := *hc
	traced.Transport = traceTransport{base: identity.Transport(identity.ServiceNotifier, hc.Transport)}
	return &UsersClient{gql: graphql.NewClient(url, &traced), url: url, hc: hc}
}

// Policy fetches the user's preferences (and, from notificationPolicy, the
// user's status and webhook secret) in one request and maps them to the
// gate's Policy. Transport failures, 5xx and GraphQL errors other than
// NOT_FOUND / BAD_USER_INPUT (how the subgraph rejects an id that cannot
// exist) are returned as errors so the consumer retries.
func (c *UsersClient) Policy(ctx context.Context, userID, category string) (Policy, error) {
	resp, err := usersclient.UserPolicy(ctx, c.gql, userID, usersclient.NotificationCategory(category))
	if err != nil {
		if notFoundError(err) {
			return Policy{UserID: userID, Status: UserNotFound}, nil
		}
		return Policy{}, fmt.Errorf("users service: %w", err)
	}
	return policyFromResponse(userID, resp), nil
}

// policyFromResponse maps the users service's preference model to Policy.
func policyFromResponse(userID string, resp *usersclient.UserPolicyResponse) Policy {
	p := Policy{UserID: userID, Status: UserStatus(resp.NotificationPolicy.Status)}
	u := resp.User
	if u == nil {
		if p.Status == UserActive || p.Status == "" {
			// user(id) is null for deleted and unknown users; trust it.
			p.Status = UserNotFound
		}
		return p
	}
	if p.Status == "" {
		p.Status = UserActive
	}
	prefs := u.Preferences
	p.Name, p.Locale = u.Name, prefs.Locale
	p.Channels = map[string]ChannelPref{}
	for _, ch := range prefs.Channels {
		if name := channelName(string(ch.Channel)); name != "" {
			p.Channels[name] = ChannelPref{Enabled: ch.Enabled, Address: ch.Address}
		}
	}
	for _, d := range resp.NotificationPolicy.Deliveries {
		if name := channelName(string(d.Channel)); name != "" && d.SigningSecret != nil {
			cp := p.Channels[name]
			cp.Secret = *d.SigningSecret
			p.Channels[name] = cp
		}
	}
	p.Categories = map[string]CategoryPref{}
	for _, c := range prefs.Categories {
		cp := CategoryPref{Critical: c.Critical, Enabled: c.Enabled, OptedOut: map[string]bool{}}
		for _, ch := range c.OptedOut {
			if name := channelName(string(ch)); name != "" {
				cp.OptedOut[name] = true
			}
		}
		p.Categories[string(c.Category)] = cp
	}
	if q := prefs.QuietHours; q != nil {
		p.Quiet = &QuietHours{Start: q.Start, End: q.End, TimeZone: q.TimeZone}
	}
	return p
}

// channelName maps the GraphQL NotificationChannel to the registered
// channel's name; "" for channels without rows (IN_APP) or unknown ones.
func channelName(gql string) string {
	k, _ := channel.ByEnum(gql)
	return k.Name
}

// Ping checks that the users service answers GraphQL (for /readyz).
func (c *UsersClient) Ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader([]byte(`{"query":"{__typename}"}`)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("users service: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("users service: HTTP %d", resp.StatusCode)
	}
	return nil
}

// notFoundError reports whether every GraphQL error says the user does not
// exist. An HTTP error is never "not found": a 404 there is a wrong URL.
func notFoundError(err error) bool {
	var httpErr *graphql.HTTPError
	if errors.As(err, &httpErr) {
		return false
	}
	var list gqlerror.List
	if !errors.As(err, &list) || len(list) == 0 {
		return false
	}
	for _, e := range list {
		code, _ := e.Extensions["code"].(string)
		if code != "NOT_FOUND" && code != "BAD_USER_INPUT" {
			return false
		}
	}
	return true
}

// BreakerDirectory guards a UserDirectory with a circuit breaker: after
// Failures consecutive failures it stops calling the service for OpenFor and
// fails fast (the stream layer retries the message with backoff, so work
// pauses; nothing is skipped), then lets one probe through.
type BreakerDirectory struct {
	next UserDirectory
	cb   *gobreaker.CircuitBreaker[Policy]
}

// BreakerSettings configure BreakerDirectory.
type BreakerSettings struct {
	Failures uint32        // consecutive failures that open the breaker
	OpenFor  time.Duration // how long it stays open before a probe
	// OnState, when set, is told every state change (for metrics and logs).
	OnState func(from, to gobreaker.State)
}

// ErrUsersUnavailable wraps the breaker's fast failure.
var ErrUsersUnavailable = errors.New("users service unavailable (circuit open)")

// NewBreakerDirectory wraps next.
func NewBreakerDirectory(next UserDirectory, s BreakerSettings) *BreakerDirectory {
	if s.Failures == 0 {
		s.Failures = 5
	}
	st := gobreaker.Settings{
		Name:        "users",
		MaxRequests: 1,
		Timeout:     s.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= s.Failures },
		// A shutdown is not the service's fault.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
	}
	if s.OnState != nil {
		st.OnStateChange = func(_ string, from, to gobreaker.State) { s.OnState(from, to) }
	}
	return &BreakerDirectory{next: next, cb: gobreaker.NewCircuitBreaker[Policy](st)}
}

// Policy calls the wrapped directory unless the breaker is open.
func (b *BreakerDirectory) Policy(ctx context.Context, userID, category string) (Policy, error) {
	p, err := b.cb.Execute(func() (Policy, error) { return b.next.Policy(ctx, userID, category) })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return Policy{}, fmt.Errorf("%w: %w", ErrUsersUnavailable, err)
	}
	return p, err
}

// State is the breaker's state (closed, half-open, open).
func (b *BreakerDirectory) State() gobreaker.State { return b.cb.State() }

// Ping checks the wrapped directory's backend, bypassing the breaker.
func (b *BreakerDirectory) Ping(ctx context.Context) error {
	if p, ok := b.next.(pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}
