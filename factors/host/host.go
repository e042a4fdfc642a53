package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/twofoldauth/twofold/factors"
)

// Socket folders are named socketDirPrefix+random; newSocketDirPrefix marks
// one that is not locked yet. lockFile in it is locked while its host lives.
const (
	socketDirPrefix    = "twofold-"
	newSocketDirPrefix = ".twofold-new-"
	lockFile           = ".lock"
)

// ErrUnavailable: the plugin is down or restarting, the call timed out, or
// the transport failed. The caller may retry later.
var ErrUnavailable = errors.New("factor plugin unavailable")

// Config says where the plugins are and how to run them.
type Config struct {
	// Dir holds the plugin binaries: every executable regular file in it,
	// except dotfiles and *.sha256, *.txt and *.json, is a plugin.
	Dir string
	// Checksums pins plugin file names to lowercase hex SHA-256 digests; a
	// binary that does not match its pin is refused. Unpinned binaries run
	// unless RequireChecksums is set.
	Checksums        map[string]string
	RequireChecksums bool
	// Environ is the environment ("NAME=value") the plugins' settings are
	// read from: each declared setting from TWOFOLD_FACTOR_<ID>_<SETTING>
	// or, for a value kept in a file, TWOFOLD_FACTOR_<ID>_<SETTING>_FILE.
	// Plugins themselves never see the host's environment.
	Environ []string
	// Aliases are older variables that also set a setting, by factor id
	// then setting name; the TWOFOLD_FACTOR_ variable wins over its alias.
	Aliases map[string]map[string]string
	// Settings are values by factor id then setting name, used when no
	// variable sets the setting (the server's computed defaults, tests).
	// Every value is checked against the factor's declaration and passed
	// to Configure after every (re)start.
	Settings map[string]map[string]string
	// CallTimeout bounds each call (default 5s).
	CallTimeout time.Duration
	// SocketDir is an existing folder in which the host makes its own
	// folder for the plugins' Unix sockets and temporary files (default:
	// the system temporary folder). Close removes that folder; the folder
	// of a host that was killed is removed by the next host started with
	// the same SocketDir.
	SocketDir string
	// Logger receives the host's and the plugins' logs; nil discards them.
	Logger *slog.Logger
	// Observe, when set, is told the duration and outcome of every call (for
	// metrics); err is nil on success.
	Observe func(factor, method string, d time.Duration, err error)
	// TracerProvider makes a span per plugin call, whose trace context the
	// plugin receives (nil: the global provider).
	TracerProvider trace.TracerProvider
	// Metric, when set, receives the plugins' Metric calls: add value to
	// the counter of factor and name.
	Metric func(factor, name string, value float64)
}

// Registry is the set of factor types the server offers, each backed by a
// supervised plugin process (or, from NewStatic, an in-process factor).
type Registry struct {
	cfg       Config
	log       *slog.Logger
	procs     map[string]*proc  // by factor id; not changed after New
	env       map[string]string // cfg.Environ
	socketDir string            // this host's own folder in cfg.SocketDir
	release   func()            // removes socketDir
	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	// grants are the calls in progress that serve a user, by SHA-256 of
	// the token the plugin received (services.go).
	grants    sync.Map
	backendMu sync.RWMutex
	backend   Backend
}

func newRegistry(cfg Config) *Registry {
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 5 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{cfg: cfg, log: log, procs: map[string]*proc{}, env: environ(cfg.Environ), stop: func() {}, release: func() {}}
}

// New discovers, verifies and starts every plugin in cfg.Dir, and describes
// and configures each. It fails, leaving nothing running, if any plugin is
// refused (checksum, handshake, protocol version, duplicate factor id,
// settings) or does not start. Bad or missing settings are reported for
// every plugin at once, each naming its variable (see SettingsError).
func New(ctx context.Context, cfg Config) (*Registry, error) {
	r := newRegistry(cfg)
	if err := r.start(ctx); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Registry) start(ctx context.Context) error {
	dir, release, err := claimSocketDir(r.cfg.SocketDir, r.log)
	if err != nil {
		return fmt.Errorf("plugin socket folder: %w", err)
	}
	r.socketDir, r.release = dir, release
	paths, err := discover(r.cfg.Dir)
	if err != nil {
		return err
	}
	var settingsErrs []error
	for _, path := range paths {
		p, err := r.load(ctx, path)
		if serr := (*SettingsError)(nil); errors.As(err, &serr) {
			settingsErrs = append(settingsErrs, err)
			continue
		}
		if err != nil {
			return errors.Join(append(settingsErrs, err)...)
		}
		if other, dup := r.procs[p.id]; dup {
			p.kill()
			return fmt.Errorf("plugin %s: factor id %q is already served by plugin %s", p.name, p.id, other.name)
		}
		r.procs[p.id] = p
	}
	if len(settingsErrs) > 0 {
		return errors.Join(settingsErrs...)
	}
	r.warnUnknownVariables()
	superviseCtx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	for _, p := range r.procs {
		r.wg.Go(func() { p.supervise(superviseCtx) })
	}
	return nil
}

// Factor returns the factor type with the given id. Its calls go to the
// plugin's current process, bounded by the call timeout.
func (r *Registry) Factor(id string) (factors.Factor, bool) {
	p, ok := r.procs[id]
	if !ok {
		return nil, false
	}
	return remote{p}, true
}

// Types lists the factor types by id, with their current health.
func (r *Registry) Types() []factors.Status {
	out := make([]factors.Status, 0, len(r.procs))
	for _, p := range r.procs {
		p.mu.Lock()
		out = append(out, factors.Status{DescribeResponse: p.desc, Healthy: p.healthyLocked(), Configured: p.configured})
		p.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b factors.Status) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Check returns an error wrapping ErrUnavailable and naming every plugin
// that is down (for /readyz), or nil.
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

// PID returns the process id of a factor's plugin, or 0 when it is not
// running or runs in-process. Tests and operators use it.
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

// Close stops supervision, kills every plugin process and waits for it to
// exit, and removes the host's socket folder. It is safe to call twice.
func (r *Registry) Close() {
	r.closeOnce.Do(func() {
		r.stop()
		r.wg.Wait()
		for _, p := range r.procs {
			p.kill()
		}
		r.release()
	})
}

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// describeAndConfigure checks what a freshly started factor says it is,
// reads and checks its settings, and hands them over. version is the
// contract version the handshake chose (0 in-process: the current one).
func (r *Registry) describeAndConfigure(ctx context.Context, plugin string, f factors.Factor, version int) (*factors.DescribeResponse, []factors.SettingValue, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	desc, err := f.Describe(ctx, &factors.DescribeRequest{})
	if err != nil {
		return nil, nil, fmt.Errorf("describe: %w", err)
	}
	if !idPattern.MatchString(desc.ID) {
		return nil, nil, fmt.Errorf("factor id %q: want lowercase letters, digits and '-', starting with a letter", desc.ID)
	}
	if version == 0 {
		version = factors.ProtocolVersion
	}
	if desc.ProtocolVersion != version {
		return nil, nil, fmt.Errorf("factor %s says it speaks protocol version %d, but the handshake chose version %d", desc.ID, desc.ProtocolVersion, version)
	}
	settings, shown, err := r.resolveSettings(plugin, desc)
	if err != nil {
		return nil, nil, err
	}
	if _, err := f.Configure(ctx, &factors.ConfigureRequest{Settings: settings}); err != nil {
		return nil, nil, fmt.Errorf("configure %s: %w", desc.ID, err)
	}
	return desc, shown, nil
}
