package host_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/twofoldauth/twofold/factors/host"
)

// helperEnv makes the test binary a host process: it starts the plugins of
// the folder the variable names, in the socket folder HELPER_SOCKETS,
// prints their pids as JSON and waits to be killed.
const helperEnv = "TWOFOLD_HOST_HELPER_PLUGINS"

func hostHelper() {
	r, err := host.New(context.Background(), host.Config{Dir: os.Getenv(helperEnv), SocketDir: os.Getenv("HELPER_SOCKETS")})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	pids := []int{}
	for _, t := range r.Types() {
		pids = append(pids, r.PID(t.ID))
	}
	_ = json.NewEncoder(os.Stdout).Encode(pids)
	select {}
}

// alive reports whether pid runs (a zombie waiting for init to reap it
// counts as dead).
func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

// socketDirs lists the host socket folders in base.
func socketDirs(t *testing.T, base string) []string {
	t.Helper()
	entries, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestKilledHostLeavesNoOrphans kill -9s a real host process: its plugin
// processes die with it, and the next host started on the same socket
// folder removes the folder the dead host left.
func TestKilledHostLeavesNoOrphans(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	plugins, sockets := pluginDir(t, "testfactor", "totp"), shortTempDir(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+plugins, "HELPER_SOCKETS="+sockets)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	var pids []int
	if err != nil || json.Unmarshal([]byte(line), &pids) != nil || len(pids) != 2 {
		t.Fatalf("host helper said %q (%v)", line, err)
	}
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("plugin %d is not running", pid)
		}
	}
	left := socketDirs(t, sockets)
	if len(left) != 1 {
		t.Fatalf("socket folders %v, want the host's one", left)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no clean-up runs
		t.Fatal(err)
	}
	_ = cmd.Wait()
	for _, pid := range pids {
		eventually(t, fmt.Sprintf("plugin %d to die with its host", pid), func() bool { return !alive(pid) })
	}
	if got := socketDirs(t, sockets); len(got) != 1 || got[0] != left[0] {
		t.Fatalf("socket folders %v after the kill, want the dead host's %v", got, left)
	}
	r := start(t, host.Config{Dir: plugins, SocketDir: sockets})
	got := socketDirs(t, sockets)
	if len(got) != 1 || got[0] == left[0] {
		t.Fatalf("socket folders %v with a new host, want only its own (not %s)", got, left[0])
	}
	// A live host's folder is not taken for a dead one's.
	other := start(t, host.Config{Dir: plugins, SocketDir: sockets})
	if n := len(socketDirs(t, sockets)); n != 2 {
		t.Fatalf("%d socket folders with two live hosts, want 2", n)
	}
	other.Close()
	r.Close()
	if got := socketDirs(t, sockets); len(got) != 0 {
		t.Fatalf("socket folders %v after both hosts closed", got)
	}
}

// shortTempDir is a temporary folder with a short path: a Unix socket path
// is limited to 108 bytes, and t.TempDir's names are long.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "th")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
