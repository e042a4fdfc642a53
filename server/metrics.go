package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/host"
	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models"
)

// metrics are the server's Prometheus metrics, on their own registry so
// that tests can run many servers in one process.
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	factorCalls *prometheus.HistogramVec
	// Authentication outcomes (mfa.Observer) and refusals.
	logins        *prometheus.CounterVec
	verifications *prometheus.CounterVec
	lockouts      prometheus.Counter
	rateLimited   prometheus.Counter
	graphqlErrors *prometheus.CounterVec
}

var _ mfa.Observer = (*metrics)(nil)

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twofold_http_requests_total", Help: "HTTP requests by handler and status code.",
		}, []string{"handler", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "twofold_http_request_duration_seconds", Help: "HTTP request latency by handler.", Buckets: prometheus.DefBuckets,
		}, []string{"handler"}),
		factorCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "twofold_factor_call_duration_seconds", Help: "Factor plugin call latency by factor, method and outcome.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .05, .25, 1, 5},
		}, []string{"factor", "method", "outcome"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twofold_logins_total", Help: "Password logins by result (authenticated, mfa_required, enrollment_required, locked, invalid, rate_limited, unavailable...).",
		}, []string{"result"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twofold_second_factor_verifications_total", Help: "Second-factor answers by factor type and result (authenticated, invalid, replay, locked...).",
		}, []string{"factor_type", "result"}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "twofold_lockouts_total", Help: "Users and unknown login names locked after too many failures.",
		}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "twofold_rate_limited_requests_total", Help: "GraphQL requests refused with RATE_LIMITED.",
		}),
		graphqlErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twofold_graphql_errors_total", Help: "GraphQL errors returned, by extensions.code.",
		}, []string{"code"}),
	}
	// The usual outcomes are exported from the start, at 0, so a rate()
	// over them has a baseline.
	for _, r := range []string{"authenticated", "mfa_required", "enrollment_required", "locked", "invalid", "unavailable"} {
		m.logins.WithLabelValues(r)
	}
	m.reg.MustRegister(m.requests, m.duration, m.factorCalls, m.logins, m.verifications, m.lockouts, m.rateLimited, m.graphqlErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// instrument counts and times one route.
func (m *metrics) instrument(name string, h http.Handler) http.Handler {
	labels := prometheus.Labels{"handler": name}
	return promhttp.InstrumentHandlerDuration(m.duration.MustCurryWith(labels),
		promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(labels), h))
}

// observeFactorCall is the host's call observer.
func (m *metrics) observeFactorCall(factor, method string, d time.Duration, err error) {
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, host.ErrUnavailable):
		outcome = "unavailable"
	default:
		var fe *factors.Error
		if errors.As(err, &fe) {
			outcome = "refused" // a typed answer: wrong code, replay...
		} else {
			outcome = "error"
		}
	}
	m.factorCalls.WithLabelValues(factor, method, outcome).Observe(d.Seconds())
}

// watchPlugins exports each factor plugin's health at scrape time.
func (m *metrics) watchPlugins(r *host.Registry) {
	m.reg.MustRegister(pluginHealth{r})
}

var factorUpDesc = prometheus.NewDesc("twofold_factor_up", "1 when the factor plugin is running.", []string{"factor", "version"}, nil)

type pluginHealth struct{ r *host.Registry }

func (pluginHealth) Describe(ch chan<- *prometheus.Desc) { ch <- factorUpDesc }

func (p pluginHealth) Collect(ch chan<- prometheus.Metric) {
	for _, t := range p.r.Types() {
		up := 0.0
		if t.Healthy {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(factorUpDesc, prometheus.GaugeValue, up, t.ID, t.Version)
	}
}

// LoginResult counts a password login (mfa.Observer).
func (m *metrics) LoginResult(result string) { m.logins.WithLabelValues(result).Inc() }

// Verification counts a second-factor answer (mfa.Observer).
func (m *metrics) Verification(factorType, result string) {
	m.verifications.WithLabelValues(factorType, result).Inc()
}

// Lockout counts a subject becoming locked (mfa.Observer).
func (m *metrics) Lockout() { m.lockouts.Inc() }

// graphqlError counts an error of a GraphQL answer by its code.
func (m *metrics) graphqlError(code string) {
	if code == "" {
		code = "UNKNOWN"
	}
	m.graphqlErrors.WithLabelValues(code).Inc()
	if code == string(mfa.CodeRateLimited) {
		m.rateLimited.Inc()
	}
}

// watchStore exports, at scrape time, the outbox depth and the database
// connection pool's statistics.
func (m *metrics) watchStore(store *models.Store, log *slog.Logger) error {
	db, err := store.SQLDB()
	if err != nil {
		return err
	}
	m.reg.MustRegister(collectors.NewDBStatsCollector(db, "twofold"), outboxDepth{store: store, log: log})
	return nil
}

var outboxPendingDesc = prometheus.NewDesc("twofold_outbox_pending", "Notifications waiting to be sent (read from the database at scrape time).", nil, nil)

// outboxDepth reads the outbox depth when scraped. A database that does not
// answer in time leaves the metric out of that scrape rather than failing it.
type outboxDepth struct {
	store *models.Store
	log   *slog.Logger
}

func (outboxDepth) Describe(ch chan<- *prometheus.Desc) { ch <- outboxPendingDesc }

func (o outboxDepth) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := o.store.OutboxPending(ctx)
	if err != nil {
		o.log.Warn("metrics: reading the outbox depth", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(outboxPendingDesc, prometheus.GaugeValue, float64(n))
}

// handler serves the metrics; with a token (TWOFOLD_METRICS_TOKEN) only to
// a request that sends it as a bearer token.
func (m *metrics) handler(token string) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	if token == "" {
		return h
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Hashing both sides first makes the comparison's time independent
		// of the token's length too.
		got := sha256.Sum256([]byte(bearerToken(r)))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			writeText(w, http.StatusUnauthorized, "a bearer token is required (TWOFOLD_METRICS_TOKEN)")
			return
		}
		h.ServeHTTP(w, r)
	})
}
