package host_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/host"
)

// TestPluginCallsCarryTheTrace: a plugin call is a client span of the
// caller's trace, and the plugin process receives that trace in the call's
// gRPC metadata (traceparent) and sees it in the context its method gets,
// so a vendor's spans join the host's trace.
func TestPluginCallsCarryTheTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	f := factor(t, start(t, host.Config{Dir: pluginDir(t, "testfactor"), TracerProvider: tp}), "testfactor")

	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	res, err := f.FinishVerification(ctx, &factors.FinishVerificationRequest{Response: json.RawMessage(`{}`)})
	parent.End()
	if err != nil {
		t.Fatal(err)
	}
	var seen struct {
		TraceParent string `json:"traceparent"`
		TraceID     string `json:"traceId"`
	}
	if err := json.Unmarshal(res.State, &seen); err != nil {
		t.Fatal(err)
	}
	traceID := parent.SpanContext().TraceID().String()
	if seen.TraceID != traceID {
		t.Errorf("the plugin's context is in trace %q, want the caller's %s", seen.TraceID, traceID)
	}
	// traceparent: version-traceid-spanid-flags, the span id being the
	// host's client span for this call.
	parts := strings.Split(seen.TraceParent, "-")
	if len(parts) != 4 || parts[1] != traceID {
		t.Fatalf("traceparent in the plugin's metadata = %q, want one of trace %s", seen.TraceParent, traceID)
	}
	var call sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if strings.HasSuffix(s.Name(), "/FinishVerification") {
			call = s
		}
	}
	if call == nil {
		t.Fatalf("no client span for the call among %d spans", len(rec.Ended()))
	}
	if call.Parent().SpanID() != parent.SpanContext().SpanID() || call.SpanContext().TraceID().String() != traceID {
		t.Errorf("the call's span is not a child of the caller's span")
	}
	if got := call.SpanContext().SpanID().String(); parts[2] != got {
		t.Errorf("the plugin got parent span %s, want the call's span %s", parts[2], got)
	}

	// Without a span in the context nothing is sent.
	res, err = f.FinishVerification(context.Background(), &factors.FinishVerificationRequest{Response: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	seen.TraceParent, seen.TraceID = "", ""
	_ = json.Unmarshal(res.State, &seen)
	if seen.TraceID == traceID {
		t.Errorf("a call outside the trace was sent in it")
	}
}
