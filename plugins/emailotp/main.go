// Command emailotp is Twofold's email one-time code factor: a 6 to 8 digit
// code mailed through the host's outbox, valid 5 minutes, used once, kept
// only as a salted HMAC, resent after a cool-down. Not phishing-resistant.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/sdk"
	"github.com/twofoldauth/twofold/factors/sdk/otp"
)

var schema = []factors.Setting{
	{Name: "digits", Type: factors.SettingInt, Default: "6", Description: "code length, 6 to 8 digits"},
	{Name: "ttl", Type: factors.SettingDuration, Default: "5m", Description: "how long a code is valid"},
	{Name: "cooldown", Type: factors.SettingDuration, Default: "30s", Description: "how long before a code is resent"},
}

type factor struct {
	sdk.NotPasswordless
	cfg atomic.Pointer[sdk.Settings] // set by Configure, before any other call
}

func (f *factor) Describe(context.Context, *factors.DescribeRequest) (*factors.DescribeResponse, error) {
	return &factors.DescribeResponse{ID: "emailotp", DisplayName: "Email code", Version: "1.0.0", SettingSchema: schema}, nil
}

func (f *factor) Configure(_ context.Context, req *factors.ConfigureRequest) (*factors.ConfigureResponse, error) {
	cfg, err := sdk.ReadSettings(req, schema)
	if err == nil && (cfg.Int("digits") < 6 || cfg.Int("digits") > 8) {
		err = factors.Errorf(factors.ErrBadRequest, "digits must be 6 to 8")
	} else if err == nil {
		f.cfg.Store(&cfg)
	}
	return &factors.ConfigureResponse{}, err
}

// send mails a new code, unless the previous one is within the cool-down.
func (f *factor) send(ctx context.Context, previous []byte) (json.RawMessage, []byte, error) {
	cfg := f.cfg.Load()
	digits, ttl, cooldown, now := cfg.Int("digits"), cfg.Duration("ttl"), cfg.Duration("cooldown"), sdk.Now(ctx)
	if last := (otp.Code{}); json.Unmarshal(previous, &last) == nil && last.Wait(now, cooldown) > 0 {
		return nil, nil, sdk.TooSoon(last.Wait(now, cooldown))
	}
	code, kept := otp.New(digits, now, ttl)
	msg := fmt.Sprintf("Your code is %s. It is valid for %s. Do not share it.", code, ttl)
	if err := sdk.Host(ctx).Deliver(ctx, "Your sign-in code", msg); err != nil {
		return nil, nil, err
	}
	state, _ := json.Marshal(kept)
	return json.RawMessage(fmt.Sprintf(`{"digits":%d,"expiresIn":%.0f}`, digits, ttl.Seconds())), state, nil
}

func (f *factor) BeginEnrollment(ctx context.Context, _ *factors.BeginEnrollmentRequest) (*factors.BeginEnrollmentResponse, error) {
	data, pending, err := f.send(ctx, nil)
	return &factors.BeginEnrollmentResponse{ClientData: data, PendingState: pending}, err
}

func (f *factor) FinishEnrollment(ctx context.Context, req *factors.FinishEnrollmentRequest) (*factors.FinishEnrollmentResponse, error) {
	state, err := otp.Verify(req.PendingState, req.Response, nil, sdk.Now(ctx))
	return &factors.FinishEnrollmentResponse{State: state, Label: "Email"}, err
}

func (f *factor) BeginVerification(ctx context.Context, req *factors.BeginVerificationRequest) (*factors.BeginVerificationResponse, error) {
	data, session, err := f.send(ctx, req.SessionState)
	return &factors.BeginVerificationResponse{ClientData: data, SessionState: session}, err
}

func (f *factor) FinishVerification(ctx context.Context, req *factors.FinishVerificationRequest) (*factors.FinishVerificationResponse, error) {
	state, err := otp.Verify(req.SessionState, req.Response, req.Credential.State, sdk.Now(ctx))
	return &factors.FinishVerificationResponse{State: state}, err
}

func main() { sdk.Serve(&factor{}) }
