package notifier

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/Khan/genqlient/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/heraldhq/herald/notifier/usersclient"
)

// Contact is what the notifier needs to know about a user.
type Contact struct {
	ID      string
	Name    string
	Email   string
	Phone   string
	EmailOn bool
	SMSOn   bool
}

// ErrUserNotFound means the users service answered and has no such user.
// Anything else that goes wrong is a reason to retry, never to skip.
var ErrUserNotFound = errors.New("user not found")

// UserDirectory looks up a user's contact details and preferences.
type UserDirectory interface {
	Contact(ctx context.Context, userID string) (Contact, error)
}

// UsersClient asks the users subgraph through the genqlient client.
type UsersClient struct {
	gql graphql.Client
}

// NewUsersClient returns a directory over the users subgraph at url. hc
// should carry a timeout; the stream layer retries whatever fails.
func NewUsersClient(url string, hc *http.Client) *UsersClient {
	return &UsersClient{gql: graphql.NewClient(url, hc)}
}

// Contact fetches the user. It returns ErrUserNotFound only when the service
// answered that the user does not exist (null, or an error coded NOT_FOUND or
// BAD_USER_INPUT, which is how the subgraph rejects an id that cannot exist).
// Transport failures, 5xx and other GraphQL errors are returned as they are so
// the consumer retries.
func (c *UsersClient) Contact(ctx context.Context, userID string) (Contact, error) {
	resp, err := usersclient.UserContact(ctx, c.gql, userID)
	if err != nil {
		if notFoundError(err) {
			return Contact{}, ErrUserNotFound
		}
		return Contact{}, fmt.Errorf("users service: %w", err)
	}
	u := resp.User
	if u == nil {
		return Contact{}, ErrUserNotFound
	}
	return Contact{
		ID:      u.Id,
		Name:    u.Name,
		Email:   u.Email,
		Phone:   u.Phone,
		EmailOn: u.Preferences.Email,
		SMSOn:   u.Preferences.Sms,
	}, nil
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
