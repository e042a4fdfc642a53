package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/server"
)

// The email one-time code factor (plugins/emailotp) through GraphQL, with
// its codes read from the mails the real SMTP listener received.

const emailCodeSubject = "Your sign-in code"

var emailCodeIn = regexp.MustCompile(`code is (\d{6,8})\.`)

// emailCode waits for the nth code mail to addr (1-based) and returns its
// code.
func emailCode(t *testing.T, e *env, addr string, n int) string {
	t.Helper()
	mails := e.mailed(addr, emailCodeSubject, n)
	m := emailCodeIn.FindStringSubmatch(mails[n-1].Text())
	if m == nil {
		t.Fatalf("no code in mail %d to %s: %s", n, addr, mails[n-1].Text())
	}
	return m[1]
}

// enrolEmailOTP enrols the email factor for c's user, whose nth code mail
// the enrolment's is, and returns the enrollment id.
func enrolEmailOTP(t *testing.T, e *env, c *client, addr string, n int) string {
	t.Helper()
	d := c.must(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "emailotp", "label": "mail"}})
	id := dig(d, "beginEnrollment", "enrollmentId").(string)
	code := emailCode(t, e, addr, n)
	d = c.must(completeEnrollment, map[string]any{"in": map[string]any{"enrollmentId": id, "response": map[string]any{"code": code}}})
	if dig(d, "completeEnrollment", "enrollment", "status") != "ACTIVE" {
		t.Fatalf("enrolment: %s", jsonOf(d))
	}
	return id
}

// emailTicket logs user in and asks for a code on the ticket.
func emailTicket(t *testing.T, c *client, user, enrollment string) string {
	t.Helper()
	p := loginStep(t, c, user, user+"-password-1")
	if p["status"] != "MFA_REQUIRED" {
		t.Fatalf("login %s: %s", user, jsonOf(p))
	}
	ticket := p["ticket"].(string)
	d := c.must(beginVerification, map[string]any{"in": map[string]any{"ticket": ticket, "enrollmentId": enrollment}})
	if cd := jsonOf(dig(d, "beginVerification", "clientData")); cd != `{"digits":6,"expiresIn":300}` {
		t.Fatalf("verification client data %s", cd)
	}
	return ticket
}

func TestEmailOTPEnrolAndLogin(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		ft := jsonOf(admin.must(`{ factorTypes { id capabilities healthy } }`, nil))
		if !strings.Contains(ft, `{"capabilities":[],"healthy":true,"id":"emailotp"}`) {
			t.Fatalf("factor types: %s", ft)
		}
		erin, _ := newUser(t, e, admin, "erin", nil)
		const addr = "erin@example.com"

		// Enrolment mails a code; a wrong one does not activate it.
		d := erin.must(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "emailotp", "label": "mail"}})
		if cd := jsonOf(dig(d, "beginEnrollment", "clientData")); cd != `{"digits":6,"expiresIn":300}` {
			t.Fatalf("enrolment client data %s", cd)
		}
		pending := dig(d, "beginEnrollment", "enrollmentId")
		code := emailCode(t, e, addr, 1)
		wrong := map[bool]string{true: "000000", false: "111111"}[code != "000000"]
		r := erin.post(completeEnrollment, map[string]any{"in": map[string]any{"enrollmentId": pending, "response": map[string]any{"code": wrong}}})
		wantRefusal(t, "wrong enrolment code", r, "UNAUTHENTICATED", "INVALID_CODE", "")
		d = erin.must(completeEnrollment, map[string]any{"in": map[string]any{"enrollmentId": pending, "response": map[string]any{"code": code}}})
		if dig(d, "completeEnrollment", "enrollment", "status") != "ACTIVE" || len(dig(d, "completeEnrollment", "recoveryCodes").([]any)) != 10 {
			t.Fatalf("enrolment: %s", jsonOf(d))
		}
		enr := pending.(string)

		// Log in: the code is mailed on beginVerification; a wrong code is
		// refused, the right one finishes the login.
		c := e.client()
		ticket := emailTicket(t, c, "erin", enr)
		code = emailCode(t, e, addr, 2)
		wrong = map[bool]string{true: "000000", false: "111111"}[code != "000000"]
		wantRefusal(t, "wrong login code", verify(c, ticket, enr, map[string]any{"code": wrong}, false), "UNAUTHENTICATED", "INVALID_CODE", "")
		if a := answer(verify(c, ticket, enr, map[string]any{"code": code}, false), "verifyFactor"); a != "AUTHENTICATED" {
			t.Fatalf("right code: %s", a)
		}
		// Replayed: the ticket is spent, and on a new login the old code is
		// not the one mailed for it.
		wantRefusal(t, "code replayed on its ticket", verify(c, ticket, enr, map[string]any{"code": code}, false), "UNAUTHENTICATED", "", "")
		ticket2 := emailTicket(t, c, "erin", enr)
		fresh := emailCode(t, e, addr, 3)
		if fresh != code {
			wantRefusal(t, "code replayed on a new login", verify(c, ticket2, enr, map[string]any{"code": code}, false), "UNAUTHENTICATED", "INVALID_CODE", "")
		}
		if a := answer(verify(c, ticket2, enr, map[string]any{"code": fresh}, false), "verifyFactor"); a != "AUTHENTICATED" {
			t.Fatalf("fresh code: %s", a)
		}

		// Each code went through the outbox with an audit event, and its
		// text (the code) is not kept once sent.
		if n := auditCount(t, admin, string(mfa.AuditFactorMessage), map[string]string{"factor_type": "emailotp", "subject": emailCodeSubject}); n != 3 {
			t.Fatalf("%d factor.message_queued events, want 3", n)
		}
		st := e.outbox()
		org, err := st.OrganizationBySlug(context.Background(), "demo")
		if err != nil {
			t.Fatal(err)
		}
		rows := waitRows(t, st, org.ID, len(outboxRows(t, st, org.ID)), func(n mfa.Notification) bool {
			return n.Event != mfa.EventFactorMessage || (n.Status == mfa.NotificationSent && n.Data["text"] == "")
		})
		sent := 0
		for _, n := range rows {
			if n.Event == mfa.EventFactorMessage {
				sent++
				if n.To != addr || n.Data["factor_type"] != "emailotp" {
					t.Errorf("outbox row %+v", n)
				}
			}
		}
		if sent != 3 {
			t.Fatalf("%d factor.message rows, want 3", sent)
		}
	})
}

// TestEmailOTPWrongCodesLockTheUser: wrong codes count towards the same
// lockout as passwords: the right code after maxFailedAttempts wrong ones
// answers LOCKED.
func TestEmailOTPWrongCodesLockTheUser(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		finn, _ := newUser(t, e, admin, "finn", nil)
		enr := enrolEmailOTP(t, e, finn, "finn@example.com", 1)
		c := e.client()
		ticket := emailTicket(t, c, "finn", enr)
		code := emailCode(t, e, "finn@example.com", 2)
		const max = mfa.DefaultMaxFailedAttempts
		for i := range max {
			wrong := "00000" + string(rune('0'+i))
			if wrong == code {
				wrong = "999999"
			}
			a := answer(verify(c, ticket, enr, map[string]any{"code": wrong}, false), "verifyFactor")
			if i < max-1 && a != "UNAUTHENTICATED/INVALID_CODE" {
				t.Fatalf("wrong code %d: %s", i+1, a)
			}
		}
		if a := answer(verify(c, ticket, enr, map[string]any{"code": code}, false), "verifyFactor"); a != "LOCKED" {
			t.Fatalf("right code after %d wrong ones: %s, want LOCKED", max, a)
		}
		if n := auditCount(t, admin, "login.failed", map[string]string{"reason": "bad_second_factor"}); n != max {
			t.Fatalf("%d wrong codes checked, want %d", n, max)
		}
		if p, _ := e.client().login("demo", "finn", "finn-password-1"); p["status"] != "LOCKED" {
			t.Fatalf("password on a locked account: %+v", p)
		}
	})
}

// TestEmailOTPExpiredCode: a code older than its ttl (1m on this server)
// is refused, and counts as a wrong answer.
func TestEmailOTPExpiredCode(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		gail, _ := newUser(t, e, admin, "gail", nil)
		enr := enrolEmailOTP(t, e, gail, "gail@example.com", 1)
		hs, _ := e.mailServer(func(cfg *server.Config) {
			cfg.PluginSettings = maps.Clone(cfg.PluginSettings)
			cfg.PluginSettings["emailotp"] = map[string]string{"ttl": "1m"}
		})
		c := e.clientOf(hs)
		p := loginStep(t, c, "gail", "gail-password-1")
		ticket := p["ticket"].(string)
		d := c.must(beginVerification, map[string]any{"in": map[string]any{"ticket": ticket, "enrollmentId": enr}})
		if cd := jsonOf(dig(d, "beginVerification", "clientData")); cd != `{"digits":6,"expiresIn":60}` {
			t.Fatalf("client data %s", cd)
		}
		code := emailCode(t, e, "gail@example.com", 2)
		e.clock.Advance(61 * time.Second)
		wantRefusal(t, "expired code", verify(c, ticket, enr, map[string]any{"code": code}, false), "UNAUTHENTICATED", "INVALID_CODE", "")
		if n := auditCount(t, admin, "login.failed", map[string]string{"reason": "bad_second_factor"}); n != 1 {
			t.Fatalf("%d failures counted for the expired code, want 1", n)
		}
	})
}

// TestEmailOTPResendCoolDown: asking for a code again on the same login
// within the cool-down (30s) answers RATE_LIMITED, saying how long to
// wait, and mails nothing; the code already sent still works. After the
// cool-down a new code is mailed and replaces the old one.
func TestEmailOTPResendCoolDown(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		hana, _ := newUser(t, e, admin, "hana", nil)
		const addr = "hana@example.com"
		enr := enrolEmailOTP(t, e, hana, addr, 1)
		c := e.client()
		ticket := emailTicket(t, c, "hana", enr)
		first := emailCode(t, e, addr, 2)
		e.clock.Advance(10 * time.Second)
		r := c.post(beginVerification, map[string]any{"in": map[string]any{"ticket": ticket, "enrollmentId": enr}})
		wantRefusal(t, "resend within the cool-down", r, "RATE_LIMITED", "", "")
		// 20 s are left, rounded up (the plugin's call takes a moment).
		if len(r.Errors) > 0 && !regexp.MustCompile(`wait 2[01] seconds`).MatchString(r.Errors[0].Message) {
			t.Errorf("message %q does not say how long to wait", r.Errors[0].Message)
		}
		e.clock.Advance(21 * time.Second)
		c.must(beginVerification, map[string]any{"in": map[string]any{"ticket": ticket, "enrollmentId": enr}})
		second := emailCode(t, e, addr, 3)
		if got := e.countMailed(addr, emailCodeSubject); got != 3 {
			t.Fatalf("%d code mails, want 3 (none for the refused resend)", got)
		}
		if second != first {
			wantRefusal(t, "the replaced code", verify(c, ticket, enr, map[string]any{"code": first}, false), "UNAUTHENTICATED", "INVALID_CODE", "")
		}
		if a := answer(verify(c, ticket, enr, map[string]any{"code": second}, false), "verifyFactor"); a != "AUTHENTICATED" {
			t.Fatalf("resent code: %s", a)
		}
	})
}

// TestHostServicesServeOnlyTheCallsUser: a plugin (factors/host/testdata/
// messenger) that, serving one user's enrolment, asks the host to mail that
// user and another one: only its own user's mail is written and sent.
func TestHostServicesServeOnlyTheCallsUser(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"messenger", "emailotp"} {
		pkg := "../plugins/" + p
		if p == "messenger" {
			pkg = "../factors/host/testdata/messenger"
		}
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, p), pkg).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", p, err, out)
		}
	}
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		ivan, _ := newUser(t, e, admin, "ivan", nil)
		_, judyID := newUser(t, e, admin, "judy", nil)
		hs, _ := e.mailServer(func(cfg *server.Config) { cfg.PluginDir = dir })
		c := e.clientOf(hs)
		c.token, c.origin, c.http = ivan.token, ivan.origin, ivan.http
		d := c.must(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "messenger", "label": judyID}})
		var got map[string]string
		if err := json.Unmarshal([]byte(jsonOf(dig(d, "beginEnrollment", "clientData"))), &got); err != nil {
			t.Fatal(err)
		}
		if got["own"] != "ok" || !strings.Contains(got["other"], "host refused") {
			t.Fatalf("host answers: %v", got)
		}
		e.mailed("ivan@example.com", "Your code", 1)
		if n := e.countMailed("judy@example.com", "Your code"); n != 0 {
			t.Fatalf("judy (%s) was mailed %d times by a plugin serving ivan", judyID, n)
		}
		if n := auditCount(t, admin, string(mfa.AuditFactorMessage), map[string]string{"factor_type": "messenger"}); n != 1 {
			t.Fatalf("%d factor.message_queued events, want 1", n)
		}
	})
}
