package server

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The server gives the WebAuthn plugins the allowed origins as their
// default origins; every other value comes from variables the host reads.
func TestPluginSettingsDefaults(t *testing.T) {
	got := pluginSettings(envReader{get: func(string) string { return "" }}, []string{"http://localhost:8080", "http://127.0.0.1:8080"})
	want := map[string]map[string]string{
		"passkey":     {"origins": "http://localhost:8080,http://127.0.0.1:8080"},
		"hardwarekey": {"origins": "http://localhost:8080,http://127.0.0.1:8080"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// The security key policy variables alias only the hardwarekey plugin's
// settings; the relying party is shared.
func TestPluginAliases(t *testing.T) {
	a := PluginAliases()
	if a["hardwarekey"]["attestation"] != "TWOFOLD_HARDWAREKEY_ATTESTATION" || a["hardwarekey"]["mds_root_cert"] != "TWOFOLD_HARDWAREKEY_MDS_ROOT" {
		t.Errorf("hardwarekey aliases: %v", a["hardwarekey"])
	}
	if _, ok := a["passkey"]["attestation"]; ok {
		t.Error("the passkey plugin would get the security key policy")
	}
	if a["passkey"]["rp_id"] != "TWOFOLD_WEBAUTHN_RP_ID" || a["hardwarekey"]["origins"] != "TWOFOLD_WEBAUTHN_ORIGINS" || a["totp"]["skew"] != "TWOFOLD_TOTP_SKEW" {
		t.Errorf("aliases: %v", a)
	}
}
