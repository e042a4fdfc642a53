package mfa

import (
	"context"
	"errors"
	"log/slog"

	"github.com/twofoldauth/twofold/factors"
)

// Registry is the set of installed factor types (factors/host.Registry).
type Registry interface {
	Factor(id string) (factors.Factor, bool)
	Types() []factors.Status
}

// WithRegistry sets the factor registry.
func WithRegistry(r Registry) Option { return func(s *Service) { s.registry = r } }

// WithKeyring sets the keyring that seals factor state.
func WithKeyring(k *Keyring) Option { return func(s *Service) { s.keyring = k } }

// WithLogger sets where the service logs operational problems.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

type emptyRegistry struct{}

func (emptyRegistry) Factor(string) (factors.Factor, bool) { return nil, false }
func (emptyRegistry) Types() []factors.Status              { return nil }

// FactorTypes lists the installed factor types.
func (s *Service) FactorTypes() []factors.Status { return s.registry.Types() }

// factor returns the plugin for a factor type id.
func (s *Service) factor(id string) (factors.Factor, factors.Status, error) {
	for _, st := range s.registry.Types() {
		if st.ID == id {
			if f, ok := s.registry.Factor(id); ok {
				return f, st, nil
			}
		}
	}
	return nil, factors.Status{}, &Error{Code: CodeBadUserInput, Field: "factorType", Message: "unknown factor type"}
}

// errCodeAlreadyUsed answers a code (or assertion) that was right but has
// been used already: the user should wait for the next one.
var errCodeAlreadyUsed = &Error{Code: CodeUnauthenticated, Reason: "CODE_ALREADY_USED",
	Message: "this code was already used; wait for the next code"}

// verificationFailed reports whether a factor error is a wrong answer that
// counts towards the lockout.
func verificationFailed(err error) bool {
	return errors.Is(err, factors.ErrInvalidResponse) || errors.Is(err, factors.ErrReplay) ||
		errors.Is(err, factors.ErrCloneWarning) || errors.Is(err, factors.ErrUserVerificationRequired)
}

// factorError maps what a plugin returned to a caller-facing error. Wrong
// answers say little (the caller counts them); malformed input and refused
// attestations say what was wrong; anything else means the plugin is
// unavailable, and its detail goes to the log, not the client.
func (s *Service) factorError(ctx context.Context, err error) error {
	var fe *factors.Error
	detail := ""
	if errors.As(err, &fe) {
		detail = fe.Detail
	}
	withDetail := func(msg string) string {
		if detail != "" {
			return msg + ": " + detail
		}
		return msg
	}
	switch {
	case errors.Is(err, factors.ErrBadRequest):
		return &Error{Code: CodeBadUserInput, Field: "response", Message: withDetail("the factor response is malformed")}
	case errors.Is(err, factors.ErrAttestationRefused):
		return &Error{Code: CodeBadUserInput, Field: "response", Reason: "ATTESTATION_REFUSED", Message: withDetail("this authenticator is not accepted")}
	case errors.Is(err, factors.ErrUserVerificationRequired):
		return &Error{Code: CodeUnauthenticated, Reason: "USER_VERIFICATION_REQUIRED", Message: "the authenticator did not verify the user (PIN or biometrics required)"}
	case errors.Is(err, factors.ErrCloneWarning):
		return &Error{Code: CodeUnauthenticated, Reason: "CLONE_WARNING", Message: "this authenticator may have been cloned; its use was refused"}
	case errors.Is(err, factors.ErrReplay):
		return errCodeAlreadyUsed
	case errors.Is(err, factors.ErrInvalidResponse):
		return &Error{Code: CodeUnauthenticated, Reason: "INVALID_CODE", Message: "the code or response is not valid"}
	case errors.Is(err, factors.ErrRateLimited):
		return &Error{Code: CodeRateLimited, Message: withDetail("asked again too soon")}
	case errors.Is(err, factors.ErrUnsupported):
		return &Error{Code: CodeBadUserInput, Message: "this factor type does not support that"}
	case errors.Is(err, context.Canceled):
		return err
	}
	s.log.WarnContext(ctx, "factor call failed", "err", err)
	return &Error{Code: CodeUnavailable, Message: "the factor service is unavailable; try again"}
}
