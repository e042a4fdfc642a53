package mfa

import (
	"cmp"
	"context"
)

// AuditMFADisabled: the user switched their own MFA off (removed every
// factor, recovery code and trusted browser).
const AuditMFADisabled AuditAction = "mfa.disabled"

// errMFARequired refuses switching MFA off where policy requires it.
var errMFARequired = &Error{Code: CodeForbidden, Reason: "MFA_REQUIRED",
	Message: "your organization requires multi-factor authentication; it cannot be switched off"}

// DisableMyMFA switches the viewer's MFA off, where policy does not
// require it (REQUIRED, in force or pending, refuses), after the password
// is entered again (checked in an attempt slot: a wrong one counts towards
// the lockout). Every factor, recovery code and trusted browser of the
// viewer is removed, and every organization manager is told by mail. A
// viewer without factors changes nothing. It returns the user as now
// stored.
func (s *Service) DisableMyMFA(ctx context.Context, v *Viewer, password string) (*User, error) {
	if err := s.disableMyMFA(ctx, v, password); err != nil {
		return nil, err
	}
	return s.store.UserByID(ctx, v.User.ID)
}

func (s *Service) disableMyMFA(ctx context.Context, v *Viewer, password string) error {
	if password == "" {
		return invalidInput("password", "password is required")
	}
	if len(password) > 4*s.cfg.Password.MaxLength {
		return invalidInput("password", "password is too long")
	}
	user, err := s.store.UserByID(ctx, v.User.ID)
	if err != nil {
		return err
	}
	if err := s.checkMayDisable(ctx, s.store, user); err != nil {
		return err
	}
	a, locked, err := s.userAttempt(ctx, user)
	if err != nil {
		return err
	}
	if locked {
		return errAttemptsLocked
	}
	if ok, _ := s.cfg.Password.verify(password, user.PasswordHash); !ok {
		if locked, err := a.failed(ctx, "bad_password", map[string]string{"via": "disable_mfa"}); err != nil || locked {
			return cmp.Or(err, error(errAttemptsLocked))
		}
		return &Error{Code: CodeBadUserInput, Field: "password", Reason: "INVALID_CREDENTIALS", Message: "password is wrong"}
	}
	if err := a.release(ctx); err != nil {
		return err
	}
	return s.store.Transaction(ctx, func(tx Store) error {
		// Decided again in the transaction: a policy made REQUIRED
		// meanwhile wins.
		if err := s.checkMayDisable(ctx, tx, user); err != nil {
			return err
		}
		active, err := tx.Enrollments(ctx, user.ID, EnrollmentActive)
		if err != nil || len(active) == 0 {
			return err
		}
		if err := s.removeMFA(ctx, tx, user); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, user.OrganizationID, user.ID, user.ID, AuditMFADisabled, map[string]string{"factors": itoa(len(active))}); err != nil {
			return err
		}
		return s.notifyManagers(ctx, tx, user, "disabled")
	})
}

// checkMayDisable refuses switching MFA off where the user's policy is
// REQUIRED (also before its enforceFrom: the user would have to enrol again
// soon).
func (s *Service) checkMayDisable(ctx context.Context, st Store, u *User) error {
	pol, err := s.effectivePolicy(ctx, st, u)
	if err != nil {
		return err
	}
	if pol.Mode.Value == ModeRequired {
		return errMFARequired
	}
	return nil
}

// notifyManagers tells every active organization manager, through tx, that
// u switched their MFA off (reason: disabled, or last_factor_removed).
func (s *Service) notifyManagers(ctx context.Context, tx Store, u *User, reason string) error {
	managers, err := tx.OrganizationManagers(ctx, u.OrganizationID)
	if err != nil {
		return err
	}
	d := subjectData(u)
	d["reason"] = reason
	return s.notify(ctx, tx, u.OrganizationID, managers, EventMFADisabledByUser, d)
}
