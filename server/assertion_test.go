package server

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/mfa"
)

func TestAssertionConfig(t *testing.T) {
	c, err := ConfigFromEnv(env(map[string]string{"TWOFOLD_SEAL_KEY": goodKey}))
	if err != nil {
		t.Fatal(err)
	}
	a := c.MFA.Assertion
	if a.Issuer != "http://localhost:8080" || a.TTL != mfa.DefaultAssertionTTL || a.KeyRotation != mfa.DefaultAssertionKeyRotation || len(c.IntrospectionClients) != 0 {
		t.Fatalf("defaults: %+v %+v", a, c.IntrospectionClients)
	}
	sum := sha256.Sum256([]byte("secret"))
	c, err = ConfigFromEnv(env(map[string]string{"TWOFOLD_SEAL_KEY": goodKey, "TWOFOLD_PUBLIC_URL": "https://mfa.example.com/",
		"TWOFOLD_ASSERTION_TTL": "2m", "TWOFOLD_ASSERTION_KEY_ROTATION": "168h",
		"TWOFOLD_INTROSPECTION_CLIENTS": "crm:" + hex.EncodeToString(sum[:]) + ", portal:" + strings.Repeat("ab", 32)}))
	if err != nil {
		t.Fatal(err)
	}
	a = c.MFA.Assertion
	if a.Issuer != "https://mfa.example.com" || a.TTL != 2*time.Minute || a.KeyRotation != 168*time.Hour ||
		len(c.IntrospectionClients) != 2 || c.IntrospectionClients[0].ID != "crm" || c.IntrospectionClients[0].SecretSHA256 != sum {
		t.Fatalf("set: %+v %+v", a, c.IntrospectionClients)
	}

	for name, tc := range map[string]struct{ name, value string }{
		"not a URL":           {"TWOFOLD_PUBLIC_URL", "mfa.example.com"},
		"TTL too long":        {"TWOFOLD_ASSERTION_TTL", "2h"},
		"TTL not a duration":  {"TWOFOLD_ASSERTION_TTL", "5"},
		"rotation too short":  {"TWOFOLD_ASSERTION_KEY_ROTATION", "10m"},
		"client without hash": {"TWOFOLD_INTROSPECTION_CLIENTS", "crm"},
		"hash not hex":        {"TWOFOLD_INTROSPECTION_CLIENTS", "crm:secret"},
		"hash too short":      {"TWOFOLD_INTROSPECTION_CLIENTS", "crm:abcd"},
		"client listed twice": {"TWOFOLD_INTROSPECTION_CLIENTS", "crm:" + strings.Repeat("ab", 32) + ",crm:" + strings.Repeat("cd", 32)},
		"empty client id":     {"TWOFOLD_INTROSPECTION_CLIENTS", ":" + strings.Repeat("ab", 32)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ConfigFromEnv(env(map[string]string{"TWOFOLD_SEAL_KEY": goodKey, tc.name: tc.value}))
			if err == nil || !strings.Contains(err.Error(), tc.name) {
				t.Fatalf("%s=%q: %v, want an error naming the variable", tc.name, tc.value, err)
			}
			if tc.name == "TWOFOLD_INTROSPECTION_CLIENTS" && strings.Contains(err.Error(), tc.value) {
				t.Fatalf("the error repeats the value (it may be a secret): %v", err)
			}
		})
	}
}

func TestIntrospectionClientCheck(t *testing.T) {
	sum := sha256.Sum256([]byte("right"))
	s := &Server{cfg: Config{IntrospectionClients: []IntrospectionClient{{ID: "crm", SecretSHA256: sum}, {ID: "portal", SecretSHA256: sha256.Sum256([]byte("other"))}}}}
	for name, tc := range map[string]struct {
		id, secret string
		basic, ok  bool
	}{
		"right":                   {"crm", "right", true, true},
		"wrong secret":            {"crm", "wrong", true, false},
		"another client's secret": {"portal", "right", true, false},
		"unknown client":          {"billing", "right", true, false},
		"no credentials":          {"", "", false, false},
	} {
		r := httptest.NewRequest("POST", "/introspect", nil)
		if tc.basic {
			r.SetBasicAuth(tc.id, tc.secret)
		}
		if got := s.introspectionClient(r); got != tc.ok {
			t.Errorf("%s: %v, want %v", name, got, tc.ok)
		}
	}
}
