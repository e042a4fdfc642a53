package e2e

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/google/uuid"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models"
)

const (
	simulateQuery = `query($in: SetPolicyInput!) { simulatePolicy(input: $in) {
  policy { mode allowedFactorTypes }
  newlyRequired { count } newlyMustEnroll { count } noLongerAsked { count } loseFactorType { count } seatsNeeded { count }
  seatsAvailable seatsShort } }`
	simulateGroupPage = `query($in: SetPolicyInput!, $after: String) { simulatePolicy(input: $in) { %s { count users(first: 100, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { username } } } } } }`
	simLogin = `mutation($u: String!, $p: String!) { login(input: {organization: "demo", username: $u, password: $p}) { status factors { factorType } } }`
	simUsers = `query($after: String) { users(first: 100, after: $after) { pageInfo { hasNextPage endCursor } edges { node { username mfaRequired } } } }`
	simPass  = "population-password-1"
)

// outcome is what a user's login answers: its status and the factor types
// it offers.
type outcome struct {
	status  string
	factors []string
}

func (o outcome) asked() bool { return o.status != "AUTHENTICATED" }

// population is a generated organization: users across companies and
// types with factors of either type or none.
type population struct {
	names    []string
	enrolled map[string]bool
}

func seedPopulation(t *testing.T, e *env, admin *client, n int) *population {
	t.Helper()
	org := demoID(t, admin)
	var companies []string
	for i := range 3 {
		d := admin.must(`mutation($n: String!) { createCompany(input: {name: $n}) { company { id } } }`, map[string]any{"n": fmt.Sprintf("Firm %d", i)})
		companies = append(companies, dig(d, "createCompany", "company", "id").(string))
	}
	st, err := models.Open(context.Background(), e.cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hash, err := argon2id.CreateHash(simPass, &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32})
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	types := []string{"case_manager", "supplier", "staff", ""}
	// The bootstrap admin is one of the organization's users too.
	p := &population{enrolled: map[string]bool{}, names: []string{"admin"}}
	us := make([]mfa.User, n)
	var es []mfa.Enrollment
	for i := range us {
		name := fmt.Sprintf("p%05d", i)
		u := mfa.User{ID: uuid.Must(uuid.NewV7()).String(), Username: name, Email: name + "@example.com", PasswordHash: hash,
			UserType: types[i%len(types)], Status: mfa.UserActive, CreatedAt: now, UpdatedAt: now}
		if i%5 != 0 {
			u.CompanyID = companies[(i/5)%len(companies)]
		}
		if i%3 == 0 {
			es = append(es, mfa.Enrollment{ID: uuid.Must(uuid.NewV7()).String(), UserID: u.ID, FactorType: "totp", Label: "phone",
				Status: mfa.EnrollmentActive, CreatedAt: now, ActivatedAt: &now})
		}
		if i%7 == 0 {
			es = append(es, mfa.Enrollment{ID: uuid.Must(uuid.NewV7()).String(), UserID: u.ID, FactorType: "passkey", Label: "key",
				Status: mfa.EnrollmentActive, CreatedAt: now, ActivatedAt: &now})
		}
		p.enrolled[name] = i%3 == 0 || i%7 == 0
		us[i] = u
		p.names = append(p.names, name)
	}
	if err := st.BulkCreateUsers(context.Background(), org, us); err != nil {
		t.Fatal(err)
	}
	if err := st.BulkCreateEnrollments(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	// A few users an admin asked to set up a factor.
	for _, i := range []int{1, 2, 11, 13} {
		admin.must(`mutation($in: EnrollmentRequestInput!) { requestEnrollment(input: $in) { request { factorType } } }`,
			map[string]any{"in": map[string]any{"userId": us[i].ID, "factorType": "totp"}})
	}
	// Policies at every level: company 1 required, suppliers disabled,
	// company 2's case managers required with passkeys only, one user off.
	e.setPolicy(admin, map[string]any{"scope": map[string]any{"companyId": companies[1]}, "mode": "REQUIRED"})
	e.setPolicy(admin, map[string]any{"scope": map[string]any{"userType": "supplier"}, "mode": "DISABLED"})
	e.setPolicy(admin, map[string]any{"scope": map[string]any{"companyId": companies[2], "userType": "case_manager"}, "mode": "REQUIRED", "allowedFactorTypes": []string{"passkey"}})
	e.setPolicy(admin, map[string]any{"scope": map[string]any{"userId": us[4].ID}, "mode": "DISABLED"})
	return p
}

// logins logs every user of the population in, 8 at a time, and returns
// what each login answered.
func (p *population) logins(t *testing.T, e *env) map[string]outcome {
	t.Helper()
	out := make([]outcome, len(p.names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, n := range p.names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			pass := simPass
			if n == "admin" {
				pass = adminPassword
			}
			d := e.client().must(simLogin, map[string]any{"u": n, "p": pass})
			o := outcome{status: dig(d, "login", "status").(string)}
			fs, _ := dig(d, "login", "factors").([]any)
			for _, f := range fs {
				o.factors = append(o.factors, f.(map[string]any)["factorType"].(string))
			}
			out[i] = o
		}()
	}
	wg.Wait()
	m := map[string]outcome{}
	for i, n := range p.names {
		m[n] = out[i]
	}
	return m
}

// required reads every user's mfaRequired from the users list.
func required(t *testing.T, admin *client) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	var after any
	for {
		d := admin.must(simUsers, map[string]any{"after": after})
		for _, n := range nodes(d, "users") {
			m := n.(map[string]any)
			out[m["username"].(string)] = m["mfaRequired"].(bool)
		}
		if dig(d, "users", "pageInfo", "hasNextPage") != true {
			return out
		}
		after = dig(d, "users", "pageInfo", "endCursor")
	}
}

// simulatedGroup pages through a group's users.
func simulatedGroup(t *testing.T, admin *client, in map[string]any, group string) []string {
	t.Helper()
	var names []string
	var after any
	for {
		d := admin.must(fmt.Sprintf(simulateGroupPage, group), map[string]any{"in": in, "after": after})
		g := dig(d, "simulatePolicy", group, "users")
		for _, n := range nodes(map[string]any{"g": g}, "g") {
			names = append(names, n.(map[string]any)["username"].(string))
		}
		if dig(g, "pageInfo", "hasNextPage") != true {
			break
		}
		after = dig(g, "pageInfo", "endCursor")
	}
	return names
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// untouched is what a dry run must leave as it was: the policies, the
// latest audit event and the outbox.
func untouched(t *testing.T, admin *client) string {
	t.Helper()
	return jsonOf(admin.must(`{ policies(first: 100) { edges { node { id mode allowedFactorTypes enforceFrom gracePeriodDays updatedAt scope { level companyId userType userId } } } }
  auditEvents(first: 1) { totalCount edges { node { id action } } } notifications(first: 1) { totalCount edges { node { id } } } }`, nil))
}

// settled is untouched once the background work of the previous change
// (the mfa.required fan-out that servers expand every second) is done: two
// snapshots 1.5 s apart that agree.
func settled(t *testing.T, admin *client) string {
	t.Helper()
	snap := untouched(t, admin)
	for range 40 {
		time.Sleep(1500 * time.Millisecond)
		next := untouched(t, admin)
		if next == snap {
			return snap
		}
		snap = next
	}
	t.Fatal("the outbox and audit log never settled")
	return ""
}

// TestSimulatePolicyAgreesWithLogins generates a population of users
// across companies and user types, with factors of two types or none,
// admin requests and policies at every level; for a change at each scope
// level (the user scope: one user of a class of many) it
// asks simulatePolicy, checks the dry run changed nothing, applies the
// change for real, logs every user in, and compares user by user: who
// newly must enrol, who is newly required to use MFA, who is no longer
// asked, who loses a factor type, and the seats that takes.
func TestSimulatePolicyAgreesWithLogins(t *testing.T) {
	eachOperatorDB(t, func(t *testing.T, e *env) {
		n := 2000
		if strings.HasPrefix(e.cfg.DatabaseURL, "sqlite") {
			n = 1200 // one writer at a time: the rule, not the load
		}
		if raceDetector {
			// Every user logs in after each of five changes; under the race
			// detector a smaller population keeps make test within its
			// budget (go test ./e2e -run Simulate runs the full size).
			n /= 5
		}
		admin := e.admin()
		pop := seedPopulation(t, e, admin, n)
		companies := nodes(admin.must(`{ companies(first: 10) { edges { node { id name } } } }`, nil), "companies")
		firm := map[string]string{}
		for _, c := range companies {
			firm[c.(map[string]any)["name"].(string)] = c.(map[string]any)["id"].(string)
		}
		// A licence: the dry run says how many seats a change needs
		// against those free.
		setSeats(t, e, demoID(t, admin), n/2, true)
		e.setPolicy(admin, map[string]any{"scope": map[string]any{}, "mode": "OPTIONAL"})
		before, reqBefore := pop.logins(t, e), required(t, admin)
		changes := []map[string]any{
			{"scope": map[string]any{}, "mode": "REQUIRED", "allowedFactorTypes": []string{"totp"}},
			{"scope": map[string]any{"companyId": firm["Firm 1"]}, "mode": "DISABLED"},
			{"scope": map[string]any{"userType": "supplier"}, "mode": nil},
			{"scope": map[string]any{"companyId": firm["Firm 2"], "userType": "case_manager"}, "allowedFactorTypes": nil, "enforceFrom": e.clock.Now().Add(time.Hour).Format(time.RFC3339)},
			// One TOTP user alone (counted apart from their class): passkeys
			// required.
			{"scope": map[string]any{"userId": lookupUserID(t, admin, "p00009")}, "mode": "REQUIRED", "allowedFactorTypes": []string{"passkey"}},
		}
		// Refused as setPolicy refuses it, and nothing written.
		snap := settled(t, admin)
		wantError(t, "simulate an unknown type", admin.post(simulateQuery, map[string]any{"in": map[string]any{"scope": map[string]any{}, "allowedFactorTypes": []string{"nope"}}}), "BAD_USER_INPUT", "")
		wantError(t, "simulate an unmeetable requirement", admin.post(simulateQuery, map[string]any{"in": map[string]any{"scope": map[string]any{}, "mode": "REQUIRED", "allowedFactorTypes": []string{}}}), "BAD_USER_INPUT", "REQUIREMENT_UNMEETABLE")
		wantError(t, "simulate with a users cursor", admin.post(fmt.Sprintf(simulateGroupPage, "newlyRequired"), map[string]any{"in": changes[0], "after": dig(admin.must(simUsers, nil), "users", "pageInfo", "endCursor")}), "BAD_USER_INPUT", "")
		if after := untouched(t, admin); after != snap {
			t.Fatalf("a refused dry run changed something:\n%s\n%s", snap, after)
		}
		seen := map[string]bool{}
		for step, in := range changes {
			snap = settled(t, admin)
			start := time.Now()
			sim := admin.must(simulateQuery, map[string]any{"in": in})["simulatePolicy"].(map[string]any)
			t.Logf("step %d: simulatePolicy over %d users in %s: %s", step, n, time.Since(start), jsonOf(sim))
			groups := map[string][]string{}
			for _, g := range []string{"newlyRequired", "newlyMustEnroll", "noLongerAsked", "loseFactorType", "seatsNeeded"} {
				groups[g] = simulatedGroup(t, admin, in, g)
				if c := dig(sim, g, "count"); c != float64(len(groups[g])) {
					t.Fatalf("step %d: %s count %v, %d users listed", step, g, c, len(groups[g]))
				}
			}
			if after := untouched(t, admin); after != snap {
				t.Fatalf("step %d: the dry run changed something:\n%s\n%s", step, snap, after)
			}
			e.setPolicy(admin, in)
			after, reqAfter := pop.logins(t, e), required(t, admin)
			want := map[string]map[string]bool{"newlyRequired": {}, "newlyMustEnroll": {}, "noLongerAsked": {}, "loseFactorType": {}, "seatsNeeded": {}}
			for _, u := range pop.names {
				b, a := before[u], after[u]
				want["newlyRequired"][u] = !reqBefore[u] && reqAfter[u]
				newlyEnrol := b.status != "ENROLLMENT_REQUIRED" && a.status == "ENROLLMENT_REQUIRED"
				want["newlyMustEnroll"][u] = newlyEnrol
				want["seatsNeeded"][u] = newlyEnrol && !pop.enrolled[u]
				want["noLongerAsked"][u] = b.asked() && !a.asked()
				lost := false
				for _, f := range b.factors {
					lost = lost || !slices.Contains(a.factors, f)
				}
				want["loseFactorType"][u] = lost
			}
			for g, w := range want {
				got := append([]string{}, groups[g]...)
				sort.Strings(got)
				if exp := sortedKeys(w); !slices.Equal(got, exp) {
					for _, u := range got {
						if !w[u] {
							t.Logf("only simulated: %s before %v after %v enrolled %v", u, before[u], after[u], pop.enrolled[u])
						}
					}
					for _, u := range exp {
						if !slices.Contains(got, u) {
							t.Logf("only in logins: %s before %v after %v enrolled %v", u, before[u], after[u], pop.enrolled[u])
						}
					}
					t.Fatalf("step %d: %s: simulated %d users, logins show %d\nsimulated: %v\nlogins:    %v", step, g, len(got), len(exp), head(got), head(exp))
				}
				if len(groups[g]) > 0 {
					seen[g] = true
				}
			}

			avail, _ := dig(sim, "seatsAvailable").(float64)
			if short := max(0, len(groups["seatsNeeded"])-int(avail)); dig(sim, "seatsAvailable") == nil || dig(sim, "seatsShort") != float64(short) {
				t.Fatalf("step %d: seats: %v", step, jsonOf(sim))
			}
			before, reqBefore = after, reqAfter
		}
		if len(seen) != 5 {
			t.Fatalf("some group was empty at every step: %v", seen)
		}
	})
}

func head(s []string) []string {
	if len(s) > 20 {
		return s[:20]
	}
	return s
}
