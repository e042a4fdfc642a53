// Command hardwarekey is Twofold's security key factor plugin: roaming
// WebAuthn authenticators (a YubiKey...) as a second factor, enrolled only
// with an attestation that chains to a trusted vendor root and never as a
// synced credential (unless configured with attestation: any), with an
// optional allow-list of models.
package main

import (
	"github.com/twofoldauth/twofold/factors/sdk"
	"github.com/twofoldauth/twofold/plugins/internal/webauthnfactor"
)

func main() { sdk.Serve(webauthnfactor.New(webauthnfactor.HardwareKey)) }
