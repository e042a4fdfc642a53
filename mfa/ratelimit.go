package mfa

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultAuthRatePerMinute bounds password, code and passkey attempts per
// client address per server, against password spraying across many users
// (the per-user lockout does not see those).
const DefaultAuthRatePerMinute = 60

var errRateLimited = &Error{Code: CodeRateLimited, Message: "too many attempts from your address; wait a minute and try again"}

// limiter is a token bucket per key. It is per process: with N servers an
// address gets N times the rate, which still bounds a spray.
type limiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	buckets map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(perMinute int) *limiter {
	return &limiter{every: rate.Limit(float64(perMinute) / 60), burst: max(perMinute/4, 1), buckets: map[string]*bucket{}}
}

// allow spends a token of key's bucket at now.
func (l *limiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buckets) > 10000 {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.every, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}

// checkRate refuses an authentication attempt over the client's rate.
func (s *Service) checkRate(client Client) error {
	if s.authLimit == nil || client.IP == "" {
		return nil
	}
	if !s.authLimit.allow(client.IP, s.now()) {
		return errRateLimited
	}
	return nil
}

// CountRefusedAttempts charges n authentication attempts of the caller
// against its rate although none of them runs: a request refused for
// bundling many secret checks still spends what it tried to spend.
func (s *Service) CountRefusedAttempts(ctx context.Context, n int) {
	client := ClientFrom(ctx)
	if s.authLimit == nil || client.IP == "" {
		return
	}
	for range n {
		if !s.authLimit.allow(client.IP, s.now()) {
			return // the bucket is empty already
		}
	}
}
