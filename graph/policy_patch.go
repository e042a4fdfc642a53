package graph

import (
	"github.com/99designs/gqlgen/graphql"

	"github.com/twofoldauth/twofold/graph/model"
	"github.com/twofoldauth/twofold/mfa"
)

// change maps an omittable nullable input field to a patch field: omitted
// keeps, null clears, a value sets.
func change[T any](o graphql.Omittable[*T]) mfa.Change[T] {
	v, set := o.ValueOK()
	return mfa.Change[T]{Set: set, Value: v}
}

// policyPatch reads setPolicy's input as a patch.
func policyPatch(in model.SetPolicyInput) mfa.PolicyPatch {
	allowed := mfa.Change[[]string]{}
	if v, set := in.AllowedFactorTypes.ValueOK(); set {
		allowed.Set = true
		if v != nil {
			allowed.Value = &v
		}
	}
	reminderDays := mfa.Change[[]int]{}
	if v, set := in.EnrollmentReminderDays.ValueOK(); set {
		reminderDays.Set = true
		if v != nil {
			reminderDays.Value = &v
		}
	}
	return mfa.PolicyPatch{
		Mode:                     change(in.Mode),
		AllowedFactorTypes:       allowed,
		EnforceFrom:              change(in.EnforceFrom),
		TrustedBrowserDays:       change(in.TrustedBrowserDays),
		MaxFailedAttempts:        change(in.MaxFailedAttempts),
		LockoutMinutes:           change(in.LockoutMinutes),
		AllowPasswordless:        change(in.AllowPasswordless),
		AllowSelfServiceRecovery: change(in.AllowSelfServiceRecovery),
		GracePeriodDays:          change(in.GracePeriodDays),
		MaxEnrollmentSkips:       change(in.MaxEnrollmentSkips),
		EnrollmentReminderDays:   reminderDays,
	}
}
