package server

import (
	"maps"
	"strings"
)

// pluginSettings maps TWOFOLD_* variables to each factor plugin's settings.
// Plugins validate their own values at Configure.
func pluginSettings(r envReader, origins []string) map[string]map[string]string {
	set := func(m map[string]string, key, env string) {
		if v := r.str(env, ""); v != "" {
			m[key] = v
		}
	}
	totp := map[string]string{}
	set(totp, "issuer", "TWOFOLD_TOTP_ISSUER")
	set(totp, "digits", "TWOFOLD_TOTP_DIGITS")
	set(totp, "period", "TWOFOLD_TOTP_PERIOD")
	set(totp, "algorithm", "TWOFOLD_TOTP_ALGORITHM")
	set(totp, "skew", "TWOFOLD_TOTP_SKEW")
	// Both WebAuthn factors share the relying party.
	rp := map[string]string{"rp_id": r.str("TWOFOLD_WEBAUTHN_RP_ID", "localhost"), "rp_name": r.str("TWOFOLD_WEBAUTHN_RP_NAME", "Twofold")}
	rp["origins"] = r.str("TWOFOLD_WEBAUTHN_ORIGINS", strings.Join(origins, ","))
	passkey, hardwarekey := maps.Clone(rp), maps.Clone(rp)
	set(hardwarekey, "allowed_aaguids", "TWOFOLD_HARDWAREKEY_ALLOWED_AAGUIDS")
	set(hardwarekey, "mds_file", "TWOFOLD_HARDWAREKEY_MDS_FILE")
	set(hardwarekey, "mds_root_cert", "TWOFOLD_HARDWAREKEY_MDS_ROOT")
	// trusted (default) or any; extra vendor roots (PEM or a PEM file).
	set(hardwarekey, "attestation", "TWOFOLD_HARDWAREKEY_ATTESTATION")
	set(hardwarekey, "attestation_roots", "TWOFOLD_HARDWAREKEY_ATTESTATION_ROOTS")
	return map[string]map[string]string{"totp": totp, "passkey": passkey, "hardwarekey": hardwarekey}
}
