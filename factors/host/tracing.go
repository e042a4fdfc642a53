package host

import (
	"os"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"

	"github.com/twofoldauth/twofold/factors/internal/wire"
)

// unsetGlobal is the global tracer provider before any
// otel.SetTracerProvider: it makes no spans.
var unsetGlobal = otel.GetTracerProvider()

// dialOptions make a client span per plugin call and send its trace
// context to the plugin in the call's metadata (traceparent). With no
// tracer provider (a noop one, or the global one never set) there is no
// stats handler at all: it would cost every call a record per event.
func (r *Registry) dialOptions() []grpc.DialOption {
	tp := r.cfg.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if !traces(tp) {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(
		otelgrpc.WithTracerProvider(tp),
		otelgrpc.WithPropagators(wire.Propagator),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider())))}
}

// traces reports whether tp can make spans.
func traces(tp trace.TracerProvider) bool {
	switch tp.(type) {
	case tracenoop.TracerProvider, *tracenoop.TracerProvider:
		return false
	}
	return tp != unsetGlobal
}

// otelEnv passes the host's OpenTelemetry settings (OTEL_*) to a plugin, so
// a vendor's plugin that exports spans sends them where the host does, as
// its own service (twofold-factor-NAME).
func otelEnv(plugin string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "OTEL_") && !strings.HasPrefix(kv, "OTEL_SERVICE_NAME=") {
			env = append(env, kv)
		}
	}
	if len(env) == 0 {
		return nil
	}
	return append(env, "OTEL_SERVICE_NAME=twofold-factor-"+plugin)
}
