package mfa

import (
	"context"
	"errors"
	"slices"
	"time"
)

// A policy dry run: what setPolicy would change. Its outcome for a user
// depends only on what the policy resolution and the login plan read of
// them: company, user type, their own user-scope policy, whether they hold
// a seat (mfa_enrolled), the types of their active factors and whether an
// admin asked them to enrol. So the store counts the scope's active users
// by class of identical users (one indexed GROUP BY; the few users with a
// user-scope policy or an enrolment request each make their own class),
// and each class is judged here, before and after, with resolve (the
// resolution logins use) and planLogin's rules: a few hundred classes
// whatever the number of users. Nothing is written.

// SimulationGroup names the users a policy change affects one way.
type SimulationGroup string

// Simulation groups. A user is "asked" at login when they hold a factor
// the policy allows (MFA_REQUIRED) or must enrol (ENROLLMENT_REQUIRED).
const (
	// SimNewlyRequired: MFA becomes required and in force for them.
	SimNewlyRequired SimulationGroup = "NEWLY_REQUIRED"
	// SimNewlyMustEnroll: their next login will ask them to enrol and did
	// not (required, or asked by an admin, with no allowed factor).
	SimNewlyMustEnroll SimulationGroup = "NEWLY_MUST_ENROLL"
	// SimNoLongerAsked: asked for a factor or an enrolment before, not
	// after.
	SimNoLongerAsked SimulationGroup = "NO_LONGER_ASKED"
	// SimLoseFactorType: an active factor of theirs is allowed before and
	// not after (a type no longer listed, or MFA disabled).
	SimLoseFactorType SimulationGroup = "LOSE_FACTOR_TYPE"
	// SimNeedSeat: newly must enrol and hold no seat (no active factor).
	SimNeedSeat SimulationGroup = "NEED_SEAT"
)

// SimulationGroups lists the groups (for validation).
var SimulationGroups = []SimulationGroup{SimNewlyRequired, SimNewlyMustEnroll, SimNoLongerAsked, SimLoseFactorType, SimNeedSeat}

// PolicyChange is one scope's policy replaced, for a dry run.
type PolicyChange struct {
	OrganizationID string
	Scope          PolicyScope
	// After is the scope's settings after the change; nil removes the
	// scope's policy.
	After *PolicySettings
	// Now is when requirements are judged (enforceFrom).
	Now time.Time
}

// SimulationClass is a set of active users a dry run cannot tell apart:
// the same company and user type, seat, factor types and request, and no
// user-scope policy; or one user alone (UserID set) who has a user-scope
// policy or an enrolment request.
type SimulationClass struct {
	// CompanyID is empty for users of no company.
	CompanyID, UserType string
	// UserID is the one user of a class of one, else empty.
	UserID string
	// MFAEnrolled: they hold a seat (the users' mfa_enrolled flag).
	MFAEnrolled bool
	// FactorTypes are the types of their active enrollments, as the store
	// keeps them (SimulatedUsers matches them as given).
	FactorTypes []string
	// Requested: an admin asked them to enrol (an enrollment request).
	Requested bool
	// Users is how many users the class holds.
	Users int
}

// SimulationStore answers dry runs. It is part of Store.
type SimulationStore interface {
	// SimulationClasses counts the organization's active users of the
	// scope (nobody else can change) by SimulationClass.
	SimulationClasses(ctx context.Context, orgID string, sc PolicyScope) ([]SimulationClass, error)
	// SimulatedUsers lists, by username, the active users of the scope
	// that are in one of the classes (cursors of g's order).
	SimulatedUsers(ctx context.Context, orgID string, sc PolicyScope, classes []SimulationClass, g SimulationGroup, p Page) (*Paged[User], error)
}

// PolicySimulation is what a setPolicy would change.
type PolicySimulation struct {
	// Policy is the scope's policy as setPolicy would leave it.
	Policy Policy
	// Counts holds each group's size.
	Counts map[SimulationGroup]int
	// SeatsAvailable are free now (nil: no limit); the change needs
	// Counts[SimNeedSeat] more, at most, as those users enrol.
	SeatsAvailable *int
	change         PolicyChange
	// off: MFA is switched off or not subscribed, so nothing changes.
	off bool
	// members are the classes of each group.
	members map[SimulationGroup][]SimulationClass
}

// SimulationOrderKey names a simulation group's list order in cursors.
func SimulationOrderKey(g SimulationGroup) string { return "simulation/" + string(g) }

// SimulatePolicy answers what SetPolicy with req would change, without
// changing anything (MANAGE_ORGANIZATION): the same checks refuse the same
// input, and the result counts the users of each group.
func (s *Service) SimulatePolicy(ctx context.Context, v *Viewer, req SetPolicyRequest) (*PolicySimulation, error) {
	if !v.User.Can(PermissionManageOrganization) {
		return nil, errForbidden
	}
	target, err := s.checkScope(ctx, v, req.Scope)
	if err != nil {
		return nil, err
	}
	orgID := v.User.OrganizationID
	old, err := s.store.LockPolicy(ctx, orgID, req.Scope)
	if errors.Is(err, ErrNotFound) {
		old, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	p := &Policy{OrganizationID: orgID, Scope: req.Scope}
	if old != nil {
		p.ID, p.PolicySettings, p.UpdatedBy, p.UpdatedAt = old.ID, old.PolicySettings, old.UpdatedBy, old.UpdatedAt
	}
	p.PolicySettings = req.Patch.apply(p.PolicySettings)
	if err := s.validateSettings(p.PolicySettings, req.Patch); err != nil {
		return nil, err
	}
	if err := s.checkRequirable(ctx, s.store, orgID, p, target); err != nil {
		return nil, err
	}
	l, err := s.license(ctx, s.store, orgID)
	if err != nil {
		return nil, err
	}
	after := p.PolicySettings
	sim := &PolicySimulation{Policy: *p, SeatsAvailable: l.Available(), off: l.mfaOff() != "",
		change: PolicyChange{OrganizationID: orgID, Scope: req.Scope, After: &after, Now: s.now()}}
	sim.Counts = map[SimulationGroup]int{}
	if sim.off {
		return sim, nil
	}
	classes, err := s.store.SimulationClasses(ctx, orgID, req.Scope)
	if err != nil {
		return nil, err
	}
	stored, err := s.store.Policies(ctx, orgID)
	if err != nil {
		return nil, err
	}
	before, afterPs := newScopedPolicies(stored), newScopedPolicies(stored)
	afterPs.set(Policy{OrganizationID: orgID, Scope: req.Scope, PolicySettings: after})
	sim.members = map[SimulationGroup][]SimulationClass{}
	installed := s.installedTypes()
	for _, c := range classes {
		u := &User{ID: c.UserID, OrganizationID: orgID, CompanyID: c.CompanyID, UserType: c.UserType}
		b := resolve(before.of(u), u, installed, s.cfg)
		a := resolve(afterPs.of(u), u, installed, s.cfg)
		for _, g := range simulatedGroups(b, a, c, sim.change.Now) {
			sim.Counts[g] += c.Users
			sim.members[g] = append(sim.members[g], c)
		}
	}
	return sim, nil
}

// simulatedGroups are the groups a class of users is in, with policy b
// before the change and a after: planLogin's rules over the class.
func simulatedGroups(b, a *EffectivePolicy, c SimulationClass, now time.Time) []SimulationGroup {
	// held: a factor of theirs the policy lists (their login asks for it).
	// A seat holder's factors only, as the lists read them (mfa_enrolled
	// and the factor types are kept together).
	var factors []string
	if c.MFAEnrolled {
		factors = c.FactorTypes
	}
	held := func(p *EffectivePolicy) bool { return slices.ContainsFunc(factors, p.lists) }
	// enrol: their login asks them to enrol (required in force, or asked
	// by an admin, and no listed factor).
	enrol := func(p *EffectivePolicy) bool {
		return p.Mode.Value != ModeDisabled && !held(p) && (p.Enforced(now) || c.Requested)
	}
	asked := func(p *EffectivePolicy) bool { return held(p) || enrol(p) }
	var out []SimulationGroup
	if !b.Enforced(now) && a.Enforced(now) {
		out = append(out, SimNewlyRequired)
	}
	if !enrol(b) && enrol(a) {
		out = append(out, SimNewlyMustEnroll)
		if !c.MFAEnrolled {
			out = append(out, SimNeedSeat)
		}
	}
	if asked(b) && !asked(a) {
		out = append(out, SimNoLongerAsked)
	}
	if slices.ContainsFunc(factors, func(t string) bool { return b.lists(t) && !a.lists(t) }) {
		out = append(out, SimLoseFactorType)
	}
	return out
}

// scopedPolicies are an organization's policies by scope, so a user's (at
// most five) are found without walking them all.
type scopedPolicies map[PolicyScope]Policy

func newScopedPolicies(ps []Policy) scopedPolicies {
	m := scopedPolicies{}
	for _, p := range ps {
		m.set(p)
	}
	return m
}

func (m scopedPolicies) set(p Policy) { m[p.Scope] = p }

// of are the policies whose scope matches u, as PoliciesFor reads them.
func (m scopedPolicies) of(u *User) []Policy {
	scopes := []PolicyScope{{}}
	if u.ID != "" {
		scopes = append(scopes, PolicyScope{UserID: u.ID})
	}
	if u.CompanyID != "" {
		scopes = append(scopes, PolicyScope{CompanyID: u.CompanyID})
	}
	if u.UserType != "" {
		scopes = append(scopes, PolicyScope{UserType: u.UserType})
	}
	if u.CompanyID != "" && u.UserType != "" {
		scopes = append(scopes, PolicyScope{CompanyID: u.CompanyID, UserType: u.UserType})
	}
	var out []Policy
	for _, sc := range scopes {
		if p, ok := m[sc]; ok {
			out = append(out, p)
		}
	}
	return out
}

// SimulatedUsers lists a group of a simulation by username.
func (s *Service) SimulatedUsers(ctx context.Context, v *Viewer, sim *PolicySimulation, g SimulationGroup, p Page) (*Paged[User], error) {
	if !v.User.Can(PermissionManageOrganization) || v.User.OrganizationID != sim.change.OrganizationID {
		return nil, errForbidden
	}
	if err := checkCursor(p, SimulationOrderKey(g)); err != nil {
		return nil, err
	}
	if sim.off {
		return &Paged[User]{TotalExact: true}, nil
	}
	if len(sim.members[g]) == 0 {
		return &Paged[User]{TotalExact: true}, nil
	}
	out, err := s.store.SimulatedUsers(ctx, sim.change.OrganizationID, sim.change.Scope, sim.members[g], g, p)
	if err != nil {
		return nil, listError(err)
	}
	out.Total, out.TotalExact = sim.Counts[g], true
	return out, nil
}

// SimulatedGroup is one group of a simulation and its size.
type SimulatedGroup struct {
	Simulation *PolicySimulation
	Group      SimulationGroup
	Count      int
}

func (s *PolicySimulation) group(g SimulationGroup) *SimulatedGroup {
	return &SimulatedGroup{Simulation: s, Group: g, Count: s.Counts[g]}
}

// NewlyRequired, NewlyMustEnroll, NoLongerAsked, LoseFactorType and
// SeatsNeeded are the simulation's groups (SimulationGroup constants).
func (s *PolicySimulation) NewlyRequired() *SimulatedGroup   { return s.group(SimNewlyRequired) }
func (s *PolicySimulation) NewlyMustEnroll() *SimulatedGroup { return s.group(SimNewlyMustEnroll) }
func (s *PolicySimulation) NoLongerAsked() *SimulatedGroup   { return s.group(SimNoLongerAsked) }
func (s *PolicySimulation) LoseFactorType() *SimulatedGroup  { return s.group(SimLoseFactorType) }
func (s *PolicySimulation) SeatsNeeded() *SimulatedGroup     { return s.group(SimNeedSeat) }

// SeatsShort is how many of the seats needed are not available: users who
// would be let in without MFA (NO_SEAT_AVAILABLE) until seats are added.
func (s *PolicySimulation) SeatsShort() int {
	if s.SeatsAvailable == nil {
		return 0
	}
	return max(0, s.Counts[SimNeedSeat]-*s.SeatsAvailable)
}
