package users

import (
	entusers "github.com/heraldhq/herald/ent/users"
	"github.com/heraldhq/herald/subgraphs/users/model"
)

// toUser maps a stored (active) user to its GraphQL shape.
func (r *Resolver) toUser(u *entusers.User) *model.User {
	out := &model.User{
		ID:          u.ID,
		Name:        u.Name,
		Phone:       u.Phone,
		Preferences: r.Policy.Preferences(u),
		OrderCount:  int(u.OrderCount),
		LastOrderAt: u.LastOrderAt,
		CreatedAt:   u.CreatedAt,
		UpdatedAt:   u.UpdatedAt,
	}
	if u.Email != nil {
		out.Email = *u.Email
	}
	return out
}
