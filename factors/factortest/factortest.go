package factortest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
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

// WithSolver enables the successful enrolment and verification checks.
func WithSolver(s Solver) Option { return func(c *config) { c.solver = s } }

// WithSettings are passed to Configure after a first start with the
// defaults (no settings), which every factor must accept.
func WithSettings(s map[string]string) Option { return func(c *config) { c.settings = s } }

// WithTimeout sets the budget every call must meet (default 2s).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithReusableAnswers says the same answer may verify again (a knowledge
// factor such as the example's passphrase); by default the suite demands
// that an answer verifies once.
func WithReusableAnswers() Option { return func(c *config) { c.reusable = true } }

var (
	idPattern         = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	knownCapabilities = []factors.Capability{factors.CapabilityPhishingResistant, factors.CapabilityPasswordless, factors.CapabilityHardwareBound}
	user              = factors.User{ID: "0190d6f4-3b0a-7cc1-9a57-0000000000aa", Name: "conformance", DisplayName: "Conformance Test", Organization: "factortest"}
)

// Run runs the suite against the plugin binary at path.
func Run(t *testing.T, path string, opts ...Option) {
	t.Helper()
	cfg := config{timeout: 2 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	s := &suite{t: t, cfg: cfg, dir: t.TempDir()}
	if err := copyFile(path, filepath.Join(s.dir, filepath.Base(path))); err != nil {
		t.Fatalf("copy plugin: %v", err)
	}
	t.Cleanup(s.dumpLogsOnFailure)

	// Settings are keyed by factor id, unknown until Describe: start with
	// the defaults to learn it, then again with the settings.
	f, id := s.start(nil)
	if cfg.settings != nil {
		s.reg.Close()
		f, _ = s.start(map[string]map[string]string{id: cfg.settings})
	}
	s.f = f
	ctx := context.Background()

	t.Run("describe", func(t *testing.T) { s.describe(t, ctx) })
	t.Run("configure", func(t *testing.T) { s.configure(t, ctx) })
	var begin *factors.BeginEnrollmentResponse
	t.Run("begin enrolment", func(t *testing.T) { begin = s.beginEnrollment(t, ctx) })
	if begin != nil {
		t.Run("malformed enrolment responses", func(t *testing.T) { s.malformedEnrollment(t, ctx, begin) })
	}
	t.Run("identify credential", func(t *testing.T) { s.identify(t, ctx) })
	if begin != nil && cfg.solver != nil {
		var cred factors.Credential
		t.Run("enrol", func(t *testing.T) { cred = s.enrol(t, ctx, begin) })
		if cred.State != nil {
			t.Run("verify and round-trip state", func(t *testing.T) { s.verify(t, ctx, begin, &cred) })
			t.Run("wrong verification responses", func(t *testing.T) { s.wrongVerification(t, ctx, cred) })
		}
	}
	t.Run("every call within the timeout", s.slowCalls)
}

// suite is one run's plugin and what the host observed of it.
type suite struct {
	t   *testing.T
	cfg config
	dir string
	reg *host.Registry
	f   factors.Factor
	log syncBuffer

	mu   sync.Mutex
	slow []string // calls over budget or unavailable
}

func (s *suite) start(settings map[string]map[string]string) (factors.Factor, string) {
	s.t.Helper()
	reg, err := host.New(context.Background(), host.Config{
		Dir: s.dir, Settings: settings, CallTimeout: s.cfg.timeout,
		Logger:  slog.New(slog.NewTextHandler(&s.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Observe: s.observe,
	})
	if err != nil {
		s.t.Fatalf("the host refused the plugin: %v", err)
	}
	s.reg = reg
	s.t.Cleanup(reg.Close)
	types := reg.Types()
	if len(types) != 1 {
		s.t.Fatalf("want one factor, got %d", len(types))
	}
	f, _ := reg.Factor(types[0].ID)
	return f, types[0].ID
}

func (s *suite) observe(_, method string, d time.Duration, err error) {
	if d <= s.cfg.timeout && !errors.Is(err, host.ErrUnavailable) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slow = append(s.slow, fmt.Sprintf("%s took %s: %v", method, d.Round(time.Millisecond), err))
}

func (s *suite) slowCalls(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.slow {
		t.Error(c)
	}
}

func (s *suite) dumpLogsOnFailure() {
	if s.t.Failed() {
		s.t.Logf("host and plugin log:\n%s", s.log.String())
	}
}

func (s *suite) describe(t *testing.T, ctx context.Context) {
	d, err := s.f.Describe(ctx, &factors.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !idPattern.MatchString(d.ID) {
		t.Errorf("id %q: want lowercase letters, digits and '-', starting with a letter", d.ID)
	}
	if d.ProtocolVersion != factors.ProtocolVersion {
		t.Errorf("protocol version %d, want %d", d.ProtocolVersion, factors.ProtocolVersion)
	}
	if d.DisplayName == "" || d.Version == "" {
		t.Errorf("display name %q and version %q must be set", d.DisplayName, d.Version)
	}
	for _, c := range d.Capabilities {
		if !slices.Contains(knownCapabilities, c) {
			t.Errorf("unknown capability %q", c)
		}
	}
	for k := range s.cfg.settings {
		if _, ok := d.Settings[k]; !ok {
			t.Errorf("setting %q is used but Describe does not list it", k)
		}
	}
}

func (s *suite) configure(t *testing.T, ctx context.Context) {
	_, err := s.f.Configure(ctx, &factors.ConfigureRequest{Settings: map[string]string{"factortest-no-such-setting": "1"}})
	if !errors.Is(err, factors.ErrBadRequest) {
		t.Errorf("unknown setting: got %v, want ErrBadRequest", err)
	}
	settings := s.cfg.settings
	if settings == nil {
		settings = map[string]string{}
	}
	if _, err := s.f.Configure(ctx, &factors.ConfigureRequest{Settings: settings}); err != nil {
		t.Fatalf("configure again with the same settings: %v", err)
	}
}

func (s *suite) beginEnrollment(t *testing.T, ctx context.Context) *factors.BeginEnrollmentResponse {
	begin, err := s.f.BeginEnrollment(ctx, &factors.BeginEnrollmentRequest{User: user, Label: "conformance"})
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(begin.ClientData) {
		t.Fatalf("client data is not JSON: %q", begin.ClientData)
	}
	return begin
}

// typed reports whether err is one of the answers a factor gives to input
// it cannot accept.
func typed(err error, kinds ...error) bool {
	return slices.ContainsFunc(kinds, func(k error) bool { return errors.Is(err, k) })
}

var malformed = map[string]string{
	"not JSON":       `{"unterminated`,
	"a JSON string":  `"a string"`,
	"an empty doc":   `{}`,
	"unknown fields": `{"x": [1, 2]}`,
}

func (s *suite) malformedEnrollment(t *testing.T, ctx context.Context, begin *factors.BeginEnrollmentResponse) {
	for name, body := range malformed {
		_, err := s.f.FinishEnrollment(ctx, &factors.FinishEnrollmentRequest{User: user, PendingState: begin.PendingState, Response: json.RawMessage(body)})
		if !typed(err, factors.ErrBadRequest, factors.ErrInvalidResponse) {
			t.Errorf("%s: got %v, want ErrBadRequest or ErrInvalidResponse", name, err)
		}
	}
	_, err := s.f.FinishEnrollment(ctx, &factors.FinishEnrollmentRequest{User: user, PendingState: []byte("not the pending state"), Response: json.RawMessage(`{}`)})
	if !typed(err, factors.ErrBadRequest, factors.ErrInvalidResponse) {
		t.Errorf("foreign pending state: got %v, want ErrBadRequest or ErrInvalidResponse", err)
	}
}

func (s *suite) identify(t *testing.T, ctx context.Context) {
	_, err := s.f.IdentifyCredential(ctx, &factors.IdentifyCredentialRequest{Response: json.RawMessage(`{"factortest": "garbage"}`)})
	if !typed(err, factors.ErrUnsupported, factors.ErrBadRequest, factors.ErrInvalidResponse) {
		t.Errorf("got %v, want ErrUnsupported, ErrBadRequest or ErrInvalidResponse", err)
	}
}

func (s *suite) enrol(t *testing.T, ctx context.Context, begin *factors.BeginEnrollmentResponse) factors.Credential {
	answer, err := s.cfg.solver.Enroll(begin.ClientData)
	if err != nil {
		t.Fatalf("solver: %v", err)
	}
	fin, err := s.f.FinishEnrollment(ctx, &factors.FinishEnrollmentRequest{User: user, PendingState: begin.PendingState, Response: answer})
	if err != nil {
		t.Fatalf("good enrolment refused: %v", err)
	}
	if len(fin.State) == 0 {
		t.Fatal("enrolment returned no credential state")
	}
	return factors.Credential{ID: "0190d6f4-3b0a-7cc1-9a57-0000000000bb", ExternalID: fin.ExternalID, State: fin.State}
}

// verify verifies twice, each time with the state the previous call
// returned, and replays each answer against its result.
func (s *suite) verify(t *testing.T, ctx context.Context, begin *factors.BeginEnrollmentResponse, cred *factors.Credential) {
	for i := 1; i <= 2; i++ {
		bv, err := s.f.BeginVerification(ctx, &factors.BeginVerificationRequest{User: user, Credentials: []factors.Credential{*cred}})
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(bv.ClientData) {
			t.Fatalf("verification client data is not JSON: %q", bv.ClientData)
		}
		answer, err := s.cfg.solver.Verify(begin.ClientData, bv.ClientData)
		if err != nil {
			t.Fatalf("solver: %v", err)
		}
		req := &factors.FinishVerificationRequest{User: user, Credential: *cred, SessionState: bv.SessionState, Response: answer}
		res, err := s.f.FinishVerification(ctx, req)
		if err != nil {
			t.Fatalf("verification %d refused: %v", i, err)
		}
		if len(res.State) == 0 {
			t.Fatalf("verification %d returned no credential state", i)
		}
		cred.State = res.State
		if s.cfg.reusable {
			continue
		}
		req.Credential.State = res.State
		if _, err := s.f.FinishVerification(ctx, req); !typed(err, factors.ErrReplay, factors.ErrInvalidResponse) {
			t.Fatalf("verification %d replayed: got %v, want ErrReplay or ErrInvalidResponse", i, err)
		}
	}
}

func (s *suite) wrongVerification(t *testing.T, ctx context.Context, cred factors.Credential) {
	for name, body := range malformed {
		_, err := s.f.FinishVerification(ctx, &factors.FinishVerificationRequest{User: user, Credential: cred, Response: json.RawMessage(body)})
		if !typed(err, factors.ErrBadRequest, factors.ErrInvalidResponse) {
			t.Errorf("%s: got %v, want ErrBadRequest or ErrInvalidResponse", name, err)
		}
	}
	_, err := s.f.FinishVerification(ctx, &factors.FinishVerificationRequest{User: user,
		Credential: factors.Credential{ID: cred.ID, State: []byte("not a credential state")}, Response: json.RawMessage(`{}`)})
	if !typed(err, factors.ErrBadRequest, factors.ErrInvalidResponse) {
		t.Errorf("foreign credential state: got %v, want ErrBadRequest or ErrInvalidResponse", err)
	}
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

// syncBuffer collects the host's log for a failing run.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
