package mfa

import (
	"context"
	"errors"
	"strings"
)

// Observer is told the outcome of authentication steps, for metrics. The
// service calls it synchronously, so an implementation must be cheap and
// safe for concurrent use. The values are low-cardinality labels.
type Observer interface {
	// LoginResult is called once per password login with its outcome:
	// authenticated, mfa_required, enrollment_required, locked, invalid,
	// rate_limited, bad_request, unavailable or error.
	LoginResult(result string)
	// Verification is called once per second-factor answer checked against
	// an enrollment (or a recovery code: factor type "recovery_code"), with
	// its outcome: authenticated, locked, invalid, replay, bad_request,
	// unavailable or error.
	Verification(factorType, result string)
	// Lockout is called when a subject (a user or an unknown login name)
	// becomes locked.
	Lockout()
}

// WithObserver reports authentication outcomes to o (the server's
// Prometheus metrics).
func WithObserver(o Observer) Option { return func(s *Service) { s.observer = o } }

// nopObserver is the default Observer.
type nopObserver struct{}

func (nopObserver) LoginResult(string)          {}
func (nopObserver) Verification(string, string) {}
func (nopObserver) Lockout()                    {}

// obs is the configured Observer, or one that does nothing.
func (s *Service) obs() Observer {
	if s.observer == nil {
		return nopObserver{}
	}
	return s.observer
}

// observeLogin reports the outcome of a password login.
func (s *Service) observeLogin(res *LoginResult, err error) {
	s.obs().LoginResult(outcome(res, err))
}

// observeVerification reports the outcome of a second-factor answer.
func (s *Service) observeVerification(factorType string, res *LoginResult, err error) {
	s.obs().Verification(factorType, outcome(res, err))
}

// outcome names what a login step ended with, as a metric label.
func outcome(res *LoginResult, err error) string {
	if err == nil {
		if res == nil {
			return "error"
		}
		return strings.ToLower(string(res.Status))
	}
	var e *Error
	switch {
	case errors.As(err, &e):
		switch {
		case e.Reason == "CODE_ALREADY_USED":
			return "replay"
		case e.Reason == "LOCKED":
			return "locked"
		case e.Code == CodeUnauthenticated:
			return "invalid"
		case e.Code == CodeBadUserInput:
			return "bad_request"
		case e.Code == CodeRateLimited:
			return "rate_limited"
		case e.Code == CodeUnavailable:
			return "unavailable"
		}
		return strings.ToLower(string(e.Code))
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "unavailable"
	}
	return "error"
}
