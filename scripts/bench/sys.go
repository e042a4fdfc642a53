package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models"
)

// freePort asks the kernel for an unused TCP port.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// mariadb is a throwaway MariaDB server in its own data folder.
type mariadb struct {
	dir  string
	port int
	cmd  *exec.Cmd
}

// startMariaDB initializes a data folder under dir and starts mariadbd on a
// free port, sized for a million users (1 GiB buffer pool), as
// scripts/test.sh does.
func startMariaDB(dir string) (*mariadb, error) {
	bin := firstOf("mariadbd", "mysqld", "/usr/sbin/mariadbd")
	install := firstOf("mariadb-install-db", "mysql_install_db")
	if bin == "" || install == "" {
		return nil, fmt.Errorf("mariadbd not found (apt-get install mariadb-server)")
	}
	m := &mariadb{dir: dir, port: freePort()}
	var user []string
	if os.Getuid() == 0 {
		user = []string{"--user=root"}
	}
	args := append([]string{"--no-defaults", "--datadir=" + filepath.Join(dir, "data"), "--auth-root-authentication-method=normal", "--skip-test-db"}, user...)
	if out, err := exec.Command(install, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: %v\n%s", install, err, out)
	}
	m.cmd = exec.Command(bin, append([]string{"--no-defaults", "--datadir=" + filepath.Join(dir, "data"), "--socket=" + filepath.Join(dir, "s.sock"),
		"--port=" + strconv.Itoa(m.port), "--bind-address=127.0.0.1", "--pid-file=" + filepath.Join(dir, "pid"),
		"--log-error=" + filepath.Join(dir, "err.log"), "--skip-name-resolve", "--innodb-buffer-pool-size=1G",
		"--innodb-log-file-size=512M", "--innodb-flush-log-at-trx-commit=2", "--max-connections=500"}, user...)...)
	if err := m.cmd.Start(); err != nil {
		return nil, err
	}
	for range 300 {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", m.port)); err == nil {
			c.Close()
			time.Sleep(200 * time.Millisecond)
			return m, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	m.stop()
	b, _ := os.ReadFile(filepath.Join(dir, "err.log"))
	return nil, fmt.Errorf("mariadbd did not start:\n%s", b)
}

func (m *mariadb) dsn() string { return fmt.Sprintf("root@tcp(127.0.0.1:%d)/", m.port) }

func (m *mariadb) stop() {
	if m.cmd != nil && m.cmd.Process != nil {
		m.cmd.Process.Signal(syscall.SIGTERM)
		m.cmd.Wait()
	}
}

func (m *mariadb) version() string {
	out, _ := exec.Command(firstOf("mariadbd", "/usr/sbin/mariadbd"), "--version").Output()
	return strings.TrimSpace(string(out))
}

func firstOf(names ...string) string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// server is a running bin/twofold.
type server struct {
	cmd  *exec.Cmd
	base string
	log  *os.File
}

// startServer starts bin/twofold on url with the real plugins, the seed's
// seal key and the per-address rate limit off (the load generator is one
// address), and waits until it is ready.
func startServer(root, url string, key []byte, logPath string) (*server, error) {
	port := freePort()
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(root, "bin/twofold"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"TWOFOLD_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(port),
		"TWOFOLD_DATABASE_URL="+url,
		"TWOFOLD_PLUGIN_DIR="+filepath.Join(root, "bin/plugins"),
		"TWOFOLD_SEAL_KEY="+base64.StdEncoding.EncodeToString(key),
		"TWOFOLD_RATE_LIMIT_AUTH_PER_MINUTE=-1",
		"TWOFOLD_LOG_LEVEL=warn",
		"TWOFOLD_REQUEST_TIMEOUT=30s",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), log: logf}
	for range 600 {
		if r, err := http.Get(s.base + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return s, nil
			}
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	b, _ := os.ReadFile(logPath)
	return nil, fmt.Errorf("bin/twofold did not get ready:\n%s", b)
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.log.Close()
}

// children are the processes whose parent is pid (the plugins), by name.
func children(pid int) map[string]int {
	out := map[string]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(b)
		close := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[close+2:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out[s[strings.IndexByte(s, '(')+1:close]] = p
		}
	}
	return out
}

// cpuOf is the user+system CPU time of pid so far.
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond
}

// memOf is pid's resident set now and at its peak, in MiB.
func memOf(pid int) (rss, peak float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		switch k {
		case "VmRSS":
			rss = kb / 1024
		case "VmHWM":
			peak = kb / 1024
		}
	}
	return rss, peak
}

// argon2Rate is how many argon2id hashes per second this machine computes
// at the server's default cost, with one goroutine per core.
func argon2Rate(d time.Duration) float64 {
	p := mfa.DefaultPasswordConfig
	params := &argon2id.Params{Memory: p.MemoryKiB, Iterations: p.Iterations, Parallelism: p.Parallelism, SaltLength: 16, KeyLength: 32}
	var n atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if _, err := argon2id.CreateHash(password, params); err == nil {
					n.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// pluginHop runs the host's round-trip benchmark and returns its lines.
func pluginHop(root string) (plugin, inprocess map[string]float64, raw string, err error) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "FinishVerification", "-benchmem", "-benchtime", "2000x", "-count", "5", "./factors/host/")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, nil, string(out), err
	}
	plugin, inprocess = map[string]float64{}, map[string]float64{}
	sums := map[string]map[string][]float64{}
	re := regexp.MustCompile(`BenchmarkFinishVerification/(\w+)-\d+\s+\d+\s+(.*)`)
	for _, line := range strings.Split(string(out), "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		raw += line + "\n"
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, _ := strconv.ParseFloat(f[i], 64)
			if sums[m[1]] == nil {
				sums[m[1]] = map[string][]float64{}
			}
			sums[m[1]][f[i+1]] = append(sums[m[1]][f[i+1]], v)
		}
	}
	median := func(vs []float64) float64 {
		sort.Float64s(vs)
		return vs[len(vs)/2]
	}
	for unit, vs := range sums["plugin"] {
		plugin[unit] = median(vs)
	}
	for unit, vs := range sums["inprocess"] {
		inprocess[unit] = median(vs)
	}
	return plugin, inprocess, raw, nil
}

// makeTickets creates MFA_REQUIRED login tickets for users straight in the
// store (each would otherwise cost an argon2id login) and returns their
// tokens, in the order of users.
func makeTickets(ctx context.Context, url, orgID string, users []totpUser) ([]string, error) {
	st, err := models.Open(ctx, url, models.WithMigrate(models.MigrateWait))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	tokens := make([]string, len(users))
	now := time.Now().UTC()
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(users) {
					return
				}
				b := make([]byte, 32)
				_, _ = rand.Read(b)
				tok := base64.RawURLEncoding.EncodeToString(b)
				sum := sha256.Sum256([]byte(tok))
				err := st.CreateLoginTicket(ctx, &mfa.LoginTicket{ID: newID(), TokenHash: hex.EncodeToString(sum[:]), OrganizationID: orgID,
					UserID: users[i].userID, Status: mfa.StatusMFARequired, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				tokens[i] = tok
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, err
	}
	return tokens, nil
}

// machine describes this computer for the report.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				_, cpu, _ = strings.Cut(l, ": ")
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
		if len(f) > 1 {
			kb, _ := strconv.ParseFloat(f[1], 64)
			mem = fmt.Sprintf(", %.1f GiB RAM", kb/1024/1024)
		}
	}
	kernel, _ := exec.Command("uname", "-r").Output()
	load, _ := os.ReadFile("/proc/loadavg")
	return fmt.Sprintf("%s, %d cores%s, Linux %s, %s; load average at start %s", cpu, runtime.NumCPU(), mem,
		strings.TrimSpace(string(kernel)), runtime.Version(), strings.Join(strings.Fields(string(load))[:3], " "))
}

// profile samples pid's CPU with perf for d and returns the top symbols
// (empty when perf is missing or not allowed).
func profile(pid int, d time.Duration, dir string) string {
	perf := firstOf("perf")
	if perf == "" {
		return ""
	}
	data := filepath.Join(dir, fmt.Sprintf("perf-%d.data", pid))
	if err := exec.Command(perf, "record", "-e", "cpu-clock", "-F", "999", "-g", "-p", strconv.Itoa(pid), "-o", data, "--", "sleep",
		strconv.FormatFloat(d.Seconds(), 'f', 1, 64)).Run(); err != nil {
		return ""
	}
	out, err := exec.Command(perf, "report", "-i", data, "--children", "--sort", "sym", "--stdio", "-g", "none", "--percent-limit", "3").Output()
	if err != nil {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		// User-space frames below the HTTP and GraphQL plumbing.
		if strings.Contains(l, "%") && !strings.HasPrefix(strings.TrimSpace(l), "#") && !strings.Contains(l, "[k]") &&
			!strings.Contains(l, "gqlgen") && !strings.Contains(l, "graph/generated") && len(lines) < 45 {
			lines = append(lines, strings.TrimRight(l, " "))
		}
	}
	return strings.Join(lines, "\n")
}
