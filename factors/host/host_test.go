package host_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/host"
	"github.com/twofoldauth/twofold/plugins/totp/totpfactor"
)

// bins holds the plugin binaries, built once for the package.
var bins string

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		hostHelper() // a host process for TestKilledHostLeavesNoOrphans
		return
	}
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "twofold-host-test-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		bins = dir
		for name, pkg := range map[string]string{"testfactor": "./testdata/testfactor", "totp": "../../plugins/totp", "versioned": "./testdata/versioned", "messenger": "./testdata/messenger"} {
			if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, out)
				return 1
			}
		}
		return m.Run()
	}())
}

// install copies the built binary bin into dir as name.
func install(t testing.TB, dir, name, bin string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bins, bin))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, mode); err != nil {
		t.Fatal(err)
	}
}

// pluginDir makes a plugin folder holding the named binaries.
func pluginDir(t testing.TB, names ...string) string {
	dir := t.TempDir()
	for _, n := range names {
		install(t, dir, n, n, 0o755)
	}
	return dir
}

func start(t testing.TB, cfg host.Config) *host.Registry {
	t.Helper()
	r, err := host.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func factor(t testing.TB, r *host.Registry, id string) factors.Factor {
	t.Helper()
	f, ok := r.Factor(id)
	if !ok {
		t.Fatalf("no factor %q", id)
	}
	return f
}

// echo is the state testfactor returns for {}.
type echo struct {
	Settings map[string]string `json:"settings"`
	Env      []string          `json:"env"`
}

// ask sends testfactor a FinishVerification with the given response.
func ask(ctx context.Context, f factors.Factor, body string) (echo, error) {
	res, err := f.FinishVerification(ctx, &factors.FinishVerificationRequest{Response: json.RawMessage(body)})
	if err != nil {
		return echo{}, err
	}
	var e echo
	return e, json.Unmarshal(res.State, &e)
}

// eventually polls cond for up to 10s: restarts take a back-off and a
// process start.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// children lists the processes whose parent is this test binary.
func children(t testing.TB) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(os.Getpid()) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func sha(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestChecksums(t *testing.T) {
	dir := pluginDir(t, "testfactor")
	good := sha(t, filepath.Join(dir, "testfactor"))
	tests := map[string]struct {
		pins    map[string]string
		require bool
		wantErr string
	}{
		"pinned":                 {pins: map[string]string{"testfactor": good}, require: true},
		"pin in upper case":      {pins: map[string]string{"testfactor": strings.ToUpper(good)}},
		"unpinned, not required": {},
		"mismatch":               {pins: map[string]string{"testfactor": strings.Repeat("0", 64)}, require: true, wantErr: "plugin testfactor: checksum mismatch"},
		"mismatch, not required": {pins: map[string]string{"testfactor": strings.Repeat("ab", 32)}, wantErr: "plugin testfactor: checksum mismatch"},
		"unpinned, required":     {require: true, wantErr: "plugin testfactor: no pinned checksum"},
		"other binary pinned":    {pins: map[string]string{"other": good}, require: true, wantErr: "plugin testfactor: no pinned checksum"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := host.New(context.Background(), host.Config{Dir: dir, Checksums: tc.pins, RequireChecksums: tc.require})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				r.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseChecksums(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	manifest := filepath.Join(t.TempDir(), "plugins.sha256")
	if err := os.WriteFile(manifest, []byte(sum+"  totp\n"+strings.ToUpper(sum)+" *bin/plugins/passkey\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		in      string
		want    map[string]string
		wantErr bool
	}{
		"empty":        {in: " ", want: map[string]string{}},
		"pairs":        {in: "totp=" + sum + ", passkey=" + strings.ToUpper(sum), want: map[string]string{"totp": sum, "passkey": sum}},
		"manifest":     {in: "@" + manifest, want: map[string]string{"totp": sum, "passkey": sum}},
		"not hex":      {in: "totp=xyz", wantErr: true},
		"short digest": {in: "totp=abcd", wantErr: true},
		"no name":      {in: "=" + sum, wantErr: true},
		"no digest":    {in: "totp", wantErr: true},
		"no manifest":  {in: "@/no/such/file", wantErr: true},
		"bad manifest": {in: "@" + filepath.Join("testdata", "testfactor", "main.go"), wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := host.ParseChecksums(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if !tc.wantErr && !maps.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// Files that are not plugins sit next to them; each of these is a copy of
// a plugin binary, so discovering one would fail New with a duplicate id.
func TestDiscoverySkipsWhatIsNotAPlugin(t *testing.T) {
	dir := pluginDir(t, "testfactor")
	for name, mode := range map[string]os.FileMode{
		".testfactor": 0o755, "testfactor.sha256": 0o755, "README.txt": 0o755, "settings.json": 0o755, "disabled": 0o644,
	} {
		install(t, dir, name, "testfactor", mode)
	}
	if err := os.Mkdir(filepath.Join(dir, "subdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := start(t, host.Config{Dir: dir})
	if got := r.Types(); len(got) != 1 || got[0].ID != "testfactor" || !got[0].Healthy {
		t.Fatalf("types: %+v", got)
	}
}

func TestNewRefuses(t *testing.T) {
	tests := map[string]struct {
		setup   func(t *testing.T, dir string)
		wantErr string
	}{
		"duplicate factor id": {func(t *testing.T, dir string) {
			install(t, dir, "a", "testfactor", 0o755)
			install(t, dir, "b", "testfactor", 0o755)
		}, `plugin b: factor id "testfactor" is already served by plugin a`},
		"not a plugin": {func(t *testing.T, dir string) {
			install(t, dir, "a", "testfactor", 0o755)
			if err := os.WriteFile(filepath.Join(dir, "script"), []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, "plugin script:"},
		"missing dir": {func(t *testing.T, dir string) { os.Remove(dir) }, "plugin dir"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := children(t)
			dir := filepath.Join(t.TempDir(), "plugins")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			tc.setup(t, dir)
			r, err := host.New(context.Background(), host.Config{Dir: dir, CallTimeout: time.Second})
			if err == nil {
				r.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
			if after := children(t); len(after) > len(before) {
				t.Fatalf("a refused start left processes %v", after)
			}
		})
	}
}

func TestTypedErrorsCrossTheBoundary(t *testing.T) {
	f := factor(t, start(t, host.Config{Dir: pluginDir(t, "testfactor")}), "testfactor")
	ctx := context.Background()
	for name, want := range map[string]error{
		"bad_request":       factors.ErrBadRequest,
		"invalid_response":  factors.ErrInvalidResponse,
		"replay":            factors.ErrReplay,
		"clone_warning":     factors.ErrCloneWarning,
		"attestation":       factors.ErrAttestationRefused,
		"user_verification": factors.ErrUserVerificationRequired,
		"unsupported":       factors.ErrUnsupported,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ask(ctx, f, `{"fail": "`+name+`"}`)
			var fe *factors.Error
			if !errors.Is(err, want) || !errors.As(err, &fe) || fe.Detail != "on purpose" {
				t.Fatalf("got %v (%#v), want %v with its detail", err, fe, want)
			}
		})
	}
	t.Run("untyped", func(t *testing.T) {
		_, err := ask(ctx, f, `{"fail": "something else"}`)
		var fe *factors.Error
		if err == nil || errors.As(err, &fe) || errors.Is(err, host.ErrUnavailable) {
			t.Fatalf("got %v, want a plain error (a plugin bug, not an outage)", err)
		}
	})
}

func TestCallTimeout(t *testing.T) {
	r := start(t, host.Config{Dir: pluginDir(t, "testfactor"), CallTimeout: 300 * time.Millisecond})
	f := factor(t, r, "testfactor")
	ctx := context.Background()
	pid := r.PID("testfactor")

	began := time.Now()
	if _, err := ask(ctx, f, `{"sleep": "3s"}`); !errors.Is(err, host.ErrUnavailable) {
		t.Fatalf("hung call: %v, want ErrUnavailable", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("the timeout fired after %s", took)
	}
	// A slow call is not a crash: the same process answers the next one.
	if _, err := ask(ctx, f, `{}`); err != nil {
		t.Fatalf("after a timeout: %v", err)
	}
	if got := r.PID("testfactor"); got != pid {
		t.Fatalf("pid %d -> %d: a timeout restarted the plugin", pid, got)
	}

	// The caller giving up is the caller's error, not an outage.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := ask(short, f, `{"sleep": "1s"}`); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, host.ErrUnavailable) {
		t.Fatalf("caller's deadline: %v", err)
	}
}

func TestCrashMidCallRestartsAndReconfigures(t *testing.T) {
	ctx := context.Background()
	t.Setenv("TWOFOLD_SEAL_KEY", "host secret")
	sockets := shortTempDir(t)
	r := start(t, host.Config{Dir: pluginDir(t, "testfactor"), SocketDir: sockets,
		Settings: map[string]map[string]string{"testfactor": {"greeting": "hello"}}})
	f := factor(t, r, "testfactor")
	pid := r.PID("testfactor")

	if _, err := ask(ctx, f, `{"crash": true}`); !errors.Is(err, host.ErrUnavailable) {
		t.Fatalf("crashing call: %v, want ErrUnavailable", err)
	}
	// Health says so until the restart, which waits out a back-off first.
	if err := r.Check(ctx); !errors.Is(err, host.ErrUnavailable) || !strings.Contains(err.Error(), "testfactor") {
		t.Fatalf("health right after a crash: %v", err)
	}
	if r.Types()[0].Healthy {
		t.Fatal("Types reports a crashed plugin healthy")
	}
	eventually(t, "the restart", func() bool { return r.Check(ctx) == nil })
	got, err := ask(ctx, f, `{}`)
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if newPID := r.PID("testfactor"); newPID == 0 || newPID == pid {
		t.Fatalf("pid %d -> %d: not a new process", pid, newPID)
	}
	if got.Settings["greeting"] != "hello" {
		t.Errorf("settings after the restart: %v", got.Settings)
	}
	if slices.ContainsFunc(got.Env, func(kv string) bool { return strings.HasPrefix(kv, "TWOFOLD_SEAL_KEY=") }) {
		t.Error("the plugin inherited the host's environment")
	}
	if !slices.ContainsFunc(got.Env, func(kv string) bool { return strings.HasPrefix(kv, "TMPDIR="+sockets+"/") }) {
		t.Errorf("TMPDIR is not in the socket folder %s: %v", sockets, got.Env)
	}
}

func TestKilledPluginRestarts(t *testing.T) {
	ctx := context.Background()
	r := start(t, host.Config{Dir: pluginDir(t, "testfactor")})
	f := factor(t, r, "testfactor")
	pid := r.PID("testfactor")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the host to notice the kill", func() bool { return r.Check(ctx) != nil })
	if _, err := ask(ctx, f, `{}`); !errors.Is(err, host.ErrUnavailable) {
		t.Fatalf("call to a killed plugin: %v, want ErrUnavailable", err)
	}
	eventually(t, "the restart", func() bool { return r.Check(ctx) == nil })
	if _, err := ask(ctx, f, `{}`); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if r.PID("testfactor") == pid {
		t.Fatal("same pid after a kill")
	}
}

func TestCloseLeavesNothingBehind(t *testing.T) {
	before := children(t)
	sockets := shortTempDir(t)
	r, err := host.New(context.Background(), host.Config{Dir: pluginDir(t, "testfactor", "totp"), SocketDir: sockets})
	if err != nil {
		t.Fatal(err)
	}
	if got := children(t); len(got) != len(before)+2 {
		t.Fatalf("children %v, want two more than %v", got, before)
	}
	pids := []int{r.PID("testfactor"), r.PID("totp")}
	r.Close()
	r.Close() // twice is fine
	if after := children(t); len(after) != len(before) {
		t.Fatalf("plugin processes %v outlived Close (were %v)", after, pids)
	}
	if left, _ := os.ReadDir(sockets); len(left) > 0 {
		t.Fatalf("socket folder holds %v after Close", left)
	}
}

// syncBuffer is a log destination safe for go-plugin's goroutines.
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

func TestPluginLogsReachTheHostLogger(t *testing.T) {
	var out syncBuffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	f := factor(t, start(t, host.Config{Dir: pluginDir(t, "testfactor"), Logger: log}), "testfactor")
	if _, err := ask(context.Background(), f, `{"log": "hello from the plugin"}`); err != nil {
		t.Fatal(err)
	}
	var line string
	eventually(t, "the plugin's log line", func() bool {
		for l := range strings.Lines(out.String()) {
			if strings.Contains(l, "hello from the plugin") {
				line = l
				return true
			}
		}
		return false
	})
	for _, want := range []string{"level=WARN", "plugin=testfactor", "answer=42"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}
}

func TestNewStatic(t *testing.T) {
	r := host.NewStatic(totpfactor.New())
	defer r.Close()
	if err := r.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := r.Types(); len(got) != 1 || got[0].ID != "totp" || !got[0].Healthy {
		t.Fatalf("types: %+v", got)
	}
	if _, ok := r.Factor("nope"); ok {
		t.Fatal("unknown factor found")
	}
	if r.PID("totp") != 0 {
		t.Fatal("in-process factor has a pid")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("two factors with one id accepted")
		}
	}()
	host.NewStatic(totpfactor.New(), totpfactor.New())
}

// A restart checks the binary again: a plugin file swapped after start (here
// the same program with bytes appended, which would otherwise run and pass
// every other check) is refused when the crashed process is replaced, until
// the original is back.
func TestRestartRefusesAChangedBinary(t *testing.T) {
	ctx := context.Background()
	var out syncBuffer
	dir := pluginDir(t, "testfactor")
	path := filepath.Join(dir, "testfactor")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, host.Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(&out, nil))})
	f := factor(t, r, "testfactor")
	before := children(t)
	replace := func(b []byte) {
		t.Helper()
		// A rename, as an attacker or a package manager would: the running
		// binary cannot be written in place.
		tmp := filepath.Join(t.TempDir(), "testfactor")
		if err := os.WriteFile(tmp, b, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	replace(append(bytes.Clone(good), []byte("\x00tampered")...))
	if err := syscall.Kill(r.PID("testfactor"), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a refused restart", func() bool {
		for l := range strings.Lines(out.String()) {
			if strings.Contains(l, "restart failed") && strings.Contains(l, "checksums did not match") {
				return true
			}
		}
		return false
	})
	if err := r.Check(ctx); !errors.Is(err, host.ErrUnavailable) {
		t.Fatalf("health with a refused binary: %v", err)
	}
	if _, err := ask(ctx, f, `{}`); !errors.Is(err, host.ErrUnavailable) {
		t.Fatalf("call with a refused binary: %v, want ErrUnavailable", err)
	}
	if now := children(t); len(now) >= len(before) {
		t.Fatalf("processes %v: the changed binary runs (had %v)", now, before)
	}
	// The pinned binary back: the next restart takes it.
	replace(good)
	eventually(t, "the restart", func() bool { return r.Check(ctx) == nil })
	if _, err := ask(ctx, f, `{}`); err != nil {
		t.Fatalf("after the original is back: %v", err)
	}
}
