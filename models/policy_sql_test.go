package models_test

import (
	"context"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models"
	"github.com/twofoldauth/twofold/models/modelstest"
)

// TestPolicyResolutionInSQLMatchesResolve is the property that makes the SQL
// resolution (lists, filters, sorts, counts, stats) and the in-memory one
// (login) one definition: over many random policy sets of all five scopes,
// with modes and enforceFrom dates set, unset, past, now and future, every
// user's effective mode, enforceFrom and "required now" agree.
func TestPolicyResolutionInSQLMatchesResolve(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		org := seedOrg(t, s)
		other := seedOrg(t, s)
		rng := rand.New(rand.NewSource(9))
		now := time.Now().UTC().Truncate(time.Second)
		var companies []string
		for i := range 3 {
			c := &mfa.Company{ID: id(), OrganizationID: org.ID, Name: fmt.Sprintf("company %d", i), CreatedAt: now}
			if err := s.CreateCompany(ctx, c); err != nil {
				t.Fatal(err)
			}
			companies = append(companies, c.ID)
		}
		types := []string{"", "staff", "supplier", "case_manager"}
		var users []*mfa.User
		for i := range 150 {
			users = append(users, seedUser(t, s, org.ID, fmt.Sprintf("u%03d", i), func(u *mfa.User) {
				if c := rng.Intn(len(companies) + 1); c < len(companies) {
					u.CompanyID = companies[c]
				}
				u.UserType = types[rng.Intn(len(types))]
			}))
		}
		modes := []*mfa.MfaMode{nil, ptr(mfa.ModeDisabled), ptr(mfa.ModeOptional), ptr(mfa.ModeRequired), ptr(mfa.ModeRequired)}
		dates := []*time.Time{nil, nil, ptr(now.Add(-time.Hour)), ptr(now), ptr(now.Add(time.Second)), ptr(now.Add(24 * time.Hour))}
		compared := 0
		for round := range 40 {
			var set []mfa.Policy
			add := func(orgID string, sc mfa.PolicyScope) {
				if rng.Intn(3) == 0 {
					return
				}
				p := mfa.Policy{ID: id(), OrganizationID: orgID, Scope: sc, UpdatedAt: now}
				p.Mode, p.EnforceFrom = modes[rng.Intn(len(modes))], dates[rng.Intn(len(dates))]
				if err := s.UpsertPolicy(ctx, &p); err != nil {
					t.Fatal(err)
				}
				if orgID == org.ID {
					set = append(set, p)
				}
			}
			add(org.ID, mfa.PolicyScope{})
			add(other.ID, mfa.PolicyScope{}) // another tenant's policy applies to no one here
			for _, ty := range types[1:] {
				add(org.ID, mfa.PolicyScope{UserType: ty})
			}
			for _, c := range companies {
				add(org.ID, mfa.PolicyScope{CompanyID: c})
				for _, ty := range types[1:] {
					add(org.ID, mfa.PolicyScope{CompanyID: c, UserType: ty})
				}
			}
			for _, u := range users {
				if rng.Intn(6) == 0 {
					add(org.ID, mfa.PolicyScope{UserID: u.ID})
				}
			}
			got, err := s.ResolvePolicies(ctx, org.ID, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(users) {
				t.Fatalf("round %d: SQL resolved %d users, want %d", round, len(got), len(users))
			}
			byID := map[string]models.ResolvedPolicy{}
			for _, r := range got {
				byID[r.UserID] = r
			}
			required := 0
			for _, u := range users {
				want := mfa.ResolvePolicy(set, u, []string{"totp"}, mfa.Config{})
				r := byID[u.ID]
				wantEF := want.EnforceFrom.Value
				if r.Mode != want.Mode.Value || r.Required != want.Enforced(now) ||
					(r.EnforceFrom == nil) != (wantEF == nil) || (wantEF != nil && !r.EnforceFrom.Equal(*wantEF)) {
					t.Fatalf("round %d, user %s (company %q, type %q): SQL mode=%s enforceFrom=%v required=%v; resolve mode=%s enforceFrom=%v required=%v\npolicies: %+v",
						round, u.Username, u.CompanyID, u.UserType, r.Mode, r.EnforceFrom, r.Required, want.Mode.Value, wantEF, want.Enforced(now), set)
				}
				if r.Required {
					required++
				}
				compared++
			}
			// The list filter and stats use the same expressions.
			l, err := s.Users(ctx, mfa.UserQuery{OrganizationID: org.ID, Filter: mfa.UserFilter{MFARequired: ptr(true)}, Page: mfa.Page{Limit: 1}, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			stats, err := s.UserMFAStats(ctx, org.ID, now)
			if err != nil {
				t.Fatal(err)
			}
			statsRequired := 0
			for _, st := range stats {
				statsRequired += st.Required
			}
			if l.Total != required || statsRequired != required {
				t.Fatalf("round %d: %d required by resolve, filter counts %d, stats %d", round, required, l.Total, statsRequired)
			}
			for _, p := range append(set, mfa.Policy{OrganizationID: other.ID}) {
				_ = s.DeletePolicy(ctx, p.OrganizationID, p.Scope)
			}
		}
		t.Logf("%d user resolutions compared", compared)
	})
}

func ptr[T any](v T) *T { return &v }
