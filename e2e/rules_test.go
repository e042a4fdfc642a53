package e2e

// Tests that fail when one line of a security rule is broken: each asserts
// the exact code (and reason or field) of a refusal and that the refused
// call changed nothing.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/server"
)

const (
	completeEnrollmentTrust = `mutation($in: CompleteEnrollmentInput!) { completeEnrollment(input: $in) {
  enrollment { id status } status token trustedBrowserToken trustedBrowserExpiresAt } }`
	beginVerification = `mutation($in: BeginVerificationInput!) { beginVerification(input: $in) { clientData } }`
	viewerQuery       = `{ viewer { username } }`
)

// otherOrganization creates a second organization with its own admin (a
// server started with another bootstrap organization creates it, as the
// first one was) and returns an API client of that admin.
func (e *env) otherOrganization(slug string) *client {
	e.t.Helper()
	cfg := e.cfg
	cfg.BootstrapOrg, cfg.BootstrapAdmin = slug, "admin"
	s, err := server.New(context.Background(), cfg, server.WithMFAOptions(mfa.WithClock(e.clock)))
	if err != nil {
		e.t.Fatalf("server.New for %s: %v", slug, err)
	}
	hs := httptest.NewServer(s.Handler())
	e.t.Cleanup(func() { hs.Close(); s.Close() })
	c := e.clientOf(hs)
	c.origin, c.http = "", &http.Client{} // an API client: no cookies, no Origin
	p, r := c.login(slug, "admin", adminPassword)
	if p == nil || p["status"] != "AUTHENTICATED" {
		e.t.Fatalf("login to %s: %+v %+v", slug, p, r.Errors)
	}
	c.token = p["token"].(string)
	return c
}

// wantRefusal fails unless r was refused with code and, when given, reason
// and field.
func wantRefusal(t *testing.T, what string, r response, code, reason, field string) {
	t.Helper()
	if len(r.Errors) == 0 {
		t.Errorf("%s: accepted (%v), want %s", what, jsonOf(r.Data), code)
		return
	}
	ext := r.Errors[0].Extensions
	if r.code() != code || (reason != "" && ext["reason"] != reason) || (field != "" && ext["field"] != field) {
		t.Errorf("%s: got %v %q, want code %s reason %q field %q", what, ext, r.Errors[0].Message, code, reason, field)
	}
}

// noSession fails if the browser c holds a session.
func noSession(t *testing.T, what string, c *client) {
	t.Helper()
	if v := dig(c.must(viewerQuery, nil), "viewer"); v != nil {
		t.Errorf("%s: the browser has a session as %v", what, v)
	}
}

// userAuditCount counts a user's audit events of one action.
func userAuditCount(t *testing.T, admin *client, userID, action string) float64 {
	t.Helper()
	d := admin.must(`query($id: ID!, $a: String!) { auditEvents(filter: {userId: $id, action: $a}) { totalCount } }`,
		map[string]any{"id": userID, "a": action})
	return dig(d, "auditEvents", "totalCount").(float64)
}

// beginTicketEnrollment begins a TOTP enrolment on an ENROLLMENT_REQUIRED
// ticket and returns the enrollment id and the app.
func beginTicketEnrollment(t *testing.T, c *client, ticket string) (string, *totpApp) {
	t.Helper()
	d := c.must(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp", "ticket": ticket}})
	return dig(d, "beginEnrollment", "enrollmentId").(string), newTOTPApp(t, dig(d, "beginEnrollment", "clientData", "secret").(string))
}

func TestEnrollmentDuringLoginTrustsTheBrowser(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		// firstLogin logs name in under a REQUIRED user policy with the given
		// trusted-browser days and enrols TOTP on the ticket.
		firstLogin := func(name string, days int, trust bool) (*client, map[string]any) {
			t.Helper()
			_, id := newUser(t, e, admin, name, nil)
			e.setPolicy(admin, map[string]any{"scope": map[string]any{"userId": id}, "mode": "REQUIRED", "trustedBrowserDays": days})
			browser := e.client()
			p := loginStep(t, browser, name, name+"-password-1")
			if p["status"] != "ENROLLMENT_REQUIRED" || p["trustBrowserOffered"] != (days > 0) {
				t.Fatalf("%s: first login: %v", name, p)
			}
			eid, app := beginTicketEnrollment(t, browser, p["ticket"].(string))
			d := browser.must(completeEnrollmentTrust, map[string]any{"in": map[string]any{
				"enrollmentId": eid, "ticket": p["ticket"], "response": map[string]any{"code": app.next()}, "trustBrowser": trust}})
			out := d["completeEnrollment"].(map[string]any)
			if out["status"] != "AUTHENTICATED" || out["token"] == nil {
				t.Fatalf("%s: enrolment did not finish the login: %v", name, out)
			}
			return browser, out
		}
		loginWith := func(c *client, name, token string) string {
			t.Helper()
			r := c.post(loginWithFactors, map[string]any{"o": "demo", "u": name, "p": name + "-password-1", "tb": token})
			if len(r.Errors) > 0 {
				t.Fatalf("login %s: %+v", name, r.Errors)
			}
			return dig(r.Data, "login", "status").(string)
		}

		// Trusted: the token (and the browser's cookie) skip the second factor.
		now := e.clock.Now()
		browser, out := firstLogin("nina", 30, true)
		token, _ := out["trustedBrowserToken"].(string)
		if token == "" {
			t.Fatalf("no trusted-browser token: %v", out)
		}
		if exp, err := time.Parse(time.RFC3339Nano, fmt.Sprint(out["trustedBrowserExpiresAt"])); err != nil || exp.Sub(now.Add(30*24*time.Hour)).Abs() > time.Second {
			t.Errorf("trustedBrowserExpiresAt %v (%v), want %v", out["trustedBrowserExpiresAt"], err, now.Add(30*24*time.Hour))
		}
		if s := loginWith(e.client(), "nina", token); s != "AUTHENTICATED" {
			t.Fatalf("login with the trusted-browser token: %s", s)
		}
		if s := loginWith(browser, "nina", ""); s != "AUTHENTICATED" {
			t.Fatalf("login from the trusted browser's cookie: %s", s)
		}
		if s := loginWith(e.client(), "nina", ""); s != "MFA_REQUIRED" {
			t.Fatalf("login from another browser: %s", s)
		}
		if n := userAuditCount(t, admin, lookupUserID(t, admin, "nina"), "trust.granted"); n != 1 {
			t.Errorf("trust.granted events: %v", n)
		}

		// Not asked: no token, no cookie.
		browser, out = firstLogin("omar", 30, false)
		if out["trustedBrowserToken"] != nil || out["trustedBrowserExpiresAt"] != nil {
			t.Fatalf("trusted without being asked: %v", out)
		}
		if s := loginWith(browser, "omar", ""); s != "MFA_REQUIRED" {
			t.Fatalf("untrusted browser skipped the second factor: %s", s)
		}

		// A policy of 0 days: the request is ignored, as verifyFactor does.
		browser, out = firstLogin("pia", 0, true)
		if out["trustedBrowserToken"] != nil {
			t.Fatalf("trusted with 0 days: %v", out)
		}
		if s := loginWith(browser, "pia", ""); s != "MFA_REQUIRED" {
			t.Fatalf("0 days: the browser skipped the second factor: %s", s)
		}
		if n := userAuditCount(t, admin, lookupUserID(t, admin, "pia"), "trust.granted"); n != 0 {
			t.Errorf("trust.granted with 0 days: %v", n)
		}

		// Outside a login there is no browser to trust: refused, and the
		// enrolment is left pending.
		quinn, _ := newUser(t, e, admin, "quinn", nil)
		d := quinn.must(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp"}})
		eid := dig(d, "beginEnrollment", "enrollmentId")
		app := newTOTPApp(t, dig(d, "beginEnrollment", "clientData", "secret").(string))
		r := quinn.post(completeEnrollmentTrust, map[string]any{"in": map[string]any{"enrollmentId": eid, "response": map[string]any{"code": app.peek()}, "trustBrowser": true}})
		wantRefusal(t, "trustBrowser without a ticket", r, "BAD_USER_INPUT", "", "trustBrowser")
		if n := len(nodes(quinn.must(`{ myEnrollments { edges { node { id } } } }`, nil), "myEnrollments")); n != 0 {
			t.Fatalf("a refused completion activated the enrolment: %d", n)
		}
		quinn.must(completeEnrollment, map[string]any{"in": map[string]any{"enrollmentId": eid, "response": map[string]any{"code": app.next()}}})
	})
}

func TestLoginTicketRefusesAnotherUsersEnrollment(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		victim, victimID := newUser(t, e, admin, "victor", nil)
		victimApp, victimEID, _ := enrolTOTP(t, victim, nil)
		mallory, _ := newUser(t, e, admin, "mallory", nil)
		malApp, malEID, _ := enrolTOTP(t, mallory, nil)
		logins := userAuditCount(t, admin, victimID, "login.succeeded")

		// Mallory knows victor's password and answers his ticket with her own
		// authenticator.
		browser := e.client()
		p := loginStep(t, browser, "victor", "victor-password-1")
		if p["status"] != "MFA_REQUIRED" {
			t.Fatalf("victor's login: %v", p)
		}
		ticket := p["ticket"].(string)
		r := browser.post(beginVerification, map[string]any{"in": map[string]any{"ticket": ticket, "enrollmentId": malEID}})
		wantRefusal(t, "beginVerification with another user's enrollment", r, "NOT_FOUND", "", "enrollmentId")
		r = verify(browser, ticket, malEID, map[string]any{"code": malApp.next()}, true)
		wantRefusal(t, "verifyFactor with another user's enrollment", r, "NOT_FOUND", "", "enrollmentId")
		if dig(r.Data, "verifyFactor") != nil {
			t.Fatalf("verifyFactor answered data: %v", r.Data)
		}
		noSession(t, "another user's factor", browser)
		if n := userAuditCount(t, admin, victimID, "login.succeeded"); n != logins {
			t.Fatalf("victor logged in: %v successful logins, was %v", n, logins)
		}
		// The ticket still belongs to victor's own factor.
		r = verify(browser, ticket, victimEID, map[string]any{"code": victimApp.next()}, false)
		if len(r.Errors) > 0 || dig(r.Data, "verifyFactor", "user", "username") != "victor" {
			t.Fatalf("victor's own factor: %+v", r)
		}

		// The same on an enrolment ticket: mallory's pending enrolment cannot
		// finish wendy's login, and stays mallory's.
		_, wendyID := newUser(t, e, admin, "wendy", nil)
		e.setPolicy(admin, map[string]any{"scope": map[string]any{"userId": wendyID}, "mode": "REQUIRED"})
		d := mallory.must(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp", "label": "second"}})
		pending := dig(d, "beginEnrollment", "enrollmentId").(string)
		pendingApp := newTOTPApp(t, dig(d, "beginEnrollment", "clientData", "secret").(string))
		browser = e.client()
		p = loginStep(t, browser, "wendy", "wendy-password-1")
		if p["status"] != "ENROLLMENT_REQUIRED" {
			t.Fatalf("wendy's login: %v", p)
		}
		r = browser.post(completeEnrollmentTrust, map[string]any{"in": map[string]any{
			"enrollmentId": pending, "ticket": p["ticket"], "response": map[string]any{"code": pendingApp.peek()}, "trustBrowser": true}})
		wantRefusal(t, "completeEnrollment with another user's enrollment", r, "NOT_FOUND", "", "")
		noSession(t, "another user's enrolment", browser)
		if n := len(nodes(admin.must(`query($id: ID!) { userEnrollments(userId: $id) { edges { node { id } } } }`, map[string]any{"id": wendyID}), "userEnrollments")); n != 0 {
			t.Fatalf("wendy has %d factors", n)
		}
		mallory.must(completeEnrollment, map[string]any{"in": map[string]any{"enrollmentId": pending, "response": map[string]any{"code": pendingApp.next()}}})
	})
}

func TestAdminCannotReachAnotherOrganization(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		company := dig(admin.must(`mutation { createCompany(input: {name: "Demo Co"}) { company { id } } }`, nil), "createCompany", "company", "id").(string)
		dora, doraID := newUser(t, e, admin, "dora", map[string]any{"companyId": company, "userType": "clerk"})
		doraApp, doraEID, _ := enrolTOTP(t, dora, nil)
		// A trusted browser, a pending enrolment by the admin, a request and
		// policies, all of demo.
		p := loginStep(t, e.client(), "dora", "dora-password-1")
		if r := verify(e.client(), p["ticket"].(string), doraEID, map[string]any{"code": doraApp.next()}, true); len(r.Errors) > 0 {
			t.Fatalf("trust: %+v", r.Errors)
		}
		tbID := dig(admin.must(`query($id: ID!) { userTrustedBrowsers(userId: $id) { id } }`, map[string]any{"id": doraID})["userTrustedBrowsers"].([]any)[0], "id")
		pending := dig(admin.must(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp", "userId": doraID}}), "beginEnrollment", "enrollmentId")
		admin.must(`mutation($id: ID!) { requestEnrollment(input: {userId: $id, factorType: "passkey"}) { request { factorType } } }`, map[string]any{"id": doraID})
		e.setPolicy(admin, map[string]any{"scope": map[string]any{"userId": doraID}, "trustedBrowserDays": 7})
		e.setPolicy(admin, map[string]any{"scope": map[string]any{"companyId": company}, "trustedBrowserDays": 9})
		snapshot := func() string {
			return jsonOf(admin.must(`query($id: ID!) {
  user(id: $id) { username email displayName userType status locked permissions company { id name } enrollmentRequests { factorType } recoveryCodesLeft }
  userEnrollments(userId: $id) { edges { node { id label status } } }
  userTrustedBrowsers(userId: $id) { id expiresAt }
  policies { edges { node { scope { level companyId userType userId } mode allowedFactorTypes trustedBrowserDays } } }
  companies { edges { node { id name } } }
  users { totalCount }
}`, map[string]any{"id": doraID}))
		}
		before := snapshot()

		rival := e.otherOrganization("rival")
		rivalUser := e.createUser(rival, map[string]any{"username": "rita", "email": "rita@example.com", "password": "rita-password-1"})
		rivalBefore := jsonOf(rival.must(`{ users { totalCount } policies { edges { node { id } } } companies { edges { node { id } } } }`, nil))
		calls := map[string]struct {
			query string
			vars  map[string]any
		}{
			"user":                      {`query($id: ID!) { user(id: $id) { id } }`, map[string]any{"id": doraID}},
			"updateUser":                {`mutation($id: ID!) { updateUser(input: {userId: $id, displayName: "Owned"}) { user { id } } }`, map[string]any{"id": doraID}},
			"deactivateUser":            {`mutation($id: ID!) { deactivateUser(input: {userId: $id}) { user { id } } }`, map[string]any{"id": doraID}},
			"reactivateUser":            {`mutation($id: ID!) { reactivateUser(input: {userId: $id}) { user { id } } }`, map[string]any{"id": doraID}},
			"unlockUser":                {`mutation($id: ID!) { unlockUser(input: {userId: $id}) { user { id } } }`, map[string]any{"id": doraID}},
			"resetUserMfa":              {`mutation($id: ID!) { resetUserMfa(input: {userId: $id}) { user { id } } }`, map[string]any{"id": doraID}},
			"effectivePolicy":           {`query($id: ID!) { effectivePolicy(userId: $id) { mode } }`, map[string]any{"id": doraID}},
			"userEnrollments":           {`query($id: ID!) { userEnrollments(userId: $id) { edges { node { id } } } }`, map[string]any{"id": doraID}},
			"userTrustedBrowsers":       {`query($id: ID!) { userTrustedBrowsers(userId: $id) { id } }`, map[string]any{"id": doraID}},
			"removeUserEnrollment":      {`mutation($id: ID!) { removeUserEnrollment(input: {enrollmentId: $id}) { enrollmentId } }`, map[string]any{"id": doraEID}},
			"removeEnrollment":          {`mutation($id: ID!) { removeEnrollment(input: {enrollmentId: $id}) { enrollmentId } }`, map[string]any{"id": doraEID}},
			"renameEnrollment":          {`mutation($id: ID!) { renameEnrollment(input: {enrollmentId: $id, label: "owned"}) { enrollment { id } } }`, map[string]any{"id": doraEID}},
			"beginEnrollment for user":  {beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp", "userId": doraID}}},
			"completeEnrollment":        {completeEnrollment, map[string]any{"in": map[string]any{"enrollmentId": pending, "response": map[string]any{"code": "123456"}}}},
			"revokeTrustedBrowser":      {`mutation($id: ID!) { revokeTrustedBrowser(input: {trustedBrowserId: $id}) { ok } }`, map[string]any{"id": tbID}},
			"revokeAllTrustedBrowsers":  {`mutation($id: ID) { revokeAllTrustedBrowsers(input: {userId: $id}) { ok } }`, map[string]any{"id": doraID}},
			"requestEnrollment":         {`mutation($id: ID!) { requestEnrollment(input: {userId: $id, factorType: "totp"}) { request { factorType } } }`, map[string]any{"id": doraID}},
			"cancelEnrollmentRequest":   {`mutation($id: ID!) { cancelEnrollmentRequest(input: {userId: $id, factorType: "passkey"}) { ok } }`, map[string]any{"id": doraID}},
			"setPolicy user scope":      {`mutation($id: ID!) { setPolicy(input: {scope: {userId: $id}, mode: DISABLED, confirmRemoveFactors: true}) { policy { id } } }`, map[string]any{"id": doraID}},
			"setPolicy company scope":   {`mutation($c: ID!) { setPolicy(input: {scope: {companyId: $c}, mode: DISABLED}) { policy { id } } }`, map[string]any{"c": company}},
			"setPolicy company type":    {`mutation($c: ID!) { setPolicy(input: {scope: {companyId: $c, userType: "clerk"}, trustedBrowserDays: 0}) { policy { id } } }`, map[string]any{"c": company}},
			"clearPolicy user scope":    {`mutation($id: ID!) { clearPolicy(input: {scope: {userId: $id}}) { ok } }`, map[string]any{"id": doraID}},
			"clearPolicy company scope": {`mutation($c: ID!) { clearPolicy(input: {scope: {companyId: $c}}) { ok } }`, map[string]any{"c": company}},
			"createUser in the company": {`mutation($c: ID!) { createUser(input: {username: "mole", email: "mole@example.com", companyId: $c}) { user { id } } }`, map[string]any{"c": company}},
			"updateUser into the company": {`mutation($id: ID!, $c: ID!) { updateUser(input: {userId: $id, companyId: $c}) { user { id } } }`,
				map[string]any{"id": rivalUser, "c": company}},
		}
		for name, c := range calls {
			wantRefusal(t, name, rival.post(c.query, c.vars), "NOT_FOUND", "", "")
		}
		// Filters naming demo's objects find nothing in rival.
		for q, want := range map[string]string{
			`query($c: ID!) { users(filter: {companyId: $c}) { totalCount } }`:                                                                                         `{"users":{"totalCount":0}}`,
			`query($c: ID!, $id: ID!) { u: policies(filter: {userId: $id}) { edges { node { id } } } c: policies(filter: {companyId: $c}) { edges { node { id } } } }`: `{"c":{"edges":[]},"u":{"edges":[]}}`,
			`query($id: ID!) { auditEvents(filter: {userId: $id}) { totalCount } }`:                                                                                    `{"auditEvents":{"totalCount":0}}`,
		} {
			vars := map[string]any{}
			if strings.Contains(q, "$c") {
				vars["c"] = company
			}
			if strings.Contains(q, "$id") {
				vars["id"] = doraID
			}
			if got := jsonOf(rival.must(q, vars)); got != want {
				t.Errorf("%s: rival sees %s", q, got)
			}
		}
		if after := snapshot(); after != before {
			t.Fatalf("demo changed:\nbefore %s\nafter  %s", before, after)
		}
		if after := jsonOf(rival.must(`{ users { totalCount } policies { edges { node { id } } } companies { edges { node { id } } } }`, nil)); after != rivalBefore {
			t.Fatalf("rival changed: %s, was %s", after, rivalBefore)
		}
		// And dora still logs in with her factor.
		e.loginAs2FA(t, "dora", doraApp, doraEID)
	})
}

// policyValues are the three competing settings of a scope.
type policyValues struct {
	mode    string
	allowed string // one factor type
	days    int
}

func (v policyValues) input(scope map[string]any) map[string]any {
	return map[string]any{"scope": scope, "mode": v.mode, "allowedFactorTypes": []string{v.allowed}, "trustedBrowserDays": v.days}
}

func TestPolicyScopesCompeteInOrder(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		a := policyValues{mode: "REQUIRED", allowed: "totp", days: 3}
		b := policyValues{mode: "OPTIONAL", allowed: "passkey", days: 0}
		type level struct {
			name  string // ScopeLevel
			scope func(userID, company, userType string) map[string]any
		}
		user := level{"USER", func(u, _, _ string) map[string]any { return map[string]any{"userId": u} }}
		companyType := level{"COMPANY_USER_TYPE", func(_, c, ut string) map[string]any { return map[string]any{"companyId": c, "userType": ut} }}
		company := level{"COMPANY", func(_, c, _ string) map[string]any { return map[string]any{"companyId": c} }}
		userType := level{"USER_TYPE", func(_, _, ut string) map[string]any { return map[string]any{"userType": ut} }}
		org := level{"ORGANIZATION", func(_, _, _ string) map[string]any { return map[string]any{} }}
		// The organization pair runs last: it changes every user's policy.
		pairs := [][2]level{{user, companyType}, {companyType, company}, {company, userType}, {userType, org}}
		for i, pair := range pairs {
			hi, lo := pair[0], pair[1]
			name := fmt.Sprintf("pair%d", i)
			co := dig(admin.must(`mutation($n: String!) { createCompany(input: {name: $n}) { company { id } } }`, map[string]any{"n": name + " Co"}), "createCompany", "company", "id").(string)
			ut := name + "_type"
			_, uid := newUser(t, e, admin, name, map[string]any{"companyId": co, "userType": ut})
			hiScope, loScope := hi.scope(uid, co, ut), lo.scope(uid, co, ut)

			// check compares effectivePolicy (value and source of each
			// setting) and the login's answer with want.
			check := func(what string, want policyValues, modeFrom, allowedFrom, daysFrom string) {
				t.Helper()
				eff := jsonOf(admin.must(`query($id: ID!) { effectivePolicy(userId: $id) {
  mode modeSource allowedFactorTypes allowedFactorTypesSource trustedBrowserDays trustedBrowserDaysSource } }`, map[string]any{"id": uid})["effectivePolicy"])
				wantEff := fmt.Sprintf(`{"allowedFactorTypes":["%s"],"allowedFactorTypesSource":"%s","mode":"%s","modeSource":"%s","trustedBrowserDays":%d,"trustedBrowserDaysSource":"%s"}`,
					want.allowed, allowedFrom, want.mode, modeFrom, want.days, daysFrom)
				if eff != wantEff {
					t.Errorf("%s vs %s, %s: effectivePolicy\n got %s\nwant %s", hi.name, lo.name, what, eff, wantEff)
				}
				p := loginStep(t, e.client(), name, name+"-password-1")
				status := map[string]string{"REQUIRED": "ENROLLMENT_REQUIRED", "OPTIONAL": "AUTHENTICATED"}[want.mode]
				if p["status"] != status || jsonOf(p["allowedFactorTypes"]) != `["`+want.allowed+`"]` || p["trustBrowserOffered"] != (want.days > 0) {
					t.Errorf("%s vs %s, %s: login %v %v trustBrowserOffered %v, want %s [%s] %v",
						hi.name, lo.name, what, p["status"], p["allowedFactorTypes"], p["trustBrowserOffered"], status, want.allowed, want.days > 0)
				}
			}
			e.setPolicy(admin, a.input(hiScope))
			e.setPolicy(admin, b.input(loScope))
			check("a over b", a, hi.name, hi.name, hi.name)
			e.setPolicy(admin, b.input(hiScope))
			e.setPolicy(admin, a.input(loScope))
			check("b over a", b, hi.name, hi.name, hi.name)
			// Each setting alone on the specific scope wins; the others are
			// inherited one by one.
			clear := func(scope map[string]any) {
				admin.must(`mutation($s: PolicyScopeInput!) { clearPolicy(input: {scope: $s}) { ok } }`, map[string]any{"s": scope})
			}
			clear(hiScope)
			check("only the general scope", a, lo.name, lo.name, lo.name)
			e.setPolicy(admin, map[string]any{"scope": hiScope, "mode": b.mode})
			check("mode alone", policyValues{b.mode, a.allowed, a.days}, hi.name, lo.name, lo.name)
			clear(hiScope)
			e.setPolicy(admin, map[string]any{"scope": hiScope, "allowedFactorTypes": []string{b.allowed}})
			check("allowed types alone", policyValues{a.mode, b.allowed, a.days}, lo.name, hi.name, lo.name)
			clear(hiScope)
			e.setPolicy(admin, map[string]any{"scope": hiScope, "trustedBrowserDays": b.days})
			check("days alone", policyValues{a.mode, a.allowed, b.days}, lo.name, lo.name, hi.name)
			clear(hiScope)
			clear(loScope)
		}
	})
}

func TestTrustedBrowserKeepsItsExpiryWhenDaysAreRaised(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		_, id := newUser(t, e, admin, "tess", nil)
		tess := e.loginAs("tess", "tess-password-1")
		_, _, codes := enrolTOTP(t, tess, nil)
		e.setPolicy(admin, map[string]any{"scope": map[string]any{}, "trustedBrowserDays": 1})
		c := e.client()
		p := loginStep(t, c, "tess", "tess-password-1")
		r := verify(c, p["ticket"].(string), "", map[string]any{"recoveryCode": codes[0]}, true)
		token, _ := dig(r.Data, "verifyFactor", "trustedBrowserToken").(string)
		if token == "" {
			t.Fatalf("not trusted: %+v", r)
		}
		listed := func() string {
			return jsonOf(admin.must(`query($id: ID!) { userTrustedBrowsers(userId: $id) { id expiresAt } }`, map[string]any{"id": id}))
		}
		before := listed()
		e.setPolicy(admin, map[string]any{"scope": map[string]any{}, "trustedBrowserDays": 30})
		if after := listed(); after != before {
			t.Fatalf("raising the days changed the trusted browser: %s, was %s", after, before)
		}
		login := func() string {
			r := e.client().post(loginWithFactors, map[string]any{"o": "demo", "u": "tess", "p": "tess-password-1", "tb": token})
			return fmt.Sprintf("%v %v", dig(r.Data, "login", "status"), r.Errors)
		}
		e.clock.Advance(23 * time.Hour)
		if s := login(); s != "AUTHENTICATED []" {
			t.Fatalf("within the day it was trusted for: %s", s)
		}
		e.clock.Advance(2 * time.Hour)
		if s := login(); s != "MFA_REQUIRED []" {
			t.Fatalf("after its own expiry, with the policy raised to 30 days: %s", s)
		}
	})
}

func TestLoginTicketOfUserDeactivatedMidLogin(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		mia, miaID := newUser(t, e, admin, "mia", nil)
		app, eid, codes := enrolTOTP(t, mia, nil)
		deactivate := `mutation($id: ID!) { deactivateUser(input: {userId: $id}) { user { status } } }`
		reactivate := `mutation($id: ID!) { reactivateUser(input: {userId: $id}) { user { status } } }`
		status := func(id string) any {
			return dig(admin.must(`query($id: ID!) { user(id: $id) { status } }`, map[string]any{"id": id}), "user", "status")
		}
		logins := userAuditCount(t, admin, miaID, "login.succeeded")

		// Second factor: a code and a recovery code.
		for name, answer := range map[string]func(c *client, ticket string) response{
			"totp code": func(c *client, ticket string) response {
				return verify(c, ticket, eid, map[string]any{"code": app.next()}, true)
			},
			"recovery code": func(c *client, ticket string) response {
				return verify(c, ticket, "", map[string]any{"recoveryCode": codes[0]}, true)
			},
			"beginVerification": func(c *client, ticket string) response {
				return c.post(beginVerification, map[string]any{"in": map[string]any{"ticket": ticket, "enrollmentId": eid}})
			},
		} {
			browser := e.client()
			p := loginStep(t, browser, "mia", "mia-password-1")
			admin.must(deactivate, map[string]any{"id": miaID})
			r := answer(browser, p["ticket"].(string))
			wantRefusal(t, name+" after deactivation", r, "UNAUTHENTICATED", "INVALID_TICKET", "")
			noSession(t, name+" after deactivation", browser)
			if s := status(miaID); s != "DEACTIVATED" {
				t.Fatalf("%s: the refused answer changed the user's status to %v", name, s)
			}
			admin.must(reactivate, map[string]any{"id": miaID})
			// Deactivation reset mia's MFA (her seat is recycled): enrol
			// again for the next case (the closures read these).
			app, eid, codes = enrolTOTP(t, e.loginAs("mia", "mia-password-1"), nil)
			logins = userAuditCount(t, admin, miaID, "login.succeeded")
		}
		if n := userAuditCount(t, admin, miaID, "login.succeeded"); n != logins {
			t.Fatalf("%v successful logins, was %v", n, logins)
		}
		d := admin.must(`query($id: ID!) { user(id: $id) { recoveryCodesLeft } }`, map[string]any{"id": miaID})
		if dig(d, "user", "recoveryCodesLeft") != float64(10) {
			t.Fatalf("a refused recovery code was used up: %v", d)
		}

		// An enrolment ticket.
		_, nedID := newUser(t, e, admin, "ned", nil)
		e.setPolicy(admin, map[string]any{"scope": map[string]any{"userId": nedID}, "mode": "REQUIRED"})
		browser := e.client()
		p := loginStep(t, browser, "ned", "ned-password-1")
		pending, nedApp := beginTicketEnrollment(t, browser, p["ticket"].(string))
		admin.must(deactivate, map[string]any{"id": nedID})
		r := browser.post(completeEnrollmentTrust, map[string]any{"in": map[string]any{
			"enrollmentId": pending, "ticket": p["ticket"], "response": map[string]any{"code": nedApp.next()}, "trustBrowser": true}})
		wantRefusal(t, "completeEnrollment after deactivation", r, "UNAUTHENTICATED", "INVALID_TICKET", "")
		noSession(t, "enrolment after deactivation", browser)
		if n := len(nodes(admin.must(`query($id: ID!) { userEnrollments(userId: $id) { edges { node { id } } } }`, map[string]any{"id": nedID}), "userEnrollments")); n != 0 {
			t.Fatalf("a deactivated user's enrolment was activated: %d", n)
		}
		if s := status(nedID); s != "DEACTIVATED" {
			t.Fatalf("status %v", s)
		}
	})
}

func TestPasswordEqualToUsernameIsRefused(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		const name = "margaret.hamilton" // long enough for the length rule
		// Any case: the rule compares case-insensitively.
		r := admin.post(`mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } } }`, map[string]any{"in": map[string]any{
			"username": name, "email": "mh@example.com", "password": strings.ToUpper(name)}})
		wantRefusal(t, "createUser", r, "BAD_USER_INPUT", "", "password")
		if len(r.Errors) > 0 && !strings.Contains(r.Errors[0].Message, "username") {
			t.Errorf("createUser refused for another reason: %q", r.Errors[0].Message)
		}
		if n := dig(admin.must(`{ users { totalCount } }`, nil), "users", "totalCount"); n != float64(1) {
			t.Fatalf("the refused user was created: %v users", n)
		}
		// The same through changePassword.
		e.createUser(admin, map[string]any{"username": name, "email": "mh@example.com", "password": "apollo-guidance-1969"})
		mh := e.loginAs(name, "apollo-guidance-1969")
		r = mh.post(`mutation($c: String!, $n: String!) { changePassword(input: {currentPassword: $c, newPassword: $n}) { user { username } } }`,
			map[string]any{"c": "apollo-guidance-1969", "n": "Margaret.Hamilton"})
		wantRefusal(t, "changePassword", r, "BAD_USER_INPUT", "", "newPassword")
		if len(r.Errors) > 0 && !strings.Contains(r.Errors[0].Message, "username") {
			t.Errorf("changePassword refused for another reason: %q", r.Errors[0].Message)
		}
		if _, r := e.client().login("demo", name, "Margaret.Hamilton"); r.code() != "UNAUTHENTICATED" {
			t.Fatalf("the refused password works: %+v", r)
		}
		e.loginAs(name, "apollo-guidance-1969")
	})
}
