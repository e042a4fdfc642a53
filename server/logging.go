package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// LogConfig is how the server logs (TWOFOLD_LOG_FORMAT, TWOFOLD_LOG_LEVEL).
type LogConfig struct {
	// Format is "text" (logfmt-like key=value, the default) or "json".
	Format string
	// Level is the least severe level written.
	Level slog.Level
}

// readObservabilityConfig reads the log, tracing and metrics settings.
func readObservabilityConfig(r *envReader, c *Config) {
	c.Log = readLogConfig(r)
	c.Tracing = readTracingConfig(r)
	c.MetricsToken = r.str("TWOFOLD_METRICS_TOKEN", "")
}

// readLogConfig reads TWOFOLD_LOG_FORMAT and TWOFOLD_LOG_LEVEL.
func readLogConfig(r *envReader) LogConfig {
	c := LogConfig{Format: strings.ToLower(r.str("TWOFOLD_LOG_FORMAT", "text")), Level: slog.LevelInfo}
	if c.Format != "text" && c.Format != "json" {
		r.fail("TWOFOLD_LOG_FORMAT", "must be text or json, got %q", c.Format)
		c.Format = "text"
	}
	if v := r.str("TWOFOLD_LOG_LEVEL", ""); v != "" {
		switch strings.ToLower(v) {
		case "debug":
			c.Level = slog.LevelDebug
		case "info":
		case "warn", "warning":
			c.Level = slog.LevelWarn
		case "error":
			c.Level = slog.LevelError
		default:
			r.fail("TWOFOLD_LOG_LEVEL", "must be debug, info, warn or error, got %q", v)
		}
	}
	return c
}

// NewLogger is the process's logger as TWOFOLD_LOG_FORMAT and
// TWOFOLD_LOG_LEVEL ask, writing to w. Every line logged with a request's
// context carries its request id (and trace and span ids when it is
// traced). A bad variable gives the default text logger and an error
// naming it (ConfigFromEnv reports it again with the others).
func NewLogger(w io.Writer, getenv func(string) string) (*slog.Logger, error) {
	r := envReader{get: getenv}
	c := readLogConfig(&r)
	opts := &slog.HandlerOptions{Level: c.Level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	var err error
	if len(r.errs) > 0 {
		err = r.errs[0]
	}
	return slog.New(contextHandler{h}), err
}

// withRequestContext makes l add each request's id (and trace) to the lines
// logged with its context, unless it does already.
func withRequestContext(l *slog.Logger) *slog.Logger {
	if _, ok := l.Handler().(contextHandler); ok {
		return l
	}
	return slog.New(contextHandler{l.Handler()})
}

// contextHandler adds the request id, trace id and span id found in a
// record's context.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, rec slog.Record) error {
	if ctx != nil {
		if id := RequestIDFrom(ctx); id != "" {
			rec.AddAttrs(slog.String("request_id", id))
		}
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			rec.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
	}
	return h.Handler.Handle(ctx, rec)
}

func (h contextHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(as)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}

// RequestIDHeader carries a request's id, in and out.
const RequestIDHeader = "X-Request-Id"

type requestIDKey struct{}

// RequestIDFrom is the id of the request ctx belongs to ("" outside one).
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestID is the caller's X-Request-Id when it is sane (1 to 64
// characters of letters, digits and -_.:), so a proxy's id follows the
// request through; otherwise a new random one.
func requestID(r *http.Request) string {
	if id := r.Header.Get(RequestIDHeader); saneRequestID(id) {
		return id
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune("-_.:", c):
		default:
			return false
		}
	}
	return true
}

// withRequestLog gives each request an id (echoed in X-Request-Id, put in
// the context for every log line and GraphQL error) and writes one access
// log line when it is done: method, path, status, duration, bytes, client
// address and request id. Never the query string, the body, cookies or
// headers: they carry tokens and passwords. Health probes and scrapes are
// logged at debug level.
func (s *Server) withRequestLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r)
		w.Header().Set(RequestIDHeader, id)
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			span.SetAttributes(requestIDAttr(id))
		}
		rw := &loggedResponse{ResponseWriter: w}
		next.ServeHTTP(rw, r.WithContext(ctx))
		if rw.status == 0 {
			rw.status = http.StatusOK
		}
		level := slog.LevelInfo
		switch r.URL.Path {
		case "/healthz", "/readyz", "/metrics":
			level = slog.LevelDebug
		}
		s.log.LogAttrs(ctx, level, "http request",
			slog.String("method", r.Method),
			slog.String("path", logPath(r.URL.Path)),
			slog.Int("status", rw.status),
			slog.Duration("duration", time.Since(start)),
			slog.Int64("bytes", rw.bytes),
			slog.String("client_ip", s.clientIP(r)))
	})
}

// logPath bounds what a client can put in the access log through the path.
func logPath(p string) string {
	if len(p) > 256 {
		p = p[:256] + "..."
	}
	q := strconv.Quote(p)
	return q[1 : len(q)-1]
}

// loggedResponse records the status and size of an answer.
type loggedResponse struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (l *loggedResponse) WriteHeader(status int) {
	if l.status == 0 {
		l.status = status
	}
	l.ResponseWriter.WriteHeader(status)
}

func (l *loggedResponse) Write(p []byte) (int, error) {
	if l.status == 0 {
		l.status = http.StatusOK
	}
	n, err := l.ResponseWriter.Write(p)
	l.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (l *loggedResponse) Unwrap() http.ResponseWriter { return l.ResponseWriter }
