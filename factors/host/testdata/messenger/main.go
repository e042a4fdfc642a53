// Command messenger is a plugin for the host's service tests. Its calls
// try the host services and report what the host answered, as client data
// (BeginEnrollment, BeginVerification) keyed by attempt: "ok" or the
// error. BeginEnrollment delivers to the user it serves, then to another
// user (the label, or someone-else), logs and counts; BeginVerification delivers with the call it kept
// from the last BeginEnrollment (its grant ended with that call).
package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/internal/wire"
	"github.com/twofoldauth/twofold/factors/sdk"
)

type factor struct {
	mu   sync.Mutex
	last *wire.Call
}

func outcome(err error) string {
	if err != nil {
		return err.Error()
	}
	return "ok"
}

func (f *factor) Describe(context.Context, *factors.DescribeRequest) (*factors.DescribeResponse, error) {
	return &factors.DescribeResponse{ID: "messenger", DisplayName: "Messenger", Version: "0", ProtocolVersion: factors.ProtocolVersion}, nil
}

func (f *factor) Configure(context.Context, *factors.ConfigureRequest) (*factors.ConfigureResponse, error) {
	return &factors.ConfigureResponse{}, nil
}

func (f *factor) BeginEnrollment(ctx context.Context, req *factors.BeginEnrollmentRequest) (*factors.BeginEnrollmentResponse, error) {
	call := wire.CallFrom(ctx)
	f.mu.Lock()
	f.last = call
	f.mu.Unlock()
	h := sdk.Host(ctx)
	other := req.Label // the user to try besides the one served
	if other == "" {
		other = "someone-else"
	}
	out := map[string]string{
		"own":       outcome(h.Deliver(ctx, "Your code", "code 123456")),
		"other":     outcome(call.DeliverTo(ctx, other, "Your code", "code 123456")),
		"empty":     outcome(h.Deliver(ctx, "", "text")),
		"log":       outcome(h.Log(ctx, slog.LevelWarn, "hello from the plugin", "user", req.User.ID)),
		"metric":    outcome(h.Metric(ctx, "codes_sent", 2)),
		"badmetric": outcome(h.Metric(ctx, "Bad-Name", 1)),
		"now":       sdk.Now(ctx).Format("2006-01-02T15:04:05Z07:00"),
	}
	cd, _ := json.Marshal(out)
	return &factors.BeginEnrollmentResponse{ClientData: cd}, nil
}

func (f *factor) FinishEnrollment(context.Context, *factors.FinishEnrollmentRequest) (*factors.FinishEnrollmentResponse, error) {
	return nil, factors.ErrUnsupported
}

func (f *factor) BeginVerification(ctx context.Context, req *factors.BeginVerificationRequest) (*factors.BeginVerificationResponse, error) {
	f.mu.Lock()
	last := f.last
	f.mu.Unlock()
	out := map[string]string{
		"stale":    outcome(last.DeliverTo(ctx, last.UserID, "Your code", "code 123456")),
		"unserved": outcome(sdk.Host(ctx).Deliver(ctx, "Your code", "code 123456")),
	}
	cd, _ := json.Marshal(out)
	return &factors.BeginVerificationResponse{ClientData: cd}, nil
}

func (f *factor) FinishVerification(context.Context, *factors.FinishVerificationRequest) (*factors.FinishVerificationResponse, error) {
	return nil, factors.ErrUnsupported
}

func (f *factor) IdentifyCredential(context.Context, *factors.IdentifyCredentialRequest) (*factors.IdentifyCredentialResponse, error) {
	return nil, factors.ErrUnsupported
}

func main() { sdk.Serve(&factor{}) }
