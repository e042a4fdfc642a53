package mfa

import (
	"context"
	"slices"
	"testing"

	"github.com/twofoldauth/twofold/factors"
)

// capsRegistry installs factor types with capabilities, without plugins.
type capsRegistry map[string][]factors.Capability

func (r capsRegistry) Factor(string) (factors.Factor, bool) { return nil, false }
func (r capsRegistry) Types() []factors.Status {
	var out []factors.Status
	for id, caps := range r {
		out = append(out, factors.Status{DescribeResponse: factors.DescribeResponse{ID: id, Capabilities: caps}, Healthy: true})
	}
	return out
}

func TestAMRForLogins(t *testing.T) {
	k, err := NewKeyring(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(nil, Config{Password: PasswordConfig{MemoryKiB: 64, Iterations: 1, Parallelism: 1, MinLength: 12, MaxLength: 256}},
		WithKeyring(k), WithRegistry(capsRegistry{
			"totp":        nil,
			"passkey":     {factors.CapabilityPhishingResistant, factors.CapabilityPasswordless},
			"hardwarekey": {factors.CapabilityPhishingResistant, factors.CapabilityHardwareBound},
		}))
	if err != nil {
		t.Fatal(err)
	}
	password := &LoginTicket{Status: StatusMFARequired}
	passwordless := &LoginTicket{Status: StatusPasswordless}
	for name, tc := range map[string]struct {
		ctx  context.Context
		want []string
		acr  string
	}{
		"password alone":              {context.Background(), []string{"pwd"}, ACRPassword},
		"password and TOTP":           {s.withSecondFactor(context.Background(), password, "totp"), []string{"pwd", "otp", "mfa"}, ACRMultiFactor},
		"password and recovery code":  {s.withSecondFactor(context.Background(), password, ""), []string{"pwd", "otp", "mfa"}, ACRMultiFactor},
		"password and security key":   {s.withSecondFactor(context.Background(), password, "hardwarekey"), []string{"pwd", "hwk", "user", "mfa"}, ACRMultiFactor},
		"password and passkey":        {s.withSecondFactor(context.Background(), password, "passkey"), []string{"pwd", "swk", "user", "mfa"}, ACRMultiFactor},
		"passkey without password":    {s.withSecondFactor(context.Background(), passwordless, "passkey"), []string{"swk", "user", "mfa"}, ACRMultiFactor},
		"enrolment completing login":  {s.withSecondFactor(context.Background(), &LoginTicket{Status: StatusEnrollmentRequired}, "totp"), []string{"pwd", "otp", "mfa"}, ACRMultiFactor},
		"a factor type not installed": {s.withSecondFactor(context.Background(), password, "sms"), []string{"pwd", "otp", "mfa"}, ACRMultiFactor},
	} {
		t.Run(name, func(t *testing.T) {
			got := s.amrFor(tc.ctx)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("amr %v, want %v", got, tc.want)
			}
			if acr := acrFor(&Session{AMR: got}, got); acr != tc.acr {
				t.Fatalf("acr %q, want %q", acr, tc.acr)
			}
		})
	}
	// A trusted browser's session is MFA without a second step at login;
	// sessions from before the methods were recorded have only the flag.
	trusted := &Session{MFA: true, AMR: []string{"pwd"}}
	if acr := acrFor(trusted, sessionAMR(trusted)); acr != ACRTrustedBrowser {
		t.Fatalf("trusted browser acr %q", acr)
	}
	if amr := sessionAMR(&Session{MFA: true}); !slices.Equal(amr, []string{"mfa"}) {
		t.Fatalf("legacy MFA session amr %v", amr)
	}
	if amr := sessionAMR(&Session{}); !slices.Equal(amr, []string{"pwd"}) {
		t.Fatalf("legacy session amr %v", amr)
	}
}
