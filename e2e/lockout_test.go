package e2e

import (
	"fmt"
	"maps"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// auditCount counts the organization's events of action whose details have
// every key and value of match.
func auditCount(t *testing.T, admin *client, action string, match map[string]string) int {
	t.Helper()
	d := admin.must(`query($a: String) { auditEvents(first: 100, filter: {action: $a}) { edges { node { details } } } }`, map[string]any{"a": action})
	n := 0
	for _, edge := range dig(d, "auditEvents", "edges").([]any) {
		details, _ := dig(edge, "node", "details").(map[string]any)
		ok := true
		for k, v := range match {
			if details[k] != v {
				ok = false
			}
		}
		if ok {
			n++
		}
	}
	return n
}

// burst sends n requests at once, spread over the servers, and returns how
// many answers of each kind (status or error code) came back.
func burst(e *env, servers int, n int, send func(i int, c *client) string) map[string]int {
	hs := []*httptest.Server{e.srv}
	for range servers - 1 {
		hs = append(hs, e.startServer())
	}
	var mu sync.Mutex
	out := map[string]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a := send(i, e.clientOf(hs[i%len(hs)]))
			mu.Lock()
			out[a]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// comparable is a response's errors as text without what differs per
// request by design (the request id), for comparing two answers.
func comparable(r response) string {
	var out []string
	for _, e := range r.Errors {
		ext := maps.Clone(e.Extensions)
		delete(ext, "requestId")
		out = append(out, fmt.Sprint(e.Message, ext, e.Path))
	}
	return strings.Join(out, "; ")
}

// answer is a login answer's status, or its error code and reason.
func answer(r response, field string) string {
	if len(r.Errors) > 0 {
		return fmt.Sprint(r.code(), "/", r.Errors[0].Extensions["reason"])
	}
	if p, ok := r.Data[field].(map[string]any); ok {
		return fmt.Sprint(p["status"])
	}
	return "?"
}

// TestLockoutCannotBeOutrunAcrossServers: 50 wrong passwords at once over
// three servers evaluate exactly maxFailedAttempts of them (counted in the
// audit log), and the right password sent once the burst has begun to be
// refused gets LOCKED and no session.
func TestLockoutCannotBeOutrunAcrossServers(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		newUser(t, e, admin, "kim", nil)
		const n, max = 50, 5
		var answered atomic.Int32
		var right response
		done := make(chan struct{})
		got := burst(e, 3, n+1, func(i int, c *client) string {
			if i == n {
				// The right password, once the first answers are in.
				for answered.Load() < n/2 {
					time.Sleep(time.Millisecond)
				}
				_, right = c.login("demo", "kim", "kim-password-1")
				close(done)
				return "right"
			}
			_, r := c.login("demo", "kim", fmt.Sprintf("wrong-password-%02d", i))
			answered.Add(1)
			return answer(r, "login")
		})
		<-done
		if got["UNAUTHENTICATED/INVALID_CREDENTIALS"] > max-1 || got["LOCKED"] < n-max+1 || got["INTERNAL/<nil>"] > 0 {
			t.Fatalf("answers to %d wrong passwords: %v", n, got)
		}
		if p, _ := right.Data["login"].(map[string]any); p == nil || p["status"] != "LOCKED" || p["token"] != nil {
			t.Fatalf("right password after the lock: %+v", right)
		}
		if evaluated := auditCount(t, admin, "login.failed", map[string]string{"reason": "bad_password", "username": "kim"}); evaluated != max {
			t.Fatalf("%d wrong passwords were checked, want exactly %d", evaluated, max)
		}
		if locks := auditCount(t, admin, "login.locked", nil); locks < 1 {
			t.Fatal("no lock audited")
		}
	})
}

// TestSecondFactorsShareTheLockout: wrong passwords and 50 parallel wrong
// codes over three servers together evaluate exactly maxFailedAttempts
// secrets; then the right code and a recovery code are refused with LOCKED.
func TestSecondFactorsShareTheLockout(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		lee, _ := newUser(t, e, admin, "lee", nil)
		app, enr, codes := enrolTOTP(t, lee, nil)
		const n, max = 50, 5
		for i := range 2 {
			if _, r := e.client().login("demo", "lee", fmt.Sprintf("wrong-password-%d", i)); r.code() != "UNAUTHENTICATED" {
				t.Fatalf("wrong password %d: %+v", i, r.Errors)
			}
		}
		c := e.client()
		ticket := loginStep(t, c, "lee", "lee-password-1")["ticket"].(string)
		right := app.peek()
		got := burst(e, 3, n, func(i int, c *client) string {
			code := fmt.Sprintf("%06d", i)
			if code == right {
				code = "999999"
			}
			return answer(verify(c, ticket, enr, map[string]any{"code": code}, false), "verifyFactor")
		})
		if got["LOCKED"] < n-max || got["INTERNAL/<nil>"] > 0 {
			t.Fatalf("answers to %d wrong codes: %v", n, got)
		}
		if evaluated := auditCount(t, admin, "login.failed", map[string]string{"reason": "bad_second_factor"}); evaluated != max-2 {
			t.Fatalf("%d wrong codes were checked after 2 wrong passwords, want exactly %d", evaluated, max-2)
		}
		for _, r := range []response{
			verify(c, ticket, enr, map[string]any{"code": app.next()}, false),
			verify(c, ticket, "", map[string]any{"recoveryCode": codes[0]}, false),
		} {
			if answer(r, "verifyFactor") != "LOCKED" {
				t.Fatalf("right answer on a locked account: %+v", r)
			}
		}
		if p, _ := e.client().login("demo", "lee", "lee-password-1"); p["status"] != "LOCKED" {
			t.Fatalf("password on a locked account: %+v", p)
		}
	})
}

// TestLockoutAnswersAlikeForUnknownNames: the same sequence of wrong
// attempts answers the same, step by step, for an existing user, an unknown
// name, an inactive user and an unknown organization: LOCKED comes at the
// same attempt for each, and lifts after the same period.
func TestLockoutAnswersAlikeForUnknownNames(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		newUser(t, e, admin, "max", nil)
		gone := e.createUser(admin, map[string]any{"username": "gone", "email": "gone@example.com", "password": "gone-password-1"})
		admin.must(`mutation($id: ID!) { deactivateUser(input: {userId: $id}) { user { id } } }`, map[string]any{"id": gone})
		seq := func(org, user string) []string {
			var out []string
			for i := range 7 {
				_, r := e.client().login(org, user, fmt.Sprintf("wrong-password-%d", i))
				out = append(out, answer(r, "login")+" "+comparable(r))
			}
			e.clock.Advance(15 * time.Minute)
			_, r := e.client().login(org, user, "wrong-password-x")
			return append(out, answer(r, "login")+" "+comparable(r))
		}
		want := seq("demo", "max")
		if want[3] == want[4] || want[4] != want[5] {
			t.Fatalf("existing user: %q, want LOCKED from the 5th attempt", want)
		}
		for _, try := range [][2]string{{"demo", "nobody"}, {"demo", "gone"}, {"nowhere", "max"}, {"demo", "NOBODY@example.com"}} {
			if got := seq(try[0], try[1]); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%v answers\n%q\nan existing user answers\n%q", try, got, want)
			}
		}
	})
}

// TestConcurrentLoginsOfOneUserNeverFail: 240 logins of one user from six
// clients over three servers all succeed (MariaDB reports an update that
// writes the same values as 0 rows; no answer may be INTERNAL).
func TestConcurrentLoginsOfOneUserNeverFail(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		newUser(t, e, admin, "ned", nil)
		got := burst(e, 3, 6, func(_ int, c *client) string {
			bad := ""
			for range 40 {
				if p, r := c.login("demo", "ned", "ned-password-1"); p["status"] != "AUTHENTICATED" {
					bad = answer(r, "login")
				}
			}
			return "failed: " + bad
		})
		if got["failed: "] != 6 {
			t.Fatalf("240 parallel logins of one user: %v", got)
		}
	})
}

// TestConcurrentFirstEnrolmentsNeverFail: many users completing their
// first enrolment at once (recovery codes issued in the same transaction)
// on two servers: no deadlock reaches a client.
func TestConcurrentFirstEnrolmentsNeverFail(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		second := e.startServer()
		const users = 16
		clients := make([]*client, users)
		for i := range users {
			c, _ := newUser(t, e, admin, fmt.Sprintf("enr%02d", i), nil)
			if i%2 == 1 {
				c.url = second.URL
			}
			clients[i] = c
		}
		var failed atomic.Int32
		var wg sync.WaitGroup
		for i := range users {
			wg.Go(func() {
				c := clients[i]
				d := c.post(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp", "label": "phone"}})
				if len(d.Errors) > 0 {
					failed.Add(1)
					t.Errorf("begin: %+v", d.Errors)
					return
				}
				id := dig(d.Data, "beginEnrollment", "enrollmentId").(string)
				app := newTOTPApp(t, dig(d.Data, "beginEnrollment", "clientData", "secret").(string))
				r := c.post(completeEnrollment, map[string]any{"in": map[string]any{"enrollmentId": id, "response": map[string]any{"code": app.next()}}})
				if len(r.Errors) > 0 {
					failed.Add(1)
					t.Errorf("complete: %+v", r.Errors)
				}
			})
		}
		wg.Wait()
		if failed.Load() > 0 {
			t.Fatalf("%d of %d parallel first enrolments failed", failed.Load(), users)
		}
	})
}

// TestSecondStepKeepsChangesMadeDuringLogin: an admin's change to a user
// between the password step and the second factor survives the login (the
// login writes only its own columns).
func TestSecondStepKeepsChangesMadeDuringLogin(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		ora, id := newUser(t, e, admin, "ora", nil)
		app, enr, _ := enrolTOTP(t, ora, nil)
		c := e.client()
		ticket := loginStep(t, c, "ora", "ora-password-1")["ticket"].(string)
		admin.must(`mutation($id: ID!) { updateUser(input: {userId: $id, displayName: "Ora Changed", permissions: [VIEW_AUDIT]}) { user { id } } }`, map[string]any{"id": id})
		if r := verify(c, ticket, enr, map[string]any{"code": app.next()}, false); answer(r, "verifyFactor") != "AUTHENTICATED" {
			t.Fatalf("verify: %+v", r)
		}
		u := admin.must(`query($id: ID!) { user(id: $id) { displayName permissions lastLoginAt } }`, map[string]any{"id": id})
		if dig(u, "user", "displayName") != "Ora Changed" || fmt.Sprint(dig(u, "user", "permissions")) != "[VIEW_AUDIT]" || dig(u, "user", "lastLoginAt") == nil {
			t.Fatalf("the login undid the admin's change: %v", u)
		}
	})
}

// TestEndingSessionsEndsLoginsInProgress: a login ticket opened before a
// deactivation cannot finish after a quick reactivation; nor one opened
// before an MFA reset.
func TestEndingSessionsEndsLoginsInProgress(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		pia, id := newUser(t, e, admin, "pia", nil)
		for _, end := range []string{
			`mutation($id: ID!) { resetUserMfa(input: {userId: $id}) { user { id } } }`,
			`mutation($id: ID!) { deactivateUser(input: {userId: $id}) { user { id } } }`,
		} {
			app, enr, _ := enrolTOTP(t, pia, nil)
			c := e.client()
			ticket := loginStep(t, c, "pia", "pia-password-1")["ticket"].(string)
			admin.must(end, map[string]any{"id": id})
			admin.post(`mutation($id: ID!) { reactivateUser(input: {userId: $id}) { user { id } } }`, map[string]any{"id": id})
			if r := verify(c, ticket, enr, map[string]any{"code": app.next()}, false); answer(r, "verifyFactor") != "UNAUTHENTICATED/INVALID_TICKET" {
				t.Fatalf("ticket from before %s: %+v", end, r)
			}
			pia = e.loginAs("pia", "pia-password-1")
		}
	})
}
