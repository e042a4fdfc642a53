package mfa

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Defaults for emailed links.
const (
	DefaultRecoveryLinkTTL = 30 * time.Minute
	// DefaultRecoveryLinksPerHour links of each kind are sent per account
	// per hour; more requests are RATE_LIMITED (unknown names alike).
	DefaultRecoveryLinksPerHour = 3
	// DefaultLinkRequestFloor is the least time a link request takes to
	// answer (see requestLink).
	DefaultLinkRequestFloor = 100 * time.Millisecond
)

// Audit actions of the self-service flows.
const (
	// AuditLinkRequested: a lost-device or password-reset link was asked
	// for (details: purpose, login, sent = true or false).
	AuditLinkRequested AuditAction = "recovery_link.requested"
	// AuditMFARecovered: the user proved the password on a lost-device
	// link; their factors, codes and trusted browsers were removed.
	AuditMFARecovered AuditAction = "mfa.recovered"
	// AuditPasswordReset: the password was set through a reset link.
	AuditPasswordReset AuditAction = "password.reset"
)

// LinkRequest names an account for a lost-device or password-reset link.
type LinkRequest struct {
	Organization    string
	UsernameOrEmail string
}

var (
	// errInvalidLink is the one answer to a link that is unknown, used,
	// expired, or no longer usable: nothing tells which.
	errInvalidLink = &Error{Code: CodeUnauthenticated, Reason: "INVALID_TOKEN", Message: "this link is invalid, expired or already used; request a new one"}
	// errTooManyLinks refuses a request over the per-account limit, for
	// unknown names exactly as for real accounts.
	errTooManyLinks = &Error{Code: CodeRateLimited, Reason: "TOO_MANY_LINKS", Message: "too many links were requested for this account; try again in an hour"}
)

// RequestMFARecovery emails a lost-device link to the account, if it exists,
// is active and its policy allows self-service recovery. The answer and
// the work are the same in every case: nothing tells whether the account
// exists.
func (s *Service) RequestMFARecovery(ctx context.Context, req LinkRequest) error {
	return s.requestLink(ctx, LinkMFARecovery, req)
}

// RequestPasswordReset emails a password-reset link to the account, if it
// exists, is active and has a password; it answers alike in every case.
func (s *Service) RequestPasswordReset(ctx context.Context, req LinkRequest) error {
	return s.requestLink(ctx, LinkPasswordReset, req)
}

// requestLink stores a link for every request (unusable when no account may
// receive it, so known and unknown names do the same database work and
// count towards the same per-account limit) and writes the mail in the
// same transaction when one may receive it.
func (s *Service) requestLink(ctx context.Context, purpose LinkPurpose, req LinkRequest) error {
	orgSlug, login := normalizeLogin(req.Organization), normalizeLogin(req.UsernameOrEmail)
	if orgSlug == "" || login == "" {
		return invalidInput("", "organization and usernameOrEmail are required")
	}
	if len(orgSlug) > 64 || len(login) > 254 {
		return invalidInput("", "organization or usernameOrEmail is too long")
	}
	if err := s.checkRate(ClientFrom(ctx)); err != nil {
		return err
	}
	// What is left of the time a request takes after the same work is
	// done either way (one more insert for the mail) is hidden under a
	// floor: every answer from here on comes no sooner than this.
	defer padTo(ctx, time.Now().Add(s.cfg.LinkRequestFloor))
	user, org, err := s.findLoginUser(ctx, orgSlug, login)
	if err != nil {
		return err
	}
	orgID, subject, subjectID := "", nameSubject(orgSlug, login).Key, ""
	if org != nil {
		orgID = org.ID
	}
	if user != nil {
		subject, subjectID = user.ID, user.ID
	}
	// The policy is read for every request: for an unknown name, the
	// organization's (the same statement).
	polUser := user
	if polUser == nil {
		polUser = &User{OrganizationID: orgID}
	}
	pol, err := s.effectivePolicy(ctx, s.store, polUser)
	if err != nil {
		return err
	}
	usable := user != nil && user.Status == UserActive
	switch purpose {
	case LinkMFARecovery:
		usable = usable && pol.AllowSelfServiceRecovery.Value
	case LinkPasswordReset:
		// A user created without a password does not sign in by password;
		// a link must not give them one.
		usable = usable && user.PasswordHash != ""
	}
	now := s.now()
	token, hash := newToken()
	link := &RecoveryLink{ID: newID(), Purpose: purpose, OrganizationID: orgID, Subject: subject, TokenHash: hash,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.RecoveryLinkTTL)}
	if usable {
		link.UserID = user.ID
	}
	return s.store.Transaction(ctx, func(tx Store) error {
		ok, err := tx.CreateRecoveryLink(ctx, link, now.Add(-time.Hour), s.cfg.RecoveryLinksPerHour)
		if err != nil {
			return err
		}
		if !ok {
			return errTooManyLinks
		}
		details := map[string]string{"purpose": string(purpose), "login": truncate(login, 64), "sent": boolString(usable)}
		if err := s.audit(ctx, tx, orgID, "", subjectID, AuditLinkRequested, details); err != nil {
			return err
		}
		if !usable {
			return nil
		}
		ev, fragment := EventRecoveryLink, "recover"
		if purpose == LinkPasswordReset {
			ev, fragment = EventPasswordResetLink, "reset"
		}
		return s.notify(ctx, tx, orgID, []User{*user}, ev, map[string]string{
			"link": s.publicLink(fragment, token), "expires_in": humanDuration(s.cfg.RecoveryLinkTTL),
		})
	})
}

// padTo waits until deadline (or ctx ends).
func padTo(ctx context.Context, deadline time.Time) {
	d := time.Until(deadline)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// publicLink is the demo SPA's landing page for a link: the token is in
// the fragment, so it is not sent to any server or logged on the way.
func (s *Service) publicLink(fragment, token string) string {
	return strings.TrimRight(s.cfg.PublicURL, "/") + "/demo#" + fragment + "=" + token
}

// openLink finds a usable link of the purpose and its active user.
func (s *Service) openLink(ctx context.Context, purpose LinkPurpose, token string) (*RecoveryLink, *User, error) {
	if token == "" {
		return nil, nil, invalidInput("token", "token is required")
	}
	if len(token) > 128 {
		return nil, nil, errInvalidLink
	}
	l, err := s.store.RecoveryLinkByHash(ctx, purpose, hashToken(token))
	if errors.Is(err, ErrNotFound) {
		return nil, nil, errInvalidLink
	}
	if err != nil {
		return nil, nil, err
	}
	if l.UserID == "" || l.UsedAt != nil || !s.now().Before(l.ExpiresAt) {
		return nil, nil, errInvalidLink
	}
	u, err := s.store.UserByID(ctx, l.UserID)
	if errors.Is(err, ErrNotFound) || (err == nil && (u.Status != UserActive || u.OrganizationID != l.OrganizationID)) {
		return nil, nil, errInvalidLink
	}
	if err != nil {
		return nil, nil, err
	}
	return l, u, nil
}

// ConfirmMFARecovery finishes a lost-device recovery: the link alone is not
// enough, the password must be right (checked in an attempt slot, so wrong
// ones count towards the lockout). Then the user's factors, recovery codes
// and trusted browsers are removed, every session ends, the user and the
// organization's managers are told, and the answer is the login's: under a
// REQUIRED policy, ENROLLMENT_REQUIRED with a ticket to enrol a new factor.
func (s *Service) ConfirmMFARecovery(ctx context.Context, token, password string) (*LoginResult, error) {
	if password == "" {
		return nil, invalidInput("password", "password is required")
	}
	if len(password) > 4*s.cfg.Password.MaxLength {
		return nil, invalidInput("password", "password is too long")
	}
	if err := s.checkRate(ClientFrom(ctx)); err != nil {
		return nil, err
	}
	l, user, err := s.openLink(ctx, LinkMFARecovery, token)
	if err != nil {
		return nil, err
	}
	pol, err := s.effectivePolicy(ctx, s.store, user)
	if err != nil {
		return nil, err
	}
	if !pol.AllowSelfServiceRecovery.Value {
		return nil, errInvalidLink // switched off since the link was sent
	}
	a, locked, err := s.userAttempt(ctx, user)
	if err != nil {
		return nil, err
	}
	details := map[string]string{"via": string(LinkMFARecovery)}
	if locked {
		s.cfg.Password.verify(password, s.dummyHash)
		return s.refuseLocked(ctx, user.OrganizationID, user.ID, details)
	}
	if ok, _ := s.cfg.Password.verify(password, user.PasswordHash); !ok {
		locked, err := a.failed(ctx, "bad_password", details)
		if err != nil {
			return nil, err
		}
		if locked {
			return &LoginResult{Status: StatusLocked}, nil
		}
		return nil, errInvalidCredential
	}
	err = s.store.Transaction(ctx, func(tx Store) error {
		now := s.now()
		if err := tx.ConsumeRecoveryLink(ctx, l.ID, now); err != nil {
			if errors.Is(err, ErrStale) {
				return errInvalidLink // a parallel confirm used it first
			}
			return err
		}
		if err := tx.ConsumeUserRecoveryLinks(ctx, user.ID, LinkMFARecovery, now); err != nil {
			return err
		}
		if err := s.removeMFA(ctx, tx, user); err != nil {
			return err
		}
		if err := tx.DeleteUserSessions(ctx, user.ID, ""); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, user.OrganizationID, user.ID, user.ID, AuditMFARecovered, nil); err != nil {
			return err
		}
		managers, err := tx.OrganizationManagers(ctx, user.OrganizationID)
		if err != nil {
			return err
		}
		to := []User{*user}
		for _, m := range managers {
			if m.ID != user.ID {
				to = append(to, m)
			}
		}
		return s.notify(ctx, tx, user.OrganizationID, to, EventRecoveryCompleted, subjectData(user))
	})
	if err != nil {
		_ = a.release(ctx)
		return nil, err
	}
	return s.afterPassword(ctx, user, a, "")
}

// ResetPassword sets a new password through a reset link. It never
// bypasses the second factor: it opens no session, and the next login asks
// for the factor as before. Every session ends and trusted browsers are
// revoked; the user is told by mail.
func (s *Service) ResetPassword(ctx context.Context, token, newPassword string) error {
	if newPassword == "" {
		return invalidInput("newPassword", "newPassword is required")
	}
	if err := s.checkRate(ClientFrom(ctx)); err != nil {
		return err
	}
	l, user, err := s.openLink(ctx, LinkPasswordReset, token)
	if err != nil {
		return err
	}
	if err := s.cfg.Password.check("newPassword", newPassword, user.Username); err != nil {
		return err
	}
	h, err := s.cfg.Password.hash(newPassword)
	if err != nil {
		return err
	}
	return s.store.Transaction(ctx, func(tx Store) error {
		now := s.now()
		if err := tx.ConsumeRecoveryLink(ctx, l.ID, now); err != nil {
			if errors.Is(err, ErrStale) {
				return errInvalidLink
			}
			return err
		}
		if err := tx.ConsumeUserRecoveryLinks(ctx, user.ID, LinkPasswordReset, now); err != nil {
			return err
		}
		current, err := tx.UserByID(ctx, user.ID)
		if err != nil {
			return err
		}
		if err := tx.SetPasswordHash(ctx, user.ID, current.PasswordHash, h); err != nil {
			if errors.Is(err, ErrStale) {
				return &Error{Code: CodeConflict, Message: "the password was changed meanwhile; try again"}
			}
			return err
		}
		if err := tx.DeleteUserSessions(ctx, user.ID, ""); err != nil {
			return err
		}
		// Browsers were trusted for someone who knew the old password.
		if err := tx.DeleteUserTrustedBrowsers(ctx, user.ID); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, user.OrganizationID, user.ID, user.ID, AuditPasswordReset, nil); err != nil {
			return err
		}
		return s.notify(ctx, tx, user.OrganizationID, []User{*user}, EventPasswordChanged, passwordChangedData(ctx))
	})
}

// subjectData names the user an event is about, for mails to others.
func subjectData(u *User) map[string]string {
	return map[string]string{"user": u.Username, "user_display_name": cmpOr(u.DisplayName, u.Username)}
}

// actorData names the admin who acted on the recipient's account.
func actorData(v *Viewer) map[string]string {
	return map[string]string{"actor": cmpOr(v.User.DisplayName, v.User.Username)}
}

// passwordChangedData names the client that changed the password.
func passwordChangedData(ctx context.Context) map[string]string {
	return map[string]string{"ip": ClientFrom(ctx).IP}
}

// humanDuration says d for a mail: "30 minutes", "2 hours", "1 hour".
func humanDuration(d time.Duration) string {
	n, unit := int(d/time.Minute), "minute"
	if d >= time.Hour && d%time.Hour == 0 {
		n, unit = int(d/time.Hour), "hour"
	}
	if n != 1 {
		unit += "s"
	}
	return strconv.Itoa(n) + " " + unit
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
