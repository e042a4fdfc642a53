package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twofoldauth/twofold/factors"
)

// remote is the factors.Factor the registry hands out: each call goes to
// the plugin's current process, bounded by the call timeout.
type remote struct{ p *proc }

var _ factors.Factor = remote{}

// call runs one method and sorts its failure: a typed answer passes
// through; a dead process or broken transport is ErrUnavailable and
// schedules a restart; a timeout is ErrUnavailable; the caller's own
// cancellation is returned as such.
func call[Req, Resp any](ctx context.Context, p *proc, method string, req *Req, do func(factors.Factor, context.Context, *Req) (*Resp, error)) (resp *Resp, err error) {
	if observe := p.r.cfg.Observe; observe != nil {
		start := time.Now()
		defer func() { observe(p.id, method, time.Since(start), err) }()
	}
	p.mu.Lock()
	impl, client, healthy := p.impl, p.client, p.healthyLocked()
	p.mu.Unlock()
	if !healthy {
		p.failed(client)
		return nil, fmt.Errorf("factor %s: %w: the plugin is restarting", p.id, ErrUnavailable)
	}
	callCtx, cancel := context.WithTimeout(ctx, p.r.cfg.CallTimeout)
	defer cancel()
	resp, err = do(impl, callCtx, req)
	var typed *factors.Error
	switch {
	case err == nil:
		return resp, nil
	case errors.As(err, &typed):
		return nil, err
	case ctx.Err() != nil:
		return nil, fmt.Errorf("factor %s: %w", p.id, ctx.Err())
	case callerDeadlineReached(ctx, err):
		// The plugin gave up on the caller's deadline (sent with the call)
		// a moment before this process's clock reached it.
		<-ctx.Done()
		return nil, fmt.Errorf("factor %s: %w", p.id, ctx.Err())
	case client != nil && (client.Exited() || status.Code(err) == codes.Unavailable):
		p.failed(client)
		return nil, fmt.Errorf("factor %s: %w: the plugin crashed (%s)", p.id, ErrUnavailable, status.Convert(err).Message())
	case callCtx.Err() != nil:
		return nil, fmt.Errorf("factor %s: %w: no answer within %s", p.id, ErrUnavailable, p.r.cfg.CallTimeout)
	case client == nil || status.Code(err) == codes.Internal:
		// The factor's own untyped failure: a bug to log, not an outage.
		return nil, fmt.Errorf("factor %s: %s", p.id, status.Convert(err).Message())
	}
	return nil, fmt.Errorf("factor %s: %w: %s", p.id, ErrUnavailable, status.Convert(err).Message())
}

// callerDeadlineReached: err is the other side cancelling the call, and the
// caller's own deadline is due within a few milliseconds.
func callerDeadlineReached(ctx context.Context, err error) bool {
	code := status.Code(err)
	if code != codes.Canceled && code != codes.DeadlineExceeded {
		return false
	}
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < 20*time.Millisecond
}

func (r remote) Describe(ctx context.Context, req *factors.DescribeRequest) (*factors.DescribeResponse, error) {
	ctx, done := r.p.serve(ctx, "")
	defer done()
	return call(ctx, r.p, "Describe", req, factors.Factor.Describe)
}

func (r remote) Configure(ctx context.Context, req *factors.ConfigureRequest) (*factors.ConfigureResponse, error) {
	ctx, done := r.p.serve(ctx, "")
	defer done()
	return call(ctx, r.p, "Configure", req, factors.Factor.Configure)
}

func (r remote) BeginEnrollment(ctx context.Context, req *factors.BeginEnrollmentRequest) (*factors.BeginEnrollmentResponse, error) {
	ctx, done := r.p.serve(ctx, req.User.ID)
	defer done()
	return call(ctx, r.p, "BeginEnrollment", req, factors.Factor.BeginEnrollment)
}

func (r remote) FinishEnrollment(ctx context.Context, req *factors.FinishEnrollmentRequest) (*factors.FinishEnrollmentResponse, error) {
	ctx, done := r.p.serve(ctx, req.User.ID)
	defer done()
	return call(ctx, r.p, "FinishEnrollment", req, factors.Factor.FinishEnrollment)
}

func (r remote) BeginVerification(ctx context.Context, req *factors.BeginVerificationRequest) (*factors.BeginVerificationResponse, error) {
	ctx, done := r.p.serve(ctx, req.User.ID)
	defer done()
	return call(ctx, r.p, "BeginVerification", req, factors.Factor.BeginVerification)
}

func (r remote) FinishVerification(ctx context.Context, req *factors.FinishVerificationRequest) (*factors.FinishVerificationResponse, error) {
	ctx, done := r.p.serve(ctx, req.User.ID)
	defer done()
	return call(ctx, r.p, "FinishVerification", req, factors.Factor.FinishVerification)
}

func (r remote) IdentifyCredential(ctx context.Context, req *factors.IdentifyCredentialRequest) (*factors.IdentifyCredentialResponse, error) {
	ctx, done := r.p.serve(ctx, "")
	defer done()
	return call(ctx, r.p, "IdentifyCredential", req, factors.Factor.IdentifyCredential)
}
