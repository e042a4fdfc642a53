// Command hardwarekey is Twofold's security key factor plugin: roaming
// WebAuthn authenticators (a YubiKey...) with verified attestation and an
// optional allow-list of models, as a second factor.
package main

import (
	"github.com/twofoldauth/twofold/factors/sdk"
	"github.com/twofoldauth/twofold/plugins/internal/webauthnfactor"
)

func main() { sdk.Serve(webauthnfactor.New(webauthnfactor.HardwareKey)) }
