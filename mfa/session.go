package mfa

import (
	"cmp"
	"context"
	"errors"
)

// startSession creates a session for user through st and returns the token
// that only the client keeps.
func (s *Service) startSession(ctx context.Context, st Store, user *User, withMFA bool) (string, *Session, error) {
	now := s.now()
	token, hash := newToken()
	c := ClientFrom(ctx)
	sess := &Session{
		ID:         newID(),
		UserID:     user.ID,
		TokenHash:  hash,
		IP:         c.IP,
		UserAgent:  truncate(c.UserAgent, 255),
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  now.Add(s.cfg.SessionMaxAge),
		MFA:        withMFA,
		AMR:        s.amrFor(ctx),
	}
	if err := st.CreateSession(ctx, sess); err != nil {
		return "", nil, err
	}
	return token, sess, nil
}

// Authenticate resolves a session token to its viewer. Expired (idle or
// absolute) sessions and inactive users are refused.
func (s *Service) Authenticate(ctx context.Context, token string) (*Viewer, error) {
	if token == "" || len(token) > 128 {
		return nil, errUnauthenticated
	}
	sess, err := s.store.SessionByTokenHash(ctx, hashToken(token))
	if errors.Is(err, ErrNotFound) {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !s.sessionLive(sess, now) {
		if err := s.store.DeleteSession(ctx, sess.ID); err != nil {
			return nil, err
		}
		return nil, errUnauthenticated
	}
	user, err := s.store.UserByID(ctx, sess.UserID)
	if errors.Is(err, ErrNotFound) {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	if user.Status != UserActive {
		return nil, errUnauthenticated
	}
	if now.Sub(sess.LastSeenAt) >= sessionTouchInterval {
		if err := s.store.TouchSession(ctx, sess.ID, now); err != nil {
			return nil, err
		}
		sess.LastSeenAt = now
	}
	return &Viewer{User: *user, Session: *sess}, nil
}

// Logout ends the viewer's current session.
func (s *Service) Logout(ctx context.Context, v *Viewer) error {
	return s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.DeleteSession(ctx, v.Session.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		return s.audit(ctx, tx, v.User.OrganizationID, v.User.ID, v.User.ID, AuditLogout, nil)
	})
}

// LogoutEverywhere ends every session of the viewer, this one included.
func (s *Service) LogoutEverywhere(ctx context.Context, v *Viewer) error {
	return s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.DeleteUserSessions(ctx, v.User.ID, ""); err != nil {
			return err
		}
		return s.audit(ctx, tx, v.User.OrganizationID, v.User.ID, v.User.ID, AuditLogoutEverywhere, nil)
	})
}

// ChangePassword replaces the viewer's password after checking the current
// one, and ends the user's other sessions.
func (s *Service) ChangePassword(ctx context.Context, v *Viewer, current, next string) error {
	if current == "" {
		return invalidInput("currentPassword", "current password is required")
	}
	if err := s.cfg.Password.check("newPassword", next, v.User.Username); err != nil {
		return err
	}
	user, err := s.store.UserByID(ctx, v.User.ID)
	if err != nil {
		return err
	}
	// The current password is a secret like any other: checked only in an
	// attempt slot, and a wrong one counts towards the lockout.
	a, locked, err := s.userAttempt(ctx, user)
	if err != nil {
		return err
	}
	if locked {
		return errAttemptsLocked
	}
	if ok, _ := s.cfg.Password.verify(current, user.PasswordHash); !ok {
		if locked, err := a.failed(ctx, "bad_current_password", nil); err != nil || locked {
			return cmp.Or(err, error(errAttemptsLocked))
		}
		return &Error{Code: CodeBadUserInput, Field: "currentPassword", Message: "current password is wrong"}
	}
	if err := a.release(ctx); err != nil {
		return err
	}
	h, err := s.cfg.Password.hash(next)
	if err != nil {
		return err
	}
	return s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.SetPasswordHash(ctx, user.ID, user.PasswordHash, h); err != nil {
			if errors.Is(err, ErrStale) {
				return &Error{Code: CodeConflict, Field: "currentPassword", Message: "the password was changed meanwhile; try again"}
			}
			return err
		}
		if err := tx.DeleteUserSessions(ctx, user.ID, v.Session.ID); err != nil {
			return err
		}
		// Browsers were trusted for someone who knew the old password.
		if err := tx.DeleteUserTrustedBrowsers(ctx, user.ID); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, user.OrganizationID, user.ID, user.ID, AuditPasswordChanged, nil); err != nil {
			return err
		}
		return s.notify(ctx, tx, user.OrganizationID, []User{*user}, EventPasswordChanged, passwordChangedData(ctx))
	})
}

func isCode(err error, c Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == c
}

// PurgeExpired deletes what can no longer be used: expired or idle
// sessions, expired tickets, pending enrollments and trusted browsers, and
// audit events past their retention. Any server may run it at any time; it
// is idempotent.
func (s *Service) PurgeExpired(ctx context.Context) (int64, error) {
	now := s.now()
	n, err := s.store.PurgeExpired(ctx, now, now.Add(-s.cfg.SessionIdleTimeout))
	if err != nil {
		return n, err
	}
	m, err := s.PurgeAuditEvents(ctx)
	return n + m, err
}
