// Package host runs factor plugins for the Twofold server. It discovers the
// binaries in a folder, checks their pinned SHA-256, starts each with
// go-plugin (gRPC, AutoMTLS), describes and configures it, bounds every call
// with a timeout, and restarts a crashed plugin with back-off while the
// call that hit the crash fails with ErrUnavailable. Registry is the factor
// registry package mfa uses.
package host
