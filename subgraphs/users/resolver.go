package users

import (
	"context"
	"fmt"
	"log/slog"

	entusers "github.com/heraldhq/herald/ent/users"
	"github.com/heraldhq/herald/internal/apperr"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/subgraphs/users/model"
)

//go:generate go tool gqlgen generate --config gqlgen.yml

// Resolver holds what the resolvers need. The *.resolvers.go files stay thin:
// they call the methods below, validation lives in validate.go and
// persistence in the ent client.
type Resolver struct {
	Client *entusers.Client
	Logger *slog.Logger
}

// userByID returns the user, or nil (and no error) when there is none: an
// unknown id is an empty answer, not a failure.
func (r *Resolver) userByID(ctx context.Context, id string) (*model.User, error) {
	u, err := r.Client.User.Get(ctx, id)
	if entusers.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	return toUser(u), nil
}

func (r *Resolver) registerUser(ctx context.Context, input model.RegisterUserInput) (*model.User, error) {
	reg, err := ValidateRegistration(input)
	if err != nil {
		return nil, err
	}
	// The unique index decides duplicates: a check-then-insert would race
	// with a concurrent registration of the same address.
	u, err := r.Client.User.Create().
		SetName(reg.Name).
		SetEmail(reg.Email).
		SetNillablePhone(reg.Phone).
		Save(ctx)
	if entusers.IsConstraintError(err) {
		return nil, &apperr.Error{
			Code:    apperr.Conflict,
			Field:   fieldEmail,
			Message: "a user with this email is already registered",
			Err:     err,
		}
	}
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	r.Logger.InfoContext(ctx, "user registered", "user_id", u.ID, "email", logging.MaskEmail(u.Email))
	return toUser(u), nil
}

func (r *Resolver) updateNotificationPreferences(ctx context.Context, userID string, input model.NotificationPreferencesInput) (*model.User, error) {
	u, err := r.Client.User.UpdateOneID(userID).
		SetNillableEmailEnabled(input.Email).
		SetNillableSmsEnabled(input.Sms).
		Save(ctx)
	if entusers.IsNotFound(err) {
		return nil, &apperr.Error{Code: apperr.NotFound, Field: "userId", Message: "no user with this id"}
	}
	if err != nil {
		return nil, fmt.Errorf("update preferences: %w", err)
	}
	r.Logger.InfoContext(ctx, "notification preferences updated", "user_id", u.ID,
		"email_enabled", u.EmailEnabled, "sms_enabled", u.SmsEnabled)
	return toUser(u), nil
}
