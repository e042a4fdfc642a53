package server

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models"
)

// Config is everything the server needs, read from TWOFOLD_* variables by
// ConfigFromEnv. Tests build it directly.
type Config struct {
	HTTPAddr    string
	DatabaseURL string
	PluginDir   string
	// PluginChecksums pins plugin binaries: "name=sha256hex,..." or
	// "@/path/to/manifest".
	PluginChecksums string
	// SealKey encrypts factor secrets at rest; OldSealKeys are still
	// accepted for reading during a rotation.
	SealKey     []byte
	OldSealKeys [][]byte

	BootstrapOrg      string
	BootstrapAdmin    string
	BootstrapPassword string

	// AllowedOrigins may send cookie-authenticated requests (CSRF check and
	// CORS).
	AllowedOrigins []string
	// Dev opens introspection to everyone (the Playground is served to
	// everyone in any mode).
	Dev bool
	// TrustedProxies are the networks of load balancers whose
	// X-Forwarded-For and X-Forwarded-Proto are believed.
	TrustedProxies []netip.Prefix

	MFA mfa.Config
	// PluginSettings are handed to each factor plugin at start, by factor
	// id, when no variable sets the setting (see factors/host.Config).
	PluginSettings map[string]map[string]string
	// PluginEnviron is the environment ("NAME=value") the host reads the
	// plugins' declared settings from: TWOFOLD_FACTOR_<ID>_<SETTING> (and
	// _FILE) and the built-in plugins' older variables. main sets it to the
	// process environment; nil reads no variable.
	PluginEnviron []string
	// RequestTimeout bounds each GraphQL request's work
	// (TWOFOLD_REQUEST_TIMEOUT; zero means DefaultRequestTimeout).
	RequestTimeout time.Duration

	// PublicURL is where clients reach Twofold; it is the issuer of session
	// assertions.
	PublicURL string
	// IntrospectionClients may call POST /introspect.
	IntrospectionClients []IntrospectionClient

	// Mail is the outbox worker's setting (TWOFOLD_SMTP_URL and friends;
	// see server/mail.go).
	Mail MailConfig

	// Log is the log format and level (server/logging.go); the logger
	// itself is made by NewLogger in main.
	Log LogConfig
	// Tracing exports spans over OTLP (OTEL_* variables; server/tracing.go).
	Tracing TracingConfig
	// MetricsToken, when set, must be sent as a bearer token to read
	// /metrics (TWOFOLD_METRICS_TOKEN).
	MetricsToken string

	// Migrate is what the server does about the schema at start
	// (TWOFOLD_MIGRATE; "" means models.MigrateAuto).
	Migrate models.MigrateMode
}

// Defaults.
const (
	DefaultHTTPAddr    = "127.0.0.1:8080"
	DefaultDatabaseURL = "sqlite://./data/twofold.db"
	DefaultPluginDir   = "./bin/plugins"
)

// ConfigFromEnv reads the configuration through getenv (os.Getenv in main).
// It reports every bad variable at once, each by name.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	r := envReader{get: getenv}
	c := Config{
		HTTPAddr:          r.str("TWOFOLD_HTTP_ADDR", DefaultHTTPAddr),
		DatabaseURL:       r.str("TWOFOLD_DATABASE_URL", DefaultDatabaseURL),
		PluginDir:         r.str("TWOFOLD_PLUGIN_DIR", DefaultPluginDir),
		PluginChecksums:   r.str("TWOFOLD_PLUGIN_CHECKSUMS", ""),
		BootstrapOrg:      r.str("TWOFOLD_BOOTSTRAP_ORG", ""),
		BootstrapAdmin:    r.str("TWOFOLD_BOOTSTRAP_ADMIN", ""),
		BootstrapPassword: r.str("TWOFOLD_BOOTSTRAP_PASSWORD", ""),
		Dev:               r.boolean("TWOFOLD_DEV"),
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		r.fail("TWOFOLD_HTTP_ADDR", "must be host:port (%v)", err)
	}
	if !strings.HasPrefix(c.DatabaseURL, "sqlite://") && !strings.HasPrefix(c.DatabaseURL, "mysql://") {
		r.fail("TWOFOLD_DATABASE_URL", "must start with sqlite:// or mysql://")
	}
	c.SealKey = r.key("TWOFOLD_SEAL_KEY", true)
	for _, k := range r.list("TWOFOLD_SEAL_KEYS_OLD") {
		c.OldSealKeys = append(c.OldSealKeys, r.decodeKey("TWOFOLD_SEAL_KEYS_OLD", k))
	}
	if (c.BootstrapOrg == "") != (c.BootstrapAdmin == "") {
		r.fail("TWOFOLD_BOOTSTRAP_ORG", "TWOFOLD_BOOTSTRAP_ORG and TWOFOLD_BOOTSTRAP_ADMIN go together")
	}
	c.AllowedOrigins = r.list("TWOFOLD_ALLOWED_ORIGINS")
	if len(c.AllowedOrigins) == 0 {
		c.AllowedOrigins = defaultOrigins(c.HTTPAddr)
	}
	for _, o := range c.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
			r.fail("TWOFOLD_ALLOWED_ORIGINS", "%q is not an origin like https://app.example.com", o)
		}
	}
	for _, p := range r.list("TWOFOLD_TRUSTED_PROXIES") {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				r.fail("TWOFOLD_TRUSTED_PROXIES", "%q is not an IP address or CIDR", p)
				continue
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, prefix)
	}
	c.MFA = mfa.Config{
		Password: mfa.PasswordConfig{
			MemoryKiB:   uint32(r.integer("TWOFOLD_ARGON2_MEMORY_KIB", int(mfa.DefaultPasswordConfig.MemoryKiB), 8, 4<<20)),
			Iterations:  uint32(r.integer("TWOFOLD_ARGON2_ITERATIONS", int(mfa.DefaultPasswordConfig.Iterations), 1, 100)),
			Parallelism: uint8(r.integer("TWOFOLD_ARGON2_PARALLELISM", int(mfa.DefaultPasswordConfig.Parallelism), 1, 64)),
			MinLength:   r.integer("TWOFOLD_PASSWORD_MIN_LENGTH", mfa.DefaultPasswordConfig.MinLength, 8, 256),
			MaxLength:   r.integer("TWOFOLD_PASSWORD_MAX_LENGTH", mfa.DefaultPasswordConfig.MaxLength, 64, 4096),
		},
		SessionIdleTimeout: r.duration("TWOFOLD_SESSION_IDLE_TIMEOUT", mfa.DefaultSessionIdleTimeout),
		SessionMaxAge:      r.duration("TWOFOLD_SESSION_MAX_AGE", mfa.DefaultSessionMaxAge),
		MaxFailedAttempts:  r.integer("TWOFOLD_LOCKOUT_MAX_ATTEMPTS", mfa.DefaultMaxFailedAttempts, 1, 100),
		LockoutDuration:    r.duration("TWOFOLD_LOCKOUT_DURATION", mfa.DefaultLockoutDuration),
		AuthRatePerMinute:  r.integer("TWOFOLD_RATE_LIMIT_AUTH_PER_MINUTE", mfa.DefaultAuthRatePerMinute, -1, 100000),
	}
	if c.MFA.Password.MinLength > c.MFA.Password.MaxLength {
		r.fail("TWOFOLD_PASSWORD_MIN_LENGTH", "must not exceed TWOFOLD_PASSWORD_MAX_LENGTH")
	}
	c.PluginSettings = pluginSettings(r, c.AllowedOrigins)
	readScaleConfig(&r, &c)
	readAssertionConfig(&r, &c)
	readMailConfig(&r, &c)
	readObservabilityConfig(&r, &c)
	readRecoveryConfig(&r, &c)
	readOperatorConfig(&r, &c)
	readMigrateConfig(&r, &c)
	return c, errors.Join(r.errs...)
}

// defaultOrigins are the browser origins of the listen address.
func defaultOrigins(addr string) []string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	return []string{"http://localhost:" + port, "http://127.0.0.1:" + port}
}

type envReader struct {
	get  func(string) string
	errs []error
}

func (r *envReader) fail(name, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

func (r *envReader) str(name, def string) string {
	if v := strings.TrimSpace(r.get(name)); v != "" {
		return v
	}
	return def
}

func (r *envReader) list(name string) []string {
	var out []string
	for _, v := range strings.Split(r.get(name), ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (r *envReader) boolean(name string) bool {
	v := r.get(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, "must be true or false, got %q", v)
	}
	return b
}

func (r *envReader) integer(name string, def, min, max int) int {
	v := r.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		r.fail(name, "must be an integer from %d to %d, got %q", min, max, v)
		return def
	}
	return n
}

func (r *envReader) duration(name string, def time.Duration) time.Duration {
	v := r.get(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail(name, "must be a positive duration like 15m, got %q", v)
		return def
	}
	return d
}

func (r *envReader) key(name string, required bool) []byte {
	v := strings.TrimSpace(r.get(name))
	if v == "" {
		if required {
			r.fail(name, "is required: a base64 32-byte key (make run creates one in ./data)")
		}
		return nil
	}
	return r.decodeKey(name, v)
}

func (r *envReader) decodeKey(name, v string) []byte {
	k, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		k, err = base64.RawURLEncoding.DecodeString(v)
	}
	if err != nil || len(k) != 32 {
		r.fail(name, "must be a base64-encoded 32-byte key")
		return nil
	}
	return k
}
