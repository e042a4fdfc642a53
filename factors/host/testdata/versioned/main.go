// Command versioned is a plugin built against another contract version,
// for the host's version tests. Installed as protoN it serves only
// protocol version N, like a plugin built with that version's SDK: its
// Describe declares settings the version 1 way (a map of descriptions).
package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-plugin"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/internal/wire"
)

type factor struct {
	id       string
	version  int
	mu       sync.Mutex
	settings map[string]string
}

func (f *factor) Describe(context.Context, *factors.DescribeRequest) (*factors.DescribeResponse, error) {
	return &factors.DescribeResponse{ID: f.id, DisplayName: "Old", Version: "0.1", ProtocolVersion: f.version,
		Settings: map[string]string{"greeting": "echoed back"}}, nil
}

func (f *factor) Configure(_ context.Context, req *factors.ConfigureRequest) (*factors.ConfigureResponse, error) {
	for k := range req.Settings {
		if k != "greeting" {
			return nil, factors.Errorf(factors.ErrBadRequest, "unknown setting "+k)
		}
	}
	f.mu.Lock()
	f.settings = req.Settings
	f.mu.Unlock()
	return &factors.ConfigureResponse{}, nil
}

func (f *factor) BeginEnrollment(context.Context, *factors.BeginEnrollmentRequest) (*factors.BeginEnrollmentResponse, error) {
	return &factors.BeginEnrollmentResponse{ClientData: json.RawMessage(`{}`)}, nil
}

func (f *factor) FinishEnrollment(context.Context, *factors.FinishEnrollmentRequest) (*factors.FinishEnrollmentResponse, error) {
	return nil, factors.ErrBadRequest
}

func (f *factor) BeginVerification(context.Context, *factors.BeginVerificationRequest) (*factors.BeginVerificationResponse, error) {
	return &factors.BeginVerificationResponse{ClientData: json.RawMessage(`{}`)}, nil
}

// FinishVerification echoes the settings as the new state.
func (f *factor) FinishVerification(context.Context, *factors.FinishVerificationRequest) (*factors.FinishVerificationResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	state, _ := json.Marshal(f.settings)
	return &factors.FinishVerificationResponse{State: state}, nil
}

func (f *factor) IdentifyCredential(context.Context, *factors.IdentifyCredentialRequest) (*factors.IdentifyCredentialResponse, error) {
	return nil, factors.ErrUnsupported
}

func main() {
	name := filepath.Base(os.Args[0])
	v, err := strconv.Atoi(strings.TrimPrefix(name, "proto"))
	if err != nil {
		panic("install as protoN")
	}
	f := &factor{id: name, version: v}
	handshake := wire.Handshake
	handshake.ProtocolVersion = uint(v)
	// No Version on the server: the factor's own Describe answers, as with
	// an SDK that predates the override.
	plugins := map[int]plugin.PluginSet{v: {wire.PluginName: &wire.Plugin{Impl: f}}}
	plugin.Serve(&plugin.ServeConfig{HandshakeConfig: handshake, VersionedPlugins: plugins, GRPCServer: plugin.DefaultGRPCServer})
}
