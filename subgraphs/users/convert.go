package users

import (
	entusers "github.com/heraldhq/herald/ent/users"
	"github.com/heraldhq/herald/subgraphs/users/model"
)

// toUser maps a stored user to its GraphQL shape.
func toUser(u *entusers.User) *model.User {
	return &model.User{
		ID:    u.ID,
		Name:  u.Name,
		Email: u.Email,
		Phone: u.Phone,
		Preferences: &model.NotificationPreferences{
			Email: u.EmailEnabled,
			Sms:   u.SmsEnabled,
		},
		CreatedAt: u.CreatedAt,
	}
}
