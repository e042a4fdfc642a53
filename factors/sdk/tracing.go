package sdk

import (
	"runtime"

	"github.com/hashicorp/go-plugin"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/twofoldauth/twofold/factors/internal/wire"
)

// WithTracerProvider records a server span with tp for each call from the
// host that carries the host's trace context (default: the global
// provider, otel.GetTracerProvider()). Whatever the provider, the context a
// factor method receives carries the host's trace context, so spans a
// factor starts from it join the host's trace. The host passes its OTEL_*
// variables on, with OTEL_SERVICE_NAME set to twofold-factor-NAME, for a
// plugin that sets up an exporter. A host that traces nothing sends no
// trace context, and its calls cost the plugin no tracing work.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracer = tp }
}

// grpcServer is go-plugin's server with the trace context of each call
// taken from its metadata, serving calls on a few long-lived goroutines
// (a goroutine per call would grow a new stack for each).
func (o *options) grpcServer(opts []grpc.ServerOption) *grpc.Server {
	tp := o.tracer
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return plugin.DefaultGRPCServer(append(opts,
		grpc.ChainUnaryInterceptor(wire.ServerTracing(tp)),
		grpc.NumStreamWorkers(uint32(max(4, runtime.GOMAXPROCS(0))))))
}
