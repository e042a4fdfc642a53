// Command twofold runs and administers the Twofold MFA server. Run
// `twofold help` for the commands; configuration comes from TWOFOLD_*
// variables (see the README).
package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/server"
)

const usage = `Twofold: multi-factor authentication for business apps.

Usage:
  twofold [serve]                  run the server (configuration from TWOFOLD_* variables)
  twofold version                  print the version, commit and Go version
  twofold migrate status           list the schema migrations, applied and pending
  twofold migrate up               apply the pending migrations, then exit (the step
                                   servers started with TWOFOLD_MIGRATE=wait wait for)
  twofold migrate down-to VERSION  undo the migrations above VERSION, newest first
                                   (0 drops every table); needs only TWOFOLD_DATABASE_URL
  twofold rotate-seal-key          re-seal every secret under TWOFOLD_SEAL_KEY, reading
                                   those sealed under TWOFOLD_SEAL_KEYS_OLD
  twofold admin create --org SLUG --username NAME --email ADDRESS
                                   add an administrator (every permission); prints a
                                   one-time password
  twofold admin reset-password --org SLUG --username NAME
                                   give a user a one-time password, clear their lockout,
                                   end their sessions (their second factor stays)
  twofold admin grant --org SLUG --username NAME --permission P [--permission P ...]
                                   add permissions (MANAGE_ORGANIZATION, MANAGE_USERS,
                                   VIEW_AUDIT) and reactivate the user
  twofold audit export --from TIME --to TIME [--org SLUG]
                                   write the audit events created from TIME (RFC 3339,
                                   included) to TIME (excluded) to stdout as JSON lines,
                                   oldest first, for a SIEM; every organization unless
                                   --org names one
  twofold healthcheck [--url URL]  exit 0 when the server at TWOFOLD_HTTP_ADDR (or URL)
                                   answers /healthz: the container image's health check
  twofold plugin test PATH [--settings k=v ...] [--answer JSON] [--reusable] [--timeout D]
                                   run the conformance checks against a factor plugin
                                   binary (any language) and print a pass/fail report
  twofold plugin checksum PATH ... print each plugin's pin line (name=sha256hex), the
                                   format of TWOFOLD_PLUGIN_CHECKSUMS
  twofold operator token NAME      print a new operator token and its TWOFOLD_OPERATOR_TOKENS
                                   entry (NAME:sha256hex); the server stores only the hash
  twofold help                     this text

The admin commands act on the database directly (break-glass, for an
organization that cannot mend itself) and are written to its audit log.
`

// errUsage asks main to print the usage and exit with status 2.
var errUsage = errors.New("usage")

func main() {
	// TWOFOLD_LOG_FORMAT and TWOFOLD_LOG_LEVEL; a bad value is reported
	// with the rest of the configuration.
	logger, _ := server.NewLogger(os.Stderr, os.Getenv)
	slog.SetDefault(logger)
	err := run(os.Args[1:], os.Stdout, os.Getenv, os.Environ())
	switch {
	case errors.Is(err, errUsage):
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "twofold:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer, getenv func(string) string, environ []string) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "help", "-h", "--help", "-help":
		fmt.Fprint(out, usage)
		return nil
	case "version", "--version":
		fmt.Fprintln(out, version())
		return nil
	case "healthcheck":
		return healthcheck(args, getenv)
	case "plugin":
		return pluginCommand(context.Background(), args, out)
	case "operator":
		return operatorCommand(args, out)
	case "migrate":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return migrate(ctx, args, out, getenv)
	case "serve", "rotate-seal-key", "admin", "audit":
	default:
		fmt.Fprintf(os.Stderr, "twofold: unknown command %q\n\n", cmd)
		return errUsage
	}
	for _, name := range server.UnknownVariables(environ) {
		slog.Warn("unknown variable: no setting reads it (a typo?)", "name", name)
	}
	cfg, err := server.ConfigFromEnv(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	cfg.PluginEnviron = environ
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "serve":
		if len(args) > 0 {
			return errUsage
		}
		return server.Run(ctx, cfg)
	case "rotate-seal-key":
		n, err := server.RotateSealKey(ctx, cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "re-sealed %d secrets under key %s\n", n, mfa.KeyID(cfg.SealKey))
		return nil
	}
	if cmd == "audit" {
		return audit(ctx, cfg, args, out)
	}
	return admin(ctx, cfg, args, out)
}

// audit runs `twofold audit export`.
func audit(ctx context.Context, cfg server.Config, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "export" {
		return errUsage
	}
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	org := fs.String("org", "", "organization slug (default: every organization)")
	fromFlag := fs.String("from", "", "first instant, RFC 3339, included")
	toFlag := fs.String("to", "", "last instant, RFC 3339, excluded")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 || *fromFlag == "" || *toFlag == "" {
		return errUsage
	}
	from, err := time.Parse(time.RFC3339Nano, *fromFlag)
	if err != nil {
		return fmt.Errorf("--from: %q is not an RFC 3339 time like 2026-01-02T15:04:05Z", *fromFlag)
	}
	to, err := time.Parse(time.RFC3339Nano, *toFlag)
	if err != nil {
		return fmt.Errorf("--to: %q is not an RFC 3339 time like 2026-01-02T15:04:05Z", *toFlag)
	}
	svc, closeDB, err := server.OpenService(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeDB()
	w := bufio.NewWriterSize(out, 64<<10)
	n, err := svc.ExportAuditEvents(ctx, *org, from, to, w)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("audit export (after %d events): %w", n, err)
	}
	slog.Info("audit export done", "events", n)
	return nil
}

// admin runs a break-glass command.
func admin(ctx context.Context, cfg server.Config, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	sub := args[0]
	fs := flag.NewFlagSet("admin "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	org := fs.String("org", "", "organization slug")
	username := fs.String("username", "", "username or email")
	email := fs.String("email", "", "email address (create)")
	var perms permissionList
	fs.Var(&perms, "permission", "permission to grant (repeat)")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 || *org == "" || *username == "" {
		return errUsage
	}
	svc, closeDB, err := server.OpenService(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeDB()
	switch sub {
	case "create":
		u, password, err := svc.BreakGlassCreateAdmin(ctx, *org, *username, *email)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "created administrator %q in %q\none-time password (shown once; change it at the first login): %s\n", u.Username, *org, password)
	case "reset-password":
		u, password, err := svc.BreakGlassResetPassword(ctx, *org, *username)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "new one-time password for %q in %q (shown once): %s\n", u.Username, *org, password)
	case "grant":
		u, err := svc.BreakGlassGrant(ctx, *org, *username, perms)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%q in %q now has %s\n", u.Username, *org, permissionNames(u.Permissions))
	default:
		return errUsage
	}
	return nil
}

type permissionList []mfa.Permission

func (p *permissionList) String() string { return permissionNames(*p) }
func (p *permissionList) Set(v string) error {
	*p = append(*p, mfa.Permission(strings.ToUpper(strings.TrimSpace(v))))
	return nil
}

func permissionNames(ps []mfa.Permission) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ",")
}

// healthcheck asks the server's /healthz, for a container's HEALTHCHECK
// (a distroless image has no curl). It needs no configuration but the
// listen address; a wildcard listen address is asked on the loopback.
func healthcheck(args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	target := fs.String("url", "", "the health URL (default: http://TWOFOLD_HTTP_ADDR/healthz)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	if *target == "" {
		addr := cmp.Or(strings.TrimSpace(getenv("TWOFOLD_HTTP_ADDR")), server.DefaultHTTPAddr)
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("TWOFOLD_HTTP_ADDR: %w", err)
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "127.0.0.1"
		}
		*target = "http://" + net.JoinHostPort(host, port) + "/healthz"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	res, err := client.Get(*target)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", *target, res.Status)
	}
	return nil
}

// commit is set by `make build` (-ldflags -X main.commit=...); otherwise the
// build information's VCS stamp is used.
var commit = ""

// version is the module version, the commit it was built from and the Go
// version, from the build information (no configuration needed).
func version() string {
	v, commit, modified := "(devel)", cmp.Or(commit, "unknown"), ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = " (modified)"
				}
			}
		}
	}
	return fmt.Sprintf("twofold %s commit %s%s %s %s/%s", v, commit, modified, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
