// Package factortest is the conformance suite for factor plugins. A vendor
// runs it against their built binary:
//
//	func TestConformance(t *testing.T) { factortest.Run(t, "./bin/myfactor") }
//
// The binary runs as a real plugin process through the Twofold host, so the
// suite checks the whole contract: handshake, Describe, Configure, typed
// errors across the boundary, state round trips and call latency.
package factortest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/host"
)

// Solver plays the user's device: it answers a factor's client data. With
// one, the suite also runs the successful paths.
type Solver interface {
	// Enroll answers BeginEnrollment's client data.
	Enroll(clientData json.RawMessage) (json.RawMessage, error)
	// Verify answers BeginVerification's client data for the credential
	// whose enrolment began with enrollClientData.
	Verify(enrollClientData, clientData json.RawMessage) (json.RawMessage, error)
}

// Option configures Run.
type Option func(*config)

type config struct {
	solver   Solver
	settings map[string]string
	timeout  time.Duration
	reusable bool
}

// WithReusableAnswers says the same answer may verify again (a knowledge
// factor such as the example's passphrase); by default the suite demands
// that an answer verifies once.
func WithReusableAnswers() Option { return func(c *config) { c.reusable = true } }

// WithSolver enables the successful enrolment and verification checks.
func WithSolver(s Solver) Option { return func(c *config) { c.solver = s } }

// WithSettings passes settings to the plugin's Configure.
func WithSettings(s map[string]string) Option { return func(c *config) { c.settings = s } }

// WithTimeout sets the per-call budget every call must meet (default 2s).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

var knownCapabilities = []factors.Capability{factors.CapabilityPhishingResistant, factors.CapabilityPasswordless, factors.CapabilityHardwareBound}

// Run runs the suite against the plugin binary at path.
func Run(t *testing.T, path string, opts ...Option) {
	t.Helper()
	cfg := config{timeout: 2 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	dir := t.TempDir()
	if err := copyFile(path, filepath.Join(dir, filepath.Base(path))); err != nil {
		t.Fatalf("copy plugin: %v", err)
	}
	ctx := context.Background()
	// Settings are keyed by factor id, unknown until Describe: start once to
	// learn it, then restart with the settings.
	reg, err := host.New(ctx, host.Config{Dir: dir, CallTimeout: cfg.timeout})
	if err != nil && cfg.settings == nil {
		t.Fatalf("the host refused the plugin: %v", err)
	}
	var id string
	if err == nil {
		types := reg.Types()
		reg.Close()
		if len(types) != 1 {
			t.Fatalf("want one factor, got %d", len(types))
		}
		id = types[0].ID
	}
	reg, err = host.New(ctx, host.Config{Dir: dir, CallTimeout: cfg.timeout, Settings: map[string]map[string]string{id: cfg.settings}})
	if err != nil {
		t.Fatalf("the host refused the plugin with its settings: %v", err)
	}
	t.Cleanup(reg.Close)
	f, _ := reg.Factor(id)
	user := factors.User{ID: "0190d6f4-3b0a-7cc1-9a57-0000000000aa", Name: "conformance", DisplayName: "Conformance Test", Organization: "factortest"}

	t.Run("describe", func(t *testing.T) {
		d, err := f.Describe(ctx, &factors.DescribeRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if d.DisplayName == "" || d.Version == "" {
			t.Errorf("display name %q and version %q must be set", d.DisplayName, d.Version)
		}
		for _, c := range d.Capabilities {
			if !slices.Contains(knownCapabilities, c) {
				t.Errorf("unknown capability %q", c)
			}
		}
	})
	t.Run("configure refuses unknown settings", func(t *testing.T) {
		_, err := f.Configure(ctx, &factors.ConfigureRequest{Settings: map[string]string{"factortest-no-such-setting": "1"}})
		if !errors.Is(err, factors.ErrBadRequest) {
			t.Errorf("got %v, want ErrBadRequest", err)
		}
		if _, err := f.Configure(ctx, &factors.ConfigureRequest{Settings: orEmpty(cfg.settings)}); err != nil {
			t.Fatalf("reconfigure: %v", err)
		}
	})
	var begin *factors.BeginEnrollmentResponse
	t.Run("begin enrolment", func(t *testing.T) {
		begin, err = f.BeginEnrollment(ctx, &factors.BeginEnrollmentRequest{User: user, Label: "conformance"})
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(begin.ClientData) {
			t.Fatalf("client data is not JSON: %q", begin.ClientData)
		}
	})
	if begin == nil {
		return
	}
	t.Run("malformed responses are typed errors", func(t *testing.T) {
		for _, body := range []string{`"a string"`, `{}`, `{"x": [1, 2]}`} {
			_, err := f.FinishEnrollment(ctx, &factors.FinishEnrollmentRequest{User: user, PendingState: begin.PendingState, Response: json.RawMessage(body)})
			if !errors.Is(err, factors.ErrBadRequest) && !errors.Is(err, factors.ErrInvalidResponse) {
				t.Errorf("enrolment response %s: got %v, want ErrBadRequest or ErrInvalidResponse", body, err)
			}
		}
	})
	if cfg.solver == nil {
		return
	}
	var cred factors.Credential
	t.Run("enrol", func(t *testing.T) {
		answer, err := cfg.solver.Enroll(begin.ClientData)
		if err != nil {
			t.Fatal(err)
		}
		fin, err := f.FinishEnrollment(ctx, &factors.FinishEnrollmentRequest{User: user, PendingState: begin.PendingState, Response: answer})
		if err != nil {
			t.Fatalf("good enrolment refused: %v", err)
		}
		cred = factors.Credential{ID: "0190d6f4-3b0a-7cc1-9a57-0000000000bb", ExternalID: fin.ExternalID, State: fin.State}
	})
	if cred.State == nil {
		return
	}
	t.Run("verify and round-trip state", func(t *testing.T) {
		for i := range 2 {
			bv, err := f.BeginVerification(ctx, &factors.BeginVerificationRequest{User: user, Credentials: []factors.Credential{cred}})
			if err != nil {
				t.Fatal(err)
			}
			answer, err := cfg.solver.Verify(begin.ClientData, bv.ClientData)
			if err != nil {
				t.Fatal(err)
			}
			req := &factors.FinishVerificationRequest{User: user, Credential: cred, SessionState: bv.SessionState, Response: answer}
			res, err := f.FinishVerification(ctx, req)
			if err != nil {
				t.Fatalf("verification %d refused: %v", i+1, err)
			}
			// The same answer against the updated state must not verify again.
			req.Credential.State = res.State
			if cfg.reusable {
				cred.State = res.State
				continue
			}
			if _, err := f.FinishVerification(ctx, req); err == nil {
				t.Fatalf("verification %d: the same answer verified twice", i+1)
			} else if !errors.Is(err, factors.ErrReplay) && !errors.Is(err, factors.ErrInvalidResponse) {
				t.Fatalf("replay: got %v, want ErrReplay or ErrInvalidResponse", err)
			}
			cred.State = res.State
		}
	})
	t.Run("wrong answers are typed errors", func(t *testing.T) {
		_, err := f.FinishVerification(ctx, &factors.FinishVerificationRequest{User: user, Credential: cred, Response: json.RawMessage(`{"factortest": "wrong"}`)})
		if !errors.Is(err, factors.ErrBadRequest) && !errors.Is(err, factors.ErrInvalidResponse) {
			t.Errorf("got %v", err)
		}
		if errors.Is(err, host.ErrUnavailable) {
			t.Errorf("call failed at the transport or timed out: %v", err)
		}
	})
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
