package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/host"
)

// metrics are the server's Prometheus metrics, on their own registry so
// that tests can run many servers in one process.
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	factorCalls *prometheus.HistogramVec
}

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
	}
	m.reg.MustRegister(m.requests, m.duration, m.factorCalls,
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

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
