package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestLoginAnswersAlikeForWrongPasswordAndUnknownUser(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		c := e.client()
		p, _ := c.login("demo", "admin", adminPassword)
		if p["status"] != "AUTHENTICATED" || p["token"] == "" || dig(p, "user", "username") != "admin" {
			t.Fatalf("login: %+v", p)
		}
		// The bearer token works for an API client.
		api := e.client()
		api.origin, api.token = "", p["token"].(string)
		if u := dig(api.must(`{ viewer { username permissions organization { slug } } }`, nil), "viewer", "organization", "slug"); u != "demo" {
			t.Fatalf("viewer organization = %v", u)
		}
		// The cookie works for the browser that logged in.
		if u := dig(c.must(`{ viewer { username } }`, nil), "viewer", "username"); u != "admin" {
			t.Fatalf("cookie viewer = %v", u)
		}

		var answers []string
		for _, try := range [][3]string{
			{"demo", "admin", "wrong-password-123"},
			{"demo", "nobody", adminPassword},
			{"nowhere", "admin", adminPassword},
			{"demo", "ADMIN@demo.invalid", "wrong-password-123"},
		} {
			_, r := e.client().login(try[0], try[1], try[2])
			if len(r.Errors) != 1 {
				t.Fatalf("%v: want one error, got %+v", try, r)
			}
			answers = append(answers, comparable(r))
		}
		for _, a := range answers[1:] {
			if a != answers[0] {
				t.Fatalf("answers differ, revealing which part was wrong:\n%s\n%s", answers[0], a)
			}
		}
		if !strings.Contains(answers[0], "UNAUTHENTICATED") {
			t.Fatalf("answer %q lacks UNAUTHENTICATED", answers[0])
		}
		// Login by email works too.
		if p, _ := e.client().login("demo", "admin@demo.invalid", adminPassword); p["status"] != "AUTHENTICATED" {
			t.Fatalf("login by email: %+v", p)
		}
	})
}

func TestLockoutAfterFifthFailureAndReleaseAfterPeriod(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		e.createUser(admin, map[string]any{"username": "carol", "email": "carol@example.com", "password": "carol-password-1"})
		c := e.client()
		for i := 1; i <= 4; i++ {
			if _, r := c.login("demo", "carol", "wrong-password-xx"); r.code() != "UNAUTHENTICATED" {
				t.Fatalf("failure %d: %+v", i, r)
			}
		}
		if p, _ := c.login("demo", "carol", "wrong-password-xx"); p["status"] != "LOCKED" {
			t.Fatalf("5th failure: %+v, want LOCKED", p)
		}
		// Locked: even the right password gets LOCKED and no token.
		if p, _ := c.login("demo", "carol", "carol-password-1"); p["status"] != "LOCKED" || p["token"] != nil {
			t.Fatalf("locked login: %+v", p)
		}
		uid := lookupUserID(t, admin, "carol")
		if dig(admin.must(`query($id: ID!) { user(id: $id) { locked } }`, map[string]any{"id": uid}), "user", "locked") != true {
			t.Fatal("admin does not see the lock")
		}
		e.clock.Advance(14 * time.Minute)
		if p, _ := c.login("demo", "carol", "carol-password-1"); p["status"] != "LOCKED" {
			t.Fatalf("after 14 min: %+v", p)
		}
		e.clock.Advance(time.Minute)
		if p, _ := c.login("demo", "carol", "carol-password-1"); p["status"] != "AUTHENTICATED" {
			t.Fatalf("after 15 min: %+v", p)
		}
		events := admin.must(`query($id: ID) { auditEvents(first: 50, filter: {userId: $id}) { edges { node { action } } } }`, map[string]any{"id": uid})
		actions := fmt.Sprint(dig(events, "auditEvents", "edges"))
		for _, want := range []string{"login.failed", "login.locked", "login.succeeded"} {
			if !strings.Contains(actions, want) {
				t.Errorf("audit lacks %s: %s", want, actions)
			}
		}
	})
}

func TestAdminUnlocksUser(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		uid := e.createUser(admin, map[string]any{"username": "dave", "email": "dave@example.com", "password": "dave-password-1"})
		for range 5 {
			e.client().login("demo", "dave", "wrong-password-xx")
		}
		admin.must(`mutation($id: ID!) { unlockUser(input: {userId: $id}) { user { locked } } }`, map[string]any{"id": uid})
		if p, _ := e.client().login("demo", "dave", "dave-password-1"); p["status"] != "AUTHENTICATED" {
			t.Fatalf("after unlock: %+v", p)
		}
	})
}

func TestSessionExpiryAndLogout(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		viewer := `{ viewer { username } }`
		// Idle expiry: one hour without use.
		c := e.admin()
		e.clock.Advance(59 * time.Minute)
		if dig(c.must(viewer, nil), "viewer") == nil {
			t.Fatal("session ended before the idle timeout")
		}
		e.clock.Advance(61 * time.Minute)
		if dig(c.must(viewer, nil), "viewer") != nil {
			t.Fatal("idle session still valid")
		}
		// Absolute expiry: 12 hours even when busy.
		c = e.admin()
		for range 12 {
			e.clock.Advance(55 * time.Minute)
			c.must(viewer, nil)
		}
		e.clock.Advance(61 * time.Minute)
		if dig(c.must(viewer, nil), "viewer") != nil {
			t.Fatal("session outlived its absolute lifetime")
		}
		// logout ends only this session; logoutEverywhere ends all.
		a, b, d := e.admin(), e.admin(), e.admin()
		a.must(`mutation { logout { ok } }`, nil)
		if dig(a.must(viewer, nil), "viewer") != nil || dig(b.must(viewer, nil), "viewer") == nil {
			t.Fatal("logout ended the wrong sessions")
		}
		b.must(`mutation { logoutEverywhere { ok } }`, nil)
		if dig(b.must(viewer, nil), "viewer") != nil || dig(d.must(viewer, nil), "viewer") != nil {
			t.Fatal("logoutEverywhere left a session")
		}
		if r := b.post(`mutation { logout { ok } }`, nil); r.code() != "UNAUTHENTICATED" {
			t.Fatalf("logout without session: %+v", r)
		}
	})
}

func TestChangePasswordEndsOtherSessions(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		me, other := e.admin(), e.admin()
		change := `mutation($c: String!, $n: String!) { changePassword(input: {currentPassword: $c, newPassword: $n}) { user { username } } }`
		for name, tc := range map[string]struct{ cur, next, field string }{
			"wrong current":   {"not-the-password", "a-brand-new-passphrase", "currentPassword"},
			"too short":       {adminPassword, "short", "newPassword"},
			"equals username": {adminPassword, "ADMINADMINADMIN"[:5], "newPassword"},
			"too long":        {adminPassword, strings.Repeat("x", 257), "newPassword"},
		} {
			r := me.post(change, map[string]any{"c": tc.cur, "n": tc.next})
			if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != tc.field {
				t.Fatalf("%s: %+v", name, r)
			}
		}
		me.must(change, map[string]any{"c": adminPassword, "n": "a-brand-new-passphrase"})
		if dig(me.must(`{ viewer { username } }`, nil), "viewer") == nil {
			t.Fatal("changing the password ended the current session")
		}
		if dig(other.must(`{ viewer { username } }`, nil), "viewer") != nil {
			t.Fatal("other session survived a password change")
		}
		if _, r := e.client().login("demo", "admin", adminPassword); r.code() != "UNAUTHENTICATED" {
			t.Fatal("old password still works")
		}
		e.loginAs("admin", "a-brand-new-passphrase")
	})
}

func TestCSRFRulesForCookieSessions(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		browser := e.client()
		if p, _ := browser.login("demo", "admin", adminPassword); p["status"] != "AUTHENTICATED" {
			t.Fatal("login")
		}
		body := `{"query":"mutation { createCompany(input: {name: \"Evil Corp\"}) { company { id } } }"}`
		send := func(contentType, origin string) int {
			req, _ := http.NewRequest(http.MethodPost, browser.url+"/graphql", bytes.NewBufferString(body))
			if contentType != "" {
				req.Header.Set("Content-Type", contentType)
			}
			if origin != "" {
				req.Header.Set("Origin", origin)
			}
			return browser.send(req).Status
		}
		for name, tc := range map[string]struct {
			contentType, origin string
		}{
			"no origin":        {"application/json", ""},
			"foreign origin":   {"application/json", "https://evil.example"},
			"form post":        {"application/x-www-form-urlencoded", appOrigin},
			"text/plain":       {"text/plain", appOrigin},
			"null origin":      {"application/json", "null"},
			"no content type":  {"", appOrigin},
			"origin prefix ok": {"application/json", appOrigin + ".evil.example"},
		} {
			if got := send(tc.contentType, tc.origin); got != http.StatusForbidden {
				t.Errorf("%s: status %d, want 403", name, got)
			}
		}
		admin := e.admin()
		if n := len(nodes(admin.must(`{ companies { edges { node { id } } } }`, nil), "companies")); n != 0 {
			t.Fatalf("a refused request changed data: %d companies", n)
		}
		if got := send("application/json; charset=utf-8", appOrigin); got != http.StatusOK {
			t.Fatalf("allowed origin: status %d", got)
		}
		// Bearer without cookie: no Origin needed.
		if r := admin.post(`{ viewer { username } }`, nil); r.Status != http.StatusOK || len(r.Errors) > 0 {
			t.Fatalf("bearer request: %+v", r)
		}
		// CORS: the allowed origin may read responses with credentials.
		req, _ := http.NewRequest(http.MethodOptions, browser.url+"/graphql", nil)
		req.Header.Set("Origin", appOrigin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Access-Control-Allow-Origin") != appOrigin || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Fatalf("preflight headers: %v", resp.Header)
		}
	})
}

func lookupUserID(t *testing.T, admin *client, username string) string {
	t.Helper()
	d := admin.must(`query($s: String) { users(filter: {search: $s}) { edges { node { id username } } } }`, map[string]any{"s": username})
	for _, e := range dig(d, "users", "edges").([]any) {
		if dig(e, "node", "username") == username {
			return dig(e, "node", "id").(string)
		}
	}
	t.Fatalf("user %s not found", username)
	return ""
}

func TestAuthRateLimitPerAddress(t *testing.T) {
	cfg := testConfig("sqlite://" + t.TempDir() + "/db")
	cfg.MFA.AuthRatePerMinute = 8 // a burst of 2, then one every 7.5 s
	e := &env{t: t, cfg: cfg, clock: &clock{now: time.Now().UTC()}}
	e.srv = e.startServer()
	var codes []string
	for i := range 4 {
		_, r := e.client().login("demo", fmt.Sprintf("sprayed-user-%d", i), "some-password-1")
		codes = append(codes, r.code())
	}
	if strings.Join(codes, ",") != "UNAUTHENTICATED,UNAUTHENTICATED,RATE_LIMITED,RATE_LIMITED" {
		t.Fatalf("answers: %v", codes)
	}
	e.clock.Advance(8 * time.Second)
	if p, _ := e.client().login("demo", "admin", adminPassword); p["status"] != "AUTHENTICATED" {
		t.Fatal("not allowed again after the refill")
	}
}
