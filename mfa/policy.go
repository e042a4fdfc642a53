package mfa

import (
	"context"
	"time"
)

// loginPlan is what a correct password leads to.
type loginPlan struct {
	status       LoginStatus
	factors      []Enrollment
	allowed      []string
	enforceFrom  *time.Time
	trustOffered bool
	// trusted: the browser is trusted, so the login counts as multi-factor.
	trusted bool
}

// planLogin decides the step after the password.
func (s *Service) planLogin(ctx context.Context, user *User, _ string) (*loginPlan, error) {
	active, err := s.store.Enrollments(ctx, user.ID, EnrollmentActive)
	if err != nil {
		return nil, err
	}
	plan := &loginPlan{status: StatusAuthenticated, allowed: s.installedTypes()}
	if len(active) > 0 {
		plan.status, plan.factors = StatusMFARequired, active
	}
	return plan, nil
}

func (s *Service) installedTypes() []string {
	var ids []string
	for _, t := range s.registry.Types() {
		ids = append(ids, t.ID)
	}
	return ids
}

func (s *Service) maxAttempts(context.Context, *User) int { return s.cfg.MaxFailedAttempts }

func (s *Service) lockoutDuration(context.Context, *User) time.Duration {
	return s.cfg.LockoutDuration
}

// checkFactorAllowed refuses factor types the user's policy does not allow.
func (s *Service) checkFactorAllowed(context.Context, *User, string) error { return nil }

// checkMayRemoveLastFactor refuses removing the last factor where MFA is
// required.
func (s *Service) checkMayRemoveLastFactor(context.Context, *User) error { return nil }

// afterFactorRemoved runs, in the removal's transaction, what a removed
// factor invalidates.
func (s *Service) afterFactorRemoved(context.Context, Store, *User) error { return nil }

// trustBrowser issues a trusted-browser token onto res, in tx.
func (s *Service) trustBrowser(context.Context, Store, *User, *LoginResult) error { return nil }
