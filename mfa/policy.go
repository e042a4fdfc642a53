package mfa

import (
	"context"
	"errors"
	"slices"
	"time"
)

// MfaMode says whether users of a scope use a second factor.
type MfaMode string

// Modes.
const (
	// ModeDisabled: MFA is neither offered nor asked; existing factors stay,
	// dormant, and come back if the scope is re-enabled.
	ModeDisabled MfaMode = "DISABLED"
	// ModeOptional: users may enrol; those who did are asked for a factor.
	ModeOptional MfaMode = "OPTIONAL"
	// ModeRequired: every user must use a factor (from EnforceFrom on).
	ModeRequired MfaMode = "REQUIRED"
)

// ScopeLevel names how specific a policy scope is, most specific first.
type ScopeLevel string

// Scope levels, in precedence order.
const (
	LevelUser            ScopeLevel = "USER"
	LevelCompanyUserType ScopeLevel = "COMPANY_USER_TYPE"
	LevelCompany         ScopeLevel = "COMPANY"
	LevelUserType        ScopeLevel = "USER_TYPE"
	LevelOrganization    ScopeLevel = "ORGANIZATION"
	// LevelDefault: no policy sets the value; the built-in default applies.
	LevelDefault ScopeLevel = "DEFAULT"
)

var levelOrder = []ScopeLevel{LevelUser, LevelCompanyUserType, LevelCompany, LevelUserType, LevelOrganization}

// PolicyScope is who a policy applies to. All empty: the organization.
// UserID excludes the others.
type PolicyScope struct {
	CompanyID string
	UserType  string
	UserID    string
}

// Level is the scope's precedence level.
func (s PolicyScope) Level() ScopeLevel {
	switch {
	case s.UserID != "":
		return LevelUser
	case s.CompanyID != "" && s.UserType != "":
		return LevelCompanyUserType
	case s.CompanyID != "":
		return LevelCompany
	case s.UserType != "":
		return LevelUserType
	}
	return LevelOrganization
}

// PolicySettings are a policy's values; nil means "inherit".
type PolicySettings struct {
	Mode               *MfaMode
	AllowedFactorTypes []string // nil inherits; empty allows none
	EnforceFrom        *time.Time
	TrustedBrowserDays *int
	MaxFailedAttempts  *int
	LockoutMinutes     *int
	AllowPasswordless  *bool
}

// Policy is the settings of one scope of an organization.
type Policy struct {
	ID             string
	OrganizationID string
	Scope          PolicyScope
	PolicySettings
	UpdatedBy string
	UpdatedAt time.Time
}

// Setting is one resolved value and the scope it came from.
type Setting[T any] struct {
	Value T
	Level ScopeLevel
	// PolicyID is empty for defaults.
	PolicyID string
}

// EffectivePolicy is what applies to one user now.
type EffectivePolicy struct {
	Mode               Setting[MfaMode]
	AllowedFactorTypes Setting[[]string]
	EnforceFrom        Setting[*time.Time]
	TrustedBrowserDays Setting[int]
	MaxFailedAttempts  Setting[int]
	LockoutMinutes     Setting[int]
	AllowPasswordless  Setting[bool]
}

// DefaultTrustedBrowserDays is how long a trusted browser skips the second
// factor when no policy says otherwise.
const DefaultTrustedBrowserDays = 180

// Enforced reports whether MFA is required at now (REQUIRED and past
// EnforceFrom).
func (p *EffectivePolicy) Enforced(now time.Time) bool {
	return p.Mode.Value == ModeRequired && (p.EnforceFrom.Value == nil || !now.Before(*p.EnforceFrom.Value))
}

// Allows reports whether the factor type may be used.
func (p *EffectivePolicy) Allows(factorType string) bool {
	return p.Mode.Value != ModeDisabled && slices.Contains(p.AllowedFactorTypes.Value, factorType)
}

// resolve applies the policies that match user, most specific first, over
// the defaults.
func resolve(policies []Policy, user *User, installed []string, cfg Config) *EffectivePolicy {
	ep := &EffectivePolicy{
		Mode:               Setting[MfaMode]{Value: ModeOptional, Level: LevelDefault},
		AllowedFactorTypes: Setting[[]string]{Value: installed, Level: LevelDefault},
		EnforceFrom:        Setting[*time.Time]{Level: LevelDefault},
		TrustedBrowserDays: Setting[int]{Value: DefaultTrustedBrowserDays, Level: LevelDefault},
		MaxFailedAttempts:  Setting[int]{Value: cfg.MaxFailedAttempts, Level: LevelDefault},
		LockoutMinutes:     Setting[int]{Value: int(cfg.LockoutDuration / time.Minute), Level: LevelDefault},
		AllowPasswordless:  Setting[bool]{Value: true, Level: LevelDefault},
	}
	// Walk from least to most specific so the most specific set value wins.
	for i := len(levelOrder) - 1; i >= 0; i-- {
		level := levelOrder[i]
		for _, p := range policies {
			if p.Scope.Level() != level || !p.Scope.matches(user) {
				continue
			}
			set(&ep.Mode, p.Mode, p)
			if p.AllowedFactorTypes != nil {
				// A narrower scope can only choose among installed types.
				allowed := []string{}
				for _, t := range p.AllowedFactorTypes {
					if slices.Contains(installed, t) {
						allowed = append(allowed, t)
					}
				}
				ep.AllowedFactorTypes = Setting[[]string]{Value: allowed, Level: level, PolicyID: p.ID}
			}
			if p.EnforceFrom != nil || p.Mode != nil {
				// A scope that sets its mode also sets when it starts: a
				// narrower REQUIRED without a date is in force at once.
				ep.EnforceFrom = Setting[*time.Time]{Value: p.EnforceFrom, Level: level, PolicyID: p.ID}
			}
			set(&ep.TrustedBrowserDays, p.TrustedBrowserDays, p)
			set(&ep.MaxFailedAttempts, p.MaxFailedAttempts, p)
			set(&ep.LockoutMinutes, p.LockoutMinutes, p)
			set(&ep.AllowPasswordless, p.AllowPasswordless, p)
		}
	}
	return ep
}

func set[T any](dst *Setting[T], v *T, p Policy) {
	if v != nil {
		*dst = Setting[T]{Value: *v, Level: p.Scope.Level(), PolicyID: p.ID}
	}
}

func (s PolicyScope) matches(u *User) bool {
	switch s.Level() {
	case LevelUser:
		return s.UserID == u.ID
	case LevelCompanyUserType:
		return s.CompanyID == u.CompanyID && s.UserType == u.UserType
	case LevelCompany:
		return s.CompanyID == u.CompanyID
	case LevelUserType:
		return s.UserType == u.UserType
	}
	return true
}

// effectivePolicy resolves the user's policy from the store.
func (s *Service) effectivePolicy(ctx context.Context, st Store, user *User) (*EffectivePolicy, error) {
	ps, err := st.PoliciesFor(ctx, user.OrganizationID, user.ID, user.CompanyID, user.UserType)
	if err != nil {
		return nil, err
	}
	return resolve(ps, user, s.installedTypes(), s.cfg), nil
}

func (s *Service) installedTypes() []string {
	ids := []string{}
	for _, t := range s.registry.Types() {
		ids = append(ids, t.ID)
	}
	return ids
}

// EffectivePolicy shows what applies to a user and where each value comes
// from. Users may read their own; MANAGE_USERS anyone's in the organization.
func (s *Service) EffectivePolicy(ctx context.Context, v *Viewer, userID string) (*EffectivePolicy, error) {
	u, err := s.User(ctx, v, userID)
	if err != nil {
		return nil, err
	}
	return s.effectivePolicy(ctx, s.store, u)
}

// loginPlan is what a correct password leads to.
type loginPlan struct {
	status       LoginStatus
	factors      []Enrollment
	allowed      []string
	requested    []string
	enforceFrom  *time.Time
	trustOffered bool
	// trusted: the browser is trusted, so the login counts as multi-factor.
	trusted bool
}

// planLogin decides the step after the password, from the user's policy,
// factors, trusted browser and enrollment requests.
func (s *Service) planLogin(ctx context.Context, user *User, trustedBrowserToken string) (*loginPlan, error) {
	now := s.now()
	pol, err := s.effectivePolicy(ctx, s.store, user)
	if err != nil {
		return nil, err
	}
	plan := &loginPlan{status: StatusAuthenticated, allowed: pol.AllowedFactorTypes.Value}
	if pol.Mode.Value == ModeDisabled {
		plan.allowed = []string{}
		return plan, nil
	}
	plan.trustOffered = pol.TrustedBrowserDays.Value > 0
	if pol.Mode.Value == ModeRequired && !pol.Enforced(now) {
		plan.enforceFrom = pol.EnforceFrom.Value
	}
	active, err := s.store.Enrollments(ctx, user.ID, EnrollmentActive)
	if err != nil {
		return nil, err
	}
	for _, e := range active {
		if pol.Allows(e.FactorType) {
			plan.factors = append(plan.factors, e)
		}
	}
	reqs, err := s.store.EnrollmentRequests(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	for _, r := range reqs {
		plan.requested = append(plan.requested, r.FactorType)
	}
	switch {
	case len(plan.factors) > 0:
		trusted, err := s.browserTrusted(ctx, user, pol, trustedBrowserToken)
		if err != nil {
			return nil, err
		}
		if trusted {
			plan.trusted = true
			return plan, nil
		}
		plan.status = StatusMFARequired
	case len(plan.requested) > 0:
		// An admin asked for a factor and the user has none to prove who
		// they are with beyond the password: enrol now, that type only.
		plan.status, plan.allowed = StatusEnrollmentRequired, plan.requested
	case pol.Enforced(now):
		if len(plan.allowed) == 0 {
			// Required with nothing allowed: an admin's misconfiguration must
			// not lock everyone out; audit and let the password stand.
			s.log.WarnContext(ctx, "policy requires MFA but allows no installed factor type", "user", user.ID)
			return plan, nil
		}
		plan.status = StatusEnrollmentRequired
	}
	return plan, nil
}

// lockoutRule is the user's policy's failure limit and lock duration (the
// configured defaults if the policy cannot be read: failures must still
// count).
func (s *Service) lockoutRule(ctx context.Context, u *User) (int, time.Duration) {
	pol, err := s.effectivePolicy(ctx, s.store, u)
	if err != nil {
		return s.cfg.MaxFailedAttempts, s.cfg.LockoutDuration
	}
	return pol.MaxFailedAttempts.Value, time.Duration(pol.LockoutMinutes.Value) * time.Minute
}

// checkFactorAllowed refuses factor types the user's policy does not allow
// (and every type where MFA is DISABLED).
func (s *Service) checkFactorAllowed(ctx context.Context, user *User, factorType string) error {
	pol, err := s.effectivePolicy(ctx, s.store, user)
	if err != nil {
		return err
	}
	if pol.Mode.Value == ModeDisabled {
		return &Error{Code: CodeForbidden, Reason: "MFA_DISABLED", Message: "multi-factor authentication is disabled for this user"}
	}
	if !pol.Allows(factorType) {
		return &Error{Code: CodeForbidden, Field: "factorType", Reason: "FACTOR_NOT_ALLOWED", Message: "this factor type is not allowed by your organization's policy"}
	}
	return nil
}

// checkMayRemoveLastFactor refuses removing the last factor where MFA is
// required (or will be).
func (s *Service) checkMayRemoveLastFactor(ctx context.Context, st Store, user *User) error {
	pol, err := s.effectivePolicy(ctx, st, user)
	if err != nil {
		return err
	}
	if pol.Mode.Value == ModeRequired {
		return &Error{Code: CodeForbidden, Reason: "LAST_FACTOR", Message: "your organization requires multi-factor authentication: enrol another factor before removing your last one"}
	}
	return nil
}

// afterFactorRemoved revokes what a removed factor vouched for: trusted
// browsers were trusted on the strength of the user's factors.
func (s *Service) afterFactorRemoved(ctx context.Context, tx Store, u *User) error {
	return tx.DeleteUserTrustedBrowsers(ctx, u.ID)
}

// ---- administration

// AuditPolicyChanged etc. name policy events.
const (
	AuditPolicyChanged         AuditAction = "policy.changed"
	AuditPolicyCleared         AuditAction = "policy.cleared"
	AuditMFAReset              AuditAction = "mfa.reset"
	AuditEnrollmentRequested   AuditAction = "enrollment.requested"
	AuditEnrollmentReqCancel   AuditAction = "enrollment.request_cancelled"
	AuditTrustGranted          AuditAction = "trust.granted"
	AuditTrustRevoked          AuditAction = "trust.revoked"
	maxPolicyTrustedDays                   = 3650
	maxPolicyLockoutMinutes                = 7 * 24 * 60
	maxPolicyMaxFailedAttempts             = 100
)

// SetPolicyRequest sets a scope's settings. ConfirmRemoveFactors must be
// true to switch a single user's MFA off when they have factors: that
// removes them.
type SetPolicyRequest struct {
	Scope PolicyScope
	PolicySettings
	ConfirmRemoveFactors bool
}

// checkScope validates a scope and the viewer's right to set it:
// MANAGE_ORGANIZATION may set any scope, MANAGE_USERS user scopes only.
func (s *Service) checkScope(ctx context.Context, v *Viewer, sc PolicyScope) (*User, error) {
	if sc.UserID != "" {
		if sc.CompanyID != "" || sc.UserType != "" {
			return nil, invalidInput("scope", "a user scope takes no company or user type")
		}
		return s.manageableUser(ctx, v, sc.UserID)
	}
	if !v.User.Can(PermissionManageOrganization) {
		return nil, &Error{Code: CodeForbidden, Message: "only organization managers may set policies beyond a single user"}
	}
	if sc.CompanyID != "" {
		if _, err := s.company(ctx, v, sc.CompanyID); err != nil {
			return nil, err
		}
	}
	if _, err := text("scope.userType", sc.UserType, 0, 64); err != nil {
		return nil, err
	}
	return nil, nil
}

func (s *Service) validateSettings(in PolicySettings) error {
	if in.Mode != nil && !slices.Contains([]MfaMode{ModeDisabled, ModeOptional, ModeRequired}, *in.Mode) {
		return invalidInput("mode", "unknown mode")
	}
	for _, t := range in.AllowedFactorTypes {
		if !slices.Contains(s.installedTypes(), t) {
			return invalidInput("allowedFactorTypes", "%q is not an installed factor type", t)
		}
	}
	checkRange := func(field string, v *int, min, max int) error {
		if v != nil && (*v < min || *v > max) {
			return invalidInput(field, "%s must be from %d to %d", field, min, max)
		}
		return nil
	}
	return errors.Join(
		checkRange("trustedBrowserDays", in.TrustedBrowserDays, 0, maxPolicyTrustedDays),
		checkRange("maxFailedAttempts", in.MaxFailedAttempts, 1, maxPolicyMaxFailedAttempts),
		checkRange("lockoutMinutes", in.LockoutMinutes, 1, maxPolicyLockoutMinutes),
	)
}

// SetPolicy creates or replaces a scope's policy. It never touches live
// sessions: the next login applies it.
func (s *Service) SetPolicy(ctx context.Context, v *Viewer, req SetPolicyRequest) (*Policy, error) {
	target, err := s.checkScope(ctx, v, req.Scope)
	if err != nil {
		return nil, err
	}
	if err := s.validateSettings(req.PolicySettings); err != nil {
		var me *Error
		if errors.As(err, &me) {
			return nil, me
		}
		return nil, err
	}
	p := &Policy{ID: newID(), OrganizationID: v.User.OrganizationID, Scope: req.Scope, PolicySettings: req.PolicySettings, UpdatedBy: v.User.ID, UpdatedAt: s.now()}
	err = s.store.Transaction(ctx, func(tx Store) error {
		if target != nil && req.Mode != nil && *req.Mode == ModeDisabled {
			active, err := tx.Enrollments(ctx, target.ID, EnrollmentActive)
			if err != nil {
				return err
			}
			if len(active) > 0 && !req.ConfirmRemoveFactors {
				return &Error{Code: CodeBadUserInput, Field: "confirmRemoveFactors", Reason: "CONFIRMATION_REQUIRED",
					Message: "switching this user's MFA off removes their factors: set confirmRemoveFactors to true"}
			}
			if len(active) > 0 {
				if err := s.resetMFA(ctx, tx, v, target); err != nil {
					return err
				}
			}
		}
		if err := tx.UpsertPolicy(ctx, p); err != nil {
			return err
		}
		return s.audit(ctx, tx, v.User.OrganizationID, v.User.ID, req.Scope.UserID, AuditPolicyChanged, policyDetails(p))
	})
	return p, err
}

func policyDetails(p *Policy) map[string]string {
	d := map[string]string{"scope": string(p.Scope.Level()), "company_id": p.Scope.CompanyID, "user_type": p.Scope.UserType}
	if p.Mode != nil {
		d["mode"] = string(*p.Mode)
	}
	if p.EnforceFrom != nil {
		d["enforce_from"] = p.EnforceFrom.Format(time.RFC3339)
	}
	return d
}

// ClearPolicy removes a scope's policy, so it inherits again.
func (s *Service) ClearPolicy(ctx context.Context, v *Viewer, sc PolicyScope) error {
	if _, err := s.checkScope(ctx, v, sc); err != nil {
		return err
	}
	return s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.DeletePolicy(ctx, v.User.OrganizationID, sc); err != nil {
			return notFound(err, "policy")
		}
		p := &Policy{Scope: sc}
		return s.audit(ctx, tx, v.User.OrganizationID, v.User.ID, sc.UserID, AuditPolicyCleared, policyDetails(p))
	})
}

// Policies lists the organization's policies (MANAGE_USERS sees them all:
// they explain what applies to the users they manage), narrowed to scopes
// with the filter's non-empty fields.
func (s *Service) Policies(ctx context.Context, v *Viewer, filter PolicyScope) ([]Policy, error) {
	if !v.User.Can(PermissionManageUsers) {
		return nil, errForbidden
	}
	all, err := s.store.Policies(ctx, v.User.OrganizationID)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, p := range all {
		if (filter.UserID == "" || p.Scope.UserID == filter.UserID) &&
			(filter.CompanyID == "" || p.Scope.CompanyID == filter.CompanyID) &&
			(filter.UserType == "" || p.Scope.UserType == filter.UserType) {
			out = append(out, p)
		}
	}
	return out, nil
}

// PolicyEnforced reports whether an effective policy requires MFA now.
func (s *Service) PolicyEnforced(p *EffectivePolicy) bool { return p.Enforced(s.now()) }

// resetMFA removes a user's factors, recovery codes, trusted browsers and
// enrollment requests, through tx.
func (s *Service) resetMFA(ctx context.Context, tx Store, v *Viewer, u *User) error {
	if err := tx.DeleteUserEnrollments(ctx, u.ID); err != nil {
		return err
	}
	if err := tx.DeleteRecoveryCodes(ctx, u.ID); err != nil {
		return err
	}
	if err := tx.DeleteUserTrustedBrowsers(ctx, u.ID); err != nil {
		return err
	}
	return s.audit(ctx, tx, u.OrganizationID, v.User.ID, u.ID, AuditMFAReset, nil)
}

// ResetUserMFA removes all of a user's factors, recovery codes and trusted
// browsers; where MFA is required they enrol again at their next login.
func (s *Service) ResetUserMFA(ctx context.Context, v *Viewer, userID string) (*User, error) {
	u, err := s.manageableUser(ctx, v, userID)
	if err != nil {
		return nil, err
	}
	return u, s.store.Transaction(ctx, func(tx Store) error { return s.resetMFA(ctx, tx, v, u) })
}

// RemoveUserEnrollment is an admin removing one factor of a user; admins may
// remove a last factor (the user then enrols again at next login if
// required).
func (s *Service) RemoveUserEnrollment(ctx context.Context, v *Viewer, enrollmentID string) error {
	if !v.User.Can(PermissionManageUsers) {
		return errForbidden
	}
	return s.RemoveEnrollment(ctx, v, enrollmentID)
}
