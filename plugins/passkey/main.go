// Command passkey is Twofold's passkey factor plugin: discoverable,
// user-verified WebAuthn credentials that also sign in without a password.
package main

import (
	"github.com/twofoldauth/twofold/factors/sdk"
	"github.com/twofoldauth/twofold/plugins/internal/webauthnfactor"
)

func main() { sdk.Serve(webauthnfactor.New(webauthnfactor.Passkey)) }
