// Package host runs factor plugins for the Twofold server: it discovers
// binaries in a folder, verifies their pinned SHA-256, starts them with
// go-plugin (gRPC, AutoMTLS), configures them, bounds every call with a
// timeout, and restarts a crashed plugin with back-off. Registry is the
// mfa.Registry the domain uses.
package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/internal/wire"
)

// ErrUnavailable: the plugin is down or restarting, or the call timed out.
var ErrUnavailable = errors.New("factor plugin unavailable")

// Config says where the plugins are and how to run them.
type Config struct {
	// Dir holds the plugin binaries: every executable regular file not
	// starting with '.' is a plugin.
	Dir string
	// Checksums pins plugin file names to lowercase hex SHA-256 digests; a
	// binary that does not match is refused.
	Checksums map[string]string
	// RequireChecksums refuses plugins without a pin.
	RequireChecksums bool
	// Settings are passed to each plugin's Configure, by factor id, after
	// every (re)start.
	Settings map[string]map[string]string
	// CallTimeout bounds each call (default 5s).
	CallTimeout time.Duration
	// SocketDir is an existing folder for go-plugin's Unix sockets; by
	// default a fresh temporary folder that Close removes.
	SocketDir string
	Logger    *slog.Logger
	// Observe, when set, is told the duration and outcome of every call (for
	// metrics); err is nil on success.
	Observe func(factor, method string, d time.Duration, err error)
}

// Registry is the set of running factor plugins.
type Registry struct {
	cfg       Config
	log       *slog.Logger
	procs     map[string]*proc // by factor id
	socketDir string
	ownDir    bool
	stop      context.CancelFunc
	wg        sync.WaitGroup
}

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// New discovers, verifies and starts every plugin in cfg.Dir. It fails if
// any plugin is refused or does not start.
func New(ctx context.Context, cfg Config) (*Registry, error) {
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Registry{cfg: cfg, log: cfg.Logger, procs: map[string]*proc{}, socketDir: cfg.SocketDir}
	if r.socketDir == "" {
		dir, err := os.MkdirTemp("", "twofold-plugins-")
		if err != nil {
			return nil, err
		}
		r.socketDir, r.ownDir = dir, true
	}
	superviseCtx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	paths, err := discover(cfg.Dir)
	if err != nil {
		r.Close()
		return nil, err
	}
	for _, path := range paths {
		p, err := r.load(ctx, path)
		if err != nil {
			r.Close()
			return nil, err
		}
		if _, dup := r.procs[p.desc.ID]; dup {
			p.kill()
			r.Close()
			return nil, fmt.Errorf("plugin %s: factor id %q is served by another plugin too", filepath.Base(path), p.desc.ID)
		}
		r.procs[p.desc.ID] = p
		r.wg.Add(1)
		go func() { defer r.wg.Done(); p.supervise(superviseCtx) }()
	}
	return r, nil
}

// discover lists the plugin binaries in dir.
func discover(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("plugin dir: %w", err)
	}
	var paths []string
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode()&0o111 == 0 || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		paths = append(paths, filepath.Join(dir, e.Name()))
	}
	slices.Sort(paths)
	return paths, nil
}

// load verifies a binary's checksum and starts it once.
func (r *Registry) load(ctx context.Context, path string) (*proc, error) {
	name := filepath.Base(path)
	sum, err := fileSHA256(path)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", name, err)
	}
	pin, pinned := r.cfg.Checksums[name]
	switch {
	case pinned && !strings.EqualFold(pin, hex.EncodeToString(sum)):
		return nil, fmt.Errorf("plugin %s: checksum mismatch (pinned %s, file has %s): refusing to run it", name, pin, hex.EncodeToString(sum))
	case !pinned && r.cfg.RequireChecksums:
		return nil, fmt.Errorf("plugin %s: no pinned checksum and checksums are required", name)
	}
	p := &proc{r: r, path: path, name: name, checksum: sum, kick: make(chan struct{}, 1)}
	if err := p.start(ctx); err != nil {
		return nil, fmt.Errorf("plugin %s: %w", name, err)
	}
	return p, nil
}

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// ParseChecksums reads pins from "name=hex,name2=hex" or "@/path/manifest"
// (sha256sum output: "hex  name" per line).
func ParseChecksums(s string) (map[string]string, error) {
	out := map[string]string{}
	s = strings.TrimSpace(s)
	if s == "" {
		return out, nil
	}
	add := func(name, sum string) error {
		name, sum = filepath.Base(strings.TrimPrefix(strings.TrimSpace(name), "*")), strings.ToLower(strings.TrimSpace(sum))
		if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size || name == "" {
			return fmt.Errorf("checksum for %q is not a SHA-256 hex digest", name)
		}
		out[name] = sum
		return nil
	}
	if path, ok := strings.CutPrefix(s, "@"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			fields := strings.Fields(line)
			if len(fields) == 0 {
				continue
			}
			if len(fields) != 2 {
				return nil, fmt.Errorf("manifest line %q: want \"sha256  name\"", line)
			}
			if err := add(fields[1], fields[0]); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	for _, pair := range strings.Split(s, ",") {
		name, sum, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want name=sha256", pair)
		}
		if err := add(name, sum); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Factor returns the factor with the given id. Calls go to the plugin
// process with the configured timeout.
func (r *Registry) Factor(id string) (factors.Factor, bool) {
	p, ok := r.procs[id]
	if !ok {
		return nil, false
	}
	return remote{p}, true
}

// Types lists the factor types, by id, with their current health.
func (r *Registry) Types() []factors.Status {
	out := make([]factors.Status, 0, len(r.procs))
	for _, p := range r.procs {
		p.mu.Lock()
		out = append(out, factors.Status{DescribeResponse: p.desc, Healthy: p.healthyLocked()})
		p.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b factors.Status) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// PID returns the process id of a factor's plugin, or 0 when it is not
// running (or runs in-process).
func (r *Registry) PID(id string) int {
	p, ok := r.procs[id]
	if !ok {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil || p.client.Exited() {
		return 0
	}
	if rc := p.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// Check returns an error naming every unhealthy plugin (for /readyz).
func (r *Registry) Check(context.Context) error {
	var down []string
	for _, t := range r.Types() {
		if !t.Healthy {
			down = append(down, t.ID)
		}
	}
	if len(down) > 0 {
		return fmt.Errorf("%w: %s", ErrUnavailable, strings.Join(down, ", "))
	}
	return nil
}

// Close stops supervision and kills every plugin process.
func (r *Registry) Close() {
	if r.stop != nil {
		r.stop()
	}
	r.wg.Wait()
	for _, p := range r.procs {
		p.kill()
	}
	if r.ownDir {
		os.RemoveAll(r.socketDir)
	}
}

func (r *Registry) hclog(name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "plugin." + name, Level: hclog.Warn, Output: slogWriter{r.log, name}})
}

// slogWriter forwards go-plugin's log lines (and plugin stderr) to slog.
type slogWriter struct {
	log  *slog.Logger
	name string
}

func (w slogWriter) Write(b []byte) (int, error) {
	w.log.Warn(strings.TrimSpace(string(b)), "plugin", w.name)
	return len(b), nil
}

// proc is one plugin binary and its current process.
type proc struct {
	r        *Registry
	path     string
	name     string
	checksum []byte
	kick     chan struct{}

	mu     sync.Mutex
	client *plugin.Client // nil for in-process factors
	impl   factors.Factor
	desc   factors.DescribeResponse
	down   bool
}

func (p *proc) healthyLocked() bool {
	return !p.down && p.impl != nil && (p.client == nil || !p.client.Exited())
}

// start launches the process, then describes and configures it.
func (p *proc) start(ctx context.Context) error {
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          wire.PluginSet(nil),
		Cmd:              exec.Command(p.path),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SecureConfig:     &plugin.SecureConfig{Checksum: p.checksum, Hash: sha256.New()},
		UnixSocketConfig: &plugin.UnixSocketConfig{TempDir: p.r.socketDir},
		Logger:           p.r.hclog(p.name),
		StartTimeout:     10 * time.Second,
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return err
	}
	raw, err := rpc.Dispense(wire.PluginName)
	if err != nil {
		client.Kill()
		return err
	}
	impl := raw.(factors.Factor)
	desc, err := describeAndConfigure(ctx, impl, p.r.cfg)
	if err != nil {
		client.Kill()
		return err
	}
	p.mu.Lock()
	p.client, p.impl, p.desc, p.down = client, impl, *desc, false
	p.mu.Unlock()
	return nil
}

func describeAndConfigure(ctx context.Context, f factors.Factor, cfg Config) (*factors.DescribeResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	defer cancel()
	desc, err := f.Describe(ctx, &factors.DescribeRequest{})
	if err != nil {
		return nil, fmt.Errorf("describe: %w", err)
	}
	if !idPattern.MatchString(desc.ID) {
		return nil, fmt.Errorf("factor id %q must be lowercase letters, digits and '-'", desc.ID)
	}
	if desc.ProtocolVersion != factors.ProtocolVersion {
		return nil, fmt.Errorf("factor %s speaks protocol %d, the host %d", desc.ID, desc.ProtocolVersion, factors.ProtocolVersion)
	}
	settings := cfg.Settings[desc.ID]
	if settings == nil {
		settings = map[string]string{}
	}
	if _, err := f.Configure(ctx, &factors.ConfigureRequest{Settings: settings}); err != nil {
		return nil, fmt.Errorf("configure %s: %w", desc.ID, err)
	}
	return desc, nil
}

func (p *proc) kill() {
	p.mu.Lock()
	c := p.client
	p.mu.Unlock()
	if c != nil {
		c.Kill()
	}
}

// markDown records that the process failed and asks the supervisor for a
// restart.
func (p *proc) markDown() {
	p.mu.Lock()
	p.down = true
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// supervise restarts the plugin after a crash, with back-off, until ctx
// ends. It also notices a process that died between calls.
func (p *proc) supervise(ctx context.Context) {
	const minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
		case <-tick.C:
			p.mu.Lock()
			healthy := p.healthyLocked()
			p.mu.Unlock()
			if healthy {
				continue
			}
		}
		backoff := minBackoff
		for {
			p.kill()
			p.r.log.Warn("factor plugin down; restarting", "plugin", p.name, "backoff", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			if err := p.start(ctx); err != nil {
				p.r.log.Error("factor plugin restart failed", "plugin", p.name, "err", err)
				backoff = min(backoff*2, maxBackoff)
				continue
			}
			p.r.log.Info("factor plugin restarted", "plugin", p.name)
			break
		}
		// Drain a kick that raced with the restart.
		select {
		case <-p.kick:
		default:
		}
	}
}
