// Package examples holds the tests of the example plugins written in other
// languages than Go (their code lives in the sub-folders).
package examples

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/factortest"
	"github.com/twofoldauth/twofold/factors/host"
)

// nodePlugin installs the Node.js example's dependencies if needed and
// returns a launcher for it in a fresh folder. Without node the test is
// skipped, unless TWOFOLD_TEST_REQUIRE_NODE is set (as in CI).
func nodePlugin(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("TWOFOLD_TEST_REQUIRE_NODE") != "" {
			t.Fatal("node is required (TWOFOLD_TEST_REQUIRE_NODE) but not on PATH")
		}
		t.Skip("node is not installed")
	}
	src, err := filepath.Abs("node-passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(src, "node_modules", "@grpc", "grpc-js")); err != nil {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	launcher := filepath.Join(t.TempDir(), "node-passphrase")
	script := "#!/bin/sh\nexec " + node + " " + filepath.Join(src, "index.js") + "\n"
	if err := os.WriteFile(launcher, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return launcher
}

type passphrase string

func (p passphrase) answer() json.RawMessage {
	b, _ := json.Marshal(map[string]string{"passphrase": string(p)})
	return b
}
func (p passphrase) Enroll(json.RawMessage) (json.RawMessage, error)      { return p.answer(), nil }
func (p passphrase) Verify(_, _ json.RawMessage) (json.RawMessage, error) { return p.answer(), nil }

// The Node.js plugin passes the same conformance kit as the Go ones, over
// go-plugin's handshake with AutoMTLS, with a setting.
func TestNodeConformance(t *testing.T) {
	factortest.Run(t, nodePlugin(t), factortest.WithSolver(passphrase("correct horse battery")),
		factortest.WithReusableAnswers(), factortest.WithSettings(map[string]string{"min_length": "12"}))
}

// Started by hand, without the host's magic cookie, it refuses to run.
func TestNodeRefusesToRunByHand(t *testing.T) {
	out, err := exec.Command(nodePlugin(t)).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "This binary is a plugin") {
		t.Fatalf("got %v: %s", err, out)
	}
}

// A crash mid-call is answered with ErrUnavailable, the plugin is
// restarted and configured again, and the credential enrolled before still
// verifies.
func TestNodeCrashMidCallRestarts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	launcher := nodePlugin(t)
	b, err := os.ReadFile(launcher)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "node-passphrase"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := host.New(ctx, host.Config{Dir: dir, CallTimeout: 5 * time.Second,
		Environ: []string{"TWOFOLD_FACTOR_NODE_PASSPHRASE_CRASH_FOR_TESTS=true", "TWOFOLD_FACTOR_NODE_PASSPHRASE_MIN_LENGTH=9"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, _ := r.Factor("node-passphrase")
	p := passphrase("nine chars")
	enrolled, err := f.FinishEnrollment(ctx, &factors.FinishEnrollmentRequest{Response: p.answer()})
	if err != nil {
		t.Fatal(err)
	}
	cred := factors.Credential{ID: "c1", State: enrolled.State}
	if _, err := f.FinishEnrollment(ctx, &factors.FinishEnrollmentRequest{Response: passphrase("eight ch").answer()}); !errors.Is(err, factors.ErrBadRequest) {
		t.Fatalf("a passphrase under min_length (9, from the variable): %v", err)
	}
	if st := r.Types()[0]; st.ProtocolVersion != factors.ProtocolVersion || len(st.Configured) != 2 {
		t.Errorf("negotiated version %d, settings %+v", st.ProtocolVersion, st.Configured)
	}
	pid := r.PID("node-passphrase")

	_, err = f.FinishVerification(ctx, &factors.FinishVerificationRequest{Credential: cred, Response: json.RawMessage(`{"crash": true}`)})
	if !errors.Is(err, host.ErrUnavailable) {
		t.Fatalf("crashing call: %v, want ErrUnavailable", err)
	}
	for deadline := time.Now().Add(15 * time.Second); r.Check(ctx) != nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the plugin was not restarted")
		}
	}
	if newPID := r.PID("node-passphrase"); newPID == 0 || newPID == pid {
		t.Fatalf("pid %d -> %d: not a new process", pid, newPID)
	}
	if _, err := f.FinishVerification(ctx, &factors.FinishVerificationRequest{Credential: cred, Response: p.answer()}); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if _, err := f.FinishVerification(ctx, &factors.FinishVerificationRequest{Credential: cred, Response: passphrase("wrong one!").answer()}); !errors.Is(err, factors.ErrInvalidResponse) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := f.FinishEnrollment(ctx, &factors.FinishEnrollmentRequest{Response: passphrase("eight ch").answer()}); !errors.Is(err, factors.ErrBadRequest) {
		t.Fatalf("min_length after the restart: %v", err)
	}
}
