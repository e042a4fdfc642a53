package graph

import (
	"context"
	"sync"

	"github.com/twofoldauth/twofold/graph/model"
	"github.com/twofoldauth/twofold/mfa"
)

// loginAnswer maps a login step's result like loginPayload and, for an
// ENROLLMENT_REQUIRED ticket, adds its enrolment grace (canSkip,
// skipsLeft, deadline).
func (r *Resolver) loginAnswer(ctx context.Context, res *mfa.LoginResult) (*model.LoginPayload, error) {
	p := loginPayload(requestFrom(ctx), res)
	if res.Status != mfa.StatusEnrollmentRequired || res.Ticket == "" {
		return p, nil
	}
	g := res.Grace
	canSkip := g != nil && g.CanSkip
	p.CanSkip = &canSkip
	if g != nil {
		p.SkipsLeft, p.Deadline = g.SkipsLeft, g.Deadline
	}
	return p, nil
}

// graceMemo keeps the users' grace one request has resolved, so a user's
// mfaDeadline and skipsLeft cost one resolution.
type graceMemo struct {
	mu sync.Mutex
	m  map[string]*graceEntry
}

type graceEntry struct {
	once sync.Once
	g    *mfa.EnrollmentGrace
	err  error
}

type graceMemoKey struct{}

// withGraceMemo gives a request its grace memo.
func withGraceMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, graceMemoKey{}, &graceMemo{m: map[string]*graceEntry{}})
}

// userGrace is u's enrolment grace while they must enrol (nil otherwise).
func (r *Resolver) userGrace(ctx context.Context, u *mfa.User) (*mfa.EnrollmentGrace, error) {
	if u.MFARequired != nil && !*u.MFARequired {
		// A list resolved the requirement in SQL: nothing to enrol.
		return nil, nil
	}
	v, err := viewer(ctx)
	if err != nil {
		return nil, err
	}
	m, _ := ctx.Value(graceMemoKey{}).(*graceMemo)
	if m == nil {
		return r.Service.UserGrace(ctx, v, u)
	}
	m.mu.Lock()
	e, ok := m.m[u.ID]
	if !ok {
		e = &graceEntry{}
		m.m[u.ID] = e
	}
	m.mu.Unlock()
	e.once.Do(func() { e.g, e.err = r.Service.UserGrace(ctx, v, u) })
	return e.g, e.err
}
