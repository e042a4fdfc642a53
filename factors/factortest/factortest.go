package factortest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
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
	dir      string
	mailbox  *Mailbox
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

// Report receives each check's outcome as it finishes: err is nil when the
// check passed.
type Report func(check string, err error)

// Run runs the suite against the plugin binary at path as subtests of t,
// one per check.
func Run(t *testing.T, path string, opts ...Option) {
	t.Helper()
	res := Conform(context.Background(), path, func(check string, err error) {
		t.Run(check, func(t *testing.T) {
			if err != nil {
				t.Error(err)
			}
		})
	}, append(opts, withDir(t.TempDir()))...)
	if res.Failed > 0 {
		t.Logf("host and plugin log:\n%s", res.Log)
	}
}

// Result sums up a run.
type Result struct {
	// Passed and Failed count the checks.
	Passed, Failed int
	// Log is what the host and the plugin logged, for a failing run.
	Log string
}

// Conform runs the suite against the plugin binary at path (any language:
// it runs as a real plugin process through the Twofold host) and tells
// report each check's outcome. It needs no testing.T: `twofold plugin
// test` runs it.
func Conform(ctx context.Context, path string, report Report, opts ...Option) Result {
	cfg := config{timeout: 2 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.mailbox == nil {
		cfg.mailbox = &Mailbox{}
	}
	s := &suite{cfg: cfg}
	var res Result
	s.report = func(check string, err error) {
		if err != nil {
			res.Failed++
		} else {
			res.Passed++
		}
		report(check, err)
	}
	defer func() { res.Log = s.log.String() }()
	dir := cfg.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "factortest-")
		if err != nil {
			s.report("start the plugin", err)
			return res
		}
		defer os.RemoveAll(d)
		dir = d
	}
	s.dir = dir
	if err := copyFile(path, filepath.Join(dir, filepath.Base(path))); err != nil {
		s.report("start the plugin", fmt.Errorf("copy plugin: %w", err))
		return res
	}
	// Settings are keyed by factor id, unknown until Describe: start with
	// the defaults to learn it (a factor with required settings is refused
	// then, naming its id), then again with the settings.
	id, err := s.start(ctx, nil)
	var serr *host.SettingsError
	switch {
	case errors.As(err, &serr) && cfg.settings != nil:
		id = serr.Factor
	case err != nil:
		s.report("start the plugin", err)
		return res
	}
	if cfg.settings != nil {
		s.close()
		if _, err := s.start(ctx, map[string]map[string]string{id: cfg.settings}); err != nil {
			s.report("start the plugin with the settings", err)
			return res
		}
	}
	defer s.close()
	s.report("start the plugin", nil)

	s.step("describe", func() error { return s.describe(ctx) })
	s.step("configure", func() error { return s.configure(ctx) })
	var begin *factors.BeginEnrollmentResponse
	s.step("begin enrolment", func() (err error) { begin, err = s.beginEnrollment(ctx); return err })
	if begin != nil {
		s.step("malformed enrolment responses", func() error { return s.malformedEnrollment(ctx, begin) })
	}
	s.step("identify credential", func() error { return s.identify(ctx) })
	if begin != nil && cfg.solver != nil {
		var cred factors.Credential
		s.step("enrol", func() (err error) { cred, err = s.enrol(ctx, begin); return err })
		if cred.State != nil {
			s.step("verify and round-trip state", func() error { return s.verify(ctx, begin, &cred) })
			s.step("wrong verification responses", func() error { return s.wrongVerification(ctx, cred) })
		}
	}
	s.step("every call within the timeout", s.slowCalls)
	return res
}

func withDir(dir string) Option { return func(c *config) { c.dir = dir } }

// suite is one run's plugin and what the host observed of it.
type suite struct {
	cfg    config
	dir    string
	reg    *host.Registry
	f      factors.Factor
	log    syncBuffer
	report Report

	mu   sync.Mutex
	slow []string // calls over budget or unavailable
}

func (s *suite) step(name string, check func() error) { s.report(name, check()) }

func (s *suite) start(ctx context.Context, settings map[string]map[string]string) (string, error) {
	reg, err := host.New(ctx, host.Config{
		Dir: s.dir, Settings: settings, CallTimeout: s.cfg.timeout,
		Logger:  slog.New(slog.NewTextHandler(&s.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Observe: s.observe,
	})
	if err != nil {
		return "", fmt.Errorf("the host refused the plugin: %w", err)
	}
	s.reg = reg
	reg.SetBackend(s.cfg.mailbox)
	types := reg.Types()
	if len(types) != 1 {
		return "", fmt.Errorf("want one factor, got %d", len(types))
	}
	s.f, _ = reg.Factor(types[0].ID)
	return types[0].ID, nil
}

func (s *suite) close() {
	if s.reg != nil {
		s.reg.Close()
		s.reg = nil
	}
}

func (s *suite) observe(_, method string, d time.Duration, err error) {
	if d <= s.cfg.timeout && !errors.Is(err, host.ErrUnavailable) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slow = append(s.slow, fmt.Sprintf("%s took %s: %v", method, d.Round(time.Millisecond), err))
}

func (s *suite) slowCalls() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, c := range s.slow {
		errs = append(errs, errors.New(c))
	}
	return errors.Join(errs...)
}

func (s *suite) describe(ctx context.Context) error {
	d, err := s.f.Describe(ctx, &factors.DescribeRequest{})
	if err != nil {
		return err
	}
	var errs []error
	if !idPattern.MatchString(d.ID) {
		errs = append(errs, fmt.Errorf("id %q: want lowercase letters, digits and '-', starting with a letter", d.ID))
	}
	if d.ProtocolVersion < factors.MinProtocolVersion || d.ProtocolVersion > factors.ProtocolVersion {
		errs = append(errs, fmt.Errorf("protocol version %d, want %d to %d", d.ProtocolVersion, factors.MinProtocolVersion, factors.ProtocolVersion))
	}
	if d.DisplayName == "" || d.Version == "" {
		errs = append(errs, fmt.Errorf("display name %q and version %q must be set", d.DisplayName, d.Version))
	}
	for _, c := range d.Capabilities {
		if !slices.Contains(knownCapabilities, c) {
			errs = append(errs, fmt.Errorf("unknown capability %q", c))
		}
	}
	declared := map[string]bool{}
	for _, st := range d.Schema() {
		if err := st.Validate(); err != nil {
			errs = append(errs, err)
		}
		if st.Description == "" {
			errs = append(errs, fmt.Errorf("setting %s has no description", st.Name))
		}
		declared[st.Name] = true
	}
	for k := range s.cfg.settings {
		if !declared[k] {
			errs = append(errs, fmt.Errorf("setting %q is used but Describe does not declare it", k))
		}
	}
	return errors.Join(errs...)
}

func (s *suite) configure(ctx context.Context) error {
	_, err := s.f.Configure(ctx, &factors.ConfigureRequest{Settings: map[string]string{"factortest-no-such-setting": "1"}})
	if !errors.Is(err, factors.ErrBadRequest) {
		return fmt.Errorf("unknown setting: got %v, want ErrBadRequest", err)
	}
	settings := s.cfg.settings
	if settings == nil {
		settings = map[string]string{}
	}
	if _, err := s.f.Configure(ctx, &factors.ConfigureRequest{Settings: settings}); err != nil {
		return fmt.Errorf("configure again with the same settings: %v", err)
	}
	return nil
}

func (s *suite) beginEnrollment(ctx context.Context) (*factors.BeginEnrollmentResponse, error) {
	begin, err := s.f.BeginEnrollment(ctx, &factors.BeginEnrollmentRequest{User: user, Label: "conformance"})
	if err != nil {
		return nil, err
	}
	if !json.Valid(begin.ClientData) {
		return nil, fmt.Errorf("client data is not JSON: %q", begin.ClientData)
	}
	return begin, nil
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

func (s *suite) malformedEnrollment(ctx context.Context, begin *factors.BeginEnrollmentResponse) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(malformed)) {
		_, err := s.f.FinishEnrollment(ctx, &factors.FinishEnrollmentRequest{User: user, PendingState: begin.PendingState, Response: json.RawMessage(malformed[name])})
		if !typed(err, factors.ErrBadRequest, factors.ErrInvalidResponse) {
			errs = append(errs, fmt.Errorf("%s: got %v, want ErrBadRequest or ErrInvalidResponse", name, err))
		}
	}
	_, err := s.f.FinishEnrollment(ctx, &factors.FinishEnrollmentRequest{User: user, PendingState: []byte("not the pending state"), Response: json.RawMessage(`{}`)})
	if !typed(err, factors.ErrBadRequest, factors.ErrInvalidResponse) {
		errs = append(errs, fmt.Errorf("foreign pending state: got %v, want ErrBadRequest or ErrInvalidResponse", err))
	}
	return errors.Join(errs...)
}

func (s *suite) identify(ctx context.Context) error {
	_, err := s.f.IdentifyCredential(ctx, &factors.IdentifyCredentialRequest{Response: json.RawMessage(`{"factortest": "garbage"}`)})
	if !typed(err, factors.ErrUnsupported, factors.ErrBadRequest, factors.ErrInvalidResponse) {
		return fmt.Errorf("got %v, want ErrUnsupported, ErrBadRequest or ErrInvalidResponse", err)
	}
	return nil
}

func (s *suite) enrol(ctx context.Context, begin *factors.BeginEnrollmentResponse) (factors.Credential, error) {
	answer, err := s.cfg.solver.Enroll(begin.ClientData)
	if err != nil {
		return factors.Credential{}, fmt.Errorf("solver: %v", err)
	}
	fin, err := s.f.FinishEnrollment(ctx, &factors.FinishEnrollmentRequest{User: user, PendingState: begin.PendingState, Response: answer})
	if err != nil {
		return factors.Credential{}, fmt.Errorf("good enrolment refused: %v", err)
	}
	if len(fin.State) == 0 {
		return factors.Credential{}, errors.New("enrolment returned no credential state")
	}
	return factors.Credential{ID: "0190d6f4-3b0a-7cc1-9a57-0000000000bb", ExternalID: fin.ExternalID, State: fin.State}, nil
}

// verify verifies twice, each time with the state the previous call
// returned, and replays each answer against its result.
func (s *suite) verify(ctx context.Context, begin *factors.BeginEnrollmentResponse, cred *factors.Credential) error {
	for i := 1; i <= 2; i++ {
		bv, err := s.f.BeginVerification(ctx, &factors.BeginVerificationRequest{User: user, Credentials: []factors.Credential{*cred}})
		if err != nil {
			return err
		}
		if !json.Valid(bv.ClientData) {
			return fmt.Errorf("verification client data is not JSON: %q", bv.ClientData)
		}
		answer, err := s.cfg.solver.Verify(begin.ClientData, bv.ClientData)
		if err != nil {
			return fmt.Errorf("solver: %v", err)
		}
		req := &factors.FinishVerificationRequest{User: user, Credential: *cred, SessionState: bv.SessionState, Response: answer}
		res, err := s.f.FinishVerification(ctx, req)
		if err != nil {
			return fmt.Errorf("verification %d refused: %v", i, err)
		}
		if len(res.State) == 0 {
			return fmt.Errorf("verification %d returned no credential state", i)
		}
		cred.State = res.State
		if s.cfg.reusable {
			continue
		}
		req.Credential.State = res.State
		if _, err := s.f.FinishVerification(ctx, req); !typed(err, factors.ErrReplay, factors.ErrInvalidResponse) {
			return fmt.Errorf("verification %d replayed: got %v, want ErrReplay or ErrInvalidResponse", i, err)
		}
	}
	return nil
}

func (s *suite) wrongVerification(ctx context.Context, cred factors.Credential) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(malformed)) {
		_, err := s.f.FinishVerification(ctx, &factors.FinishVerificationRequest{User: user, Credential: cred, Response: json.RawMessage(malformed[name])})
		if !typed(err, factors.ErrBadRequest, factors.ErrInvalidResponse) {
			errs = append(errs, fmt.Errorf("%s: got %v, want ErrBadRequest or ErrInvalidResponse", name, err))
		}
	}
	_, err := s.f.FinishVerification(ctx, &factors.FinishVerificationRequest{User: user,
		Credential: factors.Credential{ID: cred.ID, State: []byte("not a credential state")}, Response: json.RawMessage(`{}`)})
	if !typed(err, factors.ErrBadRequest, factors.ErrInvalidResponse) {
		errs = append(errs, fmt.Errorf("foreign credential state: got %v, want ErrBadRequest or ErrInvalidResponse", err))
	}
	return errors.Join(errs...)
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
