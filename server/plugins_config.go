package server

import (
	"maps"
	"strings"
)

// pluginAliases are the variables the built-in plugins were configured
// with before every plugin read TWOFOLD_FACTOR_<ID>_<SETTING>; they keep
// working, and the TWOFOLD_FACTOR_ variable wins when both are set. Only
// the host maps variables to settings: a plugin cannot name a variable it
// wants to read (the seal key is one).
var pluginAliases = map[string]map[string]string{
	"totp": {
		"issuer": "TWOFOLD_TOTP_ISSUER", "digits": "TWOFOLD_TOTP_DIGITS", "period": "TWOFOLD_TOTP_PERIOD",
		"algorithm": "TWOFOLD_TOTP_ALGORITHM", "skew": "TWOFOLD_TOTP_SKEW",
	},
	// Both WebAuthn factors share the relying party.
	"passkey": webauthnAliases,
	"hardwarekey": merge(webauthnAliases, map[string]string{
		"allowed_aaguids":   "TWOFOLD_HARDWAREKEY_ALLOWED_AAGUIDS",
		"mds_file":          "TWOFOLD_HARDWAREKEY_MDS_FILE",
		"mds_root_cert":     "TWOFOLD_HARDWAREKEY_MDS_ROOT",
		"attestation":       "TWOFOLD_HARDWAREKEY_ATTESTATION",
		"attestation_roots": "TWOFOLD_HARDWAREKEY_ATTESTATION_ROOTS",
	}),
}

var webauthnAliases = map[string]string{"rp_id": "TWOFOLD_WEBAUTHN_RP_ID", "rp_name": "TWOFOLD_WEBAUTHN_RP_NAME", "origins": "TWOFOLD_WEBAUTHN_ORIGINS"}

func merge(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

// PluginAliases returns the older variables of the built-in plugins' settings
// (factor id, then setting, then variable), for host.Config.Aliases.
func PluginAliases() map[string]map[string]string { return pluginAliases }

// pluginSettings are the values the server itself gives plugins, used when
// no variable sets the setting: the WebAuthn origins default to the
// allowed origins. It reads the alias variables too, so that they count as
// known to UnknownVariables; the host reads their values (and checks them
// against each plugin's declaration, naming the variable).
func pluginSettings(r envReader, origins []string) map[string]map[string]string {
	for _, aliases := range pluginAliases {
		for _, env := range aliases {
			r.str(env, "")
		}
	}
	o := strings.Join(origins, ",")
	return map[string]map[string]string{"passkey": {"origins": o}, "hardwarekey": {"origins": o}}
}
