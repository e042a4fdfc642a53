package webauthnfactor

import (
	"errors"
	"slices"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/twofoldauth/twofold/factors"
)

// attestationErrorTypes are the go-webauthn error types of a statement
// that does not verify or a model the metadata does not vouch for.
var attestationErrorTypes = []string{
	protocol.ErrAttestation.Type, protocol.ErrInvalidAttestation.Type, protocol.ErrAttestationFormat.Type,
	protocol.ErrAttestationCertificate.Type, protocol.ErrMetadata.Type, protocol.ErrPolicyRestriction.Type,
}

// classify maps a go-webauthn ceremony failure, on a response that parsed,
// to a factor error. go-webauthn's detail names the check that failed
// (origin, RP id hash, challenge, signature) and never a secret, so it is
// kept as the Detail.
func classify(err error) error {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		return factors.Errorf(factors.ErrInvalidResponse, err.Error())
	}
	switch {
	// go-webauthn reports a missing UV flag only as a verification error
	// with this note; the test of UV pins it.
	case pe.Type == protocol.ErrVerification.Type && strings.HasPrefix(pe.DevInfo, "User verification required"):
		return factors.Errorf(factors.ErrUserVerificationRequired, "the authenticator did not verify the user (PIN or biometric)")
	case slices.Contains(attestationErrorTypes, pe.Type):
		return factors.Errorf(factors.ErrAttestationRefused, errDetail(pe))
	}
	return factors.Errorf(factors.ErrInvalidResponse, errDetail(pe))
}

// errDetail is go-webauthn's message with its developer note.
func errDetail(err error) string {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		return err.Error()
	}
	if pe.DevInfo == "" || strings.Contains(pe.Details, pe.DevInfo) {
		return pe.Details
	}
	return pe.Details + ": " + pe.DevInfo
}

// isMetadataError reports whether err is, or wraps, go-webauthn's refusal
// by the metadata service.
func isMetadataError(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if pe, ok := err.(*protocol.Error); ok && pe.Type == protocol.ErrMetadata.Type {
			return true
		}
	}
	return false
}
