package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/server"
)

func TestHelpAndVersionNeedNoConfiguration(t *testing.T) {
	none := func(string) string { return "" }
	for _, args := range [][]string{{"help"}, {"--help"}, {"version"}} {
		var out bytes.Buffer
		if err := run(args, &out, none, nil); err != nil || out.Len() == 0 {
			t.Fatalf("%v: %v, %q", args, err, out.String())
		}
	}
	if err := run([]string{"frobnicate"}, &bytes.Buffer{}, none, nil); !errors.Is(err, errUsage) {
		t.Fatalf("unknown command: %v, want the usage", err)
	}
}

// TestBreakGlassCommands: create an admin, reset a password, grant a
// permission, each on the database directly and each audited.
func TestBreakGlassCommands(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	env := map[string]string{
		"TWOFOLD_DATABASE_URL":      "sqlite://" + filepath.Join(t.TempDir(), "t.db"),
		"TWOFOLD_SEAL_KEY":          base64.StdEncoding.EncodeToString(key),
		"TWOFOLD_ARGON2_MEMORY_KIB": "64", "TWOFOLD_ARGON2_ITERATIONS": "1",
	}
	getenv := func(k string) string { return env[k] }
	cfg, err := server.ConfigFromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	svc, closeDB, err := server.OpenService(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB()
	if _, err := svc.Bootstrap(ctx, "acme", "boss", "boss-password-123"); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(args, &out, getenv, nil); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String()
	}
	password := regexp.MustCompile(`: (\S+)\n$`)
	login := func(user, pw string) mfa.LoginStatus {
		res, err := svc.Login(ctx, mfa.LoginRequest{Organization: "acme", Username: user, Password: pw})
		if err != nil {
			return "error"
		}
		return res.Status
	}

	out := cli("admin", "create", "--org", "acme", "--username", "rescue", "--email", "rescue@example.com")
	pw := password.FindStringSubmatch(out)[1]
	if got := login("rescue", pw); got != mfa.StatusAuthenticated {
		t.Fatalf("created admin's login: %v (%q)", got, out)
	}
	out = cli("admin", "reset-password", "--org", "acme", "--username", "boss")
	if got := login("boss", "boss-password-123"); got == mfa.StatusAuthenticated {
		t.Fatal("old password still works")
	}
	if got := login("boss", password.FindStringSubmatch(out)[1]); got != mfa.StatusAuthenticated {
		t.Fatalf("reset password's login: %v", got)
	}
	out = cli("admin", "grant", "--org", "acme", "--username", "rescue", "--permission", "view_audit")
	if !strings.Contains(out, "VIEW_AUDIT") {
		t.Fatalf("grant: %q", out)
	}
	org, _ := svc.Store().OrganizationBySlug(ctx, "acme")
	events, err := svc.Store().AuditEvents(ctx, mfa.AuditQuery{OrganizationID: org.ID, Page: mfa.Page{Limit: 50}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[mfa.AuditAction]bool{}
	for _, e := range events.Items {
		if e.Details["via"] == "cli" {
			seen[e.Action] = true
		}
	}
	for _, a := range []mfa.AuditAction{mfa.AuditBreakGlassAdminCreated, mfa.AuditBreakGlassPasswordReset, mfa.AuditBreakGlassGranted} {
		if !seen[a] {
			t.Errorf("%s not audited", a)
		}
	}
	// Refusals: unknown organization, unknown user, unknown permission.
	for _, args := range [][]string{
		{"admin", "create", "--org", "nowhere", "--username", "x", "--email", "x@example.com"},
		{"admin", "reset-password", "--org", "acme", "--username", "ghost"},
		{"admin", "grant", "--org", "acme", "--username", "rescue", "--permission", "ROOT"},
	} {
		var e *mfa.Error
		if err := run(args, &bytes.Buffer{}, getenv, nil); !errors.As(err, &e) || (e.Code != mfa.CodeNotFound && e.Code != mfa.CodeBadUserInput) {
			t.Errorf("%v: %v", args, err)
		}
	}
	if err := run([]string{"admin", "create", "--org", "acme"}, &bytes.Buffer{}, getenv, nil); !errors.Is(err, errUsage) {
		t.Errorf("missing flags: %v", err)
	}
}

// TestAuditExportCommand: `twofold audit export` writes the range's events
// as JSON lines, oldest first, of one organization or all; bad times and an
// unknown organization are refused without output.
func TestAuditExportCommand(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	env := map[string]string{
		"TWOFOLD_DATABASE_URL":      "sqlite://" + filepath.Join(t.TempDir(), "t.db"),
		"TWOFOLD_SEAL_KEY":          base64.StdEncoding.EncodeToString(key),
		"TWOFOLD_ARGON2_MEMORY_KIB": "64", "TWOFOLD_ARGON2_ITERATIONS": "1",
	}
	getenv := func(k string) string { return env[k] }
	cfg, err := server.ConfigFromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	svc, closeDB, err := server.OpenService(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB()
	start := time.Now().UTC().Add(-time.Minute)
	for _, slug := range []string{"acme", "globex"} {
		if _, err := svc.Bootstrap(ctx, slug, "boss", "boss-password-123"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Login(ctx, mfa.LoginRequest{Organization: "acme", Username: "boss", Password: "wrong-password-1"}); err == nil {
		t.Fatal("wrong password accepted")
	}
	end := time.Now().UTC().Add(time.Minute)

	export := func(args ...string) []map[string]any {
		t.Helper()
		var out bytes.Buffer
		if err := run(append([]string{"audit", "export"}, args...), &out, getenv, nil); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var recs []map[string]any
		for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			if line == "" && out.Len() == 0 {
				break
			}
			var r map[string]any
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("not a JSON line: %q", line)
			}
			recs = append(recs, r)
		}
		return recs
	}
	from, to := start.Format(time.RFC3339), end.Format(time.RFC3339)
	acme := export("--org", "acme", "--from", from, "--to", to)
	actions := []string{}
	for _, r := range acme {
		if r["organization"] != "acme" {
			t.Fatalf("--org acme exported %v", r)
		}
		actions = append(actions, r["action"].(string))
	}
	if len(acme) < 2 || actions[0] != string(mfa.AuditOrganizationBooted) || actions[len(actions)-1] != string(mfa.AuditLoginFailed) {
		t.Fatalf("acme's events, oldest first: %v", actions)
	}
	if all := export("--from", from, "--to", to); len(all) <= len(acme) {
		t.Fatalf("every organization: %d events, acme alone %d", len(all), len(acme))
	}
	if none := export("--org", "acme", "--from", end.Format(time.RFC3339), "--to", end.Add(time.Hour).Format(time.RFC3339)); len(none) != 0 {
		t.Fatalf("empty range exported %v", none)
	}

	for _, args := range [][]string{
		{"audit", "export", "--from", "yesterday", "--to", to},
		{"audit", "export", "--from", to, "--to", from},
		{"audit", "export", "--org", "nowhere", "--from", from, "--to", to},
	} {
		var out bytes.Buffer
		if err := run(args, &out, getenv, nil); err == nil || out.Len() != 0 {
			t.Errorf("%v: %v, wrote %q", args, err, out.String())
		}
	}
	for _, args := range [][]string{{"audit"}, {"audit", "import"}, {"audit", "export", "--from", from}} {
		if err := run(args, &bytes.Buffer{}, getenv, nil); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want the usage", args, err)
		}
	}
}
