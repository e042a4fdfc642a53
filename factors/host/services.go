package host

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/metadata"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/internal/wire"
)

// Backend is what the host services to plugins rest on: the domain service
// (*mfa.Service implements it; the server wires it with SetBackend).
type Backend interface {
	// DeliverFactorMessage sends subject and text to the user by email
	// through the notifications outbox, for factor type factorType, and
	// audits it. Errors wrapping factors.ErrBadRequest (no address, an
	// inactive user) or factors.ErrRateLimited reach the plugin as such.
	DeliverFactorMessage(ctx context.Context, userID, factorType, subject, text string) error
	// Now is the domain's clock; plugins receive it with every call.
	Now() time.Time
}

// Limits of the host services.
const (
	maxSubject = 200
	maxText    = 4000
	// maxMetricNames bounds the label values one plugin can create.
	maxMetricNames = 32
	// deliverTimeout bounds one DeliverMessage's transaction.
	deliverTimeout = 5 * time.Second
)

var metricName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// SetBackend makes DeliverMessage work and gives plugins the backend's
// clock. Until it is called DeliverMessage answers unavailable and
// plugins get the host's system time.
func (r *Registry) SetBackend(b Backend) {
	r.backendMu.Lock()
	defer r.backendMu.Unlock()
	r.backend = b
}

func (r *Registry) currentBackend() Backend {
	r.backendMu.RLock()
	defer r.backendMu.RUnlock()
	return r.backend
}

func (r *Registry) now() time.Time {
	if b := r.currentBackend(); b != nil {
		return b.Now()
	}
	return time.Now().UTC()
}

// grant is what a ceremony call lets its plugin do through the host
// services: act for one user, until the call returns.
type grant struct {
	p       *proc
	userID  string
	expires time.Time
}

// serve is ctx for one call to p's plugin: it carries the host's time and,
// when the call serves a user, a new grant for that user, revoked by done.
func (p *proc) serve(ctx context.Context, userID string) (_ context.Context, done func()) {
	now := p.r.now().Format(time.RFC3339Nano)
	if userID == "" {
		return metadata.AppendToOutgoingContext(ctx, wire.TimeKey, now), func() {}
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	token := base64.RawURLEncoding.EncodeToString(b[:])
	key := sha256.Sum256([]byte(token))
	p.r.grants.Store(key, grant{p: p, userID: userID, expires: time.Now().Add(p.r.cfg.CallTimeout)})
	// One metadata append for both keys: one context, not two.
	return metadata.AppendToOutgoingContext(ctx, wire.TimeKey, now, wire.GrantKey, token), func() { p.r.grants.Delete(key) }
}

// services are the host services of one plugin (all its processes).
type services struct {
	p       *proc
	mu      sync.Mutex
	metrics map[string]bool // names seen, bounded by maxMetricNames
}

var _ wire.HostServices = (*services)(nil)

func (s *services) factor() string {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if s.p.desc.ID != "" {
		return s.p.desc.ID
	}
	return s.p.name
}

// DeliverMessage checks the grant (this plugin, not expired, this user)
// and the message, then hands it to the backend.
func (s *services) DeliverMessage(ctx context.Context, token string, m wire.Message) error {
	r := s.p.r
	v, ok := r.grants.Load(sha256.Sum256([]byte(token)))
	g, _ := v.(grant)
	switch {
	case token == "" || !ok || g.p != s.p || time.Now().After(g.expires):
		r.log.Warn("factor plugin refused a message: no call in progress grants it", "plugin", s.p.name)
		return fmt.Errorf("%w: no call in progress grants a message", wire.ErrRefused)
	case m.UserID != g.userID:
		r.log.Warn("factor plugin refused a message to a user the call does not serve", "plugin", s.p.name)
		return fmt.Errorf("%w: the current call serves another user", wire.ErrRefused)
	case m.Channel != "email":
		return fmt.Errorf("%w: unknown channel %q", wire.ErrInvalid, m.Channel)
	case strings.TrimSpace(m.Subject) == "" || utf8.RuneCountInString(m.Subject) > maxSubject || strings.ContainsAny(m.Subject, "\r\n"):
		return fmt.Errorf("%w: the subject must be one line of 1 to %d characters", wire.ErrInvalid, maxSubject)
	case strings.TrimSpace(m.Text) == "" || utf8.RuneCountInString(m.Text) > maxText || !utf8.ValidString(m.Text):
		return fmt.Errorf("%w: the text must be 1 to %d characters", wire.ErrInvalid, maxText)
	}
	b := r.currentBackend()
	if b == nil {
		return fmt.Errorf("%w: no message backend", wire.ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, deliverTimeout)
	defer cancel()
	err := b.DeliverFactorMessage(ctx, m.UserID, s.factor(), m.Subject, m.Text)
	var fe *factors.Error
	detail := ""
	if errors.As(err, &fe) {
		detail = fe.Detail
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, factors.ErrRateLimited):
		return fmt.Errorf("%w: %s", wire.ErrTooMany, detail)
	case errors.Is(err, factors.ErrBadRequest):
		return fmt.Errorf("%w: %s", wire.ErrInvalid, detail)
	}
	r.log.Error("factor plugin message not queued", "plugin", s.p.name, "err", err)
	return err
}

// Log writes the plugin's line to the host's log, naming the plugin.
func (s *services) Log(ctx context.Context, level slog.Level, msg string, attrs map[string]string) {
	args := make([]any, 0, 2*len(attrs)+4)
	args = append(args, "plugin", s.p.name, "factor", s.factor())
	for k, v := range attrs {
		args = append(args, k, v)
	}
	s.p.r.log.Log(ctx, level, msg, args...)
}

// Metric adds value to the plugin's counter name.
func (s *services) Metric(_ context.Context, name string, value float64) error {
	if !metricName.MatchString(name) {
		return fmt.Errorf("%w: metric name %q: lowercase letters, digits and '_', at most 64", wire.ErrInvalid, name)
	}
	if value < 0 || math.IsNaN(value) || math.IsInf(value, 0) {
		return fmt.Errorf("%w: a counter only grows by a finite amount", wire.ErrInvalid)
	}
	s.mu.Lock()
	if !s.metrics[name] && len(s.metrics) >= maxMetricNames {
		s.mu.Unlock()
		return fmt.Errorf("%w: more than %d metric names", wire.ErrInvalid, maxMetricNames)
	}
	s.metrics[name] = true
	s.mu.Unlock()
	if f := s.p.r.cfg.Metric; f != nil {
		f(s.factor(), name, value)
	}
	return nil
}
