package sdk

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twofoldauth/twofold/factors/internal/wire"
)

// Errors of the host services (match them with errors.Is).
var (
	// ErrNoHost: no host services here (outside a call from the host, or a
	// host older than protocol version 2).
	ErrNoHost = wire.ErrNoHost
	// ErrRefused: the host refused (the call serves no user, or its grant
	// ended with it).
	ErrRefused = wire.ErrRefused
	// ErrInvalid: a malformed request (empty or too long subject or text,
	// a bad metric name).
	ErrInvalid = wire.ErrInvalid
	// ErrTooMany: the user was sent too many messages lately; answer
	// factors.ErrRateLimited.
	ErrTooMany = wire.ErrTooMany
	// ErrUnavailable: the host could not do it now.
	ErrUnavailable = wire.ErrUnavailable
)

// HostServices are what the Twofold host does for a factor while it serves
// one of the host's calls. A factor gets them with Host(ctx) from the
// context of the call (BeginEnrollment, FinishEnrollment,
// BeginVerification, FinishVerification), and may act only for the user
// that call serves: the host passes a grant with each call that names
// that user and ends when the call returns.
type HostServices struct{ call *wire.Call }

// Host returns the host services of the call ctx belongs to. Outside a
// call every method answers ErrNoHost.
func Host(ctx context.Context) *HostServices { return &HostServices{call: wire.CallFrom(ctx)} }

// Deliver emails subject and text to the user the current call serves,
// through the host's notifications outbox: it is written in a database
// transaction with an audit event (factor.message), and sent, retried and
// shown to admins like every Twofold mail. The subject is one line of at
// most 200 characters, the text at most 4000. A refusal the user should
// see (ErrTooMany, ErrInvalid: no email address) is also a *factors.Error
// (ErrRateLimited, ErrBadRequest): return it as it is.
func (h *HostServices) Deliver(ctx context.Context, subject, text string) error {
	if h.call == nil {
		return ErrNoHost
	}
	if h.call.UserID == "" {
		return fmt.Errorf("%w: this call serves no user", ErrRefused)
	}
	return typedHostError(h.call.DeliverTo(ctx, h.call.UserID, subject, text))
}

// Log writes msg to the Twofold server's log at level, with the plugin's
// name and the attributes (key, value pairs, values formatted with %v).
func (h *HostServices) Log(ctx context.Context, level slog.Level, msg string, args ...any) error {
	attrs := map[string]string{}
	for i := 0; i+1 < len(args); i += 2 {
		attrs[fmt.Sprint(args[i])] = fmt.Sprint(args[i+1])
	}
	return h.call.Log(ctx, level, msg, attrs)
}

// Metric adds value (finite, not negative) to the server's Prometheus
// counter twofold_plugin_metric_total{plugin="<factor id>",name=name}.
// Names are lowercase letters, digits and '_'; a plugin may use at most 32.
func (h *HostServices) Metric(ctx context.Context, name string, value float64) error {
	return h.call.Metric(ctx, name, value)
}

// Now is the host's time during the call ctx belongs to (the server's
// clock, which tests may move), or the local time outside one. Use it for
// a factor's expiries so they agree with the server's.
func Now(ctx context.Context) time.Time { return wire.CallFrom(ctx).Now() }
