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
	// Grace is the enrolment grace of an ENROLLMENT_REQUIRED answer (nil:
	// none): whether skipEnrollment may finish it, skips left, deadline.
	Grace *EnrollmentGrace
	// MFASkippedReason says why a session was issued on the password alone
	// where policy asks for a second factor (ReasonNoSeat).
	MFASkippedReason string
	// TrustedBrowserToken is set when verifyFactor trusted the browser, until
	// TrustedBrowserExpiresAt.
	TrustedBrowserToken     string
	TrustedBrowserExpiresAt time.Time
}

// Login checks a password and moves the login to its next state. An
// unknown organization, an unknown name and an inactive user go through the
// same steps as a real user, at the same cost, with the same answers: a
// slot under the organization's lockout rule, a password check (against a
// dummy hash), a failure counted against the name, and LOCKED once the name
// has failed as often as a user may.
func (s *Service) Login(ctx context.Context, req LoginRequest) (res *LoginResult, err error) {
	defer func() { s.observeLogin(res, err) }()
	if req.Organization == "" || req.Username == "" || req.Password == "" {
		return nil, invalidInput("", "organization, username and password are required")
	}
	if len(req.Organization) > 64 || len(req.Username) > 254 || len(req.Password) > 4*s.cfg.Password.MaxLength {
		return nil, invalidInput("", "organization, username or password is too long")
	}
	if err := s.checkRate(ClientFrom(ctx)); err != nil {
		return nil, err
	}
	ctx = withPolicyMemo(ctx)
	user, org, err := s.findLoginUser(ctx, req.Organization, req.Username)
	if err != nil {
		return nil, err
	}
	orgID, subjectID := "", ""
	if org != nil {
		orgID = org.ID
	}
	if user != nil {
		subjectID = user.ID
	}
	known := user != nil && user.Status == UserActive
	var a *attempt
	var locked bool
	hash := s.dummyHash
	if known {
		hash = user.PasswordHash
		a, locked, err = s.userAttempt(ctx, user)
	} else {
		maxAttempts, lockFor := s.lockoutRule(ctx, &User{OrganizationID: orgID})
		a, locked, err = s.beginAttempt(ctx, nameSubject(req.Organization, req.Username), orgID, maxAttempts, lockFor)
	}
	if err != nil {
		return nil, err
	}
	details := map[string]string{"username": truncate(req.Username, 64)}
	if locked {
		s.cfg.Password.verify(req.Password, s.dummyHash)
		return s.refuseLocked(ctx, orgID, subjectID, details)
	}
	ok, stale := s.cfg.Password.verify(req.Password, hash)
	if !known || !ok {
		reason := "bad_password"
		if !known {
			reason = "unknown_or_inactive_user"
		}
		locked, err := a.failed(ctx, reason, details)
		if err != nil {
			return nil, err
		}
		if locked {
			return &LoginResult{Status: StatusLocked}, nil
		}
		return nil, errInvalidCredential
	}
	if stale {
		if h, err := s.cfg.Password.hash(req.Password); err == nil {
			// Only if nobody changed the password meanwhile.
			if err := s.store.SetPasswordHash(ctx, user.ID, user.PasswordHash, h); err != nil && !errors.Is(err, ErrStale) {
				_ = a.release(ctx)
				return nil, err
			}
			user.PasswordHash = h
		}
	}
	return s.afterPassword(ctx, user, a, req.TrustedBrowserToken)
}

// afterPassword decides the login's next state once the password is right:
// a second factor, an enrollment, or a session. a is the password's
// attempt: a session clears the count; a second step gives the slot back
// (the count itself stays until the second step succeeds, so a known
// password cannot reset it).
func (s *Service) afterPassword(ctx context.Context, user *User, a *attempt, trustedBrowserToken string) (*LoginResult, error) {
	plan, err := s.planLogin(ctx, user, trustedBrowserToken)
	if err != nil {
		_ = a.release(ctx)
		return nil, err
	}
	var res *LoginResult
	if plan.status == StatusAuthenticated {
		err = s.store.Transaction(ctx, func(tx Store) error {
			res, err = s.completeLogin(ctx, tx, user, plan.trusted)
			return err
		})
	} else {
		if err := a.release(ctx); err != nil {
			return nil, err
		}
		var token string
		var t *LoginTicket
		token, t, err = s.newTicket(ctx, s.store, user, plan.status)
		if err == nil {
			res = &LoginResult{Status: plan.status, Ticket: token, TicketExpiresAt: t.ExpiresAt, Factors: plan.factors}
		}
	}
	if err != nil {
		return lockedResult(err)
	}
	res.AllowedFactorTypes, res.EnforceFrom, res.TrustBrowserOffered = plan.allowed, plan.enforceFrom, plan.trustOffered
	res.RequestedFactorTypes, res.MFASkippedReason, res.Grace = plan.requested, plan.skipped, plan.grace
	return res, nil
}

// findLoginUser resolves organization and user; a missing one is nil, not an
// error, so the caller answers both cases alike. An unknown organization
// still costs the user look-up.
func (s *Service) findLoginUser(ctx context.Context, orgSlug, login string) (*User, *Organization, error) {
	org, err := s.store.OrganizationBySlug(ctx, orgSlug)
	orgID := ""
	switch {
	case err == nil:
		orgID = org.ID
	case errors.Is(err, ErrNotFound):
		org = nil
	default:
		return nil, nil, err
	}
	user, err := s.store.UserByLogin(ctx, orgID, login)
	if errors.Is(err, ErrNotFound) || org == nil {
		return nil, org, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return user, org, nil
}

// errLoginLocked refuses a login whose user was locked while its last step
// was being checked.
var errLoginLocked = &Error{Code: CodeUnauthenticated, Reason: "LOCKED", Message: "too many failed attempts; try again later"}

// lockedResult turns errLoginLocked into the LOCKED answer.
func lockedResult(err error) (*LoginResult, error) {
	if errors.Is(err, errLoginLocked) {
		return &LoginResult{Status: StatusLocked}, nil
	}
	return nil, err
}

// completeLogin issues a session through tx for a user who passed every
// required step, resets the failure count and records the login. The user
// row is checked again in the same statement: a user locked or deactivated
// while the last step was checked gets no session.
// also are events of the same step, written with the login's own.
func (s *Service) completeLogin(ctx context.Context, tx Store, user *User, withMFA bool, also ...AuditEvent) (*LoginResult, error) {
	now := s.now()
	if err := tx.RecordLoginSuccess(ctx, user.ID, now, withMFA); err != nil {
		if !errors.Is(err, ErrStale) {
			return nil, err
		}
		if u, err := tx.UserByID(ctx, user.ID); err == nil && u.Status == UserActive && u.Locked(now) {
			return nil, errLoginLocked
		}
		return nil, errInvalidCredential
	}
	user.FailedAttempts, user.LockedUntil = 0, nil
	user.LastLoginAt = &now
	if withMFA {
		user.LastMFAAt = &now
	}
	token, sess, err := s.startSession(ctx, tx, user, withMFA)
	if err != nil {
		return nil, err
	}
	events := append(also, s.auditEvent(ctx, user.OrganizationID, user.ID, user.ID, AuditLoginSucceeded, map[string]string{"mfa": boolString(withMFA)}))
	if err := tx.AddAuditEvents(ctx, events); err != nil {
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
