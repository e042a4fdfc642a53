// Package wire is the go-plugin plumbing shared by factors/sdk (the plugin
// side) and factors/host (the host side): the handshake, the gRPC plugin
// definition with its server and client halves, and the bridge from
// go-plugin's hclog to slog.
package wire

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/twofoldauth/twofold/factors"
	pb "github.com/twofoldauth/twofold/factors/proto"
)

// Handshake tells a Twofold factor plugin from any other executable. It is
// a UX feature, not a security one: checksums are.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  factors.ProtocolVersion,
	MagicCookieKey:   "TWOFOLD_FACTOR_PLUGIN",
	MagicCookieValue: "a4c2b8f0-twofold-factor",
}

// PluginName is the single plugin every factor binary serves.
const PluginName = "factor"

// Plugin is the go-plugin definition of a factor, for both sides.
type Plugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is set on the plugin side only.
	Impl factors.Factor
	// Version is the contract version this definition serves.
	Version int
	// Host, on the host side, is served to the plugin process over the
	// broker (protocol version 2); nil serves nothing.
	Host HostServices
}

var _ plugin.GRPCPlugin = (*Plugin)(nil)

// GRPCServer registers the implementation (plugin side).
func (p *Plugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterFactorServer(s, &Server{Impl: p.Impl, Version: p.Version, host: &hostConn{broker: broker}})
	return nil
}

// GRPCClient returns a factors.Factor that calls the plugin (host side),
// and serves the Host service to the plugin when p.Host is set.
func (p *Plugin) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	cl := NewClient(c)
	if p.Host != nil && broker != nil {
		cl.hostService = serveHost(broker, p.Host)
	}
	return cl, nil
}

// VersionedPlugins is the plugin map both sides pass to go-plugin, keyed by
// protocol version: every version from factors.MinProtocolVersion to
// factors.ProtocolVersion, all on the same gRPC service (later versions
// only add fields). go-plugin picks the highest both sides speak.
func VersionedPlugins(impl factors.Factor) map[int]plugin.PluginSet {
	return Versions(impl, factors.MinProtocolVersion, factors.ProtocolVersion)
}

// Versions is VersionedPlugins for the versions from min to max (tests
// build plugins for other versions with it).
func Versions(impl factors.Factor, min, max int) map[int]plugin.PluginSet {
	out := map[int]plugin.PluginSet{}
	for v := min; v <= max; v++ {
		out[v] = plugin.PluginSet{PluginName: &Plugin{Impl: impl, Version: v}}
	}
	return out
}

// HostPlugins is the host side's plugin map for one plugin process: every
// version, with host serving the Host service to it (versions before 2
// are offered it too; a plugin that does not know it ignores it).
func HostPlugins(host HostServices) map[int]plugin.PluginSet {
	out := map[int]plugin.PluginSet{}
	for v := factors.MinProtocolVersion; v <= factors.ProtocolVersion; v++ {
		out[v] = plugin.PluginSet{PluginName: &Plugin{Version: v, Host: host}}
	}
	return out
}
