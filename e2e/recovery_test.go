package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/models/modelstest"
	"github.com/twofoldauth/twofold/notify/smtptest"
)

const (
	publicURL          = "https://mfa.test"
	requestRecoveryMut = `mutation($o: String!, $u: String!) { requestMfaRecovery(input: {organization: $o, usernameOrEmail: $u}) { ok } }`
	confirmRecoveryMut = `mutation($t: String!, $p: String!) { confirmMfaRecovery(input: {token: $t, password: $p}) {
  status token ticket allowedFactorTypes user { username } } }`
	requestResetMut  = `mutation($o: String!, $u: String!) { requestPasswordReset(input: {organization: $o, usernameOrEmail: $u}) { ok } }`
	resetPasswordMut = `mutation($t: String!, $p: String!) { resetPassword(input: {token: $t, newPassword: $p}) { ok } }`
	disableMyMfaMut  = `mutation($p: String!) { disableMyMfa(input: {password: $p}) { user { username mfaEnrolled } } }`
	userFactorsQuery = `query($id: ID!) { user(id: $id) { mfaEnrolled recoveryCodesLeft } userTrustedBrowsers(userId: $id) { id } userEnrollments(userId: $id) { totalCount } }`
	myViewerQuery    = `{ viewer { username } }`
)

// eachMailDB is eachDB with links in mails based at publicURL.
func eachMailDB(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, d := range modelstest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := &env{t: t, cfg: testConfig(modelstest.NewURL(t, d)), clock: &clock{now: time.Now().UTC().Truncate(time.Millisecond)}}
			e.cfg.MFA.PublicURL = publicURL
			e.cfg.MFA.LinkRequestFloor = 5 * time.Millisecond
			e.sink = mailSink(t, &e.cfg)
			e.srv = e.startServer()
			fn(t, e)
		})
	}
}

// linkToken is the token of a mail's link to the demo SPA's page for
// fragment (recover or reset).
func linkToken(t *testing.T, m smtptest.Message, fragment string) string {
	t.Helper()
	link := m.Link()
	prefix := publicURL + "/demo#" + fragment + "="
	if !strings.HasPrefix(link, prefix) || len(link) != len(prefix)+43 {
		t.Fatalf("link %q is not %s<256-bit token>\n%s", link, prefix, m.Text())
	}
	if !strings.Contains(m.HTML(), link) {
		t.Fatalf("the HTML part lacks the link %q", link)
	}
	return strings.TrimPrefix(link, prefix)
}

// mailed waits for n mails to addr whose subject is subject (every mail
// a test expects is looked for by its subject: mails of different events
// may arrive in any order) and returns them.
func (e *env) mailed(addr, subject string, n int) []smtptest.Message {
	e.t.Helper()
	return e.sink.WaitFor(n, mailWait, func(m smtptest.Message) bool { return smtptest.To(addr)(m) && m.Subject() == subject })
}

// countMailed counts the mails to addr with subject received so far.
func (e *env) countMailed(addr, subject string) int {
	n := 0
	for _, m := range e.sink.Messages() {
		if smtptest.To(addr)(m) && m.Subject() == subject {
			n++
		}
	}
	return n
}

const (
	subjRecoveryLink = "Lost your device? Disable two-factor authentication for demo"
	subjResetLink    = "Reset your demo password"
	subjPasswordSet  = "Your password was changed"
)

// mailedToken is the token of the link (#fragment=TOKEN) in the first mail
// to addr with subject, whatever the public URL.
func mailedToken(e *env, addr, subject, fragment string) string {
	e.t.Helper()
	text := e.mailed(addr, subject, 1)[0].Text()
	_, after, ok := strings.Cut(text, "#"+fragment+"=")
	if !ok || len(after) < 43 {
		e.t.Fatalf("no %s link in:\n%s", fragment, text)
	}
	return after[:43]
}

// reasonOf is the first error's extensions.reason.
func reasonOf(r response) string {
	if len(r.Errors) == 0 {
		return ""
	}
	s, _ := r.Errors[0].Extensions["reason"].(string)
	return s
}

// wantError fails unless r carries exactly code and reason.
func wantError(t *testing.T, what string, r response, code, reason string) {
	t.Helper()
	if r.code() != code || reasonOf(r) != reason {
		t.Fatalf("%s: want %s/%s, got %+v", what, code, reason, r.Errors)
	}
}

// mfaState is what a user holds: active factors, recovery codes left,
// trusted browsers.
func mfaState(t *testing.T, admin *client, userID string) string {
	t.Helper()
	d := admin.must(userFactorsQuery, map[string]any{"id": userID})
	return fmt.Sprintf("enrolled=%v factors=%v codes=%v browsers=%d", dig(d, "user", "mfaEnrolled"), dig(d, "userEnrollments", "totalCount"),
		dig(d, "user", "recoveryCodesLeft"), len(d["userTrustedBrowsers"].([]any)))
}

// newManager creates an organization manager with a deliverable address
// (the bootstrap admin's is admin@demo.invalid, which is never mailed).
func newManager(t *testing.T, e *env, admin *client, name string) string {
	t.Helper()
	return e.createUser(admin, map[string]any{"username": name, "email": name + "@example.com", "password": name + "-password-1",
		"displayName": "Boss " + name, "permissions": []string{"MANAGE_ORGANIZATION"}})
}

// recoverable makes a user with an authenticator app, recovery codes and a
// trusted browser; it returns the user's session client and id.
func recoverable(t *testing.T, e *env, admin *client, name string) (*client, string, string) {
	t.Helper()
	c, id := newUser(t, e, admin, name, nil)
	_, _, codes := enrolTOTP(t, c, nil)
	_, tb := trustBrowserFor(t, e, name, name+"-password-1", &codes)
	return c, id, tb
}

func TestLostDeviceRecovery(t *testing.T) {
	eachMailDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		newManager(t, e, admin, "boss")
		carol, carolID, _ := recoverable(t, e, admin, "carol")
		before := mfaState(t, admin, carolID)
		if before != "enrolled=true factors=1 codes=9 browsers=1" {
			t.Fatalf("setup: %s", before)
		}
		anon := e.client()
		if d := anon.must(requestRecoveryMut, map[string]any{"o": "demo", "u": "carol"}); dig(d, "requestMfaRecovery", "ok") != true {
			t.Fatalf("request: %+v", d)
		}
		token := linkToken(t, e.mailed("carol@example.com", subjRecoveryLink, 1)[0], "recover")

		// Unknown token, wrong password: refused, nothing changes.
		wantError(t, "unknown token", anon.post(confirmRecoveryMut, map[string]any{"t": strings.Repeat("A", 43), "p": "carol-password-1"}), "UNAUTHENTICATED", "INVALID_TOKEN")
		wantError(t, "reset token for recovery", anon.post(confirmRecoveryMut, map[string]any{"t": token + "x", "p": "carol-password-1"}), "UNAUTHENTICATED", "INVALID_TOKEN")
		wantError(t, "empty token", anon.post(confirmRecoveryMut, map[string]any{"t": "", "p": "carol-password-1"}), "BAD_USER_INPUT", "")
		wantError(t, "wrong password", anon.post(confirmRecoveryMut, map[string]any{"t": token, "p": "not-carols-password"}), "UNAUTHENTICATED", "INVALID_CREDENTIALS")
		if got := mfaState(t, admin, carolID); got != before {
			t.Fatalf("refused confirms changed %s into %s", before, got)
		}
		if r := carol.post(myViewerQuery, nil); dig(r.Data, "viewer", "username") != "carol" {
			t.Fatalf("a refused confirm ended the session: %+v", r)
		}

		// The link and the password: factors, codes and browsers go,
		// sessions end, and the answer is a login.
		d := anon.must(confirmRecoveryMut, map[string]any{"t": token, "p": "carol-password-1"})
		if dig(d, "confirmMfaRecovery", "status") != "AUTHENTICATED" || dig(d, "confirmMfaRecovery", "token") == nil {
			t.Fatalf("confirm: %+v", d)
		}
		if got := mfaState(t, admin, carolID); got != "enrolled=false factors=0 codes=0 browsers=0" {
			t.Fatalf("after recovery: %s", got)
		}
		if r := carol.post(myViewerQuery, nil); dig(r.Data, "viewer") != nil {
			t.Fatalf("the old session lives on: %+v", r)
		}
		if auditCount(t, admin, "mfa.recovered", nil) != 1 {
			t.Fatal("recovery not audited")
		}
		// The user and the managers are told.
		const done = "Two-factor authentication was removed from carol's account"
		e.mailed("carol@example.com", done, 1)
		e.mailed("boss@example.com", done, 1)
		// The bootstrap admin has no deliverable address: skipped, audited.
		if auditCount(t, admin, "notification.skipped", map[string]string{"event": "recovery.completed"}) != 1 {
			t.Fatal("the skipped manager is not audited")
		}
		// Single use.
		wantError(t, "used token", anon.post(confirmRecoveryMut, map[string]any{"t": token, "p": "carol-password-1"}), "UNAUTHENTICATED", "INVALID_TOKEN")
	})
}

func TestRecoveryUnderRequiredPolicyEnrolsAgain(t *testing.T) {
	eachMailDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		_, id, _ := recoverable(t, e, admin, "dora")
		e.setPolicy(admin, map[string]any{"scope": map[string]any{"userId": id}, "mode": "REQUIRED"})
		e.client().must(requestRecoveryMut, map[string]any{"o": "demo", "u": "dora@example.com"})
		token := linkToken(t, e.mailed("dora@example.com", subjRecoveryLink, 1)[0], "recover")
		d := e.client().must(confirmRecoveryMut, map[string]any{"t": token, "p": "dora-password-1"})
		if dig(d, "confirmMfaRecovery", "status") != "ENROLLMENT_REQUIRED" || dig(d, "confirmMfaRecovery", "ticket") == nil || dig(d, "confirmMfaRecovery", "token") != nil {
			t.Fatalf("confirm under REQUIRED: %+v", d)
		}
		// The ticket enrols a new factor and finishes the login.
		c := e.client()
		enrolTOTP(t, c, map[string]any{"ticket": dig(d, "confirmMfaRecovery", "ticket")})
		if got := mfaState(t, admin, id); got != "enrolled=true factors=1 codes=10 browsers=0" {
			t.Fatalf("after enrolling again: %s", got)
		}
	})
}

func TestRecoveryConfirmedTwiceAtOnceSucceedsOnce(t *testing.T) {
	eachMailDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		_, id, _ := recoverable(t, e, admin, "erin")
		e.client().must(requestRecoveryMut, map[string]any{"o": "demo", "u": "erin"})
		token := linkToken(t, e.mailed("erin@example.com", subjRecoveryLink, 1)[0], "recover")
		got := burst(e, 2, 4, func(_ int, c *client) string {
			return answer(c.post(confirmRecoveryMut, map[string]any{"t": token, "p": "erin-password-1"}), "confirmMfaRecovery")
		})
		if got["AUTHENTICATED"] != 1 || got["UNAUTHENTICATED/INVALID_TOKEN"] != 3 {
			t.Fatalf("parallel confirms: %v", got)
		}
		if n := auditCount(t, admin, "mfa.recovered", nil); n != 1 {
			t.Fatalf("%d recoveries audited", n)
		}
		if s := mfaState(t, admin, id); s != "enrolled=false factors=0 codes=0 browsers=0" {
			t.Fatal(s)
		}
	})
}

func TestRecoveryLinkExpiresAndPolicyCanSwitchItOff(t *testing.T) {
	eachMailDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		_, id, _ := recoverable(t, e, admin, "fred")
		before := mfaState(t, admin, id)
		anon := e.client()
		anon.must(requestRecoveryMut, map[string]any{"o": "demo", "u": "fred"})
		expired := linkToken(t, e.mailed("fred@example.com", subjRecoveryLink, 1)[0], "recover")
		e.clock.Advance(30*time.Minute + time.Second)
		wantError(t, "expired token", anon.post(confirmRecoveryMut, map[string]any{"t": expired, "p": "fred-password-1"}), "UNAUTHENTICATED", "INVALID_TOKEN")

		anon.must(requestRecoveryMut, map[string]any{"o": "demo", "u": "fred"})
		sentBefore := linkToken(t, e.mailed("fred@example.com", subjRecoveryLink, 2)[1], "recover")
		// Switched off: the request answers the same and sends nothing; a
		// link sent before no longer works.
		e.setPolicy(admin, map[string]any{"scope": map[string]any{}, "allowSelfServiceRecovery": false})
		if d := anon.must(requestRecoveryMut, map[string]any{"o": "demo", "u": "fred"}); dig(d, "requestMfaRecovery", "ok") != true {
			t.Fatalf("request while off: %+v", d)
		}
		if auditCount(t, admin, "recovery_link.requested", map[string]string{"sent": "false"}) != 1 {
			t.Fatal("the unsent request is not audited")
		}
		wantError(t, "link of a switched-off policy", anon.post(confirmRecoveryMut, map[string]any{"t": sentBefore, "p": "fred-password-1"}), "UNAUTHENTICATED", "INVALID_TOKEN")
		if got := mfaState(t, admin, id); got != before {
			t.Fatalf("refused confirms changed %s into %s", before, got)
		}
		d := admin.must(`query($id: ID!) { effectivePolicy(userId: $id) { allowSelfServiceRecovery allowSelfServiceRecoverySource } }`, map[string]any{"id": id})
		if dig(d, "effectivePolicy", "allowSelfServiceRecovery") != false || dig(d, "effectivePolicy", "allowSelfServiceRecoverySource") != "ORGANIZATION" {
			t.Fatalf("effective policy: %+v", d)
		}
		// Back on: the next mail is the third, so the switched-off request
		// sent none.
		e.setPolicy(admin, map[string]any{"scope": map[string]any{}, "allowSelfServiceRecovery": nil})
		e.clock.Advance(time.Hour) // the per-account limit
		anon.must(requestRecoveryMut, map[string]any{"o": "demo", "u": "fred"})
		third := e.mailed("fred@example.com", subjRecoveryLink, 3)
		if n := e.countMailed("fred@example.com", subjRecoveryLink); n != 3 {
			t.Fatalf("%d links mailed to fred", n)
		}
		linkToken(t, third[2], "recover")
	})
}

func TestRecoveryLinksAreLimitedPerAccount(t *testing.T) {
	eachMailDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		newUser(t, e, admin, "gail", nil)
		anon := e.client()
		for _, mut := range []string{requestRecoveryMut, requestResetMut} {
			field := map[string]string{requestRecoveryMut: "requestMfaRecovery", requestResetMut: "requestPasswordReset"}[mut]
			// By username or email, it is one account; unknown names count alike.
			for _, names := range [][]string{{"gail", "gail@example.com", "GAIL", "gail"}, {"nobody", "nobody", "nobody", "nobody"}} {
				for i, name := range names {
					r := anon.post(mut, map[string]any{"o": "demo", "u": name})
					if i < 3 && dig(r.Data, field, "ok") != true {
						t.Fatalf("%s %s #%d: %+v", field, name, i+1, r.Errors)
					}
					if i == 3 {
						wantError(t, field+" "+name+" #4", r, "RATE_LIMITED", "TOO_MANY_LINKS")
					}
				}
			}
		}
		e.mailed("gail@example.com", subjRecoveryLink, 3)
		e.mailed("gail@example.com", subjResetLink, 3)
		newUser(t, e, admin, "hugo", nil)
		// An hour later, links may be asked for again.
		e.clock.Advance(time.Hour + time.Second)
		anon.must(requestRecoveryMut, map[string]any{"o": "demo", "u": "gail"})

		// The limit holds for requests at once on several servers.
		got := burst(e, 3, 12, func(_ int, c *client) string {
			r := c.post(requestResetMut, map[string]any{"o": "demo", "u": "hugo"})
			if len(r.Errors) > 0 {
				return r.code() + "/" + reasonOf(r)
			}
			return "ok"
		})
		if got["ok"] != 3 || got["RATE_LIMITED/TOO_MANY_LINKS"] != 9 {
			t.Fatalf("parallel requests: %v", got)
		}
	})
}

func TestForgottenPassword(t *testing.T) {
	eachMailDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		ida, id, tb := recoverable(t, e, admin, "ida")
		anon := e.client()
		anon.must(requestResetMut, map[string]any{"o": "demo", "u": "ida@example.com"})
		token := linkToken(t, e.mailed("ida@example.com", subjResetLink, 1)[0], "reset")
		before := mfaState(t, admin, id)

		wantError(t, "unknown token", anon.post(resetPasswordMut, map[string]any{"t": strings.Repeat("B", 43), "p": "ida-new-password-2"}), "UNAUTHENTICATED", "INVALID_TOKEN")
		r := anon.post(resetPasswordMut, map[string]any{"t": token, "p": "short"})
		if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "newPassword" {
			t.Fatalf("short password: %+v", r.Errors)
		}
		// A lost-device token is not a reset token.
		wantError(t, "recovery purpose", anon.post(confirmRecoveryMut, map[string]any{"t": token, "p": "ida-password-1"}), "UNAUTHENTICATED", "INVALID_TOKEN")
		if p := loginStep(t, e.client(), "ida", "ida-password-1"); p["status"] != "MFA_REQUIRED" {
			t.Fatalf("refused resets changed the password: %+v", p)
		}
		if got := mfaState(t, admin, id); got != before {
			t.Fatalf("refused resets changed %s into %s", before, got)
		}

		anon.must(resetPasswordMut, map[string]any{"t": token, "p": "ida-new-password-2"})
		wantError(t, "used token", anon.post(resetPasswordMut, map[string]any{"t": token, "p": "ida-new-password-3"}), "UNAUTHENTICATED", "INVALID_TOKEN")
		if r := ida.post(myViewerQuery, nil); dig(r.Data, "viewer") != nil {
			t.Fatalf("the session outlived the reset: %+v", r)
		}
		if _, r := e.client().login("demo", "ida", "ida-password-1"); r.code() != "UNAUTHENTICATED" {
			t.Fatalf("old password: %+v", r)
		}
		// The second factor is still asked, even from the browser that was
		// trusted: trust ended with the password.
		c := e.client()
		r = c.post(loginWithFactors, map[string]any{"o": "demo", "u": "ida", "p": "ida-new-password-2", "tb": tb})
		if dig(r.Data, "login", "status") != "MFA_REQUIRED" {
			t.Fatalf("login after reset: %+v", r)
		}
		if got := mfaState(t, admin, id); got != "enrolled=true factors=1 codes=9 browsers=0" {
			t.Fatalf("after reset: %s", got)
		}
		e.mailed("ida@example.com", subjPasswordSet, 1)
		if auditCount(t, admin, "password.reset", nil) != 1 {
			t.Fatal("reset not audited")
		}
	})
}

func TestDisableMyMfa(t *testing.T) {
	eachMailDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		newManager(t, e, admin, "boss")
		jack, id, _ := recoverable(t, e, admin, "jack")
		before := mfaState(t, admin, id)
		r := jack.post(disableMyMfaMut, map[string]any{"p": "wrong-password-9"})
		if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "password" {
			t.Fatalf("wrong password: %+v", r.Errors)
		}
		// Where MFA is required, it cannot be switched off.
		e.setPolicy(admin, map[string]any{"scope": map[string]any{"userId": id}, "mode": "REQUIRED"})
		wantError(t, "required", jack.post(disableMyMfaMut, map[string]any{"p": "jack-password-1"}), "FORBIDDEN", "MFA_REQUIRED")
		if got := mfaState(t, admin, id); got != before {
			t.Fatalf("refused calls changed %s into %s", before, got)
		}
		e.setPolicy(admin, map[string]any{"scope": map[string]any{"userId": id}, "mode": "OPTIONAL"})
		d := jack.must(disableMyMfaMut, map[string]any{"p": "jack-password-1"})
		if dig(d, "disableMyMfa", "user", "mfaEnrolled") != false {
			t.Fatalf("disable: %+v", d)
		}
		if got := mfaState(t, admin, id); got != "enrolled=false factors=0 codes=0 browsers=0" {
			t.Fatalf("after disable: %s", got)
		}
		e.mailed("boss@example.com", "jack (jack) switched off two-factor authentication", 1)
		// Wrong passwords count towards the lockout.
		for range 5 {
			jack.post(disableMyMfaMut, map[string]any{"p": "wrong-password-9"})
		}
		wantError(t, "locked", jack.post(disableMyMfaMut, map[string]any{"p": "jack-password-1"}), "RATE_LIMITED", "LOCKED")
	})
}

// TestRecoveryRequestsCostTheSame measures, like
// TestLoginCostsTheSameForUnknownNames, the median time of 200 requests
// each for existing accounts, unknown names and unknown organizations,
// interleaved, for both link requests: the medians must be within 10 %.
func TestRecoveryRequestsCostTheSame(t *testing.T) {
	if testing.Short() {
		t.Skip("timing needs 1200 requests")
	}
	dialects := modelstest.Dialects(t)
	d := dialects[len(dialects)-1] // MariaDB when there is one
	e := &env{t: t, cfg: testConfig(modelstest.NewURL(t, d)), clock: &clock{now: time.Now().UTC().Truncate(time.Millisecond)}}
	e.cfg.MFA.PublicURL = publicURL
	e.cfg.MFA.RecoveryLinksPerHour = 1000
	// Shorter than the default 100 ms, so 1,200 requests take seconds.
	e.cfg.MFA.LinkRequestFloor = 15 * time.Millisecond
	e.sink = mailSink(t, &e.cfg)
	e.cfg.Mail.NoWorker = true // sending is not part of the request
	e.srv = e.startServer()
	admin := e.admin()
	const n, users = 200, 4
	for i := range users {
		e.createUser(admin, map[string]any{"username": fmt.Sprintf("tim%d", i), "email": fmt.Sprintf("tim%d@example.com", i), "password": "tim-password-123"})
	}
	kinds := []struct {
		name     string
		org, usr func(i int) string
	}{
		{"existing account", func(int) string { return "demo" }, func(i int) string { return fmt.Sprintf("tim%d", i%users) }},
		{"unknown name", func(int) string { return "demo" }, func(i int) string { return fmt.Sprintf("nobody%d", i%users) }},
		{"unknown organization", func(i int) string { return fmt.Sprintf("nowhere%d", i%users) }, func(i int) string { return fmt.Sprintf("tim%d", i%users) }},
	}
	for _, op := range []struct{ name, mut string }{{"requestMfaRecovery", requestRecoveryMut}, {"requestPasswordReset", requestResetMut}} {
		took := make([][]time.Duration, len(kinds))
		c := e.client()
		for i := range n + 10 {
			for k, kind := range kinds {
				start := time.Now()
				r := c.post(op.mut, map[string]any{"o": kind.org(i), "u": kind.usr(i)})
				d := time.Since(start)
				if dig(r.Data, op.name, "ok") != true {
					t.Fatalf("%s %s: %+v", op.name, kind.name, r.Errors)
				}
				if i >= 10 {
					took[k] = append(took[k], d)
				}
			}
		}
		medians := make([]time.Duration, len(kinds))
		for k := range kinds {
			slices.Sort(took[k])
			medians[k] = took[k][len(took[k])/2]
		}
		t.Logf("%s: medians of %d requests: %s %v, %s %v, %s %v", op.name, n, kinds[0].name, medians[0], kinds[1].name, medians[1], kinds[2].name, medians[2])
		lo, hi := slices.Min(medians), slices.Max(medians)
		if float64(hi-lo) > 0.10*float64(lo) {
			t.Fatalf("%s: medians differ by more than 10%%: %v", op.name, medians)
		}
	}
}
