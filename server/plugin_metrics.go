package server

import "github.com/prometheus/client_golang/prometheus"

// pluginMetrics is the counter family factor plugins add to through the
// host services (sdk.Host(ctx).Metric); the host bounds each plugin to 32
// names.
func (m *metrics) pluginMetrics() func(factor, name string, value float64) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "twofold_plugin_metric_total", Help: "Counters factor plugins report through the host services, by plugin (factor id) and name.",
	}, []string{"plugin", "name"})
	m.reg.MustRegister(c)
	return func(factor, name string, value float64) { c.WithLabelValues(factor, name).Add(value) }
}
