package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models"
	"github.com/twofoldauth/twofold/server"
)

func TestTOTPEnrolAndLogin(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		ft := admin.must(`{ factorTypes { id displayName version capabilities healthy } }`, nil)
		if !strings.Contains(jsonOf(ft), `"id":"totp"`) || !strings.Contains(jsonOf(ft), `"healthy":true`) {
			t.Fatalf("factor types: %s", jsonOf(ft))
		}
		alice, _ := newUser(t, e, admin, "alice", nil)

		// A wrong first code does not activate the enrolment.
		d := alice.must(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp", "label": "phone"}})
		cd := dig(d, "beginEnrollment", "clientData").(map[string]any)
		if !strings.HasPrefix(cd["uri"].(string), "otpauth://totp/") || !strings.HasPrefix(cd["qrCode"].(string), "data:image/png;base64,") {
			t.Fatalf("client data: %v", cd)
		}
		pendingID := dig(d, "beginEnrollment", "enrollmentId")
		if r := alice.post(completeEnrollment, map[string]any{"in": map[string]any{"enrollmentId": pendingID, "response": map[string]any{"code": "000000"}}}); r.code() != "UNAUTHENTICATED" || reason(r) != "INVALID_CODE" {
			t.Fatalf("wrong enrolment code: %+v", r)
		}
		if n := len(nodes(alice.must(`{ myEnrollments { edges { node { id } } } }`, nil), "myEnrollments")); n != 0 {
			t.Fatalf("pending enrolment listed as active: %d", n)
		}

		app, enrollmentID, codes := enrolTOTP(t, alice, nil)
		if len(codes) != 10 {
			t.Fatalf("recovery codes: %v", codes)
		}
		p := loginStep(t, e.client(), "alice", "alice-password-1")
		if p["status"] != "MFA_REQUIRED" || p["token"] != nil || p["ticket"] == nil {
			t.Fatalf("login: %v", p)
		}
		if f := p["factors"].([]any); len(f) != 1 || dig(f[0], "id") != enrollmentID || dig(f[0], "factorType") != "totp" {
			t.Fatalf("factors offered: %v", f)
		}
		ticket := p["ticket"].(string)
		browser := e.client()
		r := verify(browser, ticket, enrollmentID, map[string]any{"code": "123456"}, false)
		if r.code() != "UNAUTHENTICATED" || r.Errors[0].Extensions["reason"] != "INVALID_CODE" {
			t.Fatalf("wrong code: %+v", r)
		}
		code := app.next()
		r = verify(browser, ticket, enrollmentID, map[string]any{"code": code}, false)
		if len(r.Errors) > 0 || dig(r.Data, "verifyFactor", "status") != "AUTHENTICATED" {
			t.Fatalf("verify: %+v", r)
		}
		if dig(browser.must(`{ viewer { username lastMfaAt } }`, nil), "viewer", "username") != "alice" {
			t.Fatal("verifyFactor did not set the session cookie")
		}
		// The ticket is single-use, and the code too.
		if r := verify(e.client(), ticket, enrollmentID, map[string]any{"code": app.peek()}, false); r.Errors[0].Extensions["reason"] != "INVALID_TICKET" {
			t.Fatalf("ticket reuse: %+v", r)
		}
		p = loginStep(t, e.client(), "alice", "alice-password-1")
		if r := verify(e.client(), p["ticket"].(string), enrollmentID, map[string]any{"code": code}, false); r.Errors[0].Extensions["reason"] != "CODE_ALREADY_USED" {
			t.Fatalf("replayed code: %+v", r)
		}
		// Expired tickets are refused.
		p = loginStep(t, e.client(), "alice", "alice-password-1")
		e.clock.Advance(6 * time.Minute)
		if r := verify(e.client(), p["ticket"].(string), enrollmentID, map[string]any{"code": app.peek()}, false); r.Errors[0].Extensions["reason"] != "INVALID_TICKET" {
			t.Fatalf("expired ticket: %+v", r)
		}
		// Rename and list.
		alice = e.loginAs2FA(t, "alice", app, enrollmentID)
		alice.must(`mutation($id: ID!) { renameEnrollment(input: {enrollmentId: $id, label: "work phone"}) { enrollment { label } } }`, map[string]any{"id": enrollmentID})
		if l := dig(nodes(alice.must(`{ myEnrollments { edges { node { label } } } }`, nil), "myEnrollments")[0], "label"); l != "work phone" {
			t.Fatalf("label %v", l)
		}
	})
}

// loginAs2FA logs in with password and TOTP, as an API client.
func (e *env) loginAs2FA(t *testing.T, user string, app *totpApp, enrollmentID string) *client {
	t.Helper()
	c := e.client()
	c.origin, c.http = "", &http.Client{}
	p := loginStep(t, c, user, user+"-password-1")
	r := verify(c, p["ticket"].(string), enrollmentID, map[string]any{"code": app.next()}, false)
	if len(r.Errors) > 0 {
		t.Fatalf("second factor for %s: %+v", user, r.Errors)
	}
	c.token = dig(r.Data, "verifyFactor", "token").(string)
	return c
}

func TestTOTPCodeAcceptedOnceUnderConcurrencyAcrossServers(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		bob, _ := newUser(t, e, admin, "bob", nil)
		app, enrollmentID, _ := enrolTOTP(t, bob, nil)
		second := e.startServer()
		// Sequential: the same code twice.
		code := app.next()
		p1 := loginStep(t, e.client(), "bob", "bob-password-1")
		if r := verify(e.client(), p1["ticket"].(string), enrollmentID, map[string]any{"code": code}, false); len(r.Errors) > 0 {
			t.Fatalf("first use: %+v", r.Errors)
		}
		p2 := loginStep(t, e.clientOf(second), "bob", "bob-password-1")
		if r := verify(e.clientOf(second), p2["ticket"].(string), enrollmentID, map[string]any{"code": code}, false); r.code() != "UNAUTHENTICATED" || reason(r) != "CODE_ALREADY_USED" {
			t.Fatalf("the same code on another server: %+v", r)
		}
		// Concurrent: 20 logins, half on each server, all send one fresh code.
		code = app.next()
		const n = 20
		tickets := make([]string, n)
		servers := make([]*client, n)
		for i := range n {
			servers[i] = e.client()
			if i%2 == 1 {
				servers[i] = e.clientOf(second)
			}
			tickets[i] = loginStep(t, servers[i], "bob", "bob-password-1")["ticket"].(string)
		}
		// Wrong answers of the losers count as failures: allow them.
		e.setPolicy(admin, map[string]any{"scope": map[string]any{}, "maxFailedAttempts": 100})
		var wg sync.WaitGroup
		var mu sync.Mutex
		accepted := 0
		for i := range n {
			wg.Go(func() {
				r := verify(servers[i], tickets[i], enrollmentID, map[string]any{"code": code}, false)
				if len(r.Errors) == 0 && dig(r.Data, "verifyFactor", "status") == "AUTHENTICATED" {
					mu.Lock()
					accepted++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if accepted != 1 {
			t.Fatalf("%d of %d concurrent uses of one code were accepted, want exactly 1", accepted, n)
		}
	})
}

func TestRecoveryCodes(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		carol, _ := newUser(t, e, admin, "carol", nil)
		_, _, codes := enrolTOTP(t, carol, nil)
		code := strings.ToUpper(codes[3].(string)) // typed in capitals
		p := loginStep(t, e.client(), "carol", "carol-password-1")
		r := verify(e.client(), p["ticket"].(string), "", map[string]any{"recoveryCode": code}, false)
		if len(r.Errors) > 0 || dig(r.Data, "verifyFactor", "status") != "AUTHENTICATED" {
			t.Fatalf("recovery code: %+v", r)
		}
		p = loginStep(t, e.client(), "carol", "carol-password-1")
		if r := verify(e.client(), p["ticket"].(string), "", map[string]any{"recoveryCode": code}, false); r.code() != "UNAUTHENTICATED" {
			t.Fatalf("reused recovery code: %+v", r)
		}
		if r := verify(e.client(), p["ticket"].(string), "", map[string]any{"nothing": 1}, false); r.code() != "BAD_USER_INPUT" {
			t.Fatalf("empty response: %+v", r)
		}
		uid := lookupUserID(t, admin, "carol")
		d := admin.must(`query($id: ID!) { user(id: $id) { recoveryCodesLeft } auditEvents(filter: {userId: $id, action: "recovery_code.used"}) { totalCount } }`, map[string]any{"id": uid})
		if dig(d, "user", "recoveryCodesLeft") != float64(9) || dig(d, "auditEvents", "totalCount") != float64(1) {
			t.Fatalf("after use: %v", d)
		}
		// Regenerating replaces every code.
		p = loginStep(t, e.client(), "carol", "carol-password-1")
		r = verify(e.client(), p["ticket"].(string), "", map[string]any{"recoveryCode": codes[4]}, false)
		carol.token = dig(r.Data, "verifyFactor", "token").(string)
		fresh := carol.must(`mutation { regenerateRecoveryCodes { recoveryCodes } }`, nil)
		if n := len(dig(fresh, "regenerateRecoveryCodes", "recoveryCodes").([]any)); n != 10 {
			t.Fatalf("regenerated %d", n)
		}
		p = loginStep(t, e.client(), "carol", "carol-password-1")
		if r := verify(e.client(), p["ticket"].(string), "", map[string]any{"recoveryCode": codes[5]}, false); r.code() != "UNAUTHENTICATED" || reason(r) != "INVALID_CODE" {
			t.Fatalf("an old recovery code after regeneration: %+v", r)
		}
	})
}

func TestWrongCodesCountTowardsLockout(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		dan, _ := newUser(t, e, admin, "dan", nil)
		app, enrollmentID, _ := enrolTOTP(t, dan, nil)
		// Two wrong passwords, then three wrong codes: locked.
		e.client().login("demo", "dan", "not-dans-password")
		e.client().login("demo", "dan", "not-dans-password")
		p := loginStep(t, e.client(), "dan", "dan-password-1")
		var last response
		for range 3 {
			last = verify(e.client(), p["ticket"].(string), enrollmentID, map[string]any{"code": "000001"}, false)
		}
		if dig(last.Data, "verifyFactor", "status") != "LOCKED" {
			t.Fatalf("5th failure (3rd code): %+v", last)
		}
		if r := verify(e.client(), p["ticket"].(string), enrollmentID, map[string]any{"code": app.next()}, false); dig(r.Data, "verifyFactor", "status") != "LOCKED" {
			t.Fatalf("right code while locked: %+v", r)
		}
	})
}

func TestPluginCrashFailsCleanlyAndRecovers(t *testing.T) {
	e := newEnv(t, "sqlite://"+t.TempDir()+"/db")
	s, err := server.New(context.Background(), e.cfg, server.WithMFAOptions(mfa.WithClock(e.clock)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hs := httpServer(t, s)
	admin := e.clientOf(hs)
	admin.origin, admin.http = "", &http.Client{}
	p, _ := admin.login("demo", "admin", adminPassword)
	admin.token = p["token"].(string)

	pid := s.Plugins().PID("totp")
	if pid == 0 {
		t.Fatal("no totp plugin process")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return s.Plugins().PID("totp") != pid }, "plugin noticed dead")
	r := admin.post(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp"}})
	if len(r.Errors) > 0 && r.code() != "UNAVAILABLE" {
		t.Fatalf("call during the crash: %+v (want a clean UNAVAILABLE or success)", r.Errors)
	}
	waitFor(t, func() bool {
		return len(admin.post(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp"}}).Errors) == 0
	}, "plugin restarted")
	if s.Plugins().PID("totp") == pid {
		t.Fatal("the plugin was not restarted")
	}
}

func TestSealedStateAndKeyRotation(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		erin, _ := newUser(t, e, admin, "erin", nil)
		d := erin.must(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp"}})
		id := dig(d, "beginEnrollment", "enrollmentId").(string)
		secret := dig(d, "beginEnrollment", "clientData", "secret").(string)
		app := newTOTPApp(t, secret)
		erin.must(completeEnrollment, map[string]any{"in": map[string]any{"enrollmentId": id, "response": map[string]any{"code": app.next()}}})

		store, err := models.Open(context.Background(), e.cfg.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		row, err := store.EnrollmentByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(row.State, []byte(secret)) {
			t.Fatal("the TOTP secret is stored in clear")
		}
		oldKey := e.cfg.SealKey
		if row.KeyID != mfa.KeyID(oldKey) {
			t.Fatalf("key id %s, want %s", row.KeyID, mfa.KeyID(oldKey))
		}
		other, _ := mfa.NewKeyring(bytes.Repeat([]byte{9}, 32))
		if _, err := other.Open(row.State, row.KeyID, "enrollment:"+id); err == nil {
			t.Fatal("sealed state opened without the key")
		}

		// Rotate: a new key, the old one still readable.
		newKey := bytes.Repeat([]byte{7}, 32)
		rot := e.cfg
		rot.SealKey, rot.OldSealKeys, rot.PluginDir = newKey, [][]byte{oldKey}, ""
		n, err := server.RotateSealKey(context.Background(), rot)
		if err != nil || n != 1 {
			t.Fatalf("rotate: %d %v", n, err)
		}
		row, _ = store.EnrollmentByID(context.Background(), id)
		if row.KeyID != mfa.KeyID(newKey) {
			t.Fatal("not re-sealed under the new key")
		}
		// A server with only the new key logs erin in.
		e.cfg.SealKey, e.cfg.OldSealKeys = newKey, nil
		hs := e.startServer()
		c := e.clientOf(hs)
		p := loginStep(t, c, "erin", "erin-password-1")
		if r := verify(c, p["ticket"].(string), id, map[string]any{"code": app.next()}, false); len(r.Errors) > 0 {
			t.Fatalf("login after rotation: %+v", r.Errors)
		}
	})
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestServerRefusesPluginWithWrongChecksum(t *testing.T) {
	cfg := testConfig("sqlite://" + t.TempDir() + "/db")
	cfg.PluginChecksums = "totp=" + strings.Repeat("ab", 32)
	_, err := server.New(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") || !strings.Contains(err.Error(), "totp") {
		t.Fatalf("server started a plugin with a wrong pin: %v", err)
	}
	cfg.PluginChecksums = "totp=not-hex"
	if _, err := server.New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "TWOFOLD_PLUGIN_CHECKSUMS") {
		t.Fatalf("bad pin syntax: %v", err)
	}
}
