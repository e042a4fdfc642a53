package mfa

import (
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Config holds the rules' tunables. Zero fields take the defaults.
type Config struct {
	Password PasswordConfig
	// SessionIdleTimeout ends a session unused for this long;
	// SessionMaxAge ends it this long after login regardless.
	SessionIdleTimeout time.Duration
	SessionMaxAge      time.Duration
	// MaxFailedAttempts wrong passwords or codes lock a user for
	// LockoutDuration.
	MaxFailedAttempts int
	LockoutDuration   time.Duration
	// LoginTicketTTL bounds the second step of a login; EnrollmentTTL a
	// pending enrollment.
	LoginTicketTTL time.Duration
	EnrollmentTTL  time.Duration
	// AuthRatePerMinute bounds authentication attempts per client address
	// (0: the default; negative: no limit).
	AuthRatePerMinute int
	// Assertion tunes session assertions for backends.
	Assertion AssertionConfig
	// PublicURL is the base of links in mails (TWOFOLD_PUBLIC_URL), e.g.
	// https://mfa.example.com; a link is {PublicURL}/demo#recover={token}.
	PublicURL string
	// RecoveryLinkTTL bounds lost-device and password-reset links
	// (TWOFOLD_RECOVERY_LINK_TTL).
	RecoveryLinkTTL time.Duration
	// RecoveryLinksPerHour bounds the links of each kind sent per account.
	RecoveryLinksPerHour int
	// LinkRequestFloor is the least time a link request takes to answer,
	// so that an existing account (whose request also writes the mail)
	// and an unknown one answer alike (0: the default; negative: none).
	LinkRequestFloor time.Duration
	// AuditRetention deletes audit events older than this in the periodic
	// purge (TWOFOLD_AUDIT_RETENTION); zero keeps them forever.
	AuditRetention time.Duration
	// OperatorTokens are the operator credentials (TWOFOLD_OPERATOR_TOKENS).
	OperatorTokens []OperatorToken
}

// Defaults.
const (
	DefaultSessionIdleTimeout = time.Hour
	DefaultSessionMaxAge      = 12 * time.Hour
	DefaultMaxFailedAttempts  = 5
	DefaultLockoutDuration    = 15 * time.Minute
	DefaultLoginTicketTTL     = 5 * time.Minute
	DefaultEnrollmentTTL      = 15 * time.Minute
	// sessionTouchInterval bounds how often a busy session writes its
	// last-seen time.
	sessionTouchInterval = time.Minute
)

func (c Config) withDefaults() Config {
	if c.Password == (PasswordConfig{}) {
		c.Password = DefaultPasswordConfig
	}
	if c.SessionIdleTimeout <= 0 {
		c.SessionIdleTimeout = DefaultSessionIdleTimeout
	}
	if c.SessionMaxAge <= 0 {
		c.SessionMaxAge = DefaultSessionMaxAge
	}
	if c.MaxFailedAttempts <= 0 {
		c.MaxFailedAttempts = DefaultMaxFailedAttempts
	}
	if c.LockoutDuration <= 0 {
		c.LockoutDuration = DefaultLockoutDuration
	}
	if c.LoginTicketTTL <= 0 {
		c.LoginTicketTTL = DefaultLoginTicketTTL
	}
	if c.EnrollmentTTL <= 0 {
		c.EnrollmentTTL = DefaultEnrollmentTTL
	}
	if c.AuthRatePerMinute == 0 {
		c.AuthRatePerMinute = DefaultAuthRatePerMinute
	}
	c.Assertion = c.Assertion.withDefaults()
	if c.RecoveryLinkTTL <= 0 {
		c.RecoveryLinkTTL = DefaultRecoveryLinkTTL
	}
	if c.RecoveryLinksPerHour <= 0 {
		c.RecoveryLinksPerHour = DefaultRecoveryLinksPerHour
	}
	if c.LinkRequestFloor == 0 {
		c.LinkRequestFloor = DefaultLinkRequestFloor
	}
	return c
}

// Service carries out every use case. It is safe for concurrent use and
// keeps no state of its own: many processes can share one database.
type Service struct {
	store     Store
	clock     Clock
	cfg       Config
	registry  Registry
	keyring   *Keyring
	log       *slog.Logger
	authLimit *limiter
	// templates check and preview notification templates (notify).
	templates NotificationTemplates
	// observer is told authentication outcomes (metrics; WithObserver).
	observer Observer
	// dummyHash is verified against when a login names no user, so unknown
	// and known usernames cost the same.
	dummyHash string
	// orgSlugs caches organization id -> slug: a slug never changes, and
	// every second-factor call names the organization to its plugin.
	orgSlugs sync.Map
}

// Option configures a Service.
type Option func(*Service)

// WithClock replaces the system clock (tests move time with it).
func WithClock(c Clock) Option { return func(s *Service) { s.clock = c } }

// New returns a Service on store.
func New(store Store, cfg Config, opts ...Option) (*Service, error) {
	s := &Service{store: store, clock: systemClock{}, cfg: cfg.withDefaults(), registry: emptyRegistry{}, log: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	if s.keyring == nil {
		return nil, errors.New("mfa: a keyring is required (WithKeyring)")
	}
	if s.cfg.AuthRatePerMinute > 0 {
		s.authLimit = newLimiter(s.cfg.AuthRatePerMinute)
	}
	h, err := s.cfg.Password.hash("twofold-dummy-password")
	if err != nil {
		return nil, err
	}
	s.dummyHash = h
	return s, nil
}

// Store returns the service's store (for health checks).
func (s *Service) Store() Store { return s.store }

func (s *Service) now() time.Time { return s.clock.Now().UTC() }

// newID returns a time-ordered UUID (v7), which keeps InnoDB inserts local.
func newID() string { return uuid.Must(uuid.NewV7()).String() }

// validID reports whether id looks like one of ours, so malformed ids are
// refused before reaching the database.
func validID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil && len(id) == 36
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// text validates a free-text field: trimmed, within [min, max] characters,
// printable.
func text(field, value string, min, max int) (string, error) {
	v := strings.TrimSpace(value)
	n := utf8.RuneCountInString(v)
	switch {
	case !utf8.ValidString(v):
		return "", invalidInput(field, "%s is not valid UTF-8", field)
	case n < min && min == 1:
		return "", invalidInput(field, "%s must not be empty", field)
	case n < min:
		return "", invalidInput(field, "%s must be at least %d characters", field, min)
	case n > max:
		return "", invalidInput(field, "%s must be at most %d characters", field, max)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return "", invalidInput(field, "%s must not contain control characters", field)
		}
	}
	return v, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
