package server

import (
	"slices"
	"testing"
)

func TestUnknownVariablesNamesTypos(t *testing.T) {
	got := UnknownVariables([]string{
		"TWOFOLD_HTTP_ADR=:8080", "TWOFOLD_HTTP_ADDR=127.0.0.1:8080", "TWOFOLD_SEAL_KEY=x",
		"TWOFOLD_TEST_REQUIRE_MYSQL=1", "HOME=/root", "TWOFOLD_LOCKOUT_MAX_ATTEMPT=3",
		// plugin settings are the plugin host's to check; the built-in
		// plugins' older variables are read.
		"TWOFOLD_FACTOR_SMS_API_KEY=k", "TWOFOLD_TOTP_DIGITS=8", "TWOFOLD_HARDWAREKEY_MDS_ROOT=/r.pem",
	})
	if want := []string{"TWOFOLD_HTTP_ADR", "TWOFOLD_LOCKOUT_MAX_ATTEMPT"}; !slices.Equal(got, want) {
		t.Fatalf("unknown = %v, want %v", got, want)
	}
}
