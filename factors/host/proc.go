package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/internal/wire"
)

// Restart back-off: the first restart comes quickly, a plugin that keeps
// crashing is retried less and less often.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// A plugin that stayed up this long starts again from minBackoff.
	stableAfter = 30 * time.Second
	// How often the supervisor looks for a process that died between calls.
	pollEvery = 250 * time.Millisecond
)

// proc is one plugin binary and its current process.
type proc struct {
	r    *Registry
	id   string // factor id, fixed by the first start
	name string // file name
	path string
	sum  []byte        // SHA-256 the binary had when loaded; every restart checks it
	kick chan struct{} // asks the supervisor to look now

	mu     sync.Mutex
	client *plugin.Client // nil for in-process factors
	impl   factors.Factor
	desc   factors.DescribeResponse
	// configured are the declared settings and their values, masked.
	configured []factors.SettingValue
	sockets    string // this process's socket folder
	down       bool   // a call saw this client fail
	// services are the host services served to the plugin's processes.
	services *services
}

// load verifies a binary and starts it once.
func (r *Registry) load(ctx context.Context, path string) (*proc, error) {
	p := &proc{r: r, name: filepath.Base(path), path: path, kick: make(chan struct{}, 1)}
	p.services = &services{p: p, metrics: map[string]bool{}}
	sum, err := verify(path, r.cfg.Checksums, r.cfg.RequireChecksums)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", p.name, err)
	}
	p.sum = sum
	if err := p.start(ctx); err != nil {
		return nil, fmt.Errorf("plugin %s: %w", p.name, err)
	}
	p.id = p.desc.ID // p is not shared yet
	return p, nil
}

func (p *proc) healthyLocked() bool {
	return p.impl != nil && !p.down && (p.client == nil || !p.client.Exited())
}

func (p *proc) healthy() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.healthyLocked()
}

// start launches a process, then describes and configures it.
func (p *proc) start(ctx context.Context) error {
	// Each process gets its own socket folder: a killed plugin leaves its
	// socket behind, and go-plugin fails on a TMPDIR that does not exist.
	sockets, err := os.MkdirTemp(p.r.socketDir, p.name+"-")
	if err != nil {
		return err
	}
	log := p.r.log.With("plugin", p.name)
	cmd := exec.Command(p.path)
	cmd.Env = append(pluginEnv(sockets), otelEnv(p.name)...)
	dieWithHost(cmd)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: wire.HostPlugins(p.services),
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SecureConfig:     &plugin.SecureConfig{Checksum: p.sum, Hash: sha256.New()},
		Logger:           wire.Logger(log, "go-plugin"),
		SyncStdout:       lineLogger{log, "stdout"},
		SyncStderr:       lineLogger{log, "stderr"},
		StartTimeout:     10 * time.Second,
		GRPCDialOptions:  p.r.dialOptions(),
	})
	fail := func(err error) error {
		client.Kill()
		os.RemoveAll(sockets)
		return err
	}
	rpc, err := client.Client()
	if err != nil {
		return fail(versionError(err))
	}
	raw, err := rpc.Dispense(wire.PluginName)
	if err != nil {
		return fail(err)
	}
	impl := raw.(factors.Factor)
	desc, configured, err := p.r.describeAndConfigure(ctx, p.name, impl, client.NegotiatedVersion())
	if err != nil {
		return fail(err)
	}
	if p.id != "" && desc.ID != p.id {
		return fail(fmt.Errorf("restarted as factor %q, was %q", desc.ID, p.id))
	}
	p.mu.Lock()
	p.client, p.impl, p.desc, p.configured, p.sockets, p.down = client, impl, *desc, configured, sockets, false
	p.mu.Unlock()
	return nil
}

var incompatible = regexp.MustCompile(`(?i)incompatible API version with plugin\. Plugin version: (-?\d+)`)

// versionError says which contract versions a plugin and the host speak
// when the handshake found none in common.
func versionError(err error) error {
	m := incompatible.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	v, _ := strconv.Atoi(m[1])
	age := "too new: it was built with a newer Twofold SDK; upgrade Twofold"
	if v < factors.MinProtocolVersion {
		age = "too old: rebuild it with a current Twofold SDK"
	}
	return fmt.Errorf("built for factor protocol version %d, but this host speaks versions %d to %d (%s)",
		v, factors.MinProtocolVersion, factors.ProtocolVersion, age)
}

// passedEnv are the host variables a plugin sees. Plugins do not inherit
// the host's environment: it holds the seal key and database credentials.
var passedEnv = []string{"PATH", "TZ", "LANG", "LC_ALL", "SSL_CERT_FILE", "SSL_CERT_DIR",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"}

// pluginEnv is a plugin's environment, with its temporary files and
// go-plugin's socket in dir. A Go plugin runs on one thread at a time
// (GOMAXPROCS=1; it may raise it itself): a call then passes from the
// socket reader to the handler and the writer without waking other
// threads, which took a third of the plugin hop's time, and the plugin
// leaves the cores to the server and the database.
func pluginEnv(dir string) []string {
	env := []string{"TMPDIR=" + dir, plugin.EnvUnixSocketDir + "=" + dir, "GOMAXPROCS=1"}
	for _, k := range passedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// kill stops the current process, waits for it, and removes its sockets.
func (p *proc) kill() {
	p.mu.Lock()
	client, sockets := p.client, p.sockets
	p.mu.Unlock()
	if client != nil {
		client.Kill()
	}
	if sockets != "" {
		os.RemoveAll(sockets)
	}
}

// failed records that a call found client broken and asks the supervisor
// for a restart. A late report about a process already replaced changes
// nothing.
func (p *proc) failed(client *plugin.Client) {
	p.mu.Lock()
	if p.client == client {
		p.down = true
	}
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// supervise restarts the plugin whenever it is down, with back-off, until
// ctx ends. Calls report crashes at once; the poll catches a process that
// died between calls.
func (p *proc) supervise(ctx context.Context) {
	log := p.r.log.With("plugin", p.name, "factor", p.id)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	backoff, upSince := minBackoff, time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
		case <-tick.C:
		}
		if p.healthy() {
			continue
		}
		if time.Since(upSince) > stableAfter {
			backoff = minBackoff
		}
		for {
			p.kill()
			log.Warn("factor plugin down; restarting", "after", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			err := p.start(ctx)
			backoff = min(backoff*2, maxBackoff)
			if err == nil {
				break
			}
			log.Error("factor plugin restart failed", "err", err)
		}
		log.Info("factor plugin restarted", "pid", p.r.PID(p.id))
		upSince = time.Now()
	}
}

// lineLogger logs what a plugin writes to its redirected stdout or stderr.
type lineLogger struct {
	log    *slog.Logger
	stream string
}

func (l lineLogger) Write(b []byte) (int, error) {
	for line := range bytes.Lines(b) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			l.log.Info(string(line), "stream", l.stream)
		}
	}
	return len(b), nil
}
