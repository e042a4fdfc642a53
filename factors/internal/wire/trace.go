package wire

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Propagator carries the trace context (W3C traceparent) and baggage of a
// call from the host into the plugin process, in gRPC metadata, so the
// spans a plugin makes join the host's trace.
var Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// traceParent is the metadata key of the W3C trace context.
const traceParent = "traceparent"

// ServerTracing is the plugin side's tracing (a unary interceptor): a call
// that carries the host's trace context (traceparent) runs in it, as a
// server span of tp, so a factor's own spans join the host's trace. A call
// without one (the host traces nothing) costs one metadata lookup: no
// span, no stats handler (which would copy the metadata and allocate a
// record per event of every call).
func ServerTracing(tp trace.TracerProvider) grpc.UnaryServerInterceptor {
	tracer := tp.Tracer("github.com/twofoldauth/twofold/factors/sdk")
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if metadata.ValueFromIncomingContext(ctx, traceParent) == nil {
			return handler(ctx, req)
		}
		md, _ := metadata.FromIncomingContext(ctx)
		ctx = Propagator.Extract(ctx, mdCarrier(md))
		name := strings.TrimPrefix(info.FullMethod, "/")
		service, method, _ := strings.Cut(name, "/")
		ctx, span := tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			attribute.String("rpc.system", "grpc"), attribute.String("rpc.service", service), attribute.String("rpc.method", method)))
		defer span.End()
		resp, err := handler(ctx, req)
		if err != nil {
			st := status.Convert(err)
			span.SetAttributes(attribute.Int64("rpc.grpc.status_code", int64(st.Code())))
			span.SetStatus(otelcodes.Error, st.Message())
		}
		return resp, err
	}
}

// mdCarrier reads a propagated context from incoming gRPC metadata.
type mdCarrier metadata.MD

func (c mdCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c mdCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }

func (c mdCarrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}
