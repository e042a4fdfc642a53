package server

import (
	"encoding/base64"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

var goodKey = base64.StdEncoding.EncodeToString(make([]byte, 32))

func TestConfigDefaults(t *testing.T) {
	c, err := ConfigFromEnv(env(map[string]string{"TWOFOLD_SEAL_KEY": goodKey}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.DatabaseURL != "sqlite://./data/twofold.db" || c.PluginDir != "./bin/plugins" {
		t.Fatalf("defaults: %+v", c)
	}
	if strings.Join(c.AllowedOrigins, ",") != "http://localhost:8080,http://127.0.0.1:8080" {
		t.Fatalf("origins: %v", c.AllowedOrigins)
	}
	if c.MFA.MaxFailedAttempts != 5 || c.MFA.LockoutDuration.Minutes() != 15 || c.MFA.Password.MinLength != 12 {
		t.Fatalf("mfa defaults: %+v", c.MFA)
	}
}

func TestConfigNamesEveryBadVariable(t *testing.T) {
	_, err := ConfigFromEnv(env(map[string]string{
		"TWOFOLD_HTTP_ADDR":            "no-port",
		"TWOFOLD_DATABASE_URL":         "postgres://x",
		"TWOFOLD_SEAL_KEY":             "c2hvcnQ=",
		"TWOFOLD_ALLOWED_ORIGINS":      "app.example.com",
		"TWOFOLD_DEV":                  "maybe",
		"TWOFOLD_LOCKOUT_MAX_ATTEMPTS": "0",
		"TWOFOLD_LOCKOUT_DURATION":     "soon",
		"TWOFOLD_BOOTSTRAP_ORG":        "demo",
		"TWOFOLD_TRUSTED_PROXIES":      "10.0.0.0/8,proxy.local",
	}))
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, name := range []string{"TWOFOLD_HTTP_ADDR", "TWOFOLD_DATABASE_URL", "TWOFOLD_SEAL_KEY", "TWOFOLD_ALLOWED_ORIGINS",
		"TWOFOLD_DEV", "TWOFOLD_LOCKOUT_MAX_ATTEMPTS", "TWOFOLD_LOCKOUT_DURATION", "TWOFOLD_BOOTSTRAP_ORG", "TWOFOLD_TRUSTED_PROXIES"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
	if _, err := ConfigFromEnv(env(nil)); err == nil || !strings.Contains(err.Error(), "TWOFOLD_SEAL_KEY") {
		t.Fatalf("missing seal key: %v", err)
	}
}

func TestTrustedProxiesParse(t *testing.T) {
	c, err := ConfigFromEnv(env(map[string]string{"TWOFOLD_SEAL_KEY": goodKey, "TWOFOLD_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.5"}))
	if err != nil || len(c.TrustedProxies) != 2 || c.TrustedProxies[1].String() != "192.168.1.5/32" {
		t.Fatalf("%v %v", c.TrustedProxies, err)
	}
}
