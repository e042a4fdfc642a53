// Command example is a complete, minimal Twofold factor plugin: a
// passphrase the user chooses at enrolment and types at login. It exists to
// show vendors the whole shape of a factor; do not deploy it (it is not a
// real second factor).
package main

import (
	"github.com/twofoldauth/twofold/factors/sdk"
	"github.com/twofoldauth/twofold/plugins/example/passphrase"
)

func main() { sdk.Serve(passphrase.New()) }
