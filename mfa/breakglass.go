package mfa

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
)

// Break-glass: an operator with access to the database (the `twofold admin`
// commands) mends an organization that cannot mend itself: its last admin
// left, or forgot the password. There is no viewer; every action is audited
// with details via=cli, so the organization sees it.
const (
	AuditBreakGlassAdminCreated  AuditAction = "breakglass.admin_created"
	AuditBreakGlassPasswordReset AuditAction = "breakglass.password_reset"
	AuditBreakGlassGranted       AuditAction = "breakglass.granted"
)

// breakGlassUser loads the organization and one of its users by username or
// email.
func (s *Service) breakGlassUser(ctx context.Context, orgSlug, login string) (*Organization, *User, error) {
	org, err := s.store.OrganizationBySlug(ctx, strings.ToLower(strings.TrimSpace(orgSlug)))
	if err != nil {
		return nil, nil, notFound(err, "organization")
	}
	if login == "" {
		return org, nil, nil
	}
	u, err := s.store.UserByLogin(ctx, org.ID, normalizeLogin(login))
	if err != nil {
		return nil, nil, notFound(err, "user")
	}
	return org, u, nil
}

// BreakGlassCreateAdmin adds an active user with every permission to the
// organization and returns their one-time password (shown once; the user
// should change it at once). Their second factor, if policy requires one,
// is enrolled at their first login as for anyone.
func (s *Service) BreakGlassCreateAdmin(ctx context.Context, orgSlug, username, email string) (*User, string, error) {
	org, _, err := s.breakGlassUser(ctx, orgSlug, "")
	if err != nil {
		return nil, "", err
	}
	username = normalizeLogin(username)
	if !usernamePattern.MatchString(username) {
		return nil, "", invalidInput("username", "username must be 1-64 letters, digits or . _ @ + -, starting with a letter or digit")
	}
	email = strings.TrimSpace(email)
	if !strings.Contains(email, "@") || len(email) > 254 {
		return nil, "", invalidInput("email", "email must be an address")
	}
	password := rand.Text()
	hash, err := s.cfg.Password.hash(password)
	if err != nil {
		return nil, "", err
	}
	now := s.now()
	u := &User{
		ID: newID(), OrganizationID: org.ID, Username: username, Email: email, DisplayName: username,
		PasswordHash: hash, Status: UserActive, Permissions: slices.Clone(AllPermissions), CreatedAt: now, UpdatedAt: now,
	}
	err = s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		return s.audit(ctx, tx, org.ID, "", u.ID, AuditBreakGlassAdminCreated, map[string]string{"via": "cli", "username": username})
	})
	if errors.Is(err, ErrDuplicate) {
		return nil, "", &Error{Code: CodeConflict, Message: "a user with this username or email already exists"}
	}
	if err != nil {
		return nil, "", err
	}
	return u, password, nil
}

// BreakGlassResetPassword gives the user a new one-time password, clears
// their lockout, and ends their sessions, logins in progress and trusted
// browsers. It does not touch their factors: the next login still asks for
// the second factor.
func (s *Service) BreakGlassResetPassword(ctx context.Context, orgSlug, login string) (*User, string, error) {
	_, u, err := s.breakGlassUser(ctx, orgSlug, login)
	if err != nil {
		return nil, "", err
	}
	password := rand.Text()
	hash, err := s.cfg.Password.hash(password)
	if err != nil {
		return nil, "", err
	}
	err = s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.SetPasswordHash(ctx, u.ID, u.PasswordHash, hash); err != nil {
			return err
		}
		if err := tx.ResetLoginFailures(ctx, u.ID); err != nil {
			return err
		}
		if err := tx.DeleteUserSessions(ctx, u.ID, ""); err != nil {
			return err
		}
		if err := tx.DeleteUserTrustedBrowsers(ctx, u.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, u.OrganizationID, "", u.ID, AuditBreakGlassPasswordReset, map[string]string{"via": "cli"})
	})
	if errors.Is(err, ErrStale) {
		return nil, "", &Error{Code: CodeConflict, Message: "the password changed meanwhile; run the command again"}
	}
	if err != nil {
		return nil, "", err
	}
	return u, password, nil
}

// BreakGlassGrant adds permissions to a user (and reactivates them), so an
// organization left without an administrator has one again.
func (s *Service) BreakGlassGrant(ctx context.Context, orgSlug, login string, perms []Permission) (*User, error) {
	_, u, err := s.breakGlassUser(ctx, orgSlug, login)
	if err != nil {
		return nil, err
	}
	if len(perms) == 0 {
		return nil, invalidInput("permissions", "name at least one permission")
	}
	old := joinPermissions(u.Permissions)
	oldStatus := u.Status
	for _, p := range perms {
		if !p.valid() {
			return nil, invalidInput("permissions", "unknown permission %q", p)
		}
		if !slices.Contains(u.Permissions, p) {
			u.Permissions = append(u.Permissions, p)
		}
	}
	u.Status, u.UpdatedAt = UserActive, s.now()
	err = s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		return s.audit(ctx, tx, u.OrganizationID, "", u.ID, AuditBreakGlassGranted, map[string]string{
			"via": "cli", "permissions.old": old, "permissions.new": joinPermissions(u.Permissions),
			"status.old": string(oldStatus), "status.new": string(u.Status),
		})
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func joinPermissions(ps []Permission) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return strings.Join(out, ",")
}
