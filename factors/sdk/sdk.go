// Package sdk is what a factor vendor imports: implement factors.Factor and
// call sdk.Serve from main. go-plugin and gRPC stay hidden behind it.
//
//	func main() { sdk.Serve(myfactor.New()) }
package sdk

import (
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/internal/wire"
)

// Option configures Serve.
type Option func(*options)

type options struct {
	logger hclog.Logger
}

// WithLogger sets the plugin's logger; its output reaches the host's log.
func WithLogger(l hclog.Logger) Option { return func(o *options) { o.logger = l } }

// Serve runs f as a Twofold factor plugin until the host stops it. Run
// outside a host, it prints a hint and exits.
func Serve(f factors.Factor, opts ...Option) {
	o := options{logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: os.Stderr, JSONFormat: true})}
	for _, opt := range opts {
		opt(&o)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         wire.PluginSet(f),
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger:          o.logger,
	})
}
