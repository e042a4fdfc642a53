// Command totp is Twofold's TOTP factor plugin (RFC 6238 authenticator
// apps).
package main

import (
	"github.com/twofoldauth/twofold/factors/sdk"
	"github.com/twofoldauth/twofold/plugins/totp/totpfactor"
)

func main() { sdk.Serve(totpfactor.New()) }
