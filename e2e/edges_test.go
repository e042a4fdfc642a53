package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/server"
)

// loginEvents counts the audit events of login attempts.
func loginEvents(t *testing.T, admin *client) int {
	t.Helper()
	n := 0
	for _, a := range []mfa.AuditAction{mfa.AuditLoginSucceeded, mfa.AuditLoginFailed, mfa.AuditLoginLocked} {
		d := admin.must(`query($a: String) { auditEvents(filter: {action: $a}) { totalCount } }`, map[string]any{"a": string(a)})
		n += int(dig(d, "auditEvents", "totalCount").(float64))
	}
	return n
}

// TestAliasedSecretChecksAreRefused: one request cannot carry many
// password or code checks (aliases, fragments, different fields); it is
// refused before any runs, and what it tried counts against the rate.
func TestAliasedSecretChecksAreRefused(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		before := loginEvents(t, admin)
		e.cfg.MFA.AuthRatePerMinute = 60 // a burst of 15
		limited := e.startServer()
		e.cfg.MFA.AuthRatePerMinute = -1

		var q strings.Builder
		q.WriteString("mutation {")
		for i := range 100 {
			fmt.Fprintf(&q, ` l%d: login(input: {organization: "demo", username: "admin", password: "guess-number-%d"}) { status token }`, i, i)
		}
		q.WriteString(" }")
		for name, query := range map[string]string{
			"100 aliased logins": q.String(),
			"login and verifyFactor": `mutation { a: login(input: {organization: "demo", username: "admin", password: "guess-1"}) { status }
				b: verifyFactor(input: {ticket: "t", response: {code: "123456"}}) { status } }`,
			"through fragments": `mutation { ...A ...B } fragment A on Mutation { a: login(input: {organization: "demo", username: "admin", password: "guess-1"}) { status } }
				fragment B on Mutation { ... on Mutation { b: changePassword(input: {currentPassword: "guess-2", newPassword: "another-long-password"}) { user { id } } } }`,
		} {
			r := e.clientOf(limited).post(query, nil)
			if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["reason"] != "TOO_MANY_SECRET_CHECKS" || len(r.Data) > 0 {
				t.Errorf("%s: %+v %v, want BAD_USER_INPUT TOO_MANY_SECRET_CHECKS and no data", name, r.Errors, r.Data)
			}
		}
		if after := loginEvents(t, admin); after != before {
			t.Fatalf("refused requests ran %d login attempts", after-before)
		}
		// The 100 refused attempts spent the address's budget on that server.
		if _, r := e.clientOf(limited).login("demo", "admin", adminPassword); r.code() != "RATE_LIMITED" {
			t.Fatalf("login after 100 refused attempts: %+v, want RATE_LIMITED", r.Errors)
		}
		// One check per request is fine.
		if p, r := e.client().login("demo", "admin", adminPassword); p == nil || p["status"] != "AUTHENTICATED" {
			t.Fatalf("a single login: %+v", r.Errors)
		}
	})
}

// TestBearerRequestsAreExemptFromOriginChecks: the CSRF rule applies to
// cookie sessions and to anonymous browser requests, not to a bearer token
// without our cookie, whatever Origin it carries.
func TestBearerRequestsAreExemptFromOriginChecks(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		const foreign = "https://other-app.example"
		admin := e.admin()
		admin.origin = foreign
		if r := admin.post(`{ viewer { username } }`, nil); r.Status != http.StatusOK || dig(r.Data, "viewer", "username") != "admin" {
			t.Fatalf("bearer query with a foreign Origin: %d %+v", r.Status, r.Errors)
		}
		admin.must(`mutation { createCompany(input: {name: "Bearer Co"}) { company { id } } }`, nil)

		// A cookie session from a foreign origin is refused, bearer or not.
		browser := e.client()
		if p, _ := browser.login("demo", "admin", adminPassword); p["status"] != "AUTHENTICATED" {
			t.Fatal("browser login")
		}
		browser.origin = foreign
		if r := browser.post(`mutation { createCompany(input: {name: "Cookie Co"}) { company { id } } }`, nil); r.code() != "FORBIDDEN" {
			t.Fatalf("cookie request from a foreign origin: %+v", r)
		}
		browser.token = admin.token
		if r := browser.post(`mutation { createCompany(input: {name: "Cookie Co"}) { company { id } } }`, nil); r.code() != "FORBIDDEN" {
			t.Fatalf("cookie plus bearer from a foreign origin: %+v", r)
		}
		// An anonymous browser request from a foreign page is refused too
		// (no login CSRF).
		anon := e.client()
		anon.origin = foreign
		if _, r := anon.login("demo", "admin", adminPassword); r.code() != "FORBIDDEN" {
			t.Fatalf("anonymous login from a foreign origin: %+v", r)
		}
		d := admin.must(`{ companies { edges { node { name } } } }`, nil)
		if got := fmt.Sprint(nodes(d, "companies")); got != "[map[name:Bearer Co]]" {
			t.Fatalf("companies %s, want only the bearer one", got)
		}

		// The preflight advertises what is served: POST, not GET.
		req, _ := http.NewRequest(http.MethodOptions, e.srv.URL+"/graphql", nil)
		req.Header.Set("Origin", appOrigin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if m := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") || strings.Contains(m, "GET") {
			t.Fatalf("preflight allows %q", m)
		}
		resp, err = http.Get(e.srv.URL + "/graphql")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET /graphql: %d", resp.StatusCode)
		}
	})
}

// TestStartRefusesAWrongSealKey: a server whose keys cannot open the
// sealed data in the database does not start, and says which variables to
// fix; with the old key kept for rotation it starts and logins work.
func TestStartRefusesAWrongSealKey(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		alice, _ := newUser(t, e, e.admin(), "alice", nil)
		app, enrollmentID, _ := enrolTOTP(t, alice, nil)
		oldKey := e.cfg.SealKey
		newKey := make([]byte, 32)
		_, _ = rand.Read(newKey)

		cfg := e.cfg
		cfg.SealKey = newKey
		s, err := server.New(context.Background(), cfg)
		if err == nil {
			s.Close()
			t.Fatal("a server started with a seal key that cannot open the stored secrets")
		}
		for _, want := range []string{"TWOFOLD_SEAL_KEY", "TWOFOLD_SEAL_KEYS_OLD", mfa.KeyID(oldKey)} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("start-up error %q does not mention %s", err, want)
			}
		}

		cfg.OldSealKeys = [][]byte{oldKey}
		e.cfg = cfg
		rotated := e.startServer()
		c := e.clientOf(rotated)
		p := loginStep(t, c, "alice", "alice-password-1")
		if r := verify(c, p["ticket"].(string), enrollmentID, map[string]any{"code": app.next()}, false); len(r.Errors) > 0 {
			t.Fatalf("MFA login during a rotation: %+v", r.Errors)
		}
	})
}
