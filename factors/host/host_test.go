package host_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/host"
	"github.com/twofoldauth/twofold/plugins/totp/totpfactor"
)

// bins holds the plugin binaries built once for these tests.
var bins string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "twofold-host-test-")
	if err != nil {
		panic(err)
	}
	bins = dir
	code := func() int {
		defer os.RemoveAll(dir)
		for name, pkg := range map[string]string{"testfactor": "./testdata/testfactor", "totp": "../../plugins/totp"} {
			if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, out)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// pluginDir makes a plugin folder holding the named binaries.
func pluginDir(t testing.TB, names ...string) string {
	dir := t.TempDir()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(bins, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func sha(t testing.TB, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func finish(f factors.Factor, body string) error {
	_, err := f.FinishVerification(context.Background(), &factors.FinishVerificationRequest{
		Credential: factors.Credential{State: []byte("s")}, Response: json.RawMessage(body)})
	return err
}

func TestChecksumsPinBinaries(t *testing.T) {
	dir := pluginDir(t, "testfactor")
	good := sha(t, filepath.Join(dir, "testfactor"))
	ctx := context.Background()

	r, err := host.New(ctx, host.Config{Dir: dir, Checksums: map[string]string{"testfactor": good}, RequireChecksums: true})
	if err != nil {
		t.Fatalf("matching pin refused: %v", err)
	}
	r.Close()

	bad := strings.Repeat("0", 64)
	_, err = host.New(ctx, host.Config{Dir: dir, Checksums: map[string]string{"testfactor": bad}})
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("mismatched binary: %v", err)
	}
	if _, err := host.New(ctx, host.Config{Dir: dir, RequireChecksums: true}); err == nil {
		t.Fatal("unpinned binary started with RequireChecksums")
	}

	manifest := filepath.Join(t.TempDir(), "SHA256SUMS")
	os.WriteFile(manifest, []byte(good+"  testfactor\n"), 0o600)
	for in, want := range map[string]string{"@" + manifest: good, "testfactor=" + good: good} {
		got, err := host.ParseChecksums(in)
		if err != nil || got["testfactor"] != want {
			t.Errorf("ParseChecksums(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"testfactor=xyz", "novalue", "@/no/such/file"} {
		if _, err := host.ParseChecksums(in); err == nil {
			t.Errorf("ParseChecksums(%q) accepted", in)
		}
	}
}

func TestTimeoutCrashRestartAndShutdown(t *testing.T) {
	ctx := context.Background()
	r, err := host.New(ctx, host.Config{Dir: pluginDir(t, "testfactor"), CallTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := r.Factor("testfactor")
	if err := finish(f, `{"wrong": true}`); !errors.Is(err, factors.ErrInvalidResponse) {
		t.Fatalf("typed error across the boundary: %v", err)
	}
	var fe *factors.Error
	if errors.As(finish(f, `{"wrong": true}`), &fe); fe == nil || fe.Detail != "wrong on purpose" {
		t.Fatalf("detail lost: %+v", fe)
	}
	if err := finish(f, `{"sleep": "2s"}`); !errors.Is(err, host.ErrUnavailable) {
		t.Fatalf("slow call: %v, want ErrUnavailable (timeout)", err)
	}
	if err := finish(f, `{}`); err != nil {
		t.Fatalf("after a timeout: %v", err)
	}

	// A crash mid-call fails that call cleanly; the plugin comes back.
	pid := r.PID("testfactor")
	if err := finish(f, `{"crash": true}`); !errors.Is(err, host.ErrUnavailable) {
		t.Fatalf("crashing call: %v", err)
	}
	// Health (what /readyz reports) says so until the restart, which waits
	// out a back-off first.
	if err := r.Check(ctx); !errors.Is(err, host.ErrUnavailable) || !strings.Contains(err.Error(), "testfactor") {
		t.Fatalf("health right after a crash: %v", err)
	}
	if r.Types()[0].Healthy {
		t.Fatal("factorTypes reports a crashed plugin healthy")
	}
	deadline := time.Now().Add(10 * time.Second)
	for finish(f, `{}`) != nil {
		if time.Now().After(deadline) {
			t.Fatal("plugin not restarted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	newPID := r.PID("testfactor")
	if newPID == 0 || newPID == pid {
		t.Fatalf("pid %d -> %d: not a new process", pid, newPID)
	}
	if err := r.Check(ctx); err != nil {
		t.Fatalf("health after restart: %v", err)
	}

	// Close leaves no process behind.
	r.Close()
	time.Sleep(100 * time.Millisecond)
	if err := syscall.Kill(newPID, 0); err == nil {
		t.Fatalf("plugin process %d outlived Close", newPID)
	}
}

// BenchmarkFinishVerification measures one TOTP verification through the
// real plugin process (go-plugin gRPC with AutoMTLS) and in-process.
func BenchmarkFinishVerification(b *testing.B) {
	ctx := context.Background()
	plugin, err := host.New(ctx, host.Config{Dir: pluginDir(b, "totp")})
	if err != nil {
		b.Fatal(err)
	}
	defer plugin.Close()
	static, err := host.NewStatic(ctx, host.Config{}, totpfactor.New())
	if err != nil {
		b.Fatal(err)
	}
	for name, r := range map[string]*host.Registry{"plugin": plugin, "inprocess": static} {
		b.Run(name, func(b *testing.B) {
			f, _ := r.Factor("totp")
			begin, err := f.BeginEnrollment(ctx, &factors.BeginEnrollmentRequest{User: factors.User{ID: "u", Name: "bench"}})
			if err != nil {
				b.Fatal(err)
			}
			var cd totpfactor.ClientData
			json.Unmarshal(begin.ClientData, &cd)
			body, _ := json.Marshal(totpfactor.Response{Code: totpfactor.Code(cd.Secret, time.Now())})
			fin, err := f.FinishEnrollment(ctx, &factors.FinishEnrollmentRequest{PendingState: begin.PendingState, Response: body})
			if err != nil {
				b.Fatal(err)
			}
			// The enrolment step is used: every call below is a replay, which
			// the plugin refuses after doing all of the work (decode, HMAC,
			// compare) — the cost of a verification.
			req := &factors.FinishVerificationRequest{Credential: factors.Credential{State: fin.State}, Response: body}
			b.ResetTimer()
			for b.Loop() {
				if _, err := f.FinishVerification(ctx, req); !errors.Is(err, factors.ErrReplay) {
					b.Fatal(err)
				}
			}
		})
	}
}
