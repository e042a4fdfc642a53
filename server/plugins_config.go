package server

// pluginSettings maps TWOFOLD_* variables to each factor plugin's settings.
// Plugins validate their own values at Configure.
func pluginSettings(r envReader) map[string]map[string]string {
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
	return map[string]map[string]string{"totp": totp}
}
