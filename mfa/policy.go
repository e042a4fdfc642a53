package mfa

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	// AllowSelfServiceRecovery lets users recover a lost device by an
	// emailed link (requestMfaRecovery); default on.
	AllowSelfServiceRecovery *bool
	// GracePeriodDays gives users who must enrol that many days, from the
	// first login that found them required, before enrolment is forced
	// (skipEnrollment until then); MaxEnrollmentSkips caps the skips.
	// EnrollmentReminderDays are the days before the deadline a reminder
	// is mailed (grace.go).
	GracePeriodDays        *int
	MaxEnrollmentSkips     *int
	EnrollmentReminderDays []int // nil inherits
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
	// AllowSelfServiceRecovery: lost-device links may be requested.
	AllowSelfServiceRecovery Setting[bool]
	// GracePeriodDays and MaxEnrollmentSkips: nil values give no grace of
	// that kind; EnrollmentReminderDays: days before the deadline.
	GracePeriodDays        Setting[*int]
	MaxEnrollmentSkips     Setting[*int]
	EnrollmentReminderDays Setting[[]int]
	// listed is the allowed list as the winning policy wrote it, uninstalled
	// types included (nil: no policy lists types, so every type). A factor
	// of a listed type whose plugin is missing is unavailable, not ignored.
	listed []string
	// license is the organization's licence and switches, read with the
	// policies (effectivePolicy): without a subscription or with the master
	// switch off, Mode is DISABLED whatever the scopes say.
	license *License
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

// lists reports whether the policy allows the factor type, installed or
// not.
func (p *EffectivePolicy) lists(factorType string) bool {
	return p.Mode.Value != ModeDisabled && (p.listed == nil || slices.Contains(p.listed, factorType))
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
		// Self-service recovery still needs the password and tells the
		// organization's managers.
		AllowSelfServiceRecovery: Setting[bool]{Value: true, Level: LevelDefault},
		GracePeriodDays:          Setting[*int]{Level: LevelDefault},
		MaxEnrollmentSkips:       Setting[*int]{Level: LevelDefault},
		EnrollmentReminderDays:   Setting[[]int]{Value: DefaultEnrollmentReminderDays, Level: LevelDefault},
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
				ep.listed = p.AllowedFactorTypes
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
			set(&ep.AllowSelfServiceRecovery, p.AllowSelfServiceRecovery, p)
			setGrace(ep, p)
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
	memo, _ := ctx.Value(policyMemoKey{}).(*policyMemo)
	key := user.OrganizationID + "|" + user.ID + "|" + user.CompanyID + "|" + user.UserType
	if memo != nil {
		if p, ok := memo.get(key); ok {
			return p, nil
		}
	}
	ps, err := st.PoliciesFor(ctx, user.OrganizationID, user.ID, user.CompanyID, user.UserType)
	if err != nil {
		return nil, err
	}
	p := resolve(ps, user, s.installedTypes(), s.cfg)
	if p.license, err = s.license(ctx, st, user.OrganizationID); err != nil {
		return nil, err
	}
	if p.license.mfaOff() != "" {
		// The subscription or the master switch overrides every scope.
		p.Mode = Setting[MfaMode]{Value: ModeDisabled, Level: LevelOrganization}
	}
	if memo != nil {
		memo.put(key, p)
	}
	return p, nil
}

// policyMemo keeps the effective policies one login step has resolved, so
// its checks (factor allowed, lockout rule, next state) read the policies
// once.
type policyMemo struct {
	mu sync.Mutex
	m  map[string]*EffectivePolicy
}

type policyMemoKey struct{}

// withPolicyMemo gives a login step's context its own memo.
func withPolicyMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, policyMemoKey{}, &policyMemo{m: map[string]*EffectivePolicy{}})
}

func (m *policyMemo) get(key string) (*EffectivePolicy, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.m[key]
	return p, ok
}

func (m *policyMemo) put(key string, p *EffectivePolicy) {
	m.mu.Lock()
	m.m[key] = p
	m.mu.Unlock()
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
	// skipped is why the password alone is let in where policy asks for a
	// second factor (ReasonNoSeat).
	skipped string
	// grace is the enrolment grace of a policy-required enrolment (nil:
	// none; grace.go).
	grace *EnrollmentGrace
}

// planLogin decides the step after the password, from the user's policy,
// factors, trusted browser and enrollment requests. Where a second factor is
// due but none can be checked now (every plugin it needs is down or not
// installed), the login answers UNAVAILABLE and is audited: a factor that
// cannot be checked never turns into a password-only session.
func (s *Service) planLogin(ctx context.Context, user *User, trustedBrowserToken string) (*loginPlan, error) {
	now := s.now()
	pol, err := s.effectivePolicy(ctx, s.store, user)
	if err != nil {
		return nil, err
	}
	if pol.license.SuspendedAt != nil {
		if err := s.audit(ctx, s.store, user.OrganizationID, user.ID, user.ID, AuditLoginFailed, map[string]string{"reason": "organization_suspended"}); err != nil {
			return nil, err
		}
		return nil, errSuspended
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
	// held: the user's factors the policy allows, whether or not their
	// plugin is installed here; plan.factors: those whose plugin is.
	var held []string
	for _, e := range active {
		if pol.lists(e.FactorType) {
			held = append(held, e.FactorType)
		}
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
	case len(held) > 0:
		trusted, err := s.browserTrusted(ctx, user, pol, trustedBrowserToken)
		if err != nil {
			return nil, err
		}
		if trusted {
			plan.trusted = true
			return plan, nil
		}
		if !s.anyAvailable(held) {
			return nil, s.factorsUnavailable(ctx, user, held)
		}
		plan.status = StatusMFARequired
	case (len(plan.requested) > 0 || pol.Enforced(now)) && len(active) == 0 && !pol.license.SeatFree():
		// The seed product's rule: MFA is due but the user holds no seat
		// and none is free, so they cannot enrol and come in with the
		// password alone (audited; the answer says why). Users who hold a
		// seat are still asked (above).
		plan.skipped = ReasonNoSeat
		plan.allowed = []string{}
		if err := s.audit(ctx, s.store, user.OrganizationID, user.ID, user.ID, AuditMFASkipped, map[string]string{"reason": ReasonNoSeat}); err != nil {
			return nil, err
		}
	case len(plan.requested) > 0:
		// An admin asked for a factor and the user has none to prove who
		// they are with beyond the password: enrol now, that type only.
		if !s.anyAvailable(plan.requested) {
			return nil, s.factorsUnavailable(ctx, user, plan.requested)
		}
		plan.status, plan.allowed = StatusEnrollmentRequired, plan.requested
	case pol.Enforced(now):
		// Required with nothing that can be enrolled now (plugins down or
		// removed since the policy was set; setPolicy refuses a REQUIRED
		// scope that allows no installed type): not a password-only login.
		if !s.anyAvailable(plan.allowed) {
			return nil, s.factorsUnavailable(ctx, user, pol.listedOrAllowed())
		}
		plan.status = StatusEnrollmentRequired
		// The grace period counts from the first login that finds the
		// user required (grace.go).
		if plan.grace, err = s.startGrace(ctx, user, pol, now); err != nil {
			return nil, err
		}
	}
	return plan, nil
}

// AuditLoginUnavailable: a correct password whose second factor could not
// be checked because every factor plugin it needs was down or missing.
const AuditLoginUnavailable AuditAction = "login.unavailable"

// errFactorsUnavailable is the retryable answer to a login whose second
// factor cannot be checked now.
var errFactorsUnavailable = &Error{Code: CodeUnavailable, Reason: "FACTORS_UNAVAILABLE",
	Message: "multi-factor authentication is temporarily unavailable; try again shortly"}

// factorsUnavailable audits a login refused because no factor of the given
// types can be checked now, and returns the caller's answer.
func (s *Service) factorsUnavailable(ctx context.Context, user *User, types []string) error {
	s.log.WarnContext(ctx, "login needs a second factor but no factor plugin it could use is available", "user", user.ID, "factor_types", types)
	details := map[string]string{"reason": "factors_unavailable", "factor_types": strings.Join(types, ",")}
	if err := s.audit(ctx, s.store, user.OrganizationID, user.ID, user.ID, AuditLoginUnavailable, details); err != nil {
		return err
	}
	return errFactorsUnavailable
}

// anyAvailable reports whether one of the factor types is installed and its
// plugin up.
func (s *Service) anyAvailable(types []string) bool {
	for _, t := range s.registry.Types() {
		if t.Healthy && slices.Contains(types, t.ID) {
			return true
		}
	}
	return false
}

// listedOrAllowed names the types the policy allows, as written (for logs
// and audit).
func (p *EffectivePolicy) listedOrAllowed() []string {
	if p.listed != nil {
		return p.listed
	}
	return p.AllowedFactorTypes.Value
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
		if r := pol.license.mfaOff(); r != "" {
			return &Error{Code: CodeForbidden, Reason: r, Message: "multi-factor authentication is not available in your organization"}
		}
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

// Change is one field of a policy patch. The zero value leaves the stored
// value as it is; Set with a nil Value clears it, so the scope inherits it
// again; Set with a Value sets it.
type Change[T any] struct {
	Set   bool
	Value *T
}

// To is a Change that sets v.
func To[T any](v T) Change[T] { return Change[T]{Set: true, Value: &v} }

// Cleared is a Change that clears the value (the scope inherits it).
func Cleared[T any]() Change[T] { return Change[T]{Set: true} }

func (c Change[T]) apply(old *T) *T {
	if !c.Set {
		return old
	}
	return c.Value
}

// PolicyPatch changes some of a scope's settings; fields left zero keep
// their stored value.
type PolicyPatch struct {
	Mode Change[MfaMode]
	// AllowedFactorTypes: a Value of an empty list allows none; a nil
	// Value (with Set) inherits.
	AllowedFactorTypes Change[[]string]
	EnforceFrom        Change[time.Time]
	TrustedBrowserDays Change[int]
	MaxFailedAttempts  Change[int]
	LockoutMinutes     Change[int]
	AllowPasswordless  Change[bool]
	// AllowSelfServiceRecovery: lost-device links by email.
	AllowSelfServiceRecovery Change[bool]
	// GracePeriodDays, MaxEnrollmentSkips, EnrollmentReminderDays: the
	// enrolment grace (grace.go).
	GracePeriodDays        Change[int]
	MaxEnrollmentSkips     Change[int]
	EnrollmentReminderDays Change[[]int]
}

// apply returns old with the patch's changes.
func (p PolicyPatch) apply(old PolicySettings) PolicySettings {
	out := PolicySettings{
		Mode:                     p.Mode.apply(old.Mode),
		TrustedBrowserDays:       p.TrustedBrowserDays.apply(old.TrustedBrowserDays),
		MaxFailedAttempts:        p.MaxFailedAttempts.apply(old.MaxFailedAttempts),
		LockoutMinutes:           p.LockoutMinutes.apply(old.LockoutMinutes),
		AllowPasswordless:        p.AllowPasswordless.apply(old.AllowPasswordless),
		AllowSelfServiceRecovery: p.AllowSelfServiceRecovery.apply(old.AllowSelfServiceRecovery),
		AllowedFactorTypes:       old.AllowedFactorTypes,
		EnforceFrom:              p.EnforceFrom.apply(old.EnforceFrom),
		GracePeriodDays:          p.GracePeriodDays.apply(old.GracePeriodDays),
		MaxEnrollmentSkips:       p.MaxEnrollmentSkips.apply(old.MaxEnrollmentSkips),
		EnrollmentReminderDays:   old.EnrollmentReminderDays,
	}
	if p.EnrollmentReminderDays.Set {
		out.EnrollmentReminderDays = nil
		if v := p.EnrollmentReminderDays.Value; v != nil {
			out.EnrollmentReminderDays = append([]int{}, *v...)
		}
	}
	if p.AllowedFactorTypes.Set {
		out.AllowedFactorTypes = nil
		if v := p.AllowedFactorTypes.Value; v != nil {
			out.AllowedFactorTypes = append([]string{}, *v...)
		}
	}
	if out.EnforceFrom != nil {
		t := out.EnforceFrom.UTC()
		out.EnforceFrom = &t
	}
	return out
}

// SetPolicyRequest patches a scope's settings: what the patch leaves out
// stays as it was. ConfirmRemoveFactors must be true to switch a single
// user's MFA off when they have factors: that removes them.
type SetPolicyRequest struct {
	Scope                PolicyScope
	Patch                PolicyPatch
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

// validateSettings checks a scope's merged settings. Only a list the patch
// sets must name installed types: a type removed since it was listed does
// not block unrelated edits.
func (s *Service) validateSettings(in PolicySettings, p PolicyPatch) error {
	if in.Mode != nil && !slices.Contains([]MfaMode{ModeDisabled, ModeOptional, ModeRequired}, *in.Mode) {
		return invalidInput("mode", "unknown mode")
	}
	if p.AllowedFactorTypes.Set {
		for _, t := range in.AllowedFactorTypes {
			if !slices.Contains(s.installedTypes(), t) {
				return invalidInput("allowedFactorTypes", "%q is not an installed factor type", t)
			}
		}
	}
	checkRange := func(field string, v *int, min, max int) error {
		if v != nil && (*v < min || *v > max) {
			return invalidInput(field, "%s must be from %d to %d", field, min, max)
		}
		return nil
	}
	for _, err := range []error{
		checkRange("trustedBrowserDays", in.TrustedBrowserDays, 0, maxPolicyTrustedDays),
		checkRange("maxFailedAttempts", in.MaxFailedAttempts, 1, maxPolicyMaxFailedAttempts),
		checkRange("lockoutMinutes", in.LockoutMinutes, 1, maxPolicyLockoutMinutes),
		checkRange("gracePeriodDays", in.GracePeriodDays, 0, maxGracePeriodDays),
		checkRange("maxEnrollmentSkips", in.MaxEnrollmentSkips, 0, maxEnrollmentSkips),
		checkReminderDays(in.EnrollmentReminderDays),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkRequirable refuses a scope whose users would be required to use a
// factor while none is allowed: the scope's merged policy over the broader
// policies that apply to all its users (for a user scope, exactly what
// applies to that user) must leave an installed type allowed wherever it
// is REQUIRED. Narrower scopes are checked when they are set, and a login
// that cannot be met answers UNAVAILABLE (planLogin).
func (s *Service) checkRequirable(ctx context.Context, tx Store, orgID string, p *Policy, target *User) error {
	subject := &User{OrganizationID: orgID, CompanyID: p.Scope.CompanyID, UserType: p.Scope.UserType}
	if target != nil {
		subject = target
	}
	ps, err := tx.PoliciesFor(ctx, orgID, subject.ID, subject.CompanyID, subject.UserType)
	if err != nil {
		return err
	}
	ps = slices.DeleteFunc(ps, func(q Policy) bool { return q.Scope == p.Scope })
	ep := resolve(append(ps, *p), subject, s.installedTypes(), s.cfg)
	if ep.Mode.Value == ModeRequired && len(ep.AllowedFactorTypes.Value) == 0 {
		return &Error{Code: CodeBadUserInput, Field: "allowedFactorTypes", Reason: "REQUIREMENT_UNMEETABLE",
			Message: "this scope would require a second factor but allow no installed factor type: allow at least one"}
	}
	return nil
}

// SetPolicy patches a scope's policy (creating it if needed) and returns the
// whole result. It never touches live sessions: the next login applies it.
// The policy.changed event records each changed field's old and new value.
func (s *Service) SetPolicy(ctx context.Context, v *Viewer, req SetPolicyRequest) (*Policy, error) {
	target, err := s.checkScope(ctx, v, req.Scope)
	if err != nil {
		return nil, err
	}
	orgID := v.User.OrganizationID
	var out *Policy
	err = s.store.Transaction(ctx, func(tx Store) error {
		old, err := scopePolicy(ctx, tx, orgID, req.Scope)
		if err != nil {
			return err
		}
		p := &Policy{ID: newID(), OrganizationID: orgID, Scope: req.Scope}
		if old != nil {
			p.ID, p.PolicySettings = old.ID, old.PolicySettings
		}
		p.PolicySettings = req.Patch.apply(p.PolicySettings)
		if err := s.validateSettings(p.PolicySettings, req.Patch); err != nil {
			return err
		}
		changes := policyChanges(oldSettings(old), p.PolicySettings)
		if old != nil && len(changes) == 0 {
			out = old
			return nil
		}
		if err := s.checkRequirable(ctx, tx, orgID, p, target); err != nil {
			return err
		}
		if target != nil && p.Mode != nil && *p.Mode == ModeDisabled {
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
		p.UpdatedBy, p.UpdatedAt = v.User.ID, s.now()
		if err := tx.UpsertPolicy(ctx, p); err != nil {
			return err
		}
		if err := s.notifyPolicyChange(ctx, tx, orgID, req.Scope, oldSettings(old), p.PolicySettings, target); err != nil {
			return err
		}
		d := scopeDetails(req.Scope)
		maps.Copy(d, changes)
		out = p
		return s.audit(ctx, tx, orgID, v.User.ID, req.Scope.UserID, AuditPolicyChanged, d)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scopePolicy is the stored policy of exactly sc, or nil, read under a
// lock held until tx ends (a patch is a read-modify-write).
func scopePolicy(ctx context.Context, tx Store, orgID string, sc PolicyScope) (*Policy, error) {
	p, err := tx.LockPolicy(ctx, orgID, sc)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return p, err
}

func oldSettings(p *Policy) PolicySettings {
	if p == nil {
		return PolicySettings{}
	}
	return p.PolicySettings
}

func scopeDetails(sc PolicyScope) map[string]string {
	return map[string]string{"scope": string(sc.Level()), "company_id": sc.CompanyID, "user_type": sc.UserType}
}

// policyChanges lists every setting that differs between a and b as
// "<field>.old" and "<field>.new" (field in snake case, e.g. mode.old,
// allowed_factor_types.new). A value is its GraphQL literal: an enum name,
// a number, true/false, an RFC 3339 time, a JSON list of type ids; an empty
// string means not set at this scope (inherited).
func policyChanges(a, b PolicySettings) map[string]string {
	d := map[string]string{}
	add := func(field, old, new string) {
		if old != new {
			d[field+".old"], d[field+".new"] = old, new
		}
	}
	add("mode", policyValue(a.Mode, func(m MfaMode) string { return string(m) }), policyValue(b.Mode, func(m MfaMode) string { return string(m) }))
	list := func(l []string) string {
		if l == nil {
			return ""
		}
		b, _ := json.Marshal(l)
		return string(b)
	}
	add("allowed_factor_types", list(a.AllowedFactorTypes), list(b.AllowedFactorTypes))
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	add("enforce_from", policyValue(a.EnforceFrom, ts), policyValue(b.EnforceFrom, ts))
	add("trusted_browser_days", policyValue(a.TrustedBrowserDays, strconv.Itoa), policyValue(b.TrustedBrowserDays, strconv.Itoa))
	add("max_failed_attempts", policyValue(a.MaxFailedAttempts, strconv.Itoa), policyValue(b.MaxFailedAttempts, strconv.Itoa))
	add("lockout_minutes", policyValue(a.LockoutMinutes, strconv.Itoa), policyValue(b.LockoutMinutes, strconv.Itoa))
	add("allow_passwordless", policyValue(a.AllowPasswordless, strconv.FormatBool), policyValue(b.AllowPasswordless, strconv.FormatBool))
	add("allow_self_service_recovery", policyValue(a.AllowSelfServiceRecovery, strconv.FormatBool), policyValue(b.AllowSelfServiceRecovery, strconv.FormatBool))
	add("grace_period_days", policyValue(a.GracePeriodDays, strconv.Itoa), policyValue(b.GracePeriodDays, strconv.Itoa))
	add("max_enrollment_skips", policyValue(a.MaxEnrollmentSkips, strconv.Itoa), policyValue(b.MaxEnrollmentSkips, strconv.Itoa))
	ints := func(l []int) string {
		if l == nil {
			return ""
		}
		b, _ := json.Marshal(l)
		return string(b)
	}
	add("enrollment_reminder_days", ints(a.EnrollmentReminderDays), ints(b.EnrollmentReminderDays))
	return d
}

func policyValue[T any](v *T, format func(T) string) string {
	if v == nil {
		return ""
	}
	return format(*v)
}

// ClearPolicy removes a scope's policy, so it inherits again.
func (s *Service) ClearPolicy(ctx context.Context, v *Viewer, sc PolicyScope) error {
	target, err := s.checkScope(ctx, v, sc)
	if err != nil {
		return err
	}
	return s.store.Transaction(ctx, func(tx Store) error {
		old, err := scopePolicy(ctx, tx, v.User.OrganizationID, sc)
		if err != nil {
			return err
		}
		if err := tx.DeletePolicy(ctx, v.User.OrganizationID, sc); err != nil {
			return notFound(err, "policy")
		}
		if err := s.notifyPolicyChange(ctx, tx, v.User.OrganizationID, sc, oldSettings(old), PolicySettings{}, target); err != nil {
			return err
		}
		d := scopeDetails(sc)
		maps.Copy(d, policyChanges(oldSettings(old), PolicySettings{}))
		return s.audit(ctx, tx, v.User.OrganizationID, v.User.ID, sc.UserID, AuditPolicyCleared, d)
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

// resetMFA is an admin removing a user's factors, recovery codes and
// trusted browsers, through tx; the user is told by mail.
func (s *Service) resetMFA(ctx context.Context, tx Store, v *Viewer, u *User) error {
	if err := s.removeMFA(ctx, tx, u); err != nil {
		return err
	}
	if err := s.audit(ctx, tx, u.OrganizationID, v.User.ID, u.ID, AuditMFAReset, nil); err != nil {
		return err
	}
	return s.notify(ctx, tx, u.OrganizationID, []User{*u}, EventMFAReset, actorData(v))
}

// removeMFA deletes a user's factors, recovery codes and trusted browsers
// through tx (an admin's reset, a lost-device recovery, the user switching
// MFA off).
func (s *Service) removeMFA(ctx context.Context, tx Store, u *User) error {
	return s.removeMFAOf(ctx, tx, u, u.Status == UserActive)
}

// removeMFAOf is removeMFA; held says whether u held a seat (was active),
// which is given back.
func (s *Service) removeMFAOf(ctx context.Context, tx Store, u *User, held bool) error {
	if err := tx.DeleteUserEnrollments(ctx, u.ID); err != nil {
		return err
	}
	if err := s.releaseSeat(ctx, tx, u, held, ""); err != nil {
		return err
	}
	if err := tx.SyncMFAEnrolled(ctx, u.ID); err != nil {
		return err
	}
	u.MFAEnrolled = false
	if err := tx.DeleteRecoveryCodes(ctx, u.ID); err != nil {
		return err
	}
	return tx.DeleteUserTrustedBrowsers(ctx, u.ID)
}

// ResetUserMFA removes all of a user's factors, recovery codes and trusted
// browsers and ends their sessions (a lost or stolen device is the usual
// reason); where MFA is required they enrol again at their next login.
func (s *Service) ResetUserMFA(ctx context.Context, v *Viewer, userID string) (*User, error) {
	u, err := s.manageableUser(ctx, v, userID)
	if err != nil {
		return nil, err
	}
	err = s.store.Transaction(ctx, func(tx Store) error {
		if err := s.resetMFA(ctx, tx, v, u); err != nil {
			return err
		}
		return s.endSessions(ctx, tx, v, u, map[string]string{"reason": string(AuditMFAReset)})
	})
	if err != nil {
		return nil, err
	}
	return u, nil
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
