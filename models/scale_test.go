package models_test

import (
	"context"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models/modelstest"
)

// TestListsBeyondTenThousandUsers seeds 12,000 users (in bulk, through the
// store), so any cap at 10,000 shows: the mfaRequired filter's total, the
// stats and the enrolled filter are exact against a ground truth computed
// in Go; keyset paging walks the whole list without a duplicate or a gap
// while users are inserted between pages; search is by word prefix through
// the index, with wildcards literal, and its count says when it is capped.
func TestListsBeyondTenThousandUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 12,000 users")
	}
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		org := seedOrg(t, s)
		now := time.Now().UTC().Truncate(time.Second)
		rng := rand.New(rand.NewSource(12))
		var companies []string
		for i := range 4 {
			c := &mfa.Company{ID: id(), OrganizationID: org.ID, Name: fmt.Sprintf("Firm%d 50%%_off", i), CreatedAt: now}
			if err := s.CreateCompany(ctx, c); err != nil {
				t.Fatal(err)
			}
			companies = append(companies, c.ID)
		}
		types := []string{"staff", "supplier", "case_manager"}
		const n = 12000
		users := make([]mfa.User, n)
		var enrollments []mfa.Enrollment
		for i := range users {
			u := mfa.User{ID: id(), Username: fmt.Sprintf("user%05d", i), Email: fmt.Sprintf("user%05d@example.com", i),
				DisplayName: fmt.Sprintf("Person %05d", i), UserType: types[i%len(types)], Status: mfa.UserActive,
				CreatedAt: now.Add(time.Duration(rng.Intn(1000)) * time.Second), UpdatedAt: now}
			if i%5 != 0 {
				u.CompanyID = companies[i%len(companies)]
			}
			if i%97 == 0 {
				u.Status = mfa.UserDeactivated
			}
			if i%3 == 0 {
				enrollments = append(enrollments, mfa.Enrollment{ID: id(), UserID: u.ID, FactorType: "totp", Label: "phone",
					Status: mfa.EnrollmentActive, CreatedAt: now, ActivatedAt: &now})
				u.MFAEnrolled = true
			}
			users[i] = u
		}
		start := time.Now()
		if err := s.BulkCreateUsers(ctx, org.ID, users); err != nil {
			t.Fatal(err)
		}
		if err := s.BulkCreateEnrollments(ctx, enrollments); err != nil {
			t.Fatal(err)
		}
		t.Logf("seeded %d users in %v", n, time.Since(start))

		// Required: the organization from an hour ago (and each company,
		// undated), except company 0's case managers (from tomorrow); some
		// single users opted out.
		set := []mfa.Policy{
			{Scope: mfa.PolicyScope{}, PolicySettings: mfa.PolicySettings{Mode: ptr(mfa.ModeRequired), EnforceFrom: ptr(now.Add(-time.Hour))}},
			{Scope: mfa.PolicyScope{CompanyID: companies[0], UserType: "case_manager"}, PolicySettings: mfa.PolicySettings{EnforceFrom: ptr(now.Add(24 * time.Hour))}},
			{Scope: mfa.PolicyScope{CompanyID: companies[1]}, PolicySettings: mfa.PolicySettings{Mode: ptr(mfa.ModeRequired)}},
			{Scope: mfa.PolicyScope{CompanyID: companies[2]}, PolicySettings: mfa.PolicySettings{Mode: ptr(mfa.ModeRequired)}},
			{Scope: mfa.PolicyScope{CompanyID: companies[3]}, PolicySettings: mfa.PolicySettings{Mode: ptr(mfa.ModeRequired)}},
		}
		for i := 0; i < n; i += 50 {
			set = append(set, mfa.Policy{Scope: mfa.PolicyScope{UserID: users[i].ID}, PolicySettings: mfa.PolicySettings{Mode: ptr(mfa.ModeDisabled)}})
		}
		for i := range set {
			set[i].ID, set[i].OrganizationID, set[i].UpdatedAt = id(), org.ID, now
			if err := s.UpsertPolicy(ctx, &set[i]); err != nil {
				t.Fatal(err)
			}
		}

		// Ground truth, in Go.
		required, enrolled := 0, 0
		stats := map[string]*mfa.MFAStat{}
		for i := range users {
			u := &users[i]
			req := mfa.ResolvePolicy(set, u, []string{"totp"}, mfa.Config{}).Enforced(now)
			if req {
				required++
			}
			if u.MFAEnrolled {
				enrolled++
			}
			if u.Status != mfa.UserActive {
				continue
			}
			st := stats[u.UserType]
			if st == nil {
				st = &mfa.MFAStat{UserType: u.UserType}
				stats[u.UserType] = st
			}
			st.Users++
			if req {
				st.Required++
			}
			if u.MFAEnrolled {
				st.Enrolled++
			} else if req {
				st.Pending++
			}
		}
		if required <= mfa.CountCap {
			t.Fatalf("the seed requires MFA of %d users: not beyond the cap", required)
		}
		count := func(f mfa.UserFilter) (int, bool) {
			t.Helper()
			l, err := s.Users(ctx, mfa.UserQuery{OrganizationID: org.ID, Filter: f, Page: mfa.Page{Limit: 1}, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			return l.Total, l.TotalExact
		}
		if got, exact := count(mfa.UserFilter{MFARequired: ptr(true)}); got != required || !exact {
			t.Fatalf("mfaRequired: true counts %d (exact %v), ground truth %d", got, exact, required)
		}
		if got, _ := count(mfa.UserFilter{MFARequired: ptr(false)}); got != n-required {
			t.Fatalf("mfaRequired: false counts %d, ground truth %d", got, n-required)
		}
		if got, _ := count(mfa.UserFilter{MFAEnrolled: ptr(true)}); got != enrolled {
			t.Fatalf("mfaEnrolled counts %d, ground truth %d", got, enrolled)
		}
		gotStats, err := s.UserMFAStats(ctx, org.ID, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(gotStats) != len(stats) {
			t.Fatalf("stats for %d types, want %d", len(gotStats), len(stats))
		}
		for _, st := range gotStats {
			if want := stats[st.UserType]; want == nil || *want != st {
				t.Fatalf("stats %+v, ground truth %+v", st, want)
			}
		}

		// Keyset paging over the whole list, by created at (with ties) and
		// by requirement, while users are inserted between pages: every
		// user present from the start is seen exactly once.
		for _, order := range []mfa.UserOrderField{mfa.UserOrderCreatedAt, mfa.UserOrderMFARequired, mfa.UserOrderLastLoginAt} {
			for _, desc := range []bool{false, true} {
				seen := map[string]int{}
				q := mfa.UserQuery{OrganizationID: org.ID, OrderBy: order, Desc: desc, Page: mfa.Page{Limit: 100}, Now: now}
				for page := 0; ; page++ {
					l, err := s.Users(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					for _, u := range l.Items {
						seen[u.ID]++
					}
					if !l.More {
						break
					}
					q.Page.After = &l.Cursors[len(l.Cursors)-1]
					if page%20 == 0 {
						seedUser(t, s, org.ID, fmt.Sprintf("late-%s-%v-%03d", order, desc, page), func(u *mfa.User) {
							u.CreatedAt = now.Add(time.Duration(rng.Intn(1000)) * time.Second)
						})
					}
				}
				for i := range users {
					if seen[users[i].ID] != 1 {
						t.Fatalf("%s desc=%v: user %s seen %d times", order, desc, users[i].Username, seen[users[i].ID])
					}
				}
			}
		}

		// Search by word prefix; its count is capped.
		for query, want := range map[string]int{
			"person 0001": 10, "PERSON 00012": 1, "user00042@": 1, "erson": 0,
			"firm1": 2400, "firm1 50%_o": 2400, "50_": 0, "5%": 0, "firm1 supplier": 0,
		} {
			got, exact := count(mfa.UserFilter{Search: query})
			if got != want || !exact {
				t.Errorf("search %q: %d (exact %v), want %d", query, got, exact, want)
			}
		}
		if got, exact := count(mfa.UserFilter{Search: "person"}); got != mfa.CountCap || exact {
			t.Errorf("search matching %d users counts %d (exact %v), want the cap", n, got, exact)
		}
	})
}
