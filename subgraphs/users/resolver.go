package users

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"

	entusers "github.com/heraldhq/herald/ent/users"
	"github.com/heraldhq/herald/ent/users/user"
	"github.com/heraldhq/herald/internal/apperr"
	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/subgraphs/users/model"
)

//go:generate go tool gqlgen generate --config gqlgen.yml

// Resolver holds what the resolvers need. The *.resolvers.go files stay thin:
// they call the methods below, validation lives in validate.go, preference
// rules in prefs.go and persistence in the ent client.
type Resolver struct {
	Client *entusers.Client
	Logger *slog.Logger
	Policy Policy
	// Secrets seals webhook signing secrets at rest.
	Secrets *SecretBox
	// AllowLoopbackWebhooks admits http(s)://localhost webhooks (development).
	AllowLoopbackWebhooks bool
	// NetResolver resolves webhook hosts for WarnWebhookHost (nil: the
	// system's).
	NetResolver *net.Resolver
	// LockRows takes row locks (SELECT … FOR UPDATE) in read-modify-write
	// transactions: on PostgreSQL. SQLite refuses the clause and needs none.
	LockRows bool
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// lock adds FOR UPDATE where the database supports it.
func (r *Resolver) lock(q *entusers.UserQuery) *entusers.UserQuery {
	if r.LockRows {
		return q.ForUpdate()
	}
	return q
}

var errNoUser = &apperr.Error{Code: apperr.NotFound, Message: "no user with this id"}

func notFound(field string) error {
	e := *errNoUser
	e.Field = field
	return &e
}

// mayRead refuses a caller that may not read user id: the user themself,
// an operator and the notifier may.
func mayRead(ctx context.Context, id string) error {
	caller := identity.From(ctx)
	if caller.IsService(identity.ServiceNotifier) {
		return nil
	}
	return caller.RequireUserOwner(id)
}

// me is the caller's own user, nil until they registered.
func (r *Resolver) me(ctx context.Context) (*model.User, error) {
	caller := identity.From(ctx)
	if err := caller.RequireUser(); err != nil {
		return nil, err
	}
	return r.userByID(ctx, identity.UserID(caller.Subject))
}

// userByID returns the user, or nil (and no error) when there is none or
// they were deleted: an unknown id is an empty answer, not a failure, and a
// deleted user no longer exists for clients. Only the user, an operator
// and the notifier may ask (FORBIDDEN otherwise, whether or not the id
// exists).
func (r *Resolver) userByID(ctx context.Context, id string) (*model.User, error) {
	if err := mayRead(ctx, id); err != nil {
		return nil, err
	}
	u, err := r.Client.User.Query().Where(user.ID(id), user.DeletedAtIsNil()).Only(ctx)
	if entusers.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	return r.toUser(u), nil
}

func (r *Resolver) registerUser(ctx context.Context, input model.RegisterUserInput) (*model.User, error) {
	subject, err := registrationSubject(identity.From(ctx), input.Subject.Value())
	if err != nil {
		return nil, err
	}
	reg, err := ValidateRegistration(input)
	if err != nil {
		return nil, err
	}
	// The id is the subject's (identity.UserID): one user per subject,
	// and every service can tell the owner of anything from its user id.
	id := identity.UserID(subject)
	if taken, err := r.Client.User.Query().Where(user.ID(id)).Exist(ctx); err != nil {
		return nil, fmt.Errorf("registered already: %w", err)
	} else if taken {
		return nil, subjectTaken(nil)
	}
	create := r.Client.User.Create().
		SetID(id).
		SetName(reg.Name).
		SetEmail(reg.Email).
		SetNillablePhone(reg.Phone)
	p := reg.Preferences
	setSwitches(create, p)
	if len(p.Categories) > 0 {
		create.SetCategories(applyCategories(nil, p.Categories))
	}
	if q := p.QuietHours; q != nil {
		create.SetQuietStart(q.Start).SetQuietEnd(q.End).SetQuietTimeZone(q.TimeZone)
	}
	// The unique index decides duplicates: a check-then-insert would race
	// with a concurrent registration of the same address.
	u, err := create.Save(ctx)
	if entusers.IsConstraintError(err) {
		// A concurrent registration of the same subject, or the address.
		if taken, xerr := r.Client.User.Query().Where(user.ID(id)).Exist(ctx); xerr == nil && taken {
			return nil, subjectTaken(err)
		}
		return nil, duplicateEmail(err)
	}
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	r.Logger.InfoContext(ctx, "user registered", "user_id", u.ID, "email", logging.MaskEmail(reg.Email))
	return r.toUser(u), nil
}

// registrationSubject is the subject a registration binds: the caller's,
// or for an operator the one given.
func registrationSubject(caller identity.Identity, given *string) (string, error) {
	if err := caller.RequireUser(); err != nil {
		return "", err
	}
	if given == nil {
		return caller.Subject, nil
	}
	if !caller.Operator() {
		return "", &apperr.Error{Code: apperr.Forbidden, Field: "subject", Message: "only an operator may register someone else"}
	}
	s := strings.TrimSpace(*given)
	if s == "" || len(s) > 255 {
		return "", apperr.Invalid("subject", "subject must be 1 to 255 bytes")
	}
	return s, nil
}

// subjectTaken answers a second registration of one subject (a deleted
// user's subject stays taken: its tombstone keeps the id).
func subjectTaken(err error) error {
	return &apperr.Error{Code: apperr.Conflict, Field: "subject",
		Message: "this identity already has a user: query me", Err: err}
}

func duplicateEmail(err error) error {
	return &apperr.Error{
		Code:    apperr.Conflict,
		Field:   fieldEmail,
		Message: "a user with this email is already registered",
		Err:     err,
	}
}

func (r *Resolver) updateNotificationPreferences(ctx context.Context, userID string, input model.NotificationPreferencesInput) (*model.User, error) {
	if err := identity.From(ctx).RequireUserOwner(userID); err != nil {
		return nil, err
	}
	patch, err := ValidatePreferences(input, "input.")
	if err != nil {
		return nil, err
	}
	u, err := r.update(ctx, userID, "userId", func(u *entusers.User, upd *entusers.UserUpdateOne) error {
		applyPrefs(u, upd, patch)
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.Logger.InfoContext(ctx, "notification preferences updated", "user_id", u.ID)
	return r.toUser(u), nil
}

// userChange is a validated updateUser input.
type userChange struct {
	name, email  *string
	phoneSet     bool
	phone        *string // nil with phoneSet: remove
	prefs        *PrefsPatch
	webhookSet   bool
	webhookURL   *string // nil with webhookSet: remove
	webhookOn    *bool
	rotateSecret bool
}

func (r *Resolver) validateUserChange(in model.UpdateUserInput) (userChange, error) {
	var c userChange
	var err error
	if c.name, err = kept(in.Name, fieldName, "name cannot be removed", NormalizeName); err != nil {
		return c, err
	}
	if c.email, err = kept(in.Email, fieldEmail, "email cannot be removed; deleteUser erases a user", NormalizeEmail); err != nil {
		return c, err
	}
	if c.phone, c.phoneSet, err = removable(in.Phone, NormalizePhone); err != nil {
		return c, err
	}
	if p := in.Preferences.Value(); p != nil {
		patch, err := ValidatePreferences(*p, "input.preferences.")
		if err != nil {
			return c, err
		}
		c.prefs = &patch
	}
	if w := in.Webhook.Value(); w != nil {
		c.webhookURL, c.webhookSet, err = removable(w.URL, func(v string) (string, error) {
			return NormalizeWebhookURL(v, "input.webhook.url", r.AllowLoopbackWebhooks)
		})
		if err != nil {
			return c, err
		}
		c.webhookOn = w.Enabled.Value()
		if v := w.RotateSecret.Value(); v != nil {
			c.rotateSecret = *v
		}
		if c.rotateSecret && c.webhookSet && c.webhookURL == nil {
			return c, apperr.Invalid("input.webhook.rotateSecret", "a removed webhook has no secret to rotate")
		}
	}
	return c, nil
}

// kept normalizes a field that an update may change but not remove: nil
// when the input leaves it out, refused with removed when it sends null.
func kept(o graphql.Omittable[*string], field, removed string, normalize func(string) (string, error)) (*string, error) {
	if !o.IsSet() {
		return nil, nil
	}
	v := o.Value()
	if v == nil {
		return nil, apperr.Invalid(field, "%s", removed)
	}
	n, err := normalize(*v)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// removable normalizes a field that an update may change or remove: set
// reports whether the input names it, and v is nil when it removes it (null,
// or what normalizes to "").
func removable(o graphql.Omittable[*string], normalize func(string) (string, error)) (v *string, set bool, err error) {
	if !o.IsSet() {
		return nil, false, nil
	}
	if in := o.Value(); in != nil {
		n, err := normalize(*in)
		if err != nil {
			return nil, true, err
		}
		if n != "" {
			return &n, true, nil
		}
	}
	return nil, true, nil
}

func (r *Resolver) updateUser(ctx context.Context, id string, input model.UpdateUserInput) (*model.UpdateUserPayload, error) {
	if err := identity.From(ctx).RequireUserOwner(id); err != nil {
		return nil, err
	}
	c, err := r.validateUserChange(input)
	if err != nil {
		return nil, err
	}
	if c.webhookURL != nil {
		WarnWebhookHost(ctx, r.Logger, r.NetResolver, *c.webhookURL, id, r.AllowLoopbackWebhooks)
	}
	var shown *string
	u, err := r.update(ctx, id, "id", func(u *entusers.User, upd *entusers.UserUpdateOne) error {
		if c.name != nil {
			upd.SetName(*c.name)
		}
		if c.email != nil {
			upd.SetEmail(*c.email)
		}
		if c.phoneSet {
			if c.phone == nil {
				upd.ClearPhone()
			} else {
				upd.SetPhone(*c.phone)
			}
		}
		if c.prefs != nil {
			applyPrefs(u, upd, *c.prefs)
		}
		newURL := c.webhookSet && c.webhookURL != nil && (u.WebhookURL == nil || *u.WebhookURL != *c.webhookURL)
		switch {
		case c.webhookSet && c.webhookURL == nil:
			upd.ClearWebhookURL().ClearWebhookSecret().SetWebhookEnabled(false)
		case newURL || c.rotateSecret:
			if !newURL && u.WebhookURL == nil {
				return apperr.Invalid("input.webhook.rotateSecret", "the user has no webhook whose secret could be rotated")
			}
			secret, err := NewWebhookSecret()
			if err != nil {
				return err
			}
			sealed, err := r.Secrets.Seal(u.ID, secret)
			if err != nil {
				return err
			}
			upd.SetWebhookSecret(sealed)
			if newURL {
				upd.SetWebhookURL(*c.webhookURL).SetWebhookEnabled(true)
			}
			shown = &secret
		}
		if c.webhookOn != nil && !(c.webhookSet && c.webhookURL == nil) {
			upd.SetWebhookEnabled(*c.webhookOn)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.Logger.InfoContext(ctx, "user updated", "user_id", u.ID, "new_webhook_secret", shown != nil)
	if caller := identity.From(ctx); caller.Subject == "" || identity.UserID(caller.Subject) != id {
		// Shown to its owner only: an operator changing someone's webhook
		// does not learn the secret that signs it.
		shown = nil
	}
	return &model.UpdateUserPayload{User: r.toUser(u), WebhookSigningSecret: shown}, nil
}

// update runs change on an active user inside a transaction, with the row
// locked on PostgreSQL, so that concurrent partial updates (categories are
// read, merged and written back) never lose each other's changes. Any
// error rolls everything back.
func (r *Resolver) update(ctx context.Context, id, idField string,
	change func(*entusers.User, *entusers.UserUpdateOne) error,
) (*entusers.User, error) {
	tx, err := r.Client.Tx(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	u, err := r.lock(tx.User.Query().Where(user.ID(id), user.DeletedAtIsNil())).Only(ctx)
	if entusers.IsNotFound(err) {
		return nil, notFound(idField)
	}
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	upd := tx.User.UpdateOne(u)
	if err := change(u, upd); err != nil {
		return nil, err
	}
	u, err = upd.Save(ctx)
	if entusers.IsConstraintError(err) {
		return nil, duplicateEmail(err)
	}
	if err != nil {
		return nil, fmt.Errorf("update user: %w", err)
	}
	if err := tx.Commit(); err != nil {
		if entusers.IsConstraintError(err) {
			return nil, duplicateEmail(err)
		}
		return nil, fmt.Errorf("commit: %w", err)
	}
	return u, nil
}

// switchSetter is what creating a user and updating one share for setting
// the preference switches and the locale.
type switchSetter[B any] interface {
	SetNillableEmailEnabled(*bool) B
	SetNillableSmsEnabled(*bool) B
	SetNillableWebhookEnabled(*bool) B
	SetNillableInAppEnabled(*bool) B
	SetNillableLocale(*string) B
}

// setSwitches sets the switches and the locale p names; the others keep
// their value (their default on a new user).
func setSwitches[B switchSetter[B]](b B, p PrefsPatch) {
	b.SetNillableEmailEnabled(p.Email).
		SetNillableSmsEnabled(p.SMS).
		SetNillableWebhookEnabled(p.Webhook).
		SetNillableInAppEnabled(p.InApp).
		SetNillableLocale(p.Locale)
}

func applyPrefs(u *entusers.User, upd *entusers.UserUpdateOne, p PrefsPatch) {
	setSwitches(upd, p)
	if len(p.Categories) > 0 {
		upd.SetCategories(applyCategories(u.Categories, p.Categories))
	}
	if p.QuietHoursSet {
		if q := p.QuietHours; q != nil {
			upd.SetQuietStart(q.Start).SetQuietEnd(q.End).SetQuietTimeZone(q.TimeZone)
		} else {
			upd.ClearQuietStart().ClearQuietEnd().ClearQuietTimeZone()
		}
	}
}

// deleteUser erases a user's personal data and keeps a tombstone with the
// id, the order counters and deleted_at, so that later events naming the
// user are recognised and nothing is sent. Deleting twice is not an error:
// the first deletion's time is returned.
func (r *Resolver) deleteUser(ctx context.Context, id string) (*model.DeleteUserPayload, error) {
	if err := identity.From(ctx).RequireUserOwner(id); err != nil {
		return nil, err
	}
	tx, err := r.Client.Tx(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	u, err := r.lock(tx.User.Query().Where(user.ID(id))).Only(ctx)
	if entusers.IsNotFound(err) {
		return nil, notFound("id")
	}
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	if u.DeletedAt != nil {
		return &model.DeleteUserPayload{ID: u.ID, DeletedAt: *u.DeletedAt}, nil
	}
	at := r.now().UTC().Truncate(time.Microsecond)
	_, err = tx.User.UpdateOne(u).
		SetName("").
		ClearEmail().
		ClearPhone().
		ClearWebhookURL().
		ClearWebhookSecret().
		SetWebhookEnabled(false).
		ClearCategories().
		ClearQuietStart().
		ClearQuietEnd().
		ClearQuietTimeZone().
		SetLocale("en").
		SetDeletedAt(at).
		Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("erase user: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	r.Logger.InfoContext(ctx, "user deleted", "user_id", u.ID)
	return &model.DeleteUserPayload{ID: u.ID, DeletedAt: at}, nil
}

// Page sizes of the users connection.
const (
	defaultPageSize = 20
	maxPageSize     = 100
)

func (r *Resolver) users(ctx context.Context, first *int, after *string) (*model.UserConnection, error) {
	if !identity.From(ctx).Operator() {
		return nil, apperr.New(apperr.Forbidden, "listing users is for operators (scope %s)", identity.OperatorScope)
	}
	n := defaultPageSize
	if first != nil {
		n = *first
	}
	if n < 1 || n > maxPageSize {
		return nil, apperr.Invalid("first", "first must be between 1 and %d", maxPageSize)
	}
	q := r.Client.User.Query().Where(user.DeletedAtIsNil())
	if after != nil && *after != "" {
		c, err := decodeCursor(*after)
		if err != nil {
			return nil, apperr.Invalid("after", "after is not a cursor returned by users")
		}
		q.Where(user.Or(
			user.CreatedAtGT(c.CreatedAt),
			user.And(user.CreatedAtEQ(c.CreatedAt), user.IDGT(c.ID)),
		))
	}
	rows, err := q.Order(entusers.Asc(user.FieldCreatedAt), entusers.Asc(user.FieldID)).Limit(n + 1).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	conn := &model.UserConnection{
		Edges:    []model.UserEdge{},
		PageInfo: &model.PageInfo{HasNextPage: len(rows) > n, HasPreviousPage: after != nil && *after != ""},
	}
	if len(rows) > n {
		rows = rows[:n]
	}
	for _, u := range rows {
		conn.Edges = append(conn.Edges, model.UserEdge{Cursor: encodeCursor(u.CreatedAt, u.ID), Node: r.toUser(u)})
	}
	if len(conn.Edges) > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[len(conn.Edges)-1].Cursor
	}
	conn.Count = len(conn.Edges)
	return conn, nil
}

func (r *Resolver) notificationPolicy(ctx context.Context, userID string, category model.NotificationCategory, at *time.Time) (*model.NotificationPolicy, error) {
	caller := identity.From(ctx)
	notifier := caller.IsService(identity.ServiceNotifier)
	if !notifier && !caller.Operator() {
		if caller.Anonymous() {
			return nil, identity.ErrSignIn()
		}
		return nil, apperr.New(apperr.Forbidden, "notification policies are for the notifier and operators")
	}
	when := r.now()
	if at != nil {
		when = *at
	}
	u, err := r.Client.User.Get(ctx, userID)
	if entusers.IsNotFound(err) {
		u, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	p, err := r.Policy.Decide(userID, u, category, when, func(u *entusers.User) (string, error) {
		if !notifier {
			return "", errSecretWithheld // only the notifier signs webhooks
		}
		s, err := r.Secrets.Open(u.ID, *u.WebhookSecret)
		if err != nil {
			// Misconfiguration, not bad input: the notifier retries.
			return "", errors.Join(apperr.New(apperr.Internal, "internal error"), err)
		}
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}
