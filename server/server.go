package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/trace"

	"github.com/twofoldauth/twofold/factors/host"
	"github.com/twofoldauth/twofold/graph"
	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models"
	"github.com/twofoldauth/twofold/notify"
)

// Server is one Twofold process: its store, service and HTTP handler. It
// keeps no request state of its own, so many can share one database.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   *models.Store
	plugins *host.Registry // nil when no plugin dir is configured
	metrics *metrics
	service *mfa.Service
	handler http.Handler
	// stopJobs ends the notification job loop (Close).
	stopJobs context.CancelFunc
	// mailer sends the outbox (server/mail.go).
	mailer *notify.Worker
	// tracer makes the spans (server/tracing.go); stopTracing flushes them.
	tracer      trace.TracerProvider
	stopTracing func(context.Context) error
}

// Option adjusts a Server (tests inject a clock).
type Option func(*options)

type options struct {
	logger *slog.Logger
	mfa    []mfa.Option
	tracer trace.TracerProvider
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithTracerProvider makes the spans with tp instead of the provider the
// OTEL_* variables in Config.Tracing describe (tests record them in memory).
func WithTracerProvider(tp trace.TracerProvider) Option { return func(o *options) { o.tracer = tp } }

// WithMFAOptions passes options to mfa.New (e.g. mfa.WithClock).
func WithMFAOptions(opts ...mfa.Option) Option {
	return func(o *options) { o.mfa = append(o.mfa, opts...) }
}

// New opens the database (running migrations), bootstraps the configured
// organization and builds the handler.
func New(ctx context.Context, cfg Config, opts ...Option) (*Server, error) {
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	o.logger = withRequestContext(o.logger)
	stopTracing := func(context.Context) error { return nil }
	if o.tracer == nil {
		var err error
		if o.tracer, stopTracing, err = newTracerProvider(ctx, cfg.Tracing); err != nil {
			return nil, err
		}
	}
	store, err := models.Open(ctx, cfg.DatabaseURL, models.WithMigrate(cfg.Migrate))
	if err != nil {
		_ = stopTracing(ctx)
		return nil, fmt.Errorf("database: %w", err)
	}
	s := &Server{cfg: cfg, log: o.logger, store: store, metrics: newMetrics(), tracer: o.tracer, stopTracing: stopTracing}
	if err := s.init(ctx, o); err != nil {
		s.Close()
		return nil, err
	}
	s.handler = s.routes()
	jobs, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stopJobs = stop
	go s.notificationJobLoop(jobs, notificationJobInterval)
	go s.enrollmentReminderLoop(jobs, enrollmentReminderInterval)
	return s, nil
}

func (s *Server) init(ctx context.Context, o options) error {
	keyring, err := mfa.NewKeyring(s.cfg.SealKey, s.cfg.OldSealKeys...)
	if err != nil {
		return fmt.Errorf("TWOFOLD_SEAL_KEY: %w", err)
	}
	if err := s.store.Trace(s.tracer); err != nil {
		return err
	}
	if err := s.metrics.watchStore(s.store, s.log); err != nil {
		return err
	}
	mfaOpts := []mfa.Option{mfa.WithKeyring(keyring), mfa.WithLogger(o.logger), mfa.WithObserver(s.metrics)}
	if s.cfg.PluginDir != "" {
		checksums, err := host.ParseChecksums(s.cfg.PluginChecksums)
		if err != nil {
			return fmt.Errorf("TWOFOLD_PLUGIN_CHECKSUMS: %w", err)
		}
		s.plugins, err = host.New(ctx, host.Config{Dir: s.cfg.PluginDir, Checksums: checksums, Settings: s.cfg.PluginSettings,
			Environ: s.cfg.PluginEnviron, Aliases: pluginAliases,
			Logger: o.logger, Observe: s.metrics.observeFactorCall, TracerProvider: s.tracer, Metric: s.metrics.pluginMetrics()})
		if err != nil {
			return fmt.Errorf("factor plugins: %w", err)
		}
		s.metrics.watchPlugins(s.plugins)
		mfaOpts = append(mfaOpts, mfa.WithRegistry(s.plugins))
		for _, t := range s.plugins.Types() {
			s.log.Info("factor plugin ready", "factor", t.ID, "version", t.Version)
		}
	}
	templates, err := notify.NewTemplates()
	if err != nil {
		return err
	}
	mfaOpts = append(mfaOpts, mfa.WithNotificationTemplates(templates))
	s.cfg.MFA.PublicURL = s.cfg.mfaPublicURL()
	s.service, err = mfa.New(s.store, s.cfg.MFA, append(mfaOpts, o.mfa...)...)
	if err != nil {
		return err
	}
	if s.plugins != nil {
		// Plugins' messages (sdk.Host(ctx).Deliver) go through the outbox.
		s.plugins.SetBackend(s.service)
	}
	if err := s.service.CheckSealKeys(ctx); err != nil {
		if errors.Is(err, mfa.ErrSealKeyMissing) {
			return fmt.Errorf("TWOFOLD_SEAL_KEY, TWOFOLD_SEAL_KEYS_OLD: %w: set TWOFOLD_SEAL_KEY to the key the data was sealed with, "+
				"or keep that key in TWOFOLD_SEAL_KEYS_OLD while rotating", err)
		}
		return fmt.Errorf("checking seal keys: %w", err)
	}
	if err := s.bootstrap(ctx); err != nil {
		return err
	}
	return s.startMail(templates)
}

func (s *Server) bootstrap(ctx context.Context) error {
	if s.cfg.BootstrapOrg == "" {
		return nil
	}
	password, generated := s.cfg.BootstrapPassword, false
	if password == "" {
		password, generated = rand.Text(), true
	}
	created, err := s.service.Bootstrap(ctx, s.cfg.BootstrapOrg, s.cfg.BootstrapAdmin, password)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if created {
		s.log.Info("bootstrap: created organization and admin", "organization", s.cfg.BootstrapOrg, "admin", s.cfg.BootstrapAdmin)
		if generated {
			// Shown once, like Keycloak's temporary admin: it is not stored
			// anywhere but as its hash.
			fmt.Fprintf(os.Stderr, "\n  Bootstrap admin %q password (shown once): %s\n\n", s.cfg.BootstrapAdmin, password)
		}
	}
	return nil
}

// Handler is the whole HTTP surface.
func (s *Server) Handler() http.Handler { return s.handler }

// Plugins is the factor plugin registry (nil without a plugin dir).
func (s *Server) Plugins() *host.Registry { return s.plugins }

// Service is the domain service (for tests and commands).
func (s *Server) Service() *mfa.Service { return s.service }

// Close stops the plugins and releases the database.
func (s *Server) Close() error {
	if s.mailer != nil {
		s.mailer.Stop()
	}
	if s.stopJobs != nil {
		s.stopJobs()
	}
	if s.plugins != nil {
		s.plugins.Close()
	}
	if s.stopTracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.stopTracing(ctx); err != nil {
			s.log.Warn("flushing spans", "err", err)
		}
	}
	return s.store.Close()
}

func (s *Server) routes() http.Handler {
	gql := graph.NewHandler(graph.Config{Service: s.service, Logger: s.log, Dev: s.cfg.Dev,
		Extensions: []graphql.HandlerExtension{graphObserver{tracer: s.tracer.Tracer("github.com/twofoldauth/twofold/graph"), metrics: s.metrics}}})
	mux := http.NewServeMux()
	mux.Handle("POST /graphql", s.metrics.instrument("graphql", s.withDeadline(s.withSession(gql))))
	mux.Handle("OPTIONS /graphql", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	newPlayground().routes(mux)
	mux.HandleFunc("GET /demo", serveDemo)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusOK, "ok") })
	mux.Handle("GET /readyz", s.metrics.instrument("readyz", http.HandlerFunc(s.ready)))
	mux.Handle("GET /metrics", s.metrics.handler(s.cfg.MetricsToken))
	s.assertionRoutes(mux)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/playground", http.StatusFound)
	})
	return s.withTracing(s.withRequestLog(s.withClient(s.withCORS(mux))))
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	// On Galera, a node that answers but is still joining (or lost its
	// quorum) is not ready either.
	if err := s.store.Ready(ctx); err != nil {
		s.log.Warn("readyz: database", "err", err)
		writeText(w, http.StatusServiceUnavailable, "database unavailable")
		return
	}
	if s.plugins != nil {
		if err := s.plugins.Check(ctx); err != nil {
			writeText(w, http.StatusServiceUnavailable, err.Error())
			return
		}
	}
	writeText(w, http.StatusOK, "ready")
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = fmt.Fprintln(w, msg)
}

// purgeInterval is how often a server deletes expired sessions, tickets and
// pending enrollments. Every server does it; the deletes are idempotent.
const purgeInterval = 10 * time.Minute

func (s *Server) purgeLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.service.PurgeExpired(ctx); err != nil {
				s.log.Warn("purge expired rows", "err", err)
			} else if n > 0 {
				s.log.Info("purged expired rows", "rows", n)
			}
		}
	}
}

// Run serves until ctx is done, then shuts down gracefully.
func Run(ctx context.Context, cfg Config, opts ...Option) error {
	s, err := New(ctx, cfg, opts...)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	go s.purgeLoop(ctx, purgeInterval)
	base := "http://" + ln.Addr().String()
	if _, port, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		// Passkeys need the page's host to match the RP id (localhost by
		// default), so the printed links use localhost.
		base = "http://localhost:" + port
	}
	s.log.Info("twofold: listening", "addr", ln.Addr().String(), "demo", base+"/demo", "playground", base+"/playground", "dev", cfg.Dev)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s.log.Info("twofold: shutting down")
	return hs.Shutdown(shutdownCtx)
}
