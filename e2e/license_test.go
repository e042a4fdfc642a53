package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/google/uuid"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models"
)

const (
	licenseUsageQuery = `{ licenseUsage { seats used available percentUsed enrolledUsers enabledNotEnrolled mfaSubscribed mfaEnabled history(days: 3) { date used seats } } }`
	loginSkipMutation = `mutation($o: String!, $u: String!, $p: String!) {
  login(input: {organization: $o, username: $u, password: $p}) { status token ticket mfaSkippedReason } }`
	subjAlert80  = "demo: 80 % of your MFA licences are in use"
	subjAlert100 = "demo: 100 % of your MFA licences are in use"
)

// demoID is the demo organization's id.
func demoID(t *testing.T, admin *client) string {
	t.Helper()
	return dig(admin.must(`{ viewer { organization { id } } }`, nil), "viewer", "organization", "id").(string)
}

func setSeats(t *testing.T, e *env, orgID string, seats any, subscribed bool) map[string]any {
	t.Helper()
	d := e.operator().must(setLicenseMut, map[string]any{"in": map[string]any{"organizationId": orgID, "seats": seats, "mfaSubscribed": subscribed}})
	return dig(d, "setLicense", "organization", "license").(map[string]any)
}

// loginSkip logs in by password and returns the payload (status,
// mfaSkippedReason, ticket).
func loginSkip(t *testing.T, e *env, user, pass string) map[string]any {
	t.Helper()
	d := e.client().must(loginSkipMutation, map[string]any{"o": "demo", "u": user, "p": pass})
	return d["login"].(map[string]any)
}

// enrolOnTicket enrols a TOTP app on an ENROLLMENT_REQUIRED login.
func enrolOnTicket(t *testing.T, e *env, user, pass string) *totpApp {
	t.Helper()
	p := loginSkip(t, e, user, pass)
	if p["status"] != "ENROLLMENT_REQUIRED" {
		t.Fatalf("%s: want ENROLLMENT_REQUIRED, got %v", user, p)
	}
	app, _, _ := enrolTOTP(t, e.client(), map[string]any{"ticket": p["ticket"]})
	return app
}

func usage(t *testing.T, c *client) map[string]any {
	t.Helper()
	return c.must(licenseUsageQuery, nil)["licenseUsage"].(map[string]any)
}

// TestSeatsRunOutAlertAndRecycle is the seed product's seat rules end to
// end: required users enrol while seats last, 80 % and 100 % alerts go to
// the billing contact once, then unenrolled required users get in with the
// password alone (audited, and the answer says so) while enrolled ones are
// still asked; more seats resume enrolment; deactivation frees a seat at
// once and resets the user's MFA; the alerts re-arm below the threshold.
func TestSeatsRunOutAlertAndRecycle(t *testing.T) {
	eachOperatorDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		org := demoID(t, admin)
		if l := setSeats(t, e, org, 5, true); l["used"] != float64(0) || l["seats"] != float64(5) {
			t.Fatalf("licence: %v", l)
		}
		bill := e.createUser(admin, map[string]any{"username": "bill", "email": "bill@example.com", "password": "bill-password-1"})
		admin.must(`mutation($id: ID!) { setBillingContact(input: {userId: $id, billingContact: true}) { user { billingContact } } }`, map[string]any{"id": bill})
		billC := e.loginAs("bill", "bill-password-1")
		// A billing contact reads the usage; a plain user does not.
		usage(t, billC)
		cm := map[string]string{}
		for i := 1; i <= 7; i++ {
			n := fmt.Sprintf("cm%d", i)
			cm[n] = e.createUser(admin, map[string]any{"username": n, "email": n + "@example.com", "password": n + "-password-1", "userType": "case_manager"})
		}
		wantError(t, "plain user reads licence", e.loginAs("cm7", "cm7-password-1").post(licenseUsageQuery, nil), "FORBIDDEN", "")
		e.setPolicy(admin, map[string]any{"scope": map[string]any{"userType": "case_manager"}, "mode": "REQUIRED"})
		apps := map[string]*totpApp{}
		for i := 1; i <= 5; i++ {
			n := fmt.Sprintf("cm%d", i)
			apps[n] = enrolOnTicket(t, e, n, n+"-password-1")
			if i == 3 && e.countMailed("bill@example.com", subjAlert80) != 0 {
				t.Fatal("an alert before 80 %")
			}
		}
		u := usage(t, admin)
		if u["used"] != float64(5) || u["available"] != float64(0) || u["percentUsed"] != float64(100) || u["enrolledUsers"] != float64(5) || u["enabledNotEnrolled"] != float64(2) {
			t.Fatalf("usage when full: %v", u)
		}
		e.mailed("bill@example.com", subjAlert80, 1)
		m := e.mailed("bill@example.com", subjAlert100, 1)[0]
		if !strings.Contains(m.Text(), "5 of its 5") {
			t.Fatalf("alert text: %s", m.Text())
		}

		// Full: cm6 cannot enrol and gets in with the password alone.
		p := loginSkip(t, e, "cm6", "cm6-password-1")
		if p["status"] != "AUTHENTICATED" || p["mfaSkippedReason"] != mfa.ReasonNoSeat || p["token"] == nil {
			t.Fatalf("cm6 with no seat: %v", p)
		}
		cm6 := e.loginAs("cm6", "cm6-password-1")
		wantError(t, "cm6 enrols", cm6.post(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp"}}), "FORBIDDEN", mfa.ReasonNoSeat)
		ev := jsonOf(admin.must(`query($id: ID) { auditEvents(filter: {userId: $id, action: "login.mfa_skipped"}) { totalCount } }`, map[string]any{"id": cm["cm6"]}))
		if !strings.Contains(ev, `"totalCount":2`) {
			t.Fatalf("skipped logins audited: %s", ev)
		}
		// An optional user may not take a seat either; an enrolled one is still asked.
		optional := e.loginAs("bill", "bill-password-1")
		wantError(t, "bill enrols", optional.post(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp"}}), "FORBIDDEN", mfa.ReasonNoSeat)
		if p := loginSkip(t, e, "cm1", "cm1-password-1"); p["status"] != "MFA_REQUIRED" || p["mfaSkippedReason"] != nil {
			t.Fatalf("enrolled cm1 with seats full: %v", p)
		}
		if u := usage(t, admin); u["used"] != float64(5) {
			t.Fatalf("refused enrolments changed the count: %v", u)
		}

		// More seats: cm6 enrols at the next login. 5 of 7 is below 80 %:
		// both alerts re-arm.
		setSeats(t, e, org, 7, true)
		apps["cm6"] = enrolOnTicket(t, e, "cm6", "cm6-password-1") // 6/7: 80 % again (2)

		// Recycling: deactivating cm1 frees a seat and resets their MFA.
		admin.must(deactivateMut, map[string]any{"id": cm["cm1"]})
		if got := mfaState(t, admin, cm["cm1"]); got != "enrolled=false factors=0 codes=0 browsers=0" {
			t.Fatalf("cm1 after deactivation: %s", got)
		}
		if u := usage(t, admin); u["used"] != float64(5) || u["seats"] != float64(7) {
			t.Fatalf("after recycling: %v", u)
		}
		ev = jsonOf(admin.must(`query($id: ID) { auditEvents(filter: {userId: $id}) { edges { node { action } } } }`, map[string]any{"id": cm["cm1"]}))
		for _, a := range []string{"mfa.reset", "license.seat_released"} {
			if !strings.Contains(ev, a) {
				t.Fatalf("no %s for cm1: %s", a, ev)
			}
		}
		admin.must(`mutation($id: ID!) { reactivateUser(input: {userId: $id}) { user { id } } }`, map[string]any{"id": cm["cm1"]})
		enrolOnTicket(t, e, "cm1", "cm1-password-1") // 6/7: 80 % (3)
		enrolOnTicket(t, e, "cm7", "cm7-password-1") // 7/7: 100 % (2)
		for _, n := range []string{"cm2", "cm3", "cm4"} {
			admin.must(`mutation($id: ID!) { resetUserMfa(input: {userId: $id}) { user { id } } }`, map[string]any{"id": cm[n]})
		}
		if u := usage(t, admin); u["used"] != float64(4) {
			t.Fatalf("after resets: %v", u)
		}
		enrolOnTicket(t, e, "cm2", "cm2-password-1") // 5/7
		enrolOnTicket(t, e, "cm3", "cm3-password-1") // 6/7: 80 % (4)
		e.mailed("bill@example.com", subjAlert80, 4)
		e.mailed("bill@example.com", subjAlert100, 2)
		u = usage(t, admin)
		d := admin.must(`{ notifications(filter: {event: "license.usage"}) { totalCount } }`, nil)
		if dig(d, "notifications", "totalCount") != float64(6) {
			t.Fatalf("usage alerts written: %v (want 4 at 80 %% and 2 at 100 %%)", d)
		}
		h := u["history"].([]any)
		if len(h) != 3 || dig(h[2], "used") != float64(6) || dig(h[2], "seats") != float64(7) {
			t.Fatalf("history: %v", h)
		}
	})
}

// TestMasterSwitchAndSubscription: off (or unsubscribed) overrides every
// policy: nobody is asked or offered MFA, factors are kept dormant, no
// mfa.required mail is written; on restores the policies.
func TestMasterSwitchAndSubscription(t *testing.T) {
	eachOperatorDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		org := demoID(t, admin)
		e.createUser(admin, map[string]any{"username": "ann", "email": "ann@example.com", "password": "ann-password-1", "userType": "case_manager"})
		e.createUser(admin, map[string]any{"username": "ben", "email": "ben@example.com", "password": "ben-password-1", "userType": "case_manager"})
		ann := e.loginAs("ann", "ann-password-1")
		enrolTOTP(t, ann, nil)
		setOff := `mutation($on: Boolean!) { setOrganizationMfa(input: {enabled: $on}) { mfaEnabled } }`
		mgr := e.createUser(admin, map[string]any{"username": "mgr", "email": "mgr@example.com", "password": "mgr-password-1", "permissions": []string{"MANAGE_USERS"}})
		_ = mgr
		wantError(t, "MANAGE_USERS switches MFA", e.loginAs("mgr", "mgr-password-1").post(setOff, map[string]any{"on": false}), "FORBIDDEN", "")
		if u := usage(t, admin); u["mfaEnabled"] != true {
			t.Fatalf("a refused switch changed it: %v", u)
		}
		requiredMails := func() float64 {
			d := admin.must(`{ notifications(filter: {event: "mfa.required"}) { totalCount } }`, nil)
			return dig(d, "notifications", "totalCount").(float64)
		}
		for _, off := range []struct{ name, reason string }{{"switch", mfa.ReasonSwitchedOff}, {"subscription", mfa.ReasonNotSubscribed}} {
			if off.name == "switch" {
				admin.must(setOff, map[string]any{"on": false})
			} else {
				setSeats(t, e, org, nil, false)
			}
			before := requiredMails()
			e.setPolicy(admin, map[string]any{"scope": map[string]any{"userType": "case_manager"}, "mode": "REQUIRED"})
			if p := loginSkip(t, e, "ann", "ann-password-1"); p["status"] != "AUTHENTICATED" || p["mfaSkippedReason"] != nil {
				t.Fatalf("%s off: enrolled ann: %v", off.name, p)
			}
			if p := loginSkip(t, e, "ben", "ben-password-1"); p["status"] != "AUTHENTICATED" {
				t.Fatalf("%s off: required ben: %v", off.name, p)
			}
			ben := e.loginAs("ben", "ben-password-1")
			wantError(t, off.name+" off: ben enrols", ben.post(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp"}}), "FORBIDDEN", off.reason)
			d := admin.must(`{ users(filter: {mfaRequired: true}) { totalCount } mfaStats { required } }`, nil)
			if dig(d, "users", "totalCount") != float64(0) || strings.Contains(jsonOf(d["mfaStats"]), `"required":1`) {
				t.Fatalf("%s off: lists still count required users: %v", off.name, d)
			}
			if n := requiredMails(); n != before {
				t.Fatalf("%s off: %v mfa.required mails written", off.name, n-before)
			}
			if got := mfaState(t, admin, lookupUserID(t, admin, "ann")); !strings.HasPrefix(got, "enrolled=true factors=1") {
				t.Fatalf("%s off: ann's factor is not kept: %s", off.name, got)
			}
			if off.name == "switch" {
				admin.must(setOff, map[string]any{"on": true})
			} else {
				setSeats(t, e, org, nil, true)
			}
			e.setPolicy(admin, map[string]any{"scope": map[string]any{"userType": "case_manager"}, "mode": "OPTIONAL"})
			if p := loginSkip(t, e, "ann", "ann-password-1"); p["status"] != "MFA_REQUIRED" {
				t.Fatalf("%s on again: ann: %v", off.name, p)
			}
		}
		ev := jsonOf(admin.must(`{ auditEvents(filter: {action: "organization.mfa_switched"}) { totalCount } }`, nil))
		if !strings.Contains(ev, `"totalCount":2`) {
			t.Fatalf("switches audited: %s", ev)
		}
	})
}

// TestSeatBurstOverThreeServers: many users complete their first
// enrolment at once through three servers; exactly the seats are taken,
// the others get NO_SEAT_AVAILABLE, and the billing contact gets exactly
// one 80 % and one 100 % alert.
func TestSeatBurstOverThreeServers(t *testing.T) {
	eachOperatorDB(t, func(t *testing.T, e *env) {
		users, seats := 500, 300
		if e.cfg.DatabaseURL[:6] == "sqlite" {
			users, seats = 120, 70 // one writer at a time: the rule, not the load
		}
		admin := e.admin()
		org := demoID(t, admin)
		setSeats(t, e, org, seats, true)
		bill := e.createUser(admin, map[string]any{"username": "bill", "email": "bill@example.com", "password": "bill-password-1"})
		admin.must(`mutation($id: ID!) { setBillingContact(input: {userId: $id, billingContact: true}) { user { id } } }`, map[string]any{"id": bill})
		st, err := models.Open(context.Background(), e.cfg.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		hash, err := argon2id.CreateHash("burst-password-1", &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		us := make([]mfa.User, users)
		for i := range us {
			n := fmt.Sprintf("burst%04d", i)
			us[i] = mfa.User{ID: uuid.Must(uuid.NewV7()).String(), Username: n, Email: n + "@example.com", PasswordHash: hash,
				Status: mfa.UserActive, CreatedAt: now, UpdatedAt: now}
		}
		if err := st.BulkCreateUsers(context.Background(), org, us); err != nil {
			t.Fatal(err)
		}
		servers := []string{e.srv.URL, e.startServer().URL, e.startServer().URL}
		// Every user logs in and begins (a seat is free for all of them
		// now), then all complete at once.
		type pending struct {
			c   *client
			id  string
			app *totpApp
		}
		ps := make([]pending, users)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for i := range us {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				c := e.loginIn(servers[i%3], "demo", us[i].Username, "burst-password-1")
				d := c.must(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp"}})
				ps[i] = pending{c: c, id: dig(d, "beginEnrollment", "enrollmentId").(string), app: newTOTPApp(t, dig(d, "beginEnrollment", "clientData", "secret").(string))}
			}(i)
		}
		wg.Wait()
		var ok, noSeat, other atomic.Int64
		start := make(chan struct{})
		begun := time.Now()
		for i := range ps {
			wg.Add(1)
			go func(p pending) {
				defer wg.Done()
				<-start
				r := p.c.post(completeEnrollment, map[string]any{"in": map[string]any{"enrollmentId": p.id, "response": map[string]any{"code": p.app.next()}}})
				switch {
				case len(r.Errors) == 0:
					ok.Add(1)
				case r.code() == "FORBIDDEN" && reasonOf(r) == mfa.ReasonNoSeat:
					noSeat.Add(1)
				default:
					other.Add(1)
					t.Errorf("completeEnrollment: %+v", r.Errors)
				}
			}(ps[i])
		}
		close(start)
		wg.Wait()
		t.Logf("%d parallel completions over 3 servers in %s: %d took a seat, %d NO_SEAT_AVAILABLE", users, time.Since(begun), ok.Load(), noSeat.Load())
		if ok.Load() != int64(seats) || noSeat.Load() != int64(users-seats) {
			t.Fatalf("seats %d: %d enrolled, %d refused, %d other errors", seats, ok.Load(), noSeat.Load(), other.Load())
		}
		u := usage(t, admin)
		if u["used"] != float64(seats) || u["enrolledUsers"] != float64(seats) {
			t.Fatalf("usage after the burst: %v", u)
		}
		e.mailed("bill@example.com", subjAlert80, 1)
		e.mailed("bill@example.com", subjAlert100, 1)
		// Every mail of the burst is out: the outbox is empty of pending rows.
		d := admin.must(`{ notifications(filter: {event: "license.usage"}) { totalCount } }`, nil)
		if dig(d, "notifications", "totalCount") != float64(2) {
			t.Fatalf("usage alerts written: %v", d)
		}
	})
}
