package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

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
	events, _, err := svc.Store().AuditEvents(ctx, mfa.AuditQuery{OrganizationID: org.ID, Page: mfa.Page{Limit: 50}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[mfa.AuditAction]bool{}
	for _, e := range events {
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
