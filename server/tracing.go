package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/twofoldauth/twofold/mfa"
)

// TracingConfig is read from the standard OpenTelemetry variables. Tracing
// is off unless OTEL_EXPORTER_OTLP_ENDPOINT (or _TRACES_ENDPOINT) is set or
// OTEL_TRACES_EXPORTER=otlp; the exporter reads the other OTEL_EXPORTER_OTLP_*
// variables (headers, timeout, TLS), the SDK OTEL_TRACES_SAMPLER and
// OTEL_BSP_*, the resource OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
type TracingConfig struct {
	// Enabled exports spans over OTLP.
	Enabled bool
	// Protocol is "http/protobuf" (default) or "grpc".
	Protocol string
}

// readTracingConfig reads the OTEL_* variables that switch tracing on.
func readTracingConfig(r *envReader) TracingConfig {
	var c TracingConfig
	if r.boolean("OTEL_SDK_DISABLED") {
		return c
	}
	endpoint := r.str("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", r.str("OTEL_EXPORTER_OTLP_ENDPOINT", ""))
	switch exp := strings.ToLower(r.str("OTEL_TRACES_EXPORTER", "")); exp {
	case "":
		c.Enabled = endpoint != ""
	case "otlp":
		c.Enabled = true
	case "none":
	default:
		r.fail("OTEL_TRACES_EXPORTER", "Twofold exports traces with otlp (or none), got %q", exp)
	}
	c.Protocol = strings.ToLower(r.str("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", r.str("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")))
	if c.Protocol != "http/protobuf" && c.Protocol != "grpc" {
		r.fail("OTEL_EXPORTER_OTLP_PROTOCOL", "must be http/protobuf or grpc, got %q", c.Protocol)
	}
	return c
}

// propagator carries trace context (W3C traceparent) and baggage across
// HTTP requests and into plugin processes.
var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// newTracerProvider is a provider exporting over OTLP as c says, and the
// function that flushes and stops it; a no-op provider when tracing is off.
func newTracerProvider(ctx context.Context, c TracingConfig) (trace.TracerProvider, func(context.Context) error, error) {
	if !c.Enabled {
		return tracenoop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	var exp *otlptrace.Exporter
	var err error
	if c.Protocol == "grpc" {
		exp, err = otlptracegrpc.New(ctx)
	} else {
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	// The default name first: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// come after and win.
	res, err := resource.New(ctx, resource.WithAttributes(attribute.String("service.name", "twofold")),
		resource.WithTelemetrySDK(), resource.WithHost(), resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	// Libraries that use the globals (and a vendor's code linked in) join
	// the same traces.
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagator)
	return tp, tp.Shutdown, nil
}

// withTracing starts a server span per HTTP request (continuing a trace the
// caller sent in traceparent). Health probes and scrapes are not traced.
func (s *Server) withTracing(next http.Handler) http.Handler {
	return otelhttp.NewHandler(next, "twofold",
		otelhttp.WithTracerProvider(s.tracer),
		otelhttp.WithPropagators(propagator),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithFilter(func(r *http.Request) bool {
			switch r.URL.Path {
			case "/healthz", "/readyz", "/metrics":
				return false
			}
			return true
		}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			switch r.URL.Path {
			case "/graphql", "/playground", "/introspect", "/.well-known/jwks.json", "/demo":
				return r.Method + " " + r.URL.Path
			}
			return r.Method
		}))
}

func requestIDAttr(id string) attribute.KeyValue { return attribute.String("twofold.request_id", id) }

// graphObserver is the GraphQL handler's observability: a span per
// operation (its type, name and root fields; never the document or the
// variables, which hold passwords and codes), the request id in every
// error's extensions (extensions.requestId), and errors counted by code.
type graphObserver struct {
	tracer  trace.Tracer
	metrics *metrics
}

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = graphObserver{}

func (graphObserver) ExtensionName() string                   { return "TwofoldObserver" }
func (graphObserver) Validate(graphql.ExecutableSchema) error { return nil }

func (g graphObserver) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	name, attrs := "graphql", []attribute.KeyValue(nil)
	if graphql.HasOperationContext(ctx) {
		if op := graphql.GetOperationContext(ctx).Operation; op != nil {
			name = "graphql " + string(op.Operation)
			attrs = append(attrs, attribute.String("graphql.operation.type", string(op.Operation)))
			if op.Name != "" {
				name += " " + op.Name
				attrs = append(attrs, attribute.String("graphql.operation.name", op.Name))
			}
			attrs = append(attrs, attribute.StringSlice("graphql.root_fields", rootFields(op.SelectionSet)))
		}
	}
	ctx, span := g.tracer.Start(ctx, name, trace.WithAttributes(attrs...))
	defer span.End()
	resp := next(ctx)
	if resp == nil {
		return nil
	}
	id := RequestIDFrom(ctx)
	for i, e := range resp.Errors {
		code, _ := e.Extensions["code"].(string)
		g.metrics.graphqlError(code)
		if code == string(mfa.CodeInternal) || code == string(mfa.CodeUnavailable) {
			span.SetStatus(codes.Error, code)
		}
		span.AddEvent("graphql.error", trace.WithAttributes(attribute.String("graphql.error.code", code)))
		if id != "" {
			// A copy: an error value may be shared between requests.
			c := *e
			c.Extensions = maps.Clone(e.Extensions)
			if c.Extensions == nil {
				c.Extensions = map[string]any{}
			}
			c.Extensions["requestId"] = id
			resp.Errors[i] = &c
		}
	}
	return resp
}

// rootFields are the names of an operation's top-level fields.
func rootFields(set ast.SelectionSet) []string {
	var out []string
	for _, sel := range set {
		if f, ok := sel.(*ast.Field); ok {
			out = append(out, f.Name)
		}
	}
	return out
}
