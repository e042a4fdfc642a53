package wire

import "go.opentelemetry.io/otel/propagation"

// Propagator carries the trace context (W3C traceparent) and baggage of a
// call from the host into the plugin process, in gRPC metadata, so the
// spans a plugin makes join the host's trace.
var Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
