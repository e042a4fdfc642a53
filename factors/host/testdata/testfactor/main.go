// Command testfactor is a plugin for the host's own tests: its verification
// answers can sleep past the call timeout or crash the process mid-call.
package main

import (
	"context"
	"encoding/json"
	"os"
	"time"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/sdk"
)

type factor struct{}

func (factor) Describe(context.Context, *factors.DescribeRequest) (*factors.DescribeResponse, error) {
	return &factors.DescribeResponse{ID: "testfactor", DisplayName: "Test", Version: "0", ProtocolVersion: factors.ProtocolVersion}, nil
}
func (factor) Configure(context.Context, *factors.ConfigureRequest) (*factors.ConfigureResponse, error) {
	return &factors.ConfigureResponse{}, nil
}
func (factor) BeginEnrollment(context.Context, *factors.BeginEnrollmentRequest) (*factors.BeginEnrollmentResponse, error) {
	return &factors.BeginEnrollmentResponse{ClientData: json.RawMessage(`{}`)}, nil
}
func (factor) FinishEnrollment(context.Context, *factors.FinishEnrollmentRequest) (*factors.FinishEnrollmentResponse, error) {
	return &factors.FinishEnrollmentResponse{State: []byte("s")}, nil
}
func (factor) BeginVerification(context.Context, *factors.BeginVerificationRequest) (*factors.BeginVerificationResponse, error) {
	return &factors.BeginVerificationResponse{ClientData: json.RawMessage(`{}`)}, nil
}

// FinishVerification obeys {"sleep": "2s"}, {"crash": true} or
// {"wrong": true}.
func (factor) FinishVerification(ctx context.Context, req *factors.FinishVerificationRequest) (*factors.FinishVerificationResponse, error) {
	var r struct {
		Sleep string `json:"sleep"`
		Crash bool   `json:"crash"`
		Wrong bool   `json:"wrong"`
	}
	_ = json.Unmarshal(req.Response, &r)
	switch {
	case r.Crash:
		os.Exit(3)
	case r.Wrong:
		return nil, factors.Errorf(factors.ErrInvalidResponse, "wrong on purpose")
	case r.Sleep != "":
		d, _ := time.ParseDuration(r.Sleep)
		time.Sleep(d)
	}
	return &factors.FinishVerificationResponse{State: req.Credential.State}, nil
}
func (factor) IdentifyCredential(context.Context, *factors.IdentifyCredentialRequest) (*factors.IdentifyCredentialResponse, error) {
	return nil, factors.ErrUnsupported
}

func main() { sdk.Serve(factor{}) }
