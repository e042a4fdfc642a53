package e2e

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/server"
)

const setPolicyWhole = `mutation($in: SetPolicyInput!) { setPolicy(input: $in) { policy {
  scope { level } mode allowedFactorTypes enforceFrom trustedBrowserDays maxFailedAttempts lockoutMinutes allowPasswordless } } }`

const orgPolicies = `{ policies { edges { node { scope { level } mode allowedFactorTypes enforceFrom trustedBrowserDays maxFailedAttempts lockoutMinutes allowPasswordless } } } }`

// auditDetails lists the details of the organization's events of one
// action, oldest first.
func auditDetails(t *testing.T, admin *client, action string) []map[string]any {
	t.Helper()
	d := admin.must(`query($f: AuditFilter) { auditEvents(first: 100, filter: $f) { edges { node { details } } } }`,
		map[string]any{"f": map[string]any{"action": action}})
	var out []map[string]any
	for _, e := range dig(d, "auditEvents", "edges").([]any) {
		det, _ := dig(e, "node", "details").(map[string]any)
		out = append([]map[string]any{det}, out...)
	}
	return out
}

func TestSetPolicyIsAPatch(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		newUser(t, e, admin, "hank", nil)
		org := map[string]any{}
		admin.must(setPolicyWhole, map[string]any{"in": map[string]any{"scope": org, "mode": "REQUIRED", "allowedFactorTypes": []string{"totp"}, "lockoutMinutes": 20}})

		// The reported bug: only trustedBrowserDays, and the mode was gone.
		d := admin.must(setPolicyWhole, map[string]any{"in": map[string]any{"scope": org, "trustedBrowserDays": 30}})
		want := `{"allowPasswordless":null,"allowedFactorTypes":["totp"],"enforceFrom":null,"lockoutMinutes":20,"maxFailedAttempts":null,"mode":"REQUIRED","scope":{"level":"ORGANIZATION"},"trustedBrowserDays":30}`
		if got := jsonOf(dig(d, "setPolicy", "policy")); got != want {
			t.Fatalf("answer to a patch:\n got %s\nwant %s", got, want)
		}
		if got := jsonOf(nodes(admin.must(orgPolicies, nil), "policies")); got != "["+want+"]" {
			t.Fatalf("stored after a patch:\n got %s\nwant [%s]", got, want)
		}
		if p := loginStep(t, e.client(), "hank", "hank-password-1"); p["status"] != "ENROLLMENT_REQUIRED" || p["token"] != nil {
			t.Fatalf("user without a factor after patching trustedBrowserDays: %v", p)
		}

		// An explicit null clears (inherits); what is left out stays.
		d = admin.must(setPolicyWhole, map[string]any{"in": map[string]any{"scope": org, "mode": nil, "lockoutMinutes": nil}})
		want = `{"allowPasswordless":null,"allowedFactorTypes":["totp"],"enforceFrom":null,"lockoutMinutes":null,"maxFailedAttempts":null,"mode":null,"scope":{"level":"ORGANIZATION"},"trustedBrowserDays":30}`
		if got := jsonOf(dig(d, "setPolicy", "policy")); got != want {
			t.Fatalf("answer after null:\n got %s\nwant %s", got, want)
		}
		if p := loginStep(t, e.client(), "hank", "hank-password-1"); p["status"] != "AUTHENTICATED" {
			t.Fatalf("after clearing the mode (inherits OPTIONAL): %v", p)
		}
		// Inline literals too (not only variables).
		admin.must(`mutation { setPolicy(input: {scope: {}, allowPasswordless: false}) { policy { id } } }`, nil)
		// A patch that changes nothing is not an event.
		admin.must(setPolicyWhole, map[string]any{"in": map[string]any{"scope": org, "trustedBrowserDays": 30}})

		got := jsonOf(auditDetails(t, admin, "policy.changed"))
		wantEvents := `[` +
			`{"allowed_factor_types.new":"[\"totp\"]","allowed_factor_types.old":"","company_id":"","lockout_minutes.new":"20","lockout_minutes.old":"","mode.new":"REQUIRED","mode.old":"","scope":"ORGANIZATION","user_type":""},` +
			`{"company_id":"","scope":"ORGANIZATION","trusted_browser_days.new":"30","trusted_browser_days.old":"","user_type":""},` +
			`{"company_id":"","lockout_minutes.new":"","lockout_minutes.old":"20","mode.new":"","mode.old":"REQUIRED","scope":"ORGANIZATION","user_type":""},` +
			`{"allow_passwordless.new":"false","allow_passwordless.old":"","company_id":"","scope":"ORGANIZATION","user_type":""}]`
		if got != wantEvents {
			t.Fatalf("policy.changed details:\n got %s\nwant %s", got, wantEvents)
		}
	})
}

func TestRequiredPolicyThatCannotBeMetIsRefused(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		company := dig(admin.must(`mutation { createCompany(input: {name: "Initech"}) { company { id } } }`, nil), "createCompany", "company", "id")
		admin.must(setPolicyWhole, map[string]any{"in": map[string]any{"scope": map[string]any{}, "mode": "REQUIRED", "allowedFactorTypes": []string{"totp"}}})
		before := jsonOf(admin.must(orgPolicies, nil))
		events := len(auditDetails(t, admin, "policy.changed"))
		for name, in := range map[string]map[string]any{
			"REQUIRED and []":               {"scope": map[string]any{}, "mode": "REQUIRED", "allowedFactorTypes": []string{}},
			"[] onto a REQUIRED scope":      {"scope": map[string]any{}, "allowedFactorTypes": []string{}},
			"REQUIRED and an absent type":   {"scope": map[string]any{}, "mode": "REQUIRED", "allowedFactorTypes": []string{"smsotp"}},
			"company [] under REQUIRED org": {"scope": map[string]any{"companyId": company}, "allowedFactorTypes": []string{}},
		} {
			r := admin.post(setPolicyWhole, map[string]any{"in": in})
			if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "allowedFactorTypes" {
				t.Fatalf("%s: %+v, want BAD_USER_INPUT on allowedFactorTypes", name, r.Errors)
			}
			if after := jsonOf(admin.must(orgPolicies, nil)); after != before {
				t.Fatalf("%s: refused, yet the policies changed:\n%s\n%s", name, before, after)
			}
		}
		if n := len(auditDetails(t, admin, "policy.changed")); n != events {
			t.Fatalf("refused patches were audited: %d events, want %d", n, events)
		}
	})
}

// pluginDirWithout links the built plugins except the named ones into a new
// folder, so a server started on it lacks them.
func pluginDirWithout(t *testing.T, without ...string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(pluginDir)
	if err != nil {
		t.Fatal(err)
	}
next:
	for _, en := range entries {
		for _, w := range without {
			if en.Name() == w {
				continue next
			}
		}
		src, dst := filepath.Join(pluginDir, en.Name()), filepath.Join(dir, en.Name())
		if err := os.Link(src, dst); err != nil {
			copyFile(t, src, dst)
		}
	}
	return dir
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// healthOf is the factor type's health on a server.
func healthOf(s *server.Server, id string) (factors.Status, bool) {
	for _, st := range s.Plugins().Types() {
		if st.ID == id {
			return st, true
		}
	}
	return factors.Status{}, false
}

func TestRequiredLoginWithFactorPluginsDownAnswersUnavailable(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		dana, _ := newUser(t, e, admin, "dana", nil)
		enrolTOTP(t, dana, nil)
		newUser(t, e, admin, "eli", nil)
		admin.must(setPolicyWhole, map[string]any{"in": map[string]any{"scope": map[string]any{}, "mode": "REQUIRED", "allowedFactorTypes": []string{"totp"}}})

		// A server whose totp plugin is down for good: its binary is
		// replaced (the pinned checksum refuses the restart), then killed.
		downCfg := e.cfg
		downCfg.PluginDir = pluginDirWithout(t)
		down, err := server.New(context.Background(), downCfg, server.WithMFAOptions(mfa.WithClock(e.clock)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { down.Close() })
		downHTTP := httpServer(t, down)
		bin := filepath.Join(downCfg.PluginDir, "totp")
		if err := os.WriteFile(bin+".tmp", []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(bin+".tmp", bin); err != nil {
			t.Fatal(err)
		}
		pid := down.Plugins().PID("totp")
		if pid == 0 {
			t.Fatal("no totp plugin process")
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { st, ok := healthOf(down, "totp"); return ok && !st.Healthy }, "totp plugin seen down")

		// A server without the totp plugin at all.
		noneCfg := e.cfg
		noneCfg.PluginDir = pluginDirWithout(t, "totp")
		none, err := server.New(context.Background(), noneCfg, server.WithMFAOptions(mfa.WithClock(e.clock)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { none.Close() })
		noneHTTP := httpServer(t, none)
		if _, ok := healthOf(none, "totp"); ok {
			t.Fatal("the server without totp has it")
		}

		for srvName, hs := range map[string]string{"plugin down": downHTTP.URL, "plugin not installed": noneHTTP.URL} {
			for _, user := range []string{"dana", "eli"} { // with a factor, without one
				c := e.client()
				c.url = hs
				r := c.post(loginWithFactors, map[string]any{"o": "demo", "u": user, "p": user + "-password-1"})
				if r.code() != "UNAVAILABLE" || r.Errors[0].Extensions["reason"] != "FACTORS_UNAVAILABLE" {
					t.Fatalf("%s, %s: %+v %v, want UNAVAILABLE FACTORS_UNAVAILABLE", srvName, user, r.Errors, r.Data)
				}
				if r.Data["login"] != nil {
					t.Fatalf("%s, %s: a login answer with the error: %v", srvName, user, r.Data)
				}
				if rv := c.post(`{ viewer { username } }`, nil); rv.Data["viewer"] != nil {
					t.Fatalf("%s, %s: a session after UNAVAILABLE: %+v", srvName, user, rv)
				}
			}
		}
		evs := auditDetails(t, admin, "login.unavailable")
		if len(evs) != 4 {
			t.Fatalf("login.unavailable events: %d, want 4: %v", len(evs), evs)
		}
		for _, d := range evs {
			if d["reason"] != "factors_unavailable" || d["factor_types"] != "totp" {
				t.Fatalf("login.unavailable details: %v", d)
			}
		}
		ok := jsonOf(admin.must(`{ auditEvents(first: 100, filter: {action: "login.succeeded"}) { edges { node { subject { username } } } } }`, nil))
		if c := strings.Count(ok, `"dana"`) + strings.Count(ok, `"eli"`); c != 2 { // their own newUser logins only
			t.Fatalf("login.succeeded for dana or eli during the outage: %s", ok)
		}

		// Where the plugin is up, the same logins go on as the policy says.
		if p := loginStep(t, e.client(), "dana", "dana-password-1"); p["status"] != "MFA_REQUIRED" {
			t.Fatalf("dana with the plugin up: %v", p)
		}
		if p := loginStep(t, e.client(), "eli", "eli-password-1"); p["status"] != "ENROLLMENT_REQUIRED" {
			t.Fatalf("eli with the plugin up: %v", p)
		}
	})
}
