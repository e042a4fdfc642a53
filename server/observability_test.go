package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func TestObservabilityConfig(t *testing.T) {
	base := map[string]string{"TWOFOLD_SEAL_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
	for name, tc := range map[string]struct {
		env     map[string]string
		want    func(Config) bool
		wantErr string
	}{
		"defaults": {want: func(c Config) bool {
			return c.Log.Format == "text" && c.Log.Level == slog.LevelInfo && !c.Tracing.Enabled && c.MetricsToken == ""
		}},
		"json, debug":         {env: map[string]string{"TWOFOLD_LOG_FORMAT": "JSON", "TWOFOLD_LOG_LEVEL": "debug"}, want: func(c Config) bool { return c.Log.Format == "json" && c.Log.Level == slog.LevelDebug }},
		"warn":                {env: map[string]string{"TWOFOLD_LOG_LEVEL": "warn"}, want: func(c Config) bool { return c.Log.Level == slog.LevelWarn }},
		"bad format":          {env: map[string]string{"TWOFOLD_LOG_FORMAT": "xml"}, wantErr: "TWOFOLD_LOG_FORMAT: must be text or json"},
		"bad level":           {env: map[string]string{"TWOFOLD_LOG_LEVEL": "loud"}, wantErr: "TWOFOLD_LOG_LEVEL: must be debug, info, warn or error"},
		"endpoint: on":        {env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, want: func(c Config) bool { return c.Tracing.Enabled && c.Tracing.Protocol == "http/protobuf" }},
		"traces endpoint: on": {env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, want: func(c Config) bool { return c.Tracing.Enabled }},
		"otlp exporter: on":   {env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, want: func(c Config) bool { return c.Tracing.Enabled && c.Tracing.Protocol == "grpc" }},
		"none wins":           {env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, want: func(c Config) bool { return !c.Tracing.Enabled }},
		"sdk disabled":        {env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, want: func(c Config) bool { return !c.Tracing.Enabled }},
		"other exporter":      {env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: "OTEL_TRACES_EXPORTER: Twofold exports traces with otlp"},
		"bad protocol":        {env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, wantErr: "OTEL_EXPORTER_OTLP_PROTOCOL: must be http/protobuf or grpc"},
		"metrics token":       {env: map[string]string{"TWOFOLD_METRICS_TOKEN": "s3cret"}, want: func(c Config) bool { return c.MetricsToken == "s3cret" }},
	} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := ConfigFromEnv(func(k string) string { return env[k] })
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case !tc.want(c):
				t.Fatalf("config: %+v %+v %q", c.Log, c.Tracing, c.MetricsToken)
			}
		})
	}
	if u := UnknownVariables([]string{"TWOFOLD_LOG_FORMAT=json", "TWOFOLD_LOG_LEVEL=info", "TWOFOLD_METRICS_TOKEN=x", "TWOFOLD_LOG_FORMT=json"}); len(u) != 1 || u[0] != "TWOFOLD_LOG_FORMT" {
		t.Errorf("unknown variables: %v", u)
	}
}

// TestLoggerAddsRequestAndTrace: a line logged with a request's context
// names the request and its trace; NewLogger honours format and level.
func TestLoggerAddsRequestAndTrace(t *testing.T) {
	var buf bytes.Buffer
	l, err := NewLogger(&buf, envOf{"TWOFOLD_LOG_FORMAT": "json", "TWOFOLD_LOG_LEVEL": "warn"}.get)
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.WithValue(context.Background(), requestIDKey{}, "req-1"), "op")
	defer span.End()
	l.With("a", 1).InfoContext(ctx, "dropped: below warn")
	l.With("a", 1).WarnContext(ctx, "kept")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("one JSON line expected: %q", buf.String())
	}
	if line["msg"] != "kept" || line["request_id"] != "req-1" || line["a"] != float64(1) ||
		line["trace_id"] != span.SpanContext().TraceID().String() || line["span_id"] != span.SpanContext().SpanID().String() {
		t.Errorf("line: %v", line)
	}
	if _, err := NewLogger(&buf, envOf{"TWOFOLD_LOG_FORMAT": "yaml"}.get); err == nil || !strings.Contains(err.Error(), "TWOFOLD_LOG_FORMAT") {
		t.Errorf("bad format: %v", err)
	}
}

type envOf map[string]string

func (e envOf) get(k string) string { return e[k] }
