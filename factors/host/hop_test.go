package host_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/host"
)

// With tracing off (a noop provider, as the server runs without OTEL_*
// settings) a plugin call carries no trace context, even from a request
// that arrived with one, so neither side does tracing work per call; the
// plugin runs with GOMAXPROCS=1.
func TestUntracedCallsCarryNoTraceContext(t *testing.T) {
	f := factor(t, start(t, host.Config{Dir: pluginDir(t, "testfactor"), TracerProvider: tracenoop.NewTracerProvider()}), "testfactor")
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	defer span.End()
	res, err := f.FinishVerification(ctx, &factors.FinishVerificationRequest{Response: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	var seen struct {
		TraceParent string   `json:"traceparent"`
		TraceID     string   `json:"traceId"`
		Env         []string `json:"env"`
	}
	if err := json.Unmarshal(res.State, &seen); err != nil {
		t.Fatal(err)
	}
	if seen.TraceParent != "" || seen.TraceID != "" {
		t.Errorf("an untraced host sent trace context %q (trace %q)", seen.TraceParent, seen.TraceID)
	}
	if !slices.Contains(seen.Env, "GOMAXPROCS=1") {
		t.Errorf("plugin environment %v lacks GOMAXPROCS=1", seen.Env)
	}
}
