package sdk

import (
	"log/slog"

	"github.com/hashicorp/go-plugin"
	"go.opentelemetry.io/otel/trace"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/internal/wire"
)

// Option configures Serve.
type Option func(*options)

type options struct {
	logger *slog.Logger
	tracer trace.TracerProvider
}

// WithLogger sets the logger for the plugin's own and go-plugin's messages,
// and makes it the process's default slog logger. It should write through
// NewLogger's format, or the host will not see levels.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Serve runs f as a Twofold factor plugin until the host stops it or goes
// away. Started by hand rather than by the host, it prints a hint and exits.
func Serve(f factors.Factor, opts ...Option) {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = NewLogger()
	}
	slog.SetDefault(o.logger)
	exitWithParent(o.logger)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: wire.VersionedPlugins(f),
		GRPCServer:       o.grpcServer,
		Logger:           wire.Logger(o.logger, "sdk"),
	})
}
