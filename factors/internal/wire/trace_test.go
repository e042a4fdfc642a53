package wire

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// ServerTracing runs a call that carries the host's traceparent in that
// trace, and leaves a call without one alone (no span in its context).
func TestServerTracing(t *testing.T) {
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	intercept := ServerTracing(tracenoop.NewTracerProvider())
	info := &grpc.UnaryServerInfo{FullMethod: "/twofold.factor.v1.Factor/FinishVerification"}
	seen := func(md metadata.MD) trace.SpanContext {
		var sc trace.SpanContext
		ctx := metadata.NewIncomingContext(context.Background(), md)
		if _, err := intercept(ctx, nil, info, func(ctx context.Context, _ any) (any, error) {
			sc = trace.SpanContextFromContext(ctx)
			return nil, nil
		}); err != nil {
			t.Fatal(err)
		}
		return sc
	}
	if sc := seen(metadata.Pairs("traceparent", parent)); sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sc.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("with the host's traceparent the call runs in %v", sc)
	}
	if sc := seen(metadata.Pairs("twofold-host-time", "x")); sc.IsValid() {
		t.Errorf("without a traceparent the call runs in %v", sc)
	}
}
