// Command testfactor is a plugin for the host's own tests. Its verification
// does what the response asks: {"sleep": "2s"} (past the call timeout),
// {"crash": true} (exit mid-call), {"fail": "replay"} (a typed error; any
// other name is an untyped one), {"log": "text"} (a warning through the
// SDK's logger) or {} (echo its settings and environment as the new state).
package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/sdk"
)

var sentinels = map[string]error{
	"bad_request":       factors.ErrBadRequest,
	"invalid_response":  factors.ErrInvalidResponse,
	"replay":            factors.ErrReplay,
	"clone_warning":     factors.ErrCloneWarning,
	"attestation":       factors.ErrAttestationRefused,
	"user_verification": factors.ErrUserVerificationRequired,
	"unsupported":       factors.ErrUnsupported,
}

type factor struct {
	log      *slog.Logger
	mu       sync.Mutex
	settings map[string]string
}

// Echo is the state an empty response returns.
type Echo struct {
	Settings map[string]string `json:"settings"`
	Env      []string          `json:"env"`
	// TraceParent is the call's traceparent gRPC metadata, TraceID the
	// trace the call's context belongs to in this process.
	TraceParent string `json:"traceparent"`
	TraceID     string `json:"traceId"`
}

// Describe declares optional settings of every type; installed as
// "strict" the factor is called strict and requires a secret api_key.
func (f *factor) Describe(context.Context, *factors.DescribeRequest) (*factors.DescribeResponse, error) {
	d := &factors.DescribeResponse{ID: "testfactor", DisplayName: "Test", Version: "0", ProtocolVersion: factors.ProtocolVersion,
		SettingSchema: []factors.Setting{
			{Name: "greeting", Description: "echoed"},
			{Name: "count", Type: factors.SettingInt, Default: "3", Description: "a number"},
			{Name: "enabled", Type: factors.SettingBool, Description: "a switch"},
			{Name: "wait", Type: factors.SettingDuration, Description: "a duration"},
			{Name: "hook", Type: factors.SettingURL, Description: "a URL"},
			{Name: "names", Type: factors.SettingList, Description: "a list"},
			{Name: "token", Secret: true, Description: "a secret"},
		}}
	if filepath.Base(os.Args[0]) == "strict" {
		d.ID = "strict"
		d.SettingSchema = append(d.SettingSchema, factors.Setting{Name: "api_key", Required: true, Secret: true, Description: "the gateway's key"})
	}
	return d, nil
}

func (f *factor) Configure(_ context.Context, req *factors.ConfigureRequest) (*factors.ConfigureResponse, error) {
	f.mu.Lock()
	f.settings = req.Settings
	f.mu.Unlock()
	return &factors.ConfigureResponse{}, nil
}

func (f *factor) BeginEnrollment(context.Context, *factors.BeginEnrollmentRequest) (*factors.BeginEnrollmentResponse, error) {
	return &factors.BeginEnrollmentResponse{ClientData: json.RawMessage(`{}`)}, nil
}

func (f *factor) FinishEnrollment(context.Context, *factors.FinishEnrollmentRequest) (*factors.FinishEnrollmentResponse, error) {
	return &factors.FinishEnrollmentResponse{State: []byte("s")}, nil
}

func (f *factor) BeginVerification(context.Context, *factors.BeginVerificationRequest) (*factors.BeginVerificationResponse, error) {
	return &factors.BeginVerificationResponse{ClientData: json.RawMessage(`{}`)}, nil
}

func (f *factor) FinishVerification(ctx context.Context, req *factors.FinishVerificationRequest) (*factors.FinishVerificationResponse, error) {
	var r struct {
		Sleep string `json:"sleep"`
		Crash bool   `json:"crash"`
		Fail  string `json:"fail"`
		Log   string `json:"log"`
	}
	if err := json.Unmarshal(req.Response, &r); err != nil {
		return nil, factors.Errorf(factors.ErrBadRequest, err.Error())
	}
	switch {
	case r.Crash:
		os.Exit(3)
	case r.Fail != "":
		if kind, ok := sentinels[r.Fail]; ok {
			return nil, factors.Errorf(kind, "on purpose")
		}
		return nil, os.ErrPermission // untyped
	case r.Sleep != "":
		d, _ := time.ParseDuration(r.Sleep)
		time.Sleep(d) // ignores ctx on purpose: a hung plugin
	case r.Log != "":
		f.log.Warn(r.Log, "answer", 42)
	}
	f.mu.Lock()
	e := Echo{Settings: f.settings, Env: os.Environ()}
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get("traceparent")) > 0 {
		e.TraceParent = md.Get("traceparent")[0]
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		e.TraceID = sc.TraceID().String()
	}
	state, _ := json.Marshal(e)
	f.mu.Unlock()
	return &factors.FinishVerificationResponse{State: state}, nil
}

func (f *factor) IdentifyCredential(context.Context, *factors.IdentifyCredentialRequest) (*factors.IdentifyCredentialResponse, error) {
	return nil, factors.ErrUnsupported
}

func main() {
	log := sdk.NewLogger()
	sdk.Serve(&factor{log: log}, sdk.WithLogger(log))
}
