package factors

import "errors"

// Sentinel errors a factor returns. They cross the plugin boundary as codes
// (see factors/proto) and come back as these values, so callers use errors.Is.
var (
	// ErrBadRequest: the request or the client's response is malformed.
	ErrBadRequest = errors.New("factor: bad request")
	// ErrInvalidResponse: a well-formed response that does not verify (wrong
	// code, bad signature, wrong origin or RP id).
	ErrInvalidResponse = errors.New("factor: invalid response")
	// ErrReplay: the response was already used (TOTP step not after the last
	// one, WebAuthn challenge reused).
	ErrReplay = errors.New("factor: response already used")
	// ErrCloneWarning: the authenticator's signature counter went backwards.
	ErrCloneWarning = errors.New("factor: authenticator may be cloned")
	// ErrAttestationRefused: the authenticator's attestation does not meet the
	// configured policy (unlisted AAGUID, not certified, bad statement).
	ErrAttestationRefused = errors.New("factor: attestation refused")
	// ErrUserVerificationRequired: the factor requires user verification and
	// the response lacks it.
	ErrUserVerificationRequired = errors.New("factor: user verification required")
	// ErrUnsupported: the factor does not implement this call.
	ErrUnsupported = errors.New("factor: unsupported")
	// ErrRateLimited: asked again too soon (a code resent within its
	// cool-down); the detail says how long to wait ("wait 25 seconds").
	// Protocol version 2.
	ErrRateLimited = errors.New("factor: too many requests")
)

// Error is a factor failure with a human-readable detail. It wraps one of the
// sentinels above, so errors.Is works; Detail is safe to show users.
type Error struct {
	Kind   error
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return e.Kind.Error()
	}
	return e.Kind.Error() + ": " + e.Detail
}

func (e *Error) Unwrap() error { return e.Kind }

// Errorf returns an *Error of the given kind with a detail message.
func Errorf(kind error, detail string) error { return &Error{Kind: kind, Detail: detail} }
