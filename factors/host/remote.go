package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twofoldauth/twofold/factors"
)

// remote is the factors.Factor the registry hands out: each call goes to
// the plugin's current process, bounded by the call timeout. A call that
// finds the process dead fails with ErrUnavailable and triggers a restart.
type remote struct{ p *proc }

var _ factors.Factor = remote{}

func call[Req, Resp any](ctx context.Context, p *proc, name string, req *Req, method func(factors.Factor, context.Context, *Req) (*Resp, error)) (resp *Resp, err error) {
	if obs := p.r.cfg.Observe; obs != nil {
		start := time.Now()
		defer func() { obs(p.desc.ID, name, time.Since(start), err) }()
	}
	p.mu.Lock()
	impl, client, healthy := p.impl, p.client, p.healthyLocked()
	p.mu.Unlock()
	if !healthy {
		p.markDown()
		return nil, fmt.Errorf("%w: %s is restarting", ErrUnavailable, p.name)
	}
	ctx, cancel := context.WithTimeout(ctx, p.r.cfg.CallTimeout)
	defer cancel()
	resp, err = method(impl, ctx, req)
	if err == nil {
		return resp, nil
	}
	var fe *factors.Error
	switch {
	case errors.As(err, &fe):
		return nil, err // a typed answer from a healthy plugin
	case client != nil && (client.Exited() || status.Code(err) == codes.Unavailable):
		p.markDown()
		return nil, fmt.Errorf("%w: %s crashed: %v", ErrUnavailable, p.name, err)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return nil, fmt.Errorf("%w: %s timed out after %s", ErrUnavailable, p.name, p.r.cfg.CallTimeout)
	}
	return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, p.name, err)
}

func (r remote) Describe(ctx context.Context, req *factors.DescribeRequest) (*factors.DescribeResponse, error) {
	return call(ctx, r.p, "Describe", req, factors.Factor.Describe)
}

func (r remote) Configure(ctx context.Context, req *factors.ConfigureRequest) (*factors.ConfigureResponse, error) {
	return call(ctx, r.p, "Configure", req, factors.Factor.Configure)
}

func (r remote) BeginEnrollment(ctx context.Context, req *factors.BeginEnrollmentRequest) (*factors.BeginEnrollmentResponse, error) {
	return call(ctx, r.p, "BeginEnrollment", req, factors.Factor.BeginEnrollment)
}

func (r remote) FinishEnrollment(ctx context.Context, req *factors.FinishEnrollmentRequest) (*factors.FinishEnrollmentResponse, error) {
	return call(ctx, r.p, "FinishEnrollment", req, factors.Factor.FinishEnrollment)
}

func (r remote) BeginVerification(ctx context.Context, req *factors.BeginVerificationRequest) (*factors.BeginVerificationResponse, error) {
	return call(ctx, r.p, "BeginVerification", req, factors.Factor.BeginVerification)
}

func (r remote) FinishVerification(ctx context.Context, req *factors.FinishVerificationRequest) (*factors.FinishVerificationResponse, error) {
	return call(ctx, r.p, "FinishVerification", req, factors.Factor.FinishVerification)
}

func (r remote) IdentifyCredential(ctx context.Context, req *factors.IdentifyCredentialRequest) (*factors.IdentifyCredentialResponse, error) {
	return call(ctx, r.p, "IdentifyCredential", req, factors.Factor.IdentifyCredential)
}

// NewStatic returns a registry of in-process factors (no processes): the
// baseline for benchmarks and a way to embed factors in tests of callers.
func NewStatic(ctx context.Context, cfg Config, fs ...factors.Factor) (*Registry, error) {
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 5 * time.Second
	}
	r := &Registry{cfg: cfg, log: slogOrDefault(cfg.Logger), procs: map[string]*proc{}}
	for _, f := range fs {
		desc, err := describeAndConfigure(ctx, f, cfg)
		if err != nil {
			return nil, err
		}
		r.procs[desc.ID] = &proc{r: r, name: desc.ID, impl: f, desc: *desc, kick: make(chan struct{}, 1)}
	}
	return r, nil
}

func slogOrDefault(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}
