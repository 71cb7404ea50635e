// Package model holds the accounts subgraph's models.
package model

// User is an account.
type User struct {
	ID       string
	Name     string
	Username string
}

// IsEntity marks User as a member of the federation _Entity union.
func (User) IsEntity() {}
