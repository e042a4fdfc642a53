package mfa

import (
	"context"
	"errors"
	"time"
)

// A policy dry run: what setPolicy would change, computed by the store in
// SQL with the same resolution as the lists (one statement resolves every
// user's policy before and after the change), so it costs one pass over
// the scope's users whatever their number, and writes nothing.

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

// SimulationStore answers dry runs. It is part of Store.
type SimulationStore interface {
	// SimulatePolicy counts, among the organization's active users, each
	// group's members (ch's scope only: nobody else can change).
	SimulatePolicy(ctx context.Context, ch PolicyChange) (map[SimulationGroup]int, error)
	// SimulatedUsers lists a group's members by username.
	SimulatedUsers(ctx context.Context, ch PolicyChange, g SimulationGroup, p Page) (*Paged[User], error)
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
	if sim.Counts, err = s.store.SimulatePolicy(ctx, sim.change); err != nil {
		return nil, err
	}
	return sim, nil
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
	out, err := s.store.SimulatedUsers(ctx, sim.change, g, p)
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
