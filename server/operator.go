package server

import "github.com/twofoldauth/twofold/mfa"

// readOperatorConfig reads TWOFOLD_OPERATOR_TOKENS: the operator
// credentials, "name:sha256hex,..." (the SHA-256 of each token; several
// for rotation). `twofold operator token NAME` prints a new one.
func readOperatorConfig(r *envReader, c *Config) {
	tokens, err := mfa.ParseOperatorTokens(r.get("TWOFOLD_OPERATOR_TOKENS"))
	if err != nil {
		r.fail("TWOFOLD_OPERATOR_TOKENS", "%v", err)
	}
	c.MFA.OperatorTokens = tokens
}
