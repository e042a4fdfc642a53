package sdk

import (
	"github.com/hashicorp/go-plugin"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/twofoldauth/twofold/factors/internal/wire"
)

// WithTracerProvider records a server span per call from the host with tp
// (default: the global provider, otel.GetTracerProvider()). Whatever the
// provider, the context a factor method receives carries the host's trace
// context, so spans a factor starts from it join the host's trace. The
// host passes its OTEL_* variables on, with OTEL_SERVICE_NAME set to
// twofold-factor-NAME, for a plugin that sets up an exporter.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracer = tp }
}

// grpcServer is go-plugin's server with the trace context of each call
// taken from its metadata.
func (o *options) grpcServer(opts []grpc.ServerOption) *grpc.Server {
	tp := o.tracer
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return plugin.DefaultGRPCServer(append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(tp),
		otelgrpc.WithPropagators(wire.Propagator),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider())))))
}
