package mfa

import (
	"context"
	"errors"
	"time"
)

// LoginStatus is where a login stands after a step.
type LoginStatus string

// Login states.
const (
	// StatusAuthenticated: a session was issued.
	StatusAuthenticated LoginStatus = "AUTHENTICATED"
	// StatusMFARequired: the password was right; a second factor must follow
	// on the returned ticket.
	StatusMFARequired LoginStatus = "MFA_REQUIRED"
	// StatusEnrollmentRequired: policy requires a factor the user lacks; the
	// ticket may only enrol one.
	StatusEnrollmentRequired LoginStatus = "ENROLLMENT_REQUIRED"
	// StatusLocked: too many failures; nothing else is revealed.
	StatusLocked LoginStatus = "LOCKED"
)

// LoginRequest is a password login.
type LoginRequest struct {
	Organization        string
	Username            string
	Password            string
	TrustedBrowserToken string
}

// LoginResult is the outcome of a login step.
type LoginResult struct {
	Status LoginStatus
	User   *User
	// Session and Token are set when Status is AUTHENTICATED; Token is the
	// only copy of the session secret.
	Session *Session
	Token   string
}

// Login checks a password and moves the login to its next state. A wrong
// password and an unknown user give the same error at the same cost.
func (s *Service) Login(ctx context.Context, req LoginRequest) (*LoginResult, error) {
	if req.Organization == "" || req.Username == "" || req.Password == "" {
		return nil, invalidInput("", "organization, username and password are required")
	}
	if len(req.Organization) > 64 || len(req.Username) > 254 || len(req.Password) > 4*s.cfg.Password.MaxLength {
		return nil, invalidInput("", "organization, username or password is too long")
	}
	now := s.now()
	user, org, err := s.findLoginUser(ctx, req.Organization, req.Username)
	if err != nil {
		return nil, err
	}
	if user == nil || user.Status != UserActive {
		s.cfg.Password.verify(req.Password, s.dummyHash)
		if org != nil {
			subject := ""
			if user != nil {
				subject = user.ID
			}
			if err := s.audit(ctx, s.store, org.ID, "", subject, AuditLoginFailed, map[string]string{"username": truncate(req.Username, 64), "reason": "unknown_or_inactive_user"}); err != nil {
				return nil, err
			}
		}
		return nil, errInvalidCredential
	}
	if user.Locked(now) {
		s.cfg.Password.verify(req.Password, s.dummyHash)
		if err := s.audit(ctx, s.store, user.OrganizationID, user.ID, user.ID, AuditLoginLocked, map[string]string{"reason": "locked"}); err != nil {
			return nil, err
		}
		return &LoginResult{Status: StatusLocked}, nil
	}
	ok, stale := s.cfg.Password.verify(req.Password, user.PasswordHash)
	if !ok {
		return s.loginFailed(ctx, user, "bad_password")
	}
	if stale {
		if h, err := s.cfg.Password.hash(req.Password); err == nil {
			user.PasswordHash = h
		}
	}
	return s.completeLogin(ctx, user, false)
}

// findLoginUser resolves organization and user; a missing one is nil, not an
// error, so the caller answers both cases alike.
func (s *Service) findLoginUser(ctx context.Context, orgSlug, login string) (*User, *Organization, error) {
	org, err := s.store.OrganizationBySlug(ctx, orgSlug)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	user, err := s.store.UserByLogin(ctx, org.ID, login)
	if errors.Is(err, ErrNotFound) {
		return nil, org, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return user, org, nil
}

// loginFailed counts a failed password or second factor towards the lockout
// and answers INVALID_CREDENTIALS, or LOCKED when this failure locked the
// user.
func (s *Service) loginFailed(ctx context.Context, user *User, reason string) (*LoginResult, error) {
	now := s.now()
	var locked bool
	err := s.store.Transaction(ctx, func(tx Store) error {
		u, err := tx.RecordLoginFailure(ctx, user.ID, now, s.cfg.MaxFailedAttempts, now.Add(s.cfg.LockoutDuration))
		if err != nil {
			return err
		}
		locked = u.Locked(now)
		details := map[string]string{"reason": reason}
		if err := s.audit(ctx, tx, user.OrganizationID, "", user.ID, AuditLoginFailed, details); err != nil {
			return err
		}
		if locked && u.FailedAttempts == s.cfg.MaxFailedAttempts {
			return s.audit(ctx, tx, user.OrganizationID, "", user.ID, AuditLoginLocked, map[string]string{"until": u.LockedUntil.Format(time.RFC3339)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if locked {
		return &LoginResult{Status: StatusLocked}, nil
	}
	return nil, errInvalidCredential
}

// completeLogin issues a session for a user who passed every required step,
// resets the failure count and records the login, in one transaction.
func (s *Service) completeLogin(ctx context.Context, user *User, withMFA bool) (*LoginResult, error) {
	now := s.now()
	var res *LoginResult
	err := s.store.Transaction(ctx, func(tx Store) error {
		if user.FailedAttempts > 0 || user.LockedUntil != nil {
			if err := tx.ResetLoginFailures(ctx, user.ID); err != nil {
				return err
			}
			user.FailedAttempts, user.LockedUntil = 0, nil
		}
		user.LastLoginAt = &now
		if withMFA {
			user.LastMFAAt = &now
		}
		if err := tx.UpdateUser(ctx, user); err != nil {
			return err
		}
		token, sess, err := s.startSession(ctx, tx, user, withMFA)
		if err != nil {
			return err
		}
		details := map[string]string{"mfa": boolString(withMFA)}
		if err := s.audit(ctx, tx, user.OrganizationID, user.ID, user.ID, AuditLoginSucceeded, details); err != nil {
			return err
		}
		res = &LoginResult{Status: StatusAuthenticated, User: user, Session: sess, Token: token}
		return nil
	})
	return res, err
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
