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
	// Ticket (the only copy of its secret) carries an MFA_REQUIRED or
	// ENROLLMENT_REQUIRED login to its next step, until TicketExpiresAt.
	Ticket          string
	TicketExpiresAt time.Time
	// Factors are the user's active enrollments to choose from
	// (MFA_REQUIRED).
	Factors []Enrollment
	// AllowedFactorTypes may be used or enrolled.
	AllowedFactorTypes []string
	// RequestedFactorTypes an admin asked the user to set up.
	RequestedFactorTypes []string
	// EnforceFrom is when a pending REQUIRED policy takes effect, if any.
	EnforceFrom *time.Time
	// TrustBrowserOffered says whether verifyFactor may trust the browser.
	TrustBrowserOffered bool
	// TrustedBrowserToken is set when verifyFactor trusted the browser, until
	// TrustedBrowserExpiresAt.
	TrustedBrowserToken     string
	TrustedBrowserExpiresAt time.Time
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
	if err := s.checkRate(ClientFrom(ctx)); err != nil {
		return nil, err
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
		if locked, err := s.recordFailure(ctx, user, "bad_password"); err != nil || locked {
			return &LoginResult{Status: StatusLocked}, err
		}
		return nil, errInvalidCredential
	}
	if stale {
		if h, err := s.cfg.Password.hash(req.Password); err == nil {
			user.PasswordHash = h
		}
	}
	return s.afterPassword(ctx, user, req.TrustedBrowserToken)
}

// afterPassword decides the login's next state once the password is right:
// a second factor, an enrollment, or a session.
func (s *Service) afterPassword(ctx context.Context, user *User, trustedBrowserToken string) (*LoginResult, error) {
	plan, err := s.planLogin(ctx, user, trustedBrowserToken)
	if err != nil {
		return nil, err
	}
	var res *LoginResult
	err = s.store.Transaction(ctx, func(tx Store) error {
		if plan.status == StatusAuthenticated {
			res, err = s.completeLogin(ctx, tx, user, plan.trusted)
			return err
		}
		// Keep an upgraded password hash. The failure count stays until the
		// second step succeeds, so a known password cannot reset it.
		if err := tx.UpdateUser(ctx, user); err != nil {
			return err
		}
		token, t, err := s.newTicket(ctx, tx, user, plan.status)
		if err != nil {
			return err
		}
		res = &LoginResult{Status: plan.status, Ticket: token, TicketExpiresAt: t.ExpiresAt, Factors: plan.factors}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.AllowedFactorTypes, res.EnforceFrom, res.TrustBrowserOffered = plan.allowed, plan.enforceFrom, plan.trustOffered
	res.RequestedFactorTypes = plan.requested
	return res, nil
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

// recordFailure counts a failed password or second factor towards the
// lockout, audits it, and reports whether the user is now locked.
func (s *Service) recordFailure(ctx context.Context, user *User, reason string) (bool, error) {
	now := s.now()
	// Read the policy before the transaction: on SQLite the pool has one
	// connection, so nothing inside may use s.store.
	maxAttempts, lockFor := s.lockoutRule(ctx, user)
	var locked bool
	err := s.store.Transaction(ctx, func(tx Store) error {
		u, err := tx.RecordLoginFailure(ctx, user.ID, now, maxAttempts, now.Add(lockFor))
		if err != nil {
			return err
		}
		locked = u.Locked(now)
		if err := s.audit(ctx, tx, user.OrganizationID, "", user.ID, AuditLoginFailed, map[string]string{"reason": reason}); err != nil {
			return err
		}
		if locked && u.FailedAttempts == maxAttempts {
			return s.audit(ctx, tx, user.OrganizationID, "", user.ID, AuditLoginLocked, map[string]string{"until": u.LockedUntil.Format(time.RFC3339)})
		}
		return nil
	})
	return locked, err
}

// completeLogin issues a session through tx for a user who passed every
// required step, resets the failure count and records the login.
func (s *Service) completeLogin(ctx context.Context, tx Store, user *User, withMFA bool) (*LoginResult, error) {
	now := s.now()
	if user.FailedAttempts > 0 || user.LockedUntil != nil {
		if err := tx.ResetLoginFailures(ctx, user.ID); err != nil {
			return nil, err
		}
		user.FailedAttempts, user.LockedUntil = 0, nil
	}
	user.LastLoginAt = &now
	if withMFA {
		user.LastMFAAt = &now
	}
	if err := tx.UpdateUser(ctx, user); err != nil {
		return nil, err
	}
	token, sess, err := s.startSession(ctx, tx, user, withMFA)
	if err != nil {
		return nil, err
	}
	if err := s.audit(ctx, tx, user.OrganizationID, user.ID, user.ID, AuditLoginSucceeded, map[string]string{"mfa": boolString(withMFA)}); err != nil {
		return nil, err
	}
	return &LoginResult{Status: StatusAuthenticated, User: user, Session: sess, Token: token}, nil
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
