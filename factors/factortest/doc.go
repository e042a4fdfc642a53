// Package factortest is the conformance suite for factor plugins. A vendor
// runs it against their built binary:
//
//	func TestConformance(t *testing.T) {
//		factortest.Run(t, "./bin/myfactor", factortest.WithSolver(mySolver{}))
//	}
//
// The binary runs as a real plugin process through the Twofold host, so the
// suite checks the whole contract: the handshake, Describe, Configure with
// the defaults and with the given settings, typed errors across the process
// boundary, and every call within the time budget. Given a Solver, which
// plays the user's device, it also enrols, verifies, round-trips the
// credential state and checks that an answer verifies only once.
//
// Conform runs the same checks without a testing.T and reports each one:
// `twofold plugin test PATH` uses it for plugins in any language.
package factortest
