package server

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The security key policy variables reach the hardwarekey plugin, and
// only it; unset, the plugin's defaults apply (trusted attestation).
func TestHardwareKeySettingsFromEnv(t *testing.T) {
	tests := map[string]struct {
		env  map[string]string
		want map[string]string
	}{
		"defaults": {want: map[string]string{"rp_id": "localhost", "rp_name": "Twofold", "origins": "http://localhost:8080"}},
		"attestation policy": {
			env: map[string]string{"TWOFOLD_HARDWAREKEY_ATTESTATION": "any", "TWOFOLD_HARDWAREKEY_ATTESTATION_ROOTS": "/etc/twofold/vendors.pem",
				"TWOFOLD_HARDWAREKEY_ALLOWED_AAGUIDS": "cb69481e-8ff7-4039-93ec-0a2729a154a8"},
			want: map[string]string{"rp_id": "localhost", "rp_name": "Twofold", "origins": "http://localhost:8080",
				"attestation": "any", "attestation_roots": "/etc/twofold/vendors.pem", "allowed_aaguids": "cb69481e-8ff7-4039-93ec-0a2729a154a8"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := pluginSettings(envReader{get: func(k string) string { return tc.env[k] }}, []string{"http://localhost:8080"})
			if diff := cmp.Diff(tc.want, got["hardwarekey"]); diff != "" {
				t.Errorf("hardwarekey settings (-want +got):\n%s", diff)
			}
			if _, ok := got["passkey"]["attestation"]; ok {
				t.Error("the passkey plugin got the security key policy")
			}
		})
	}
}
